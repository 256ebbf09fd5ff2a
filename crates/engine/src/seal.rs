//! The binary shims run from, protected against CVE-2019-5736: a process inside a container
//! must not be able to rewrite the runtime binary through `/proc/<pid>/exe`. On a read-only
//! mount (the OS image) the binary is used where it is; otherwise the engine copies it once
//! into a sealed memfd and starts every shim from that copy.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{MemfdFlags, SealFlags, StatVfsMountFlags};

/// Where shims are started from; keeps the sealed copy open while the engine runs.
#[derive(Debug)]
pub struct ShimBinary {
    /// Path to execute.
    pub path: PathBuf,
    _sealed: Option<OwnedFd>,
}

/// Returns `exe` itself if it sits on a read-only mount, else a sealed in-memory copy.
pub fn shim_binary(exe: &Path) -> io::Result<ShimBinary> {
    let mount = rustix::fs::statvfs(exe)?;
    if mount.f_flag.contains(StatVfsMountFlags::RDONLY) {
        return Ok(ShimBinary {
            path: exe.to_path_buf(),
            _sealed: None,
        });
    }
    let fd = rustix::fs::memfd_create("ros-shim", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    let mut copy = File::from(fd);
    io::copy(&mut File::open(exe)?, &mut copy)?;
    let fd = OwnedFd::from(copy);
    rustix::fs::fcntl_add_seals(
        &fd,
        SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE,
    )?;
    // The child resolves this in its own descriptor table, between fork and exec, where the
    // descriptor is still open (close-on-exec closes it only once exec succeeded).
    let path = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    Ok(ShimBinary {
        path,
        _sealed: Some(fd),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn a_writable_binary_is_copied_into_a_sealed_memfd() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"#!/bin/true\n").unwrap();
        let shim = shim_binary(file.path()).unwrap();
        assert!(
            shim.path.starts_with("/proc/self/fd"),
            "{}",
            shim.path.display()
        );
        let fd = shim._sealed.as_ref().unwrap();
        let seals = rustix::fs::fcntl_get_seals(fd).unwrap();
        assert!(seals.contains(SealFlags::WRITE | SealFlags::SEAL));
        assert_eq!(std::fs::read(&shim.path).unwrap(), b"#!/bin/true\n");
        // Writing through the path fails: the copy is sealed.
        assert!(
            std::fs::OpenOptions::new()
                .write(true)
                .open(&shim.path)
                .and_then(|mut f| f.write_all(b"x"))
                .is_err()
        );
    }
}
