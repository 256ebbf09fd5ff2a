//! The system images the image build preloads into the initramfs, as OCI image layout
//! archives (`*.tar`). Stage 0 checks that each one is a readable archive with an
//! `index.json`, reading headers only.

use std::fs::File;
use std::path::{Path, PathBuf};

/// What the check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageCheck {
    /// Archives that read through and hold an OCI index.
    pub readable: Vec<PathBuf>,
    /// Archives that did not, and why.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Checks every `*.tar` in `dir`, in name order; a missing directory holds no images.
pub fn check_images(dir: &Path) -> ImageCheck {
    let mut check = ImageCheck::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return check;
    };
    let mut archives: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tar"))
        .collect();
    archives.sort();
    for path in archives {
        match check_archive(&path) {
            Ok(()) => check.readable.push(path),
            Err(why) => check.unreadable.push((path, why)),
        }
    }
    check
}

fn check_archive(path: &Path) -> Result<(), String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let mut archive = tar::Archive::new(file);
    let mut has_index = false;
    for entry in archive.entries_with_seek().map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| format!("corrupt archive: {e}"))?;
        let name = entry.path().map_err(|e| e.to_string())?;
        has_index |= name == Path::new("index.json") || name == Path::new("./index.json");
    }
    if has_index {
        Ok(())
    } else {
        Err("no index.json: not an OCI image layout".into())
    }
}
