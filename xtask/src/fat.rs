//! FAT filesystem images made without mounting anything: `mkfs.vfat` on a file, then
//! mtools copies the files in.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};

use crate::binary::run;

const KIB: u64 = 1 << 10;

/// A FAT image at `out` labelled `label` holding `files` (`(path in the image, source)`),
/// at least `min_kib` KiB and with `slack_kib` KiB to spare (FAT's own tables come out of
/// that). Returns its size in bytes, a whole number of 64 KiB.
pub fn make(
    out: &Path,
    label: &str,
    files: &[(&str, PathBuf)],
    min_kib: u64,
    slack_kib: u64,
) -> Result<u64> {
    let mut content = 0;
    for (_, src) in files {
        content += std::fs::metadata(src)
            .with_context(|| format!("reading {}", src.display()))?
            .len();
    }
    let kib = (content.div_ceil(KIB) + slack_kib)
        .max(min_kib)
        .next_multiple_of(64);
    let size = kib * KIB;
    let _ = std::fs::remove_file(out);
    run(Command::new("mkfs.vfat")
        .args(["-n", label, "-C"])
        .arg(out)
        .arg((size / 1024).to_string())
        .stdout(std::process::Stdio::null()))?;
    let mut dirs: Vec<String> = Vec::new();
    for (dest, _) in files {
        let mut parent = String::new();
        for part in dest
            .split('/')
            .collect::<Vec<_>>()
            .iter()
            .rev()
            .skip(1)
            .rev()
        {
            parent = if parent.is_empty() {
                (*part).to_string()
            } else {
                format!("{parent}/{part}")
            };
            if !dirs.contains(&parent) {
                dirs.push(parent.clone());
            }
        }
    }
    for dir in &dirs {
        run(mtools("mmd", out).arg(format!("::/{dir}")))?;
    }
    for (dest, src) in files {
        ensure!(!dest.starts_with('/'), "FAT paths are relative: {dest}");
        run(mtools("mcopy", out).arg(src).arg(format!("::/{dest}")))?;
    }
    Ok(size)
}

fn mtools(program: &str, image: &Path) -> Command {
    let mut cmd = Command::new(program);
    // mtools checks geometry fields a file-backed image does not need to be strict about.
    cmd.env("MTOOLS_SKIP_CHECK", "1").arg("-i").arg(image);
    cmd
}
