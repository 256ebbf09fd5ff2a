//! `ros-init`: the `init` applet, the first process.
//!
//! The synchronous early boot, no async runtime: kernel filesystems, the image's modules, the
//! configuration layers, `rancher.modules`, the state partition (or a RAM disk), switch root,
//! the files the services bind; then `ros-sysinit` starts in the background and init becomes
//! the System engine with `execve`, which stays PID 1. Every step goes through
//! [`ros_sys::Kernel`], so the sequence is unit-tested against a recording fake and a
//! temporary root.

pub mod blockdev;
pub mod datasource;
mod images;
mod launch;
mod modules;
mod mounts;
mod setup;
mod state;
mod switchroot;

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ros_config::{CloudConfig, ConfigPaths, Scope};
use ros_sys::{Kernel, LinuxKernel};

pub use images::{ImageCheck, check_images};
pub use launch::{ENGINE_LOG, engine_args};
pub use modules::{ModuleReport, load_modules, load_named};
pub use mounts::{EARLY_MOUNTS, mount_early};
pub use setup::{apply_sysctl, hostname, hosts_file, prepare};
pub use state::{Formatter, Mkfs, StateMount, StateRoot};
pub use switchroot::{Moved, Populate, switch};

/// The line the console shows once the early boot is done; tests wait for it.
pub const BOOT_OK_MARKER: &str = "ros: boot ok";

/// Where the image build puts the preloaded system images, below the root.
pub const IMAGES_DIR: &str = "usr/share/ros/images";

/// Where init writes what it did and what it skipped, below the new root.
pub const BOOT_LOG: &str = "var/log/boot/init.log";

/// Why a boot step failed.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// A mount failed.
    #[error("mount {fstype} on {target}: {source}")]
    Mount {
        /// Filesystem type.
        fstype: String,
        /// Where.
        target: PathBuf,
        /// The kernel's answer.
        source: io::Error,
    },
}

/// The early steps, against a root directory (`/` in the real system).
#[derive(Debug)]
pub struct Boot<'a, K: Kernel + ?Sized> {
    kernel: &'a K,
    root: PathBuf,
}

/// What the early steps found.
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

/// Seconds since boot from `root/proc/uptime`.
pub fn uptime(root: &Path) -> Option<f64> {
    read_trimmed(&root.join("proc/uptime"))
        .and_then(|u| u.split_whitespace().next().and_then(|s| s.parse().ok()))
}

impl<'a, K: Kernel + ?Sized> Boot<'a, K> {
    /// Steps against `root`, through `kernel`.
    pub fn new(kernel: &'a K, root: impl Into<PathBuf>) -> Self {
        Self {
            kernel,
            root: root.into(),
        }
    }

    /// Mounts the kernel filesystems (see [`EARLY_MOUNTS`]).
    pub fn mount_early(&self) -> Result<(), BootError> {
        mount_early(self.kernel, &self.root)
    }

    /// The modules directory of the running kernel.
    pub fn module_dir(&self) -> Option<PathBuf> {
        read_trimmed(&self.root.join("proc/sys/kernel/osrelease"))
            .map(|release| self.root.join("lib/modules").join(release))
    }

