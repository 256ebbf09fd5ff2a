//! The kernel filesystems PID 1 mounts before anything else, in order: later mounts live
//! inside earlier ones.

use std::path::Path;

use ros_sys::{Kernel, MountFlags};

use crate::BootError;

const EBUSY: i32 = 16;

/// One early mount.
#[derive(Debug, Clone, Copy)]
pub struct EarlyMount {
    /// Source (the filesystem's name for virtual filesystems).
    pub source: &'static str,
    /// Where, relative to the root.
    pub target: &'static str,
    /// Filesystem type.
    pub fstype: &'static str,
    /// Flags.
    pub flags: MountFlags,
    /// Options.
    pub data: Option<&'static str>,
}

pub(crate) const NOSUID_NODEV: MountFlags = MountFlags::NOSUID.union(MountFlags::NODEV);
pub(crate) const NOSUID_NODEV_NOEXEC: MountFlags = NOSUID_NODEV.union(MountFlags::NOEXEC);

/// proc, sys, dev and run, then what lives inside them. cgroup v2 only: the System engine,
/// the user's dockerd and systemd-free userlands all speak it.
pub const EARLY_MOUNTS: &[EarlyMount] = &[
    EarlyMount {
        source: "proc",
        target: "proc",
        fstype: "proc",
        flags: NOSUID_NODEV_NOEXEC,
        data: None,
    },
    EarlyMount {
        source: "sysfs",
        target: "sys",
        fstype: "sysfs",
        flags: NOSUID_NODEV_NOEXEC,
        data: None,
    },
    EarlyMount {
        source: "devtmpfs",
        target: "dev",
        fstype: "devtmpfs",
        flags: MountFlags::NOSUID,
        data: Some("mode=0755"),
    },
    EarlyMount {
        source: "tmpfs",
        target: "run",
        fstype: "tmpfs",
        flags: NOSUID_NODEV,
        data: Some("mode=0755"),
    },
    EarlyMount {
        source: "devpts",
        target: "dev/pts",
        fstype: "devpts",
        flags: MountFlags::NOSUID.union(MountFlags::NOEXEC),
        data: Some("mode=0620,gid=5,ptmxmode=0666"),
    },
    EarlyMount {
        source: "shm",
        target: "dev/shm",
        fstype: "tmpfs",
        flags: NOSUID_NODEV_NOEXEC,
        data: Some("mode=1777"),
    },
    EarlyMount {
        source: "mqueue",
        target: "dev/mqueue",
        fstype: "mqueue",
        flags: NOSUID_NODEV_NOEXEC,
        data: None,
    },
    EarlyMount {
        source: "cgroup2",
        target: "sys/fs/cgroup",
        fstype: "cgroup2",
        flags: NOSUID_NODEV_NOEXEC,
        data: Some("nsdelegate"),
    },
];

/// The mounts that move with the root when it switches (their children move with them).
pub const MOVED_MOUNTS: &[&str] = &["dev", "proc", "sys", "run"];

/// Mounts [`EARLY_MOUNTS`] below `root`. A target that is already mounted (`EBUSY`, as when
/// the kernel mounted devtmpfs itself) counts as done; missing mount points are created.
pub fn mount_early<K: Kernel + ?Sized>(kernel: &K, root: &Path) -> Result<(), BootError> {
    for m in EARLY_MOUNTS {
        let target = root.join(m.target);
        drop(std::fs::create_dir_all(&target));
        match kernel.mount(m.source, &target, m.fstype, m.flags, m.data) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(EBUSY) => {}
            Err(source) => {
                return Err(BootError::Mount {
                    fstype: m.fstype.to_string(),
                    target,
                    source,
                });
            }
        }
    }
    Ok(())
}

/// `/dev/console` and the usual links devtmpfs does not make.
pub fn dev_links(root: &Path) {
    for (link, target) in [
        ("dev/fd", "/proc/self/fd"),
        ("dev/stdin", "/proc/self/fd/0"),
        ("dev/stdout", "/proc/self/fd/1"),
        ("dev/stderr", "/proc/self/fd/2"),
        ("dev/core", "/proc/kcore"),
    ] {
        drop(std::os::unix::fs::symlink(target, root.join(link)));
    }
}
