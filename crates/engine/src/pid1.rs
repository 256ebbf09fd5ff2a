//! The engine as the first process. RancherOS's System Docker was PID 1 and so is ours; what
//! that adds to an engine: reaping every orphan of the system (one thread owns
//! `waitpid(-1)`), turning the init signals into an orderly power-off, restart or halt, and
//! never exiting — a failed engine re-executes itself and re-adopts its containers, because
//! PID 1 exiting panics the kernel.
//!
//! Signals follow busybox init, so busybox's `poweroff`, `reboot` and `halt` in any container
//! with the host's PID namespace work: SIGUSR2 powers off, SIGTERM restarts, SIGUSR1 halts;
//! SIGINT (Ctrl-Alt-Del) restarts; SIGPWR (a UPS) powers off.

use std::sync::Arc;
use std::time::Duration;

use ros_sys::{Kernel, PowerAction};
use tokio::signal::unix::{SignalKind, signal};

use crate::containers::lifecycle;
use crate::containers::record::Status;
use crate::engine::Engine;

/// The console line once the API answers; tests wait for it.
pub const READY_MARKER: &str = "ros: system engine ready";

/// Whether this process is PID 1.
pub fn is_init() -> bool {
    std::process::id() == 1
}

/// Starts the reaper thread. Children the engine waits for itself (a shim that failed to
/// start) may be reaped here first; their `wait` then fails with ECHILD, which is ignored.
pub fn start_reaper() {
    let spawned = std::thread::Builder::new().name("reaper".into()).spawn(|| {
        loop {
            match ros_sys::reap_any() {
                Ok(reaped) => tracing::trace!(pid = reaped.pid, "reaped"),
                // No children right now; new ones come with every container start.
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!(%e, "starting the reaper thread");
    }
}

/// Prints the ready marker with the uptime on the console (this process's stdout).
pub fn announce_ready() {
    let line = format!("{READY_MARKER} uptime={}", ros_sys::uptime());
    ros_sys::announce(
        std::path::Path::new("/"),
        &mut std::io::stdout().lock(),
        &line,
    );
}

/// The power action of an init signal.
pub fn action_of(signal: i32) -> Option<PowerAction> {
    match signal {
        libc::SIGUSR2 | libc::SIGPWR => Some(PowerAction::PowerOff),
        libc::SIGTERM | libc::SIGINT => Some(PowerAction::Restart),
        libc::SIGUSR1 => Some(PowerAction::Halt),
        _ => None,
    }
}

/// Waits for an init signal, then shuts down: every running container is stopped (the
/// console last, so a user sees the others go), the disks synced, `reboot(2)` called. A
/// watchdog forces the same end after `timeout` however the stops go.
pub async fn handle_signals(engine: Arc<Engine>, kernel: Arc<dyn Kernel>, timeout: Duration) {
    let signals = [
        libc::SIGUSR2,
        libc::SIGPWR,
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGUSR1,
    ];
    let (tx, mut rx) = tokio::sync::mpsc::channel(signals.len());
    for number in signals {
        let Ok(mut stream) = signal(SignalKind::from_raw(number)) else {
            tracing::error!(number, "cannot listen for signal");
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                if tx.send(number).await.is_err() {
                    return;
                }
            }
        });
    }
    let Some(number) = rx.recv().await else {
        return;
    };
    let Some(action) = action_of(number) else {
        return;
    };
    tracing::info!(signal = number, ?action, "shutting down");
    let watchdog_kernel = kernel.clone();
    drop(
        std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                std::thread::sleep(timeout);
                watchdog_kernel.sync();
                drop(watchdog_kernel.reboot(action));
            }),
    );
    stop_all(&engine).await;
    kernel.sync();
    let err = kernel.reboot(action);
    tracing::error!(%err, "reboot(2) failed");
}

/// Stops every running container, the console last.
pub async fn stop_all(engine: &Arc<Engine>) {
    let running: Vec<_> = engine
        .all()
        .into_iter()
        .filter(|c| c.snapshot().state.status == Status::Running)
        .collect();
    let (console, others): (Vec<_>, Vec<_>) = running
        .into_iter()
        .partition(|c| c.snapshot().name.trim_start_matches('/') == "console");
    for group in [others, console] {
        let stops = group.into_iter().map(|c| {
            let engine = engine.clone();
            async move {
                if let Err(e) = lifecycle::stop(&engine, &c, Some(5), None).await {
                    tracing::warn!(id = %c.id, %e, "stopping at shutdown");
                }
            }
        });
        futures_util::future::join_all(stops).await;
    }
}

/// Replaces this process with a fresh copy of itself, with the same arguments; used when the
/// engine fails as PID 1. Returns only if `execve` failed.
pub fn reexec() -> std::io::Error {
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "system-dockerd".into());
    // A crash loop must not spin the CPU.
    std::thread::sleep(Duration::from_secs(1));
    std::process::Command::new("/proc/self/exe")
        .arg0(argv0)
        .args(args)
        .exec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busybox_init_signals_map_to_power_actions() {
        assert_eq!(action_of(libc::SIGUSR2), Some(PowerAction::PowerOff));
        assert_eq!(action_of(libc::SIGPWR), Some(PowerAction::PowerOff));
        assert_eq!(action_of(libc::SIGTERM), Some(PowerAction::Restart));
        assert_eq!(action_of(libc::SIGINT), Some(PowerAction::Restart));
        assert_eq!(action_of(libc::SIGUSR1), Some(PowerAction::Halt));
        assert_eq!(action_of(libc::SIGHUP), None);
    }
}