    /// Mounts, the image's modules and the image check, reported on `console`.
    pub fn run(&self, console: &mut dyn Write) -> BootReport {
        if let Err(e) = self.mount_early() {
            drop(writeln!(console, "ros: init: {e}"));
        }
        mounts::dev_links(&self.root);
        let modules = self
            .module_dir()
            .map(|dir| load_modules(self.kernel, &dir))
            .unwrap_or_default();
        for failure in &modules.failures {
            drop(writeln!(console, "ros: init: module {failure}"));
        }
        let images = check_images(&self.root.join(IMAGES_DIR));
        for (path, why) in &images.unreadable {
            drop(writeln!(
                console,
                "ros: init: image {}: {why}",
                path.display()
            ));
        }
        BootReport {
            uptime: uptime(&self.root),
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

/// The merged configuration below `root`, and one line per problem found on the way. A
/// configuration that does not type-check as a whole falls back to the built-in defaults.
pub fn load_config(root: &Path) -> (CloudConfig, Vec<String>) {
    let loaded = ros_config::load(&ConfigPaths::new(root), Scope::Full);
    let mut problems: Vec<String> = loaded.diagnostics.iter().map(ToString::to_string).collect();
    let config = loaded.typed().unwrap_or_else(|d| {
        problems.push(d.to_string());
        let mut defaults = ros_config::Loaded::empty();
        defaults.add_yaml(ros_config::OS_CONFIG, ros_config::OS_CONFIG_SOURCE);
        defaults.typed().unwrap_or_default()
    });
    (config, problems)
}

/// Writes `lines` to the boot log below `root`, atomically.
fn write_boot_log(root: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    drop(ros_sys::write_atomic(
        &root.join(BOOT_LOG),
        text.as_bytes(),
        0o644,
    ));
}

/// The whole boot as PID 1. Returns only if the engine could not be started.
fn boot(kernel: &LinuxKernel, console: &mut dyn Write) -> io::Error {
    let root = Path::new("/");
    let boot = Boot::new(kernel, root);
    let report = boot.run(console);
    ros_sys::announce(root, console, &report.marker_line());
    let mut log = vec![report.marker_line()];

    let (config, problems) = load_config(root);
    if let Some(dir) = boot.module_dir() {
        let named = load_named(kernel, &dir, &config.rancher.modules);
        for failure in named.failures {
            log.push(format!("rancher.modules: {failure}"));
        }
    }
    let state = StateMount {
        kernel,
        formatter: &Mkfs,
        root,
        config: &config.rancher.state,
    }
    .run();
    let persistent = match &state {
        Ok(StateRoot::Persistent { dev, formatted }) => {
            log.push(format!(
                "state: {} (formatted now: {formatted})",
                dev.display()
            ));
            true
        }
        Ok(StateRoot::RamDisk(why)) => {
            log.push(format!("state: in RAM ({why})"));
            false
        }
        Err(why) => {
            // rancher.state.required and no state: stay in the initramfs, say why loudly.
            drop(writeln!(
                console,
                "ros: init: state required but unavailable: {why}"
            ));
            log.push(format!("state: required but unavailable: {why}"));
            return start(kernel, root, &config, &problems, log, console);
        }
    };
    let new_root = root.join("state");
    let moved = Populate {
        old_root: root,
        new_root: &new_root,
        persistent,
        version: VERSION,
    }
    .run();
    match moved.and_then(|_| switch(kernel, root, &new_root)) {
        Ok(()) => {}
        Err(e) => {
            drop(writeln!(console, "ros: init: switch root: {e}"));
            log.push(format!("switch root: {e}"));
        }
    }
    read_datasource(kernel, root, &config, &mut log);
    // The state partition adds its own configuration layers, the drive its user-data.
    let (config, problems) = load_config(root);
    start(kernel, root, &config, &problems, log, console)
}

/// Saves the user-data of a local drive (`rancher.cloud_init.datasources`) as layers.
fn read_datasource(kernel: &LinuxKernel, root: &Path, config: &CloudConfig, log: &mut Vec<String>) {
    let layouts = datasource::wanted(&config.rancher.cloud_init.datasources);
    if layouts.is_empty() {
        return;
    }
    let devices = blockdev::block_devices(&root.join("sys/class/block"), &root.join("dev"));
    match datasource::load(kernel, root, &layouts, &devices) {
        Ok(Some((dev, written))) => log.push(format!(
            "datasource: {} gave {}",
            dev.display(),
            written
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Ok(None) => log.push(format!("datasource: no drive for {layouts:?}")),
        Err(e) => log.push(format!("datasource: {e}")),
    }
}

/// After switch root: files, host name, logs, then sysinit and the engine.
fn start(
    kernel: &LinuxKernel,
    root: &Path,
    config: &CloudConfig,
    problems: &[String],
    mut log: Vec<String>,
    console: &mut dyn Write,
) -> io::Error {
    for p in problems {
        drop(writeln!(console, "ros: init: config: {p}"));
        log.push(format!("config: {p}"));
    }
    if let Err(e) = prepare(root, config) {
        log.push(format!("preparing the root: {e}"));
    }
    let name = hostname(config);
    if let Err(e) = ros_sys::set_hostname(name) {
        log.push(format!("hostname {name}: {e}"));
    }
    drop(std::fs::write(
        root.join("proc/sys/net/ipv4/ip_forward"),
        "1",
    ));
    for problem in apply_sysctl(root, &config.rancher.sysctl) {
        log.push(problem);
    }
    // Bind mounts marked shared (/media, /mnt) must reach the containers that want them.
    if let Err(e) = kernel.mount(
        "",
        root,
        "",
        ros_sys::MountFlags::SHARED.union(ros_sys::MountFlags::REC),
        None,
    ) {
        log.push(format!("making / shared: {e}"));
    }
    if let Err(e) = ros_sys::ctrl_alt_del_signals_init() {
        log.push(format!("Ctrl-Alt-Del: {e}"));
    }
    let ros = root.join("usr/bin/ros");
    if let Err(e) = launch::spawn_sysinit(&ros) {
        drop(writeln!(console, "ros: init: starting ros-sysinit: {e}"));
        log.push(format!("starting ros-sysinit: {e}"));
    }
    write_boot_log(root, &log);
    drop(console.flush());
    launch::exec_engine(
        &ros,
        &engine_args(&config.rancher.system_docker),
        config.rancher.system_docker.debug == Some(true),
    )
}

/// This build's version, for `usr-<version>` on the state partition.
pub const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));

/// Entry point of the `init` applet.
pub fn main(_args: Vec<OsString>) -> ExitCode {
    let mut console = io::stdout().lock();
    if std::process::id() != 1 {
        drop(writeln!(
            console,
            "init: not the first process; nothing to do"
        ));
        return ExitCode::FAILURE;
    }
    let kernel = LinuxKernel;
    let err = boot(&kernel, &mut console);
    drop(writeln!(
        console,
        "ros: init: starting the System engine: {err}"
    ));
    drop(console.flush());
    // PID 1 must never exit: that panics the kernel. Without an engine there is nothing left
    // to run; power off cleanly instead.
    kernel.sync();
    let err = kernel.reboot(ros_sys::PowerAction::PowerOff);
    drop(writeln!(console, "ros: init: power off failed: {err}"));
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests;
