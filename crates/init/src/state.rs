//! The state partition (`rancher.state.*`): find it, format an empty disk for it when asked,
//! mount it at `/state`; without one, a tmpfs there is the root of a RAM-disk system.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ros_config::model::StateConfig;
use ros_sys::{Kernel, MountFlags};

use crate::blockdev::{self, DeviceSpec};

/// The label of a state partition that autoformat writes.
pub const STATE_LABEL: &str = "RANCHER_STATE";

/// How long `rancher.state.wait` waits for the device; without it one second, for the disk
/// driver's asynchronous probing.
const WAIT: Duration = Duration::from_secs(30);
const GRACE: Duration = Duration::from_secs(1);

/// Bytes that must be zero for autoformat to take a disk.
const ZEROED_PREFIX: usize = 1024 * 1024;

/// Where the next root is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateRoot {
    /// On the state partition.
    Persistent {
        /// Its device.
        dev: PathBuf,
        /// Whether autoformat made it on this boot.
        formatted: bool,
    },
    /// In RAM, and why.
    RamDisk(String),
}

/// Makes an ext4 filesystem labelled `RANCHER_STATE`.
pub trait Formatter {
    /// Formats `dev`.
    fn format(&self, dev: &Path) -> io::Result<()>;
}

/// `mkfs.ext4` from `PATH`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mkfs;

impl Formatter for Mkfs {
    fn format(&self, dev: &Path) -> io::Result<()> {
        let out = std::process::Command::new("mkfs.ext4")
            .args(["-F", "-q", "-L", STATE_LABEL])
            .arg(dev)
            .output()
            .map_err(|e| io::Error::new(e.kind(), format!("running mkfs.ext4: {e}")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "mkfs.ext4 {}: {}",
                dev.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }
}

/// Mounts the state below `root` (`root/state`).
#[derive(Debug)]
pub struct StateMount<'a, K: Kernel + ?Sized, F: Formatter> {
    /// Syscalls.
    pub kernel: &'a K,
    /// Formats autoformat's pick.
    pub formatter: &'a F,
    /// The current root (`/`).
    pub root: &'a Path,
    /// `rancher.state`.
    pub config: &'a StateConfig,
}

impl<K: Kernel + ?Sized, F: Formatter> StateMount<'_, K, F> {
    /// Mounts the state partition, or a tmpfs when there is none. An error only when
    /// `rancher.state.required` forbids the RAM disk.
    pub fn run(&self) -> Result<StateRoot, String> {
        let target = self.root.join("state");
        drop(std::fs::create_dir_all(&target));
        let outcome = self.mount_partition(&target);
        match outcome {
            Ok(root) => Ok(root),
            Err(why) if self.config.required => Err(why),
            Err(why) => {
                self.kernel
                    .mount(
                        "tmpfs",
                        &target,
                        "tmpfs",
                        MountFlags::NONE,
                        Some("mode=0755"),
                    )
                    .map_err(|e| format!("mounting a tmpfs root at {}: {e}", target.display()))?;
                Ok(StateRoot::RamDisk(why))
            }
        }
    }

    fn mount_partition(&self, target: &Path) -> Result<StateRoot, String> {
        let Some(spec) = DeviceSpec::parse(&self.config.dev) else {
            return Err("no rancher.state.dev".into());
        };
        let limit = if self.config.wait { WAIT } else { GRACE };
        let mut formatted = false;
        let found = match self.find(&spec, limit) {
            Some(found) => found,
            None => {
                let dev = self.autoformat()?.ok_or_else(|| {
                    format!("rancher.state.dev {}: no such device", self.config.dev)
                })?;
                formatted = true;
                blockdev::resolve(&DeviceSpec::Path(dev), &[])
                    .ok_or("the formatted device went away")?
            }
        };
        let fstype = match (self.config.fstype.as_str(), &found.probe) {
            ("auto" | "", Some(p)) => p.fstype.to_string(),
            ("auto" | "", None) => {
                return Err(format!("{}: no filesystem we know", found.dev.display()));
            }
            (fstype, _) => fstype.to_string(),
        };
        self.kernel
            .mount(
                &found.dev.to_string_lossy(),
                target,
                &fstype,
                MountFlags::NONE,
                None,
            )
            .map_err(|e| format!("mounting {} ({fstype}): {e}", found.dev.display()))?;
        if !self.config.directory.is_empty() {
            self.bind_directory(target)?;
        }
        Ok(StateRoot::Persistent {
            dev: found.dev,
            formatted,
        })
    }

    /// `rancher.state.directory`: the root is a directory of the partition, bound over it.
    fn bind_directory(&self, target: &Path) -> Result<(), String> {
        let dir = target.join(self.config.directory.trim_start_matches('/'));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        self.kernel
            .mount(&dir.to_string_lossy(), target, "", MountFlags::BIND, None)
            .map_err(|e| format!("binding {} over {}: {e}", dir.display(), target.display()))
    }

    fn find(&self, spec: &DeviceSpec, limit: Duration) -> Option<blockdev::Found> {
        let start = Instant::now();
        loop {
            let devices =
                blockdev::block_devices(&self.root.join("sys/class/block"), &self.root.join("dev"));
            if let Some(found) = blockdev::resolve(spec, &devices) {
                return Some(found);
            }
            if start.elapsed() >= limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The first listed device whose first MiB is zero, formatted; `None` if none is.
    fn autoformat(&self) -> Result<Option<PathBuf>, String> {
        for dev in &self.config.autoformat {
            let dev = Path::new(dev);
            match blockdev::is_zeroed(dev, ZEROED_PREFIX) {
                Ok(true) => {
                    self.formatter
                        .format(dev)
                        .map_err(|e| format!("autoformat {}: {e}", dev.display()))?;
                    return Ok(Some(dev.to_path_buf()));
                }
                Ok(false) => {
                    tracing::info!(dev = %dev.display(), "autoformat: not empty, skipped");
                }
                Err(e) => {
                    tracing::info!(dev = %dev.display(), %e, "autoformat: unreadable, skipped");
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
