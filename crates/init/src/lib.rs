//! `ros-init`: the `init` applet, PID 1.
//!
//! This is stage 0 of the boot: mount the kernel filesystems, load the modules the image build
//! listed, check that the preloaded system images are readable, report on the console and
//! power off. The full chain (configuration, state partition, switch root, System engine) grows
//! on top of these steps. Every step goes through [`ros_sys::Kernel`], so the sequence is
//! unit-tested against a recording fake and a temporary root.

mod images;
mod modules;

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ros_sys::{Kernel, LinuxKernel, MountFlags};

pub use images::{ImageCheck, check_images};
pub use modules::{ModuleReport, load_modules};

/// The line the console shows once stage 0 is done; tests wait for it.
pub const BOOT_OK_MARKER: &str = "ros: boot ok";

/// Where the image build puts the preloaded system images, below the root.
pub const IMAGES_DIR: &str = "usr/share/ros/images";

const EBUSY: i32 = 16;

/// One early mount.
#[derive(Debug, Clone, Copy)]
struct EarlyMount {
    source: &'static str,
    target: &'static str,
    fstype: &'static str,
    flags: MountFlags,
    data: Option<&'static str>,
}

const NOSUID_NODEV: MountFlags = MountFlags::NOSUID.union(MountFlags::NODEV);
const NOSUID_NODEV_NOEXEC: MountFlags = NOSUID_NODEV.union(MountFlags::NOEXEC);

/// The kernel filesystems, in order: later mounts live inside earlier ones.
const EARLY_MOUNTS: &[EarlyMount] = &[
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
];

/// Why a boot step failed.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// A mount failed.
    #[error("mount {fstype} on {target}: {source}")]
    Mount {
        /// Filesystem type.
        fstype: &'static str,
        /// Where.
        target: PathBuf,
        /// The kernel's answer.
        source: io::Error,
    },
}

/// Stage 0, against a root directory (`/` in the real system).
#[derive(Debug)]
pub struct Boot<'a, K: Kernel + ?Sized> {
    kernel: &'a K,
    root: PathBuf,
}

/// What stage 0 found.
#[derive(Debug, Clone, PartialEq)]
pub struct BootReport {
    /// Seconds since the kernel started, from `/proc/uptime`.
    pub uptime: Option<f64>,
    /// Module loading.
    pub modules: ModuleReport,
    /// Preloaded images.
    pub images: ImageCheck,
}

impl BootReport {
    /// The console line, e.g. `ros: boot ok uptime=1.92 modules=43/43 images=4/4`.
    pub fn marker_line(&self) -> String {
        let uptime = self
            .uptime
            .map_or_else(|| "unknown".to_string(), |u| format!("{u:.2}"));
        format!(
            "{BOOT_OK_MARKER} uptime={uptime} modules={}/{} images={}/{}",
            self.modules.loaded,
            self.modules.listed,
            self.images.readable.len(),
            self.images.readable.len() + self.images.unreadable.len(),
        )
    }
}

impl<'a, K: Kernel + ?Sized> Boot<'a, K> {
    /// Steps against `root`, through `kernel`.
    pub fn new(kernel: &'a K, root: impl Into<PathBuf>) -> Self {
        Self {
            kernel,
            root: root.into(),
        }
    }

    /// Mounts proc, sys, dev and run. A target that is already mounted (`EBUSY`, as when the
    /// kernel mounted devtmpfs itself) counts as done.
    pub fn mount_early(&self) -> Result<(), BootError> {
        for m in EARLY_MOUNTS {
            let target = self.root.join(m.target);
            // The initramfs ships these directories; a missing one is created, not fatal.
            let _ = std::fs::create_dir_all(&target);
            match self
                .kernel
                .mount(m.source, &target, m.fstype, m.flags, m.data)
            {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(EBUSY) => {} // already mounted
                Err(source) => {
                    return Err(BootError::Mount {
                        fstype: m.fstype,
                        target,
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// Runs stage 0 up to the report; the caller prints it and powers off.
    pub fn run(&self, console: &mut dyn Write) -> BootReport {
        if let Err(e) = self.mount_early() {
            let _ = writeln!(console, "ros: init: {e}");
        }
        let release = read_trimmed(&self.root.join("proc/sys/kernel/osrelease"));
        let modules = match &release {
            Some(release) => {
                load_modules(self.kernel, &self.root.join("lib/modules").join(release))
            }
            None => ModuleReport::default(),
        };
        for failure in &modules.failures {
            let _ = writeln!(console, "ros: init: module {failure}");
        }
        let images = check_images(&self.root.join(IMAGES_DIR));
        for (path, why) in &images.unreadable {
            let _ = writeln!(console, "ros: init: image {}: {why}", path.display());
        }
        let uptime = read_trimmed(&self.root.join("proc/uptime"))
            .and_then(|u| u.split_whitespace().next().and_then(|s| s.parse().ok()));
        BootReport {
            uptime,
            modules,
            images,
        }
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Entry point of the `init` applet.
pub fn main(_args: Vec<OsString>) -> ExitCode {
    let kernel = LinuxKernel;
    let mut console = io::stdout().lock();
    let report = Boot::new(&kernel, "/").run(&mut console);
    let _ = writeln!(console, "{}", report.marker_line());
    let _ = console.flush();
    if std::process::id() != 1 {
        // Run by hand (or by a test) rather than by the kernel: nothing to power off.
        return ExitCode::SUCCESS;
    }
    kernel.sync();
    let err = kernel.power_off();
    let _ = writeln!(console, "ros: init: power off failed: {err}");
    // PID 1 must never exit: that panics the kernel.
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests;
