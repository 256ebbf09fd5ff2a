//! `cargo xtask`: build automation for RancherOS. Outputs go to `dist/` at the workspace root;
//! the cargo target directory is wherever cargo puts it (`CARGO_TARGET_DIR` is honoured, CI
//! keeps it under /var/cache so a clean clone reuses the build).

#![allow(clippy::print_stderr)] // a build tool reports on stderr

mod binary;
mod cpio;
mod debian;
mod elf;
mod image;
mod kernel;
mod test;
mod tools;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

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
    /// Build the kernel and the initramfs into dist/.
    Images(image::ImageArgs),
    /// Build the OS and boot it in QEMU with the serial console on this terminal.
    Run(image::ImageArgs),
    /// Everything CI checks: formatting, clippy, the test suites, the static build, fuzzing.
    Test(test::TestArgs),
    /// Run the fuzz targets for a while (needs cargo-fuzz).
    Fuzz(test::FuzzArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(args) => binary::build(&args).map(|path| {
            eprintln!("xtask: built {}", path.display());
        }),
        Command::Images(args) => image::build_all(&args).map(drop),
        Command::Run(args) => run(&args),
        Command::Test(args) => test::run(&args),
        Command::Fuzz(args) => test::fuzz(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Builds everything and boots it with the serial console on this terminal.
fn run(args: &image::ImageArgs) -> Result<()> {
    let artifacts = image::build_all(args)?;
    anyhow::bail!(
        "built {} and {} (kernel {}), but the QEMU runner is not wired up yet",
        artifacts.kernel.display(),
        artifacts.initrd.display(),
        artifacts.release
    )
}

/// The workspace root (the parent of this crate's directory).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
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
