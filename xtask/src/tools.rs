//! What the build and the tests need from the machine, installed on first use, so README's
//! two commands work on a fresh Debian machine: the musl target (rustup), cargo-fuzz
//! (crates.io) and Debian packages (apt, as root).

use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::binary;

/// The Rust target of the shipped binary.
pub const MUSL: &str = "x86_64-unknown-linux-musl";

/// Whether `target`'s standard library is installed for the running toolchain.
pub fn target_installed(target: &str) -> Result<bool> {
    let output = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .context("running rustc --print sysroot")?;
    let sysroot = String::from_utf8(output.stdout).context("rustc printed a non-UTF-8 sysroot")?;
    let lib = std::path::Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(target)
        .join("lib");
    Ok(lib.is_dir())
}

/// Installs the musl target if rustup can; returns whether it is there afterwards.
pub fn ensure_musl_target() -> Result<bool> {
    if target_installed(MUSL)? {
        return Ok(true);
    }
    eprintln!("xtask: installing the {MUSL} target with rustup");
    let added = Command::new("rustup")
        .args(["target", "add", MUSL])
        .status()
        .is_ok_and(|s| s.success());
    if !added {
        eprintln!("xtask: rustup could not add {MUSL}");
    }
    target_installed(MUSL)
}

/// Installs cargo-fuzz from crates.io if `cargo fuzz` is missing.
pub fn ensure_cargo_fuzz() -> Result<()> {
    let present = Command::new(binary::cargo())
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return Ok(());
    }
    eprintln!("xtask: installing cargo-fuzz");
    binary::run(Command::new(binary::cargo()).args(["install", "--locked", "cargo-fuzz"]))
        .context("installing cargo-fuzz")
}

/// Installs the Debian packages of `packages` that are missing (as root), or says how to.
pub fn ensure_debian_packages(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !dpkg_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !is_root() {
        bail!("missing Debian packages; install them with: sudo apt-get install {list}");
    }
    eprintln!("xtask: installing Debian packages: {list}");
    binary::run(Command::new("apt-get").args(["update", "-q"]))?;
    binary::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing),
    )
    .with_context(|| format!("installing {list}"))
}

fn dpkg_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}", package])
        .output()
        // Not `ends_with("installed")`: a package dpkg merely knows of is `not-installed`.
        .is_ok_and(|o| o.status.success() && o.stdout == b"install ok installed")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}
