//! `cargo xtask bench engine`: the System engine against Debian's dockerd + containerd + runc
//! on this host, driven by the same stock Docker CLI, in one run. Writes BENCHMARKS.md.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use crate::binary::{self, BuildArgs};
use crate::report::{today, write_section};
use crate::tools;

const BEGIN: &str = "<!-- engine:begin (written by `cargo xtask bench engine`) -->";
const END: &str = "<!-- engine:end -->";
const DOCKER: &str = "/usr/local/bin/docker";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Suite {
    /// Container start latency and idle memory against dockerd.
    Engine,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum, default_value = "engine")]
    pub suite: Suite,
    /// Timed `docker run`s per engine.
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
}

/// One engine under test, on its own socket and roots.
struct Daemon {
    name: &'static str,
    child: Child,
    socket: PathBuf,
    root: PathBuf,
}

impl Daemon {
    fn docker(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(DOCKER)
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", self.root.join("docker-config"))
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {DOCKER}"))?;
        if !out.status.success() {
            bail!(
                "{}: docker {args:?}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.docker(&["version"]).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("{} did not come up", self.name)
    }

    fn stop(mut self) {
        drop(self.docker(&["rm", "-f", "bench-idle"]));
        drop(
            Command::new("kill")
                .arg(self.child.id().to_string())
                .status(),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && !matches!(self.child.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(self.child.kill());
        drop(self.child.wait());
    }
}

fn start(name: &'static str, program: &Path, first: &[&str], root: &Path) -> Result<Daemon> {
    std::fs::create_dir_all(root)?;
    let socket = root.join("engine.sock");
    let log = std::fs::File::create(root.join("engine.log"))?;
    let child = Command::new(program)
        .args(first)
        .arg("--host")
        .arg(format!("unix://{}", socket.display()))
        .arg("--data-root")
        .arg(root.join("data"))
        .arg("--exec-root")
        .arg(root.join("exec"))
        .arg("--pidfile")
        .arg(root.join("engine.pid"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let daemon = Daemon {
        name,
        child,
        socket,
        root: root.to_path_buf(),
    };
    daemon.wait_ready()?;
    Ok(daemon)
}

/// Resident memory of `pid` in KiB (VmRSS).
fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmRSS for pid {pid}"))
}

/// Memory only `pid` holds, in KiB: private clean + private dirty pages (USS). Shared pages,
/// such as the `ros` text every shim and the engine map, are left out.
fn private_kib(pid: u32) -> Result<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
    Ok(rollup
        .lines()
        .filter(|l| l.starts_with("Private_Clean:") || l.starts_with("Private_Dirty:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum())
}

fn parent_of(pid: u32) -> Result<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').context("malformed stat")?.1;
    after
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .context("no ppid")
}

fn children_named(parent: u32, name: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| parent_of(*pid).ok() == Some(parent))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name)
        })
        .collect()
}

struct Measured {
    median_ms: f64,
    min_ms: f64,
    max_ms: f64,
    engine_kib: u64,
    shim_kib: u64,
    shim_private_kib: u64,
}

fn measure(daemon: &Daemon, runs: usize, extra_kib: impl Fn() -> u64) -> Result<Measured> {
    let run = ["run", "--rm", "--network", "none", "busybox", "true"];
    for _ in 0..2 {
        daemon.docker(&run)?; // warm-up: page cache, first cgroup creation
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        daemon.docker(&run)?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    std::thread::sleep(Duration::from_secs(2));
    let engine_kib = rss_kib(daemon.child.id())? + extra_kib();
    daemon.docker(&[
        "run",
        "-d",
        "--name",
        "bench-idle",
        "--network",
        "none",
        "busybox",
        "sleep",
        "600",
    ])?;
    std::thread::sleep(Duration::from_secs(1));
    let pid: u32 = daemon
        .docker(&["inspect", "-f", "{{.State.Pid}}", "bench-idle"])?
        .trim()
        .parse()?;
    let shim = parent_of(pid)?;
    let shim_kib = rss_kib(shim)?;
    let shim_private_kib = private_kib(shim)?;
    Ok(Measured {
        median_ms: times[times.len() / 2],
        min_ms: times[0],
        max_ms: times[times.len() - 1],
        engine_kib,
        shim_kib,
        shim_private_kib,
    })
}

/// Runs the benchmark and writes its section of BENCHMARKS.md.
pub fn run(args: &BenchArgs) -> Result<()> {
    match args.suite {
        Suite::Engine => engine(args.runs.max(3)),
    }
}

fn engine(runs: usize) -> Result<()> {
    tools::ensure_debian_packages(&["busybox-static", "docker.io"])?;
    let ros = binary::build(&BuildArgs { debug: false })?;
    let scratch = tempfile::Builder::new().prefix("ros-bench-").tempdir()?;
    let archive = scratch.path().join("busybox.tar");
    std::fs::write(
        &archive,
        ros_engine::testing::busybox_archive("busybox:latest").map_err(anyhow::Error::msg)?,
    )?;
    let archive = archive.to_str().context("non-UTF-8 temp path")?;

    // As in the OS image, the binary sits on a read-only mount, so the engine starts shims
    // from it directly instead of from a sealed in-memory copy (see the engine's `seal`).
    let ro = scratch.path().join("ro");
    std::fs::create_dir_all(&ro)?;
    let dist = ros.parent().context("dist/ros has no directory")?;
    for args in [&["--bind"][..], &["-o", "remount,bind,ro"][..]] {
        let source: &[&Path] = if args.len() == 1 {
            &[dist, &ro]
        } else {
            &[&ro]
        };
        let status = Command::new("mount").args(args).args(source).status()?;
        if !status.success() {
            bail!("mount {args:?} {source:?} failed");
        }
    }
    let ros = ro.join("ros");
    let ours = start(
        "system-dockerd",
        &ros,
        &["system-dockerd"],
        &scratch.path().join("ours"),
    )?;
    ours.docker(&["load", "-i", archive])?;
    let our = measure(&ours, runs, || 0);
    ours.stop();
    let our = our?;

    let theirs = start(
        "dockerd",
        Path::new("/usr/sbin/dockerd"),
        &[
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
        ],
        &scratch.path().join("dockerd"),
    )?;
    theirs.docker(&["load", "-i", archive])?;
    let dockerd_pid = theirs.child.id();
    let theirs_measured = measure(&theirs, runs, || {
        children_named(dockerd_pid, "containerd")
            .iter()
            .filter_map(|p| rss_kib(*p).ok())
            .sum()
    });
    theirs.stop();
    let reference = theirs_measured?;
    ros_engine::testing::unmount_below(scratch.path());

    let versions = Command::new("/usr/sbin/dockerd")
        .arg("--version")
        .output()?;
    let dockerd_version = String::from_utf8_lossy(&versions.stdout).trim().to_owned();
    let mib = |kib: u64| kib as f64 / 1024.0;
    let mut text = String::new();
    let _ = writeln!(text, "{BEGIN}\n## System engine\n");
    let _ = writeln!(
        text,
        "Measured by `cargo xtask bench engine` on {} ({} cores): the static `ros` as \
         `system-dockerd` against {dockerd_version} with its containerd and runc, both driven by \
         the stock Docker CLI 28 on their own sockets, cgroup v1 hybrid host. Start: \
         `docker run --rm --network none busybox true`, {runs} runs after 2 warm-ups, wall time \
         of the CLI. RSS: VmRSS 2 s after the runs; shim: the parent of a running `sleep` \
         container's process.\n",
        today(),
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
    );
    let _ = writeln!(
        text,
        "| figure | system-dockerd | dockerd + containerd | ratio | target | |\n|---|---|---|---|---|---|"
    );
    let ratio_start = our.median_ms / reference.median_ms;
    let ratio_rss = our.engine_kib as f64 / reference.engine_kib as f64;
    let verdict = |ok: bool| if ok { "meets" } else { "**misses**" };
    let _ = writeln!(
        text,
        "| `docker run --rm` median (min–max), ms | {:.0} ({:.0}–{:.0}) | {:.0} ({:.0}–{:.0}) | {ratio_start:.2} | ≤ 1/3 | {} |",
        our.median_ms,
        our.min_ms,
        our.max_ms,
        reference.median_ms,
        reference.min_ms,
        reference.max_ms,
        verdict(ratio_start <= 1.0 / 3.0)
    );
    let _ = writeln!(
        text,
        "| idle engine RSS, MiB | {:.1} | {:.1} | {ratio_rss:.3} | ≤ 1/10 | {} |",
        mib(our.engine_kib),
        mib(reference.engine_kib),
        verdict(ratio_rss <= 0.1)
    );
    let _ = writeln!(
        text,
        "| per-container shim RSS, MiB | {:.2} | {:.2} | {:.3} | ≤ 1 MiB | {} |",
        mib(our.shim_kib),
        mib(reference.shim_kib),
        our.shim_kib as f64 / reference.shim_kib as f64,
        verdict(our.shim_kib <= 1024)
    );
    let _ = writeln!(
        text,
        "| per-container shim private memory (USS), MiB | {:.2} | {:.2} | {:.3} | | |",
        mib(our.shim_private_kib),
        mib(reference.shim_private_kib),
        our.shim_private_kib as f64 / reference.shim_private_kib as f64,
    );
    let _ = writeln!(
        text,
        "\nThe engine runs from a read-only bind mount of `dist/`, as the OS image mounts it, so \
         shims execute the binary itself rather than a sealed copy. A shim's RSS is then mostly \
         pages of `ros` shared with the engine and every other shim; after starting the \
         container it re-executes itself so that libcontainer's heap is gone. Its private \
         memory is the USS row."
    );
    let _ = writeln!(text, "{END}");
    eprint!("{text}");
    write_section(BEGIN, END, &text)
}
