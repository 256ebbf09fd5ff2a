//! Leaving the initramfs. The root moves onto the state partition (persistent mode) or onto a
//! fresh tmpfs (RAM-disk mode): the initramfs root (`rootfs`) can never be `pivot_root`ed
//! away, and every container runtime, ours and the user's dockerd, pivots. Files move one at
//! a time (copy, then unlink) so the RAM the initramfs held is given back as we go, never
//! held twice for more than one file. Then the kernel filesystems move across, the new root
//! is moved onto `/` and we chroot into it — never `pivot_root` from an initramfs.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt, lchown, symlink};
use std::path::{Path, PathBuf};

use ros_sys::{Kernel, MountFlags};

use crate::mounts::MOVED_MOUNTS;

/// How the initramfs was carried over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Moved {
    /// Files, links and directories created in the new root.
    pub created: usize,
    /// Entries left as they were because the new root already had them (persistent mode).
    pub kept: usize,
}

/// What to move.
#[derive(Debug, Clone)]
pub struct Populate<'a> {
    /// The initramfs root (`/`).
    pub old_root: &'a Path,
    /// Where the new root is mounted (`/state`).
    pub new_root: &'a Path,
    /// On a persistent root `usr` goes to `usr-<version>` (kept across boots of the same
    /// version) with `usr` a link to it, and existing files win; on a fresh tmpfs everything
    /// simply moves.
    pub persistent: bool,
    /// The OS version, for `usr-<version>`.
    pub version: &'a str,
}

impl Populate<'_> {
    /// Moves every top-level entry of the old root except mount points into the new root.
    pub fn run(&self) -> io::Result<Moved> {
        let mut moved = Moved::default();
        let root_dev = fs::symlink_metadata(self.old_root)?.dev();
        let mut entries: Vec<PathBuf> = fs::read_dir(self.old_root)?
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<_>>()?;
        entries.sort();
        for src in entries {
            let name = src.file_name().unwrap_or_default();
            let meta = fs::symlink_metadata(&src)?;
            let is_mount_point = meta.is_dir() && meta.dev() != root_dev;
            if src == self.new_root || is_mount_point || MOVED_MOUNTS.iter().any(|m| name == *m) {
                continue;
            }
            if self.persistent && name == "usr" {
                self.move_usr(&src, &mut moved)?;
            } else {
                move_tree(&src, &self.new_root.join(name), &mut moved)?;
            }
        }
        for dir in MOVED_MOUNTS {
            fs::create_dir_all(self.new_root.join(dir))?;
        }
        Ok(moved)
    }

    fn move_usr(&self, src: &Path, moved: &mut Moved) -> io::Result<()> {
        let versioned = format!("usr-{}", self.version);
        let dest = self.new_root.join(&versioned);
        if dest.exists() {
            moved.kept += 1;
            fs::remove_dir_all(src)?;
        } else {
            let partial = self.new_root.join(format!(".{versioned}.partial"));
            if partial.exists() {
                fs::remove_dir_all(&partial)?;
            }
            move_tree(src, &partial, moved)?;
            fs::rename(&partial, &dest)?;
        }
        let link = self.new_root.join("usr");
        let tmp = self.new_root.join(".usr.link");
        drop(fs::remove_file(&tmp));
        symlink(&versioned, &tmp)?;
        if fs::symlink_metadata(&link).is_ok_and(|m| m.is_dir()) {
            return Err(io::Error::other(format!(
                "{} is a directory, not the link to usr-<version>",
                link.display()
            )));
        }
        fs::rename(&tmp, &link)
    }
}

/// Moves `src` to `dst` recursively: what `dst` already has wins; `src` is gone afterwards.
fn move_tree(src: &Path, dst: &Path, moved: &mut Moved) -> io::Result<()> {
    let meta = fs::symlink_metadata(src)?;
    let exists = fs::symlink_metadata(dst).is_ok();
    let kind = meta.file_type();
    if kind.is_dir() {
        if !exists {
            fs::create_dir(dst)?;
            fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
            lchown(dst, Some(meta.uid()), Some(meta.gid()))?;
            moved.created += 1;
        }
        for entry in fs::read_dir(src)? {
            let entry = entry?;
            move_tree(&entry.path(), &dst.join(entry.file_name()), moved)?;
        }
        return fs::remove_dir(src);
    }
    if exists {
        moved.kept += 1;
    } else if kind.is_symlink() {
        symlink(fs::read_link(src)?, dst)?;
        lchown(dst, Some(meta.uid()), Some(meta.gid()))?;
        moved.created += 1;
    } else if kind.is_file() {
        fs::copy(src, dst)?;
        lchown(dst, Some(meta.uid()), Some(meta.gid()))?;
        // chown clears set-id bits; the mode goes last.
        fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        moved.created += 1;
    }
    // Device nodes and fifos outside /dev have no business in the new root.
    fs::remove_file(src)
}

/// Moves the kernel filesystems into `new_root`, moves `new_root` onto `/` and enters it.
pub fn switch<K: Kernel + ?Sized>(kernel: &K, old_root: &Path, new_root: &Path) -> io::Result<()> {
    for dir in MOVED_MOUNTS {
        let from = old_root.join(dir);
        let to = new_root.join(dir);
        kernel
            .mount(&from.to_string_lossy(), &to, "", MountFlags::MOVE, None)
            .map_err(|e| io::Error::new(e.kind(), format!("moving {}: {e}", from.display())))?;
    }
    kernel.chdir(new_root)?;
    kernel
        .mount(".", old_root, "", MountFlags::MOVE, None)
        .map_err(|e| io::Error::new(e.kind(), format!("moving the new root onto /: {e}")))?;
    kernel.chroot(Path::new("."))?;
    kernel.chdir(Path::new("/"))
}

#[cfg(test)]
#[path = "switchroot_tests.rs"]
mod tests;
