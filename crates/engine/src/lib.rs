//! `system-dockerd`: the System engine. It serves the Docker Engine API on a unix socket so
//! the stock `docker` CLI drives it as `system-docker`, keeps images in an overlay store, and
//! runs every container through its own `ros-shim` process, so containers outlive the engine.

mod api;
mod containers;
mod engine;
mod error;
mod ids;
mod images;
mod pid1;
mod pidwatch;
mod query;
mod seal;
mod server;
pub mod testing;
mod time;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

pub use engine::{Engine, EngineConfig};

/// `system-dockerd` flags, named as dockerd's.
#[derive(Debug, Parser)]
#[command(name = "system-dockerd", about = "RancherOS System Docker engine")]
pub struct Args {
    /// Socket to listen on (`unix:///path` or a path).
    #[arg(
        short = 'H',
        long = "host",
        default_value = "unix:///var/run/system-docker.sock"
    )]
    pub host: String,
    /// Root of persistent state: images, containers, logs.
    #[arg(long = "data-root", default_value = "/var/lib/system-docker")]
    pub data_root: PathBuf,
    /// Root of runtime state.
    #[arg(long = "exec-root", default_value = "/var/run/system-docker")]
    pub exec_root: PathBuf,
    /// Where to write the engine's pid.
    #[arg(
        short = 'p',
        long = "pidfile",
        default_value = "/var/run/system-docker.pid"
    )]
    pub pidfile: PathBuf,
    /// Group (name or gid) allowed on the socket; without it only root is.
    #[arg(short = 'G', long = "group")]
    pub group: Option<String>,
    /// Binary to run as `ros-shim` (default: this one).
    #[arg(long = "shim", hide = true)]
    pub shim: Option<PathBuf>,
    /// As PID 1: seconds a shutdown may take before the watchdog forces it
    /// (`rancher.shutdown_timeout`).
    #[arg(long = "shutdown-timeout", default_value_t = 60, hide = true)]
    pub shutdown_timeout: u64,
}

/// Why the engine stopped.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A flag is wrong.
    #[error("{0}")]
    Usage(String),
    /// Setting up or serving failed.
    #[error("{what}: {source}")]
    Io {
        /// What the engine was doing.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> EngineError {
    let what = what.into();
    move |source| EngineError::Io { what, source }
}

fn group_id(group: &str) -> Result<u32, EngineError> {
    if let Ok(gid) = group.parse() {
        return Ok(gid);
    }
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    groups
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[0] == group)
        .and_then(|f| f[2].parse().ok())
        .ok_or_else(|| EngineError::Usage(format!("--group {group}: no such group in /etc/group")))
}

/// Makes the `system-docker` cgroup every container's cgroup sits in, in each hierarchy,
/// before containers start in parallel: libcontainer creating it from two shims at once
/// fails one of them with `File exists`.
fn cgroup_parents(root: &std::path::Path) {
    let dirs: Vec<PathBuf> = if root.join("cgroup.controllers").exists() {
        vec![root.to_path_buf()]
    } else {
        std::fs::read_dir(root)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    };
    for dir in dirs {
        let parent = dir.join("system-docker");
        if let Err(e) = std::fs::create_dir_all(&parent) {
            tracing::warn!(cgroup = %parent.display(), error = %e, "cannot make the cgroup parent");
        }
    }
}

/// Runs the engine until SIGTERM or SIGINT.
pub fn run(args: &Args) -> Result<(), EngineError> {
    let socket = PathBuf::from(args.host.strip_prefix("unix://").unwrap_or(&args.host));
    if args.host.contains("://") && !args.host.starts_with("unix://") {
        return Err(EngineError::Usage(format!(
            "--host {}: only unix sockets are served",
            args.host
        )));
    }
    let group = args.group.as_deref().map(group_id).transpose()?;
    let exe = match &args.shim {
        Some(path) => path.clone(),
        None => std::env::current_exe().map_err(io("finding this binary"))?,
    };
    // Kept open for as long as the engine runs: shims start from it.
    let shim =
        seal::shim_binary(&exe).map_err(io(format!("sealing a copy of {}", exe.display())))?;
    let config = EngineConfig {
        data_root: args.data_root.clone(),
        exec_root: args.exec_root.clone(),
        shim_exe: shim.path.clone(),
    };
    let init = pid1::is_init();
    if init {
        pid1::start_reaper();
    }
    let kernel: Arc<dyn ros_sys::Kernel> = Arc::new(ros_sys::LinuxKernel);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(io("starting the async runtime"))?;
    runtime.block_on(async {
        let engine = Arc::new(
            Engine::open(config, kernel.clone()).map_err(io("opening the data root"))?,
        );
        containers::lifecycle::adopt(&engine).await;
        cgroup_parents(std::path::Path::new("/sys/fs/cgroup"));
        let listener = server::bind(&socket, group).map_err(io(format!("listening on {}", socket.display())))?;
        ros_sys::write_atomic(&args.pidfile, format!("{}\n", std::process::id()).as_bytes(), 0o644)
            .map_err(|e| io(format!("writing {}", args.pidfile.display()))(std::io::Error::other(e)))?;
        tracing::info!(socket = %socket.display(), "System engine ready");
        if init {
            pid1::announce_ready();
            let timeout = std::time::Duration::from_secs(args.shutdown_timeout.max(5));
            tokio::spawn(pid1::handle_signals(engine.clone(), kernel, timeout));
        }
        let shutdown = async move {
            if init {
                // PID 1 ends only through reboot(2), in handle_signals.
                return std::future::pending().await;
            }
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        };
        server::serve(listener, api::router(engine), shutdown)
            .await
            .map_err(io("serving the API"))?;
        drop(std::fs::remove_file(&args.pidfile));
        Ok(())
    })
}

/// Applet entry point.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let args = match Args::try_parse_from(args) {
        Ok(args) => args,
        Err(e) => {
            drop(e.print());
            return ExitCode::from(2);
        }
    };
    if pid1::is_init() {
        // PID 1 never exits: whatever ends `run`, a panic included, the engine starts over
        // and re-adopts the containers, which kept running.
        let outcome = std::panic::catch_unwind(|| run(&args));
        tracing::error!(
            ?outcome,
            "the System engine stopped as PID 1; starting it again"
        );
        let err = pid1::reexec();
        drop(writeln!(
            std::io::stderr(),
            "system-dockerd: re-executing: {err}"
        ));
        loop {
            std::thread::park();
        }
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            drop(writeln!(std::io::stderr(), "system-dockerd: {e}"));
            ExitCode::FAILURE
        }
    }
}
