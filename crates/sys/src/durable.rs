//! Atomic, durable replacement of a file: temp file in the same directory, write, fsync,
//! rename over the target, fsync the directory. A crash at any point leaves either the old
//! content or the new, never a truncated file.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why an atomic write failed; every variant names the path it was working on.
#[derive(Debug, thiserror::Error)]
pub enum AtomicWriteError {
    /// The target has no parent directory (e.g. `/`).
    #[error("{0}: has no parent directory")]
    NoParent(PathBuf),
    /// An I/O step failed.
    #[error("{path}: cannot {step}")]
    Io {
        /// The file or directory the step touched.
        path: PathBuf,
        /// What was being done, e.g. "create temporary file".
        step: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path, step: &'static str) -> impl FnOnce(std::io::Error) -> AtomicWriteError {
    let path = path.to_path_buf();
    move |source| AtomicWriteError::Io { path, step, source }
}

/// Replaces `path` with `content`, leaving it with permission bits `mode`.
///
/// The parent directory must exist. The temporary file is created with `mode` from the start
/// (`O_EXCL`, never world-readable in between) and removed again if any step fails.
pub fn write_atomic(path: &Path, content: &[u8], mode: u32) -> Result<(), AtomicWriteError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        Some(_) => Path::new("."),
        None => return Err(AtomicWriteError::NoParent(path.to_path_buf())),
    };
    let name = path
        .file_name()
        .ok_or_else(|| AtomicWriteError::NoParent(path.to_path_buf()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = dir.join(tmp_name);

    let result = write_then_rename(&tmp, path, dir, content, mode);
    if result.is_err() {
        // Best effort: the temp file is ours alone; a leftover would only waste space.
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_then_rename(
    tmp: &Path,
    path: &Path,
    dir: &Path,
    content: &[u8],
    mode: u32,
) -> Result<(), AtomicWriteError> {
    let _ = fs::remove_file(tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)
        .map_err(io(tmp, "create temporary file"))?;
    // The umask may have cleared bits of `mode`; set them exactly.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io(tmp, "set permissions of"))?;
    file.write_all(content).map_err(io(tmp, "write"))?;
    file.sync_all().map_err(io(tmp, "fsync"))?;
    drop(file);
    fs::rename(tmp, path).map_err(io(path, "rename temporary file onto"))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir, "fsync directory"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_creates_file_with_exact_mode() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("cloud-config.yml");
        write_atomic(&target, b"hostname: a\n", 0o600).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"hostname: a\n");
        let mode = fs::metadata(&target).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f");
        write_atomic(&target, b"old", 0o644).unwrap();
        write_atomic(&target, b"new", 0o600).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["f"]);
    }

    #[test]
    fn write_atomic_into_missing_directory_names_the_temp_path_and_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("missing/f");
        let err = write_atomic(&target, b"x", 0o600).unwrap_err();
        assert!(err.to_string().contains("missing/.f.tmp."), "{err}");
        assert!(!dir.path().join("missing").exists());
    }
}
