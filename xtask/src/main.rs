//! `cargo xtask`: build automation for RancherOS. Outputs go to `dist/` at the workspace root;
//! the cargo target directory is wherever cargo puts it (`CARGO_TARGET_DIR` is honoured, CI
//! keeps it under /var/cache so a clean clone reuses the build).

#![allow(clippy::print_stderr)] // a build tool reports on stderr

mod bench;
mod binary;
mod bootloader;
mod cargolock;
mod cpio;
mod debian;
mod disk;
mod elf;
mod fat;
mod image;
mod iso;
mod kernel;
mod oci;
mod pkglock;
mod report;
mod rootfs;
mod sysimages;
mod test;
mod tools;
mod tree;
mod unpacked;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use image::Stage;

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Build, boot and test RancherOS")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the static `ros` binary into dist/ros.
    Build(binary::BuildArgs),
    /// Put Debian's cloud kernel in dist/vmlinuz.
    Kernel(image::ImageArgs),
    /// Build the kernel and the initramfs (dist/initrd; with the kernel, the PXE pair).
    Initramfs(image::ImageArgs),
    /// Build the hybrid ISO (BIOS and UEFI) into dist/rancheros.iso.
    Iso(image::ImageArgs),
    /// Build every artefact: kernel, initramfs, ISO, disk images (raw and qcow2).
    #[command(visible_alias = "disk")]
    Images(image::ImageArgs),
    /// Build every artefact and boot the OS in QEMU with the serial console on this terminal.
    Run(RunArgs),
    /// Everything CI checks: formatting, clippy, the test suites, the static build, fuzzing,
    /// the end-to-end boots.
    Test(test::TestArgs),
    /// Build every artefact and boot them in QEMU: the end-to-end suites.
    E2e(test::E2eArgs),
    /// Run the fuzz targets for a while (needs cargo-fuzz).
    Fuzz(test::FuzzArgs),
    /// Measure against the reference (Debian's dockerd) and write BENCHMARKS.md.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(args) => binary::build(&args).map(|path| {
            eprintln!("xtask: built {}", path.display());
        }),
        Command::Kernel(args) => image::build(&args, Stage::Kernel).map(drop),
        Command::Initramfs(args) => image::build(&args, Stage::Initramfs).map(drop),
        Command::Iso(args) => image::build(&args, Stage::Iso).map(drop),
        Command::Images(args) => image::build(&args, Stage::All).map(drop),
        Command::Run(args) => run(&args),
        Command::Test(args) => test::run(&args),
        Command::Fuzz(args) => test::fuzz(&args),
        Command::E2e(args) => test::e2e(&args),
        Command::Bench(args) => bench::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[command(flatten)]
    image: image::ImageArgs,
    /// Guest RAM in MiB.
    #[arg(long, default_value_t = 1024)]
    memory: u32,
    /// Boot the ISO (as a CD-ROM) instead of the kernel and initramfs directly.
    #[arg(long, conflicts_with = "disk")]
    iso: bool,
    /// Boot the disk image (dist/rancheros.qcow2).
    #[arg(long)]
    disk: bool,
    /// With --iso or --disk: boot by UEFI (OVMF) rather than BIOS.
    #[arg(long)]
    uefi: bool,
    /// Forward this port on 127.0.0.1 to the guest's SSH port.
    #[arg(long)]
    ssh_port: Option<u16>,
    /// Hand the guest this cloud-config on a config drive (label `config-2`).
    #[arg(long)]
    cloud_config: Option<PathBuf>,
    /// Extra kernel parameters (direct boots), e.g. `rancher.debug=true`.
    #[arg(long = "append")]
    append: Vec<String>,
}

/// Builds the OS and boots it with the serial console on this terminal (QEMU replaces
/// xtask, so Ctrl-A X quits and Ctrl-A C reaches QEMU's monitor).
fn run(args: &RunArgs) -> Result<()> {
    use std::os::unix::process::CommandExt;

    use ros_e2e::{BootSource, Firmware, QemuConfig};

    crate::tools::ensure_debian_packages(&["qemu-system-x86", "ovmf"])?;
    // Everything, whichever way it boots: the ISO and disk take seconds once the initramfs
    // exists, and dist/ is then complete.
    let built = image::build(&args.image, Stage::All)?;
    let firmware = if args.uefi {
        Firmware::Uefi
    } else {
        Firmware::Bios
    };
    let boot = if args.iso {
        BootSource::Iso {
            path: built.iso,
            firmware,
        }
    } else if args.disk {
        // A copy, so the guest's writes to its state partition do not change dist/.
        let disk = dist_dir()?.join("run.qcow2");
        std::fs::copy(&built.qcow2, &disk).context("copying the disk image")?;
        BootSource::Disk {
            path: disk,
            firmware,
        }
    } else {
        BootSource::Direct {
            kernel: built.kernel,
            initrd: built.initrd,
        }
    };
    let mut config = QemuConfig::new(boot);
    config.memory_mib = args.memory;
    config.ssh_port = args.ssh_port;
    config.cmdline.clone_from(&args.append);
    config.no_reboot = false;
    if let Some(user_data) = &args.cloud_config {
        let drive = dist_dir()?.join("run-config-drive.iso");
        ros_e2e::config_drive::write(user_data, &drive)?;
        config.config_drive = Some(drive);
    }
    let mut qemu = config.command()?;
    eprintln!("xtask: {qemu:?}");
    eprintln!("xtask: Ctrl-A X quits QEMU");
    Err(qemu.exec()).context("starting QEMU")
}

/// The workspace root (the parent of this crate's directory).
fn workspace_root() -> PathBuf {
    // `cargo run` sets CARGO_MANIFEST_DIR when it runs xtask too. Prefer that to the value
    // compiled in: with a shared target directory (CI's clean clones), cargo may reuse an
    // xtask binary built from another checkout of the same sources.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// `dist/` at the workspace root, created on demand.
fn dist_dir() -> Result<PathBuf> {
    let dist = workspace_root().join("dist");
    std::fs::create_dir_all(&dist).with_context(|| format!("creating {}", dist.display()))?;
    Ok(dist)
}
