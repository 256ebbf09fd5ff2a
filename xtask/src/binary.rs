//! The static `ros` binary: musl when the target is installed, otherwise glibc with
//! `+crt-static` (static-pie), checked to have no dynamic loader either way.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::elf::{self, Linkage};
use crate::tools::{self, MUSL};

const GNU: &str = "x86_64-unknown-linux-gnu";

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Build with the dev profile (faster to build, larger and slower).
    #[arg(long)]
    pub debug: bool,
}

/// Builds `ros`, copies it to dist/ros and returns that path.
pub fn build(args: &BuildArgs) -> Result<PathBuf> {
    let target = if tools::ensure_musl_target()? {
        MUSL
    } else {
        GNU
    };
    if target == GNU {
        eprintln!("xtask: the {MUSL} target is not installed; building {GNU} with +crt-static");
    } else {
        // zstd-sys (image layers) is C: building it for musl needs musl-gcc.
        tools::ensure_debian_packages(&["musl-tools"])?;
    }
    let mut cargo = Command::new(cargo());
    cargo.current_dir(crate::workspace_root()).args([
        "build",
        "--package",
        "ros",
        "--target",
        target,
    ]);
    if !args.debug {
        cargo.arg("--release");
    }
    if target == GNU {
        // .cargo/config.toml sets +crt-static for musl; glibc needs it here.
        cargo.env("RUSTFLAGS", "-C target-feature=+crt-static");
    }
    run(&mut cargo)?;

    let profile = if args.debug { "debug" } else { "release" };
    let built = target_dir()?.join(target).join(profile).join("ros");
    let bytes = std::fs::read(&built).with_context(|| format!("reading {}", built.display()))?;
    match elf::linkage(&bytes).with_context(|| built.display().to_string())? {
        Linkage::Static | Linkage::StaticPie => {}
        Linkage::Dynamic => bail!(
            "{} needs a dynamic loader; it must be static",
            built.display()
        ),
    }
    let out = crate::dist_dir()?.join("ros");
    // Copy through a temporary name so a running dist/ros is never half-written.
    let tmp = out.with_extension("tmp");
    std::fs::copy(&built, &tmp).with_context(|| format!("copying to {}", tmp.display()))?;
    std::fs::rename(&tmp, &out).with_context(|| format!("renaming to {}", out.display()))?;
    Ok(out)
}

/// The cargo that runs xtask, so the same toolchain builds everything.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The cargo target directory, as cargo itself resolves it.
pub fn target_dir() -> Result<PathBuf> {
    let output = Command::new(cargo())
        .current_dir(crate::workspace_root())
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("parsing cargo metadata")?;
    let dir = metadata["target_directory"]
        .as_str()
        .context("cargo metadata has no target_directory")?;
    Ok(PathBuf::from(dir))
}

/// Runs a command, failing with its command line if it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}
