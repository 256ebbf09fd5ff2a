//! `cargo xtask test` (README's test command, what CI runs) and `cargo xtask fuzz`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::binary::{self, BuildArgs};
use crate::image::{self, ImageArgs, Stage};
use crate::tools;

/// Every fuzz target under fuzz/, with the seed corpus beside it.
const FUZZ_TARGETS: &[&str] = &["config_layers"];

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Seconds each fuzz target runs.
    #[arg(long, default_value_t = 30)]
    pub fuzz_seconds: u32,
}

#[derive(Debug, Args)]
pub struct FuzzArgs {
    /// Seconds each target runs.
    #[arg(long, default_value_t = 60)]
    pub seconds: u32,
    /// Only this target.
    pub target: Option<String>,
}

/// Formatting, clippy, every test suite, the static build and a short fuzz run.
pub fn run(args: &TestArgs) -> Result<()> {
    step("formatting", cargo(&["fmt", "--all", "--", "--check"]))?;
    step(
        "clippy",
        cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    // The System engine's privileged tests build their busybox image from busybox-static and
    // check archives against Debian's dockerd.
    tools::ensure_debian_packages(&["busybox-static", "docker.io"])?;
    step("tests", cargo(&["test", "--workspace"]))?;
    eprintln!("xtask: == static build");
    let ros = binary::build(&BuildArgs { debug: false })?;
    let size = std::fs::metadata(&ros)?.len();
    eprintln!("xtask: {} is static, {size} bytes", ros.display());
    fuzz(&FuzzArgs {
        seconds: args.fuzz_seconds,
        target: None,
    })?;
    e2e(&E2eArgs {
        image: ImageArgs {
            update_lock: false,
            report: false,
            zstd_level: 19,
        },
        filter: None,
    })
}

#[derive(Debug, Args)]
pub struct E2eArgs {
    #[command(flatten)]
    pub image: ImageArgs,
    /// Only the tests whose names contain this.
    pub filter: Option<String>,
}

/// Builds every artefact, then boots them in QEMU through the `ros-e2e` suites.
pub fn e2e(args: &E2eArgs) -> Result<()> {
    tools::ensure_debian_packages(&[
        "qemu-system-x86",
        "ovmf",
        "skopeo",
        "openssh-client",
        "openssh-server",
        "e2fsprogs",
    ])?;
    eprintln!("xtask: == images");
    let built = image::build(&args.image, Stage::All)?;
    let dist = built.kernel.parent().context("dist/ has no parent")?;
    let mut cmd = cargo(&["test", "--package", "ros-e2e", "--features", "e2e"]);
    cmd.env("ROS_DIST", dist);
    if let Some(filter) = &args.filter {
        cmd.args(["--", filter]);
    }
    step("end-to-end: images and QEMU boots", cmd)
}

/// Builds and runs the fuzz targets; a crash fails with the reproducer's path.
pub fn fuzz(args: &FuzzArgs) -> Result<()> {
    let fuzz_dir = crate::workspace_root().join("fuzz");
    tools::ensure_cargo_fuzz()?;
    let targets: Vec<&str> = match &args.target {
        Some(t) if FUZZ_TARGETS.contains(&t.as_str()) => vec![t.as_str()],
        Some(t) => bail!(
            "no fuzz target `{t}`; there are: {}",
            FUZZ_TARGETS.join(", ")
        ),
        None => FUZZ_TARGETS.to_vec(),
    };
    let work = fuzz_work_dir()?;
    for target in targets {
        eprintln!("xtask: == fuzz {target} for {} s", args.seconds);
        let corpus = work.join("corpus").join(target);
        std::fs::create_dir_all(&corpus)
            .with_context(|| format!("creating {}", corpus.display()))?;
        let seeds = fuzz_dir.join("seeds").join(target);
        let mut cmd = Command::new(binary::cargo());
        cmd.current_dir(&fuzz_dir)
            // cargo-fuzz passes -Z flags; the one stable toolchain here accepts them this way
            .env("RUSTC_BOOTSTRAP", "1")
            .env("CARGO_TARGET_DIR", work.join("target"))
            .args(["fuzz", "run", "-O", target])
            .arg(&corpus)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={}", args.seconds))
            .arg("-max_len=16384")
            .arg(format!(
                "-artifact_prefix={}/",
                work.join("artifacts").display()
            ));
        std::fs::create_dir_all(work.join("artifacts"))?;
        binary::run(&mut cmd).with_context(|| {
            format!(
                "fuzz target {target} failed; reproducers are in {}",
                work.join("artifacts").display()
            )
        })?;
    }
    Ok(())
}

/// Fuzz builds and corpora live beside the cargo target directory, outside the clone when CI
/// points CARGO_TARGET_DIR elsewhere.
fn fuzz_work_dir() -> Result<PathBuf> {
    Ok(binary::target_dir()?.join("fuzz"))
}

fn cargo(args: &[&str]) -> Command {
    let mut cmd = Command::new(binary::cargo());
    cmd.current_dir(crate::workspace_root()).args(args);
    cmd
}

fn step(name: &str, mut cmd: Command) -> Result<()> {
    eprintln!("xtask: == {name}");
    binary::run(&mut cmd).with_context(|| format!("{name} failed"))
}
