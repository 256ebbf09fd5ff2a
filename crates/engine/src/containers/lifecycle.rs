//! Starting, watching, stopping and removing containers, and re-adopting them after an
//! engine restart.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

use super::record::Status;
use super::{policy, runtime, setup};
use crate::engine::{Container, Engine, Lifecycle};
use crate::error::ApiError;

/// What a start or stop did: Docker answers 304 when the container already was in that state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The container changed state.
    Done,
    /// It already was running (start) or not running (stop).
    Already,
}

/// Starts `container`.
pub async fn start(engine: &Arc<Engine>, container: &Arc<Container>) -> Result<Change, ApiError> {
    let _op = container.operation.lock().await;
    start_locked(engine, container).await
}

async fn start_locked(
    engine: &Arc<Engine>,
    container: &Arc<Container>,
) -> Result<Change, ApiError> {
    let record = container.snapshot();
    match record.state.status {
        Status::Running => return Ok(Change::Already),
        Status::Removing | Status::Dead => {
            return Err(ApiError::conflict(format!(
                "container {} is marked for removal and cannot be started",
                record.id
            )));
        }
        _ => {}
    }
    let engine2 = engine.clone();
    let id = record.id.clone();
    let launched = tokio::task::spawn_blocking(move || setup::prepare_and_launch(&engine2, &id))
        .await
        .map_err(|e| ApiError::internal(format!("start task: {e}")))?;
    let launched = match launched {
        Ok(l) => l,
        Err(err) => {
            container.update(|r| {
                r.state.error = err.message.clone();
                r.state.exit_code = 128;
                if r.state.status != Status::Created {
                    r.state.status = Status::Exited;
                }
            });
            engine.persist(container)?;
            if record.host_config.auto_remove.unwrap_or(false) {
                // As Docker: a `--rm` container that cannot start is removed, which also
                // releases a client waiting for its removal.
                let (engine, container) = (engine.clone(), container.clone());
                tokio::spawn(async move { drop(remove(&engine, &container, true).await) });
            }
            return Err(err);
        }
    };
    let shim_pid = i64::from(launched.shim.id());
    container.update(|r| {
        r.state.status = Status::Running;
        r.state.pid = i64::from(launched.pid);
        r.state.shim_pid = shim_pid;
        r.state.started_at = crate::time::now();
        r.state.error.clear();
        r.state.manually_stopped = false;
    });
    *container
        .shim
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(launched.shim);
    engine.persist(container)?;
    container.lifecycle.send_modify(|l| l.running = true);
    watch_shim(engine, container, shim_pid);
    tracing::debug!(id = %record.id, pid = launched.pid, "started");
    Ok(Change::Done)
}

/// Watches the shim `shim_pid` of `container` and records the exit when it goes.
pub fn watch_shim(engine: &Arc<Engine>, container: &Arc<Container>, shim_pid: i64) {
    let engine = engine.clone();
    let container = container.clone();
    tokio::spawn(async move {
        let started = Instant::now();
        drop(engine.pids.watch(shim_pid).await);
        // Our own child until an engine restart: reap it.
        let child = container
            .shim
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(mut child) = child {
            drop(tokio::task::spawn_blocking(move || child.wait()).await);
        }
        exited(&engine, &container, started.elapsed()).await;
    });
}

/// Records the exit of `container` and applies auto-remove or the restart policy.
async fn exited(engine: &Arc<Engine>, container: &Arc<Container>, ran: Duration) {
    let exit_file = engine.container_run_dir(&container.id).join("exit.json");
    let (code, finished, error) = match std::fs::read(&exit_file)
        .ok()
        .and_then(|b| serde_json::from_slice::<ros_shim::ExitRecord>(&b).ok())
    {
        Some(exit) => (exit.exit_code, exit.finished_at, String::new()),
        None => (
            255,
            crate::time::now(),
            "the shim ended without recording an exit".to_owned(),
        ),
    };
    let restarts = container.update(|r| {
        r.state.status = Status::Exited;
        r.state.pid = 0;
        r.state.shim_pid = 0;
        r.state.exit_code = code;
        r.state.finished_at = finished;
        r.state.error = error;
        if ran >= policy::STABLE_RUN {
            r.state.restart_count = 0;
        }
        r.state.restart_count
    });
    if let Err(e) = engine.persist(container) {
        tracing::warn!(id = %container.id, "{}", e.message);
    }
    let record = container.snapshot();
    if let Err(e) = runtime::unmount_rootfs(
        engine.kernel.as_ref(),
        &engine.container_dir(&record.id).join("fs"),
    ) {
        tracing::warn!(id = %record.id, "{}", e.message);
    }
    container.lifecycle.send_modify(|l| {
        l.exits += 1;
        l.exit_code = code;
        l.running = false;
    });
    tracing::debug!(id = %record.id, code, "exited");
    if record.host_config.auto_remove.unwrap_or(false) {
        if let Err(e) = remove(engine, container, true).await {
            tracing::warn!(id = %record.id, "auto-remove: {}", e.message);
        }
        return;
    }
    let delay = policy::restart_delay(
        record.host_config.restart_policy.as_ref(),
        code,
        record.state.manually_stopped,
        u32::try_from(restarts).unwrap_or(u32::MAX),
    );
    if let Some(delay) = delay {
        container.update(|r| r.state.status = Status::Restarting);
        let engine = engine.clone();
        let container = container.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _op = container.operation.lock().await;
            if container.snapshot().state.status != Status::Restarting {
                return; // stopped or removed meanwhile
            }
            container.update(|r| r.state.restart_count += 1);
            if let Err(e) = start_locked(&engine, &container).await {
                tracing::warn!(id = %container.id, "restart: {}", e.message);
            }
        });
    }
}

/// Parses a signal name (`SIGTERM`, `TERM`, `15`).
pub fn parse_signal(text: &str) -> Result<Signal, ApiError> {
    let bad = || ApiError::bad_request(format!("invalid signal: {text}"));
    let number = match text.parse::<i32>() {
        Ok(n) => n,
        Err(_) => {
            let name = text.to_ascii_uppercase();
            let name = name.strip_prefix("SIG").unwrap_or(&name);
            let names = [
                ("HUP", 1),
                ("INT", 2),
                ("QUIT", 3),
                ("ILL", 4),
                ("TRAP", 5),
                ("ABRT", 6),
                ("BUS", 7),
                ("FPE", 8),
                ("KILL", 9),
                ("USR1", 10),
                ("SEGV", 11),
                ("USR2", 12),
                ("PIPE", 13),
                ("ALRM", 14),
                ("TERM", 15),
                ("CHLD", 17),
                ("CONT", 18),
                ("STOP", 19),
                ("TSTP", 20),
                ("TTIN", 21),
                ("TTOU", 22),
                ("WINCH", 28),
                ("PWR", 30),
                ("SYS", 31),
            ];
            names
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
                .ok_or_else(bad)?
        }
    };
    Signal::from_named_raw(number).ok_or_else(bad)
}

fn signal_pid(pid: i64, signal: Signal) -> Result<(), ApiError> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| ApiError::conflict("container has no process"))?;
    match rustix::process::kill_process(pid, signal) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(ApiError::internal(format!(
            "sending signal to {pid:?}: {e}"
        ))),
    }
}

/// Sends `signal` to a running container; marks it stopped by hand.
pub fn kill(engine: &Engine, container: &Container, signal: Signal) -> Result<(), ApiError> {
    let record = container.snapshot();
    if record.state.status != Status::Running {
        return Err(ApiError::conflict(format!(
            "Container {} is not running",
            record.id
        )));
    }
    container.update(|r| r.state.manually_stopped = true);
    engine.persist(container)?;
    signal_pid(record.state.pid, signal)
}

async fn wait_exit(container: &Container, exits: u64, timeout: Duration) -> bool {
    let mut rx = container.lifecycle.subscribe();
    tokio::time::timeout(
        timeout,
        rx.wait_for(|l: &Lifecycle| l.exits > exits || !l.running),
    )
    .await
    .is_ok_and(|r| r.is_ok())
}

/// Stops a container: its stop signal, then SIGKILL after `timeout`.
pub async fn stop(
    engine: &Arc<Engine>,
    container: &Arc<Container>,
    timeout: Option<i64>,
    signal: Option<&str>,
) -> Result<Change, ApiError> {
    let _op = container.operation.lock().await;
    stop_locked(engine, container, timeout, signal).await
}

async fn stop_locked(
    engine: &Arc<Engine>,
    container: &Arc<Container>,
    timeout: Option<i64>,
    signal: Option<&str>,
) -> Result<Change, ApiError> {
    let record = container.snapshot();
    if record.state.status == Status::Restarting {
        container.update(|r| {
            r.state.status = Status::Exited;
            r.state.manually_stopped = true;
        });
        engine.persist(container)?;
        return Ok(Change::Done);
    }
    if record.state.status != Status::Running {
        return Ok(Change::Already);
    }
    let signal = signal
        .or(record.config.stop_signal.as_deref())
        .filter(|s| !s.is_empty())
        .map_or(Ok(Signal::TERM), parse_signal)?;
    let timeout = timeout.or(record.config.stop_timeout).unwrap_or(10);
    let exits = container.lifecycle.borrow().exits;
    container.update(|r| r.state.manually_stopped = true);
    engine.persist(container)?;
    signal_pid(record.state.pid, signal)?;
    let grace = Duration::from_secs(u64::try_from(timeout).unwrap_or(0));
    if timeout >= 0 && wait_exit(container, exits, grace).await {
        return Ok(Change::Done);
    }
    signal_pid(record.state.pid, Signal::KILL)?;
    if !wait_exit(container, exits, Duration::from_secs(30)).await {
        return Err(ApiError::internal(format!(
            "container {} did not exit after SIGKILL",
            record.id
        )));
    }
    Ok(Change::Done)
}

/// Removes a container; `force` kills it first if it runs.
pub async fn remove(
    engine: &Arc<Engine>,
    container: &Arc<Container>,
    force: bool,
) -> Result<(), ApiError> {
    let _op = container.operation.lock().await;
    let record = container.snapshot();
    if record.state.status == Status::Running {
        if !force {
            return Err(ApiError::conflict(format!(
                "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                record.id
            )));
        }
        stop_locked(engine, container, Some(0), Some("SIGKILL")).await?;
    }
    container.update(|r| r.state.status = Status::Removing);
    let dir = engine.container_dir(&record.id);
    runtime::unmount_rootfs(engine.kernel.as_ref(), &dir.join("fs"))?;
    remove_dir(&dir)?;
    remove_dir(&engine.container_run_dir(&record.id))?;
    engine.forget(&record.id);
    container.lifecycle.send_modify(|l| l.removed = true);
    tracing::debug!(id = %record.id, "removed");
    Ok(())
}

fn remove_dir(dir: &Path) -> Result<(), ApiError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ApiError::internal(format!(
            "removing {}: {e}",
            dir.display()
        ))),
    }
}

/// Restarts a container (stop if running, then start).
pub async fn restart(
    engine: &Arc<Engine>,
    container: &Arc<Container>,
    timeout: Option<i64>,
) -> Result<(), ApiError> {
    let _op = container.operation.lock().await;
    stop_locked(engine, container, timeout, None).await?;
    start_locked(engine, container).await?;
    Ok(())
}

/// Loads every saved container after an engine (re)start: running ones whose shim lives are
/// watched again; the rest are marked exited and restarted where their policy says so.
pub async fn adopt(engine: &Arc<Engine>) {
    let dir = engine.config.data_root.join("containers");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path().join("container.json");
        let record = match super::record::ContainerRecord::read(&path) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("skipping a container: {e}");
                continue;
            }
        };
        let running = record.state.status == Status::Running;
        let shim_alive = running && shim_is_alive(record.state.shim_pid, &record.id);
        let container = Arc::new(Container::new(record));
        engine.add(container.clone());
        if shim_alive {
            tracing::info!(id = %container.id, "re-adopted a running container");
            watch_shim(engine, &container, container.snapshot().state.shim_pid);
        } else if running {
            exited(engine, &container, Duration::ZERO).await;
        } else {
            let record = container.snapshot();
            let policy = record.host_config.restart_policy.as_ref();
            if policy::start_on_boot(policy, record.state.manually_stopped)
                && let Err(e) = start(engine, &container).await
            {
                tracing::warn!(id = %container.id, "start on engine start: {}", e.message);
            }
        }
    }
}

fn shim_is_alive(pid: i64, id: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|cmdline| cmdline.split(|b| *b == 0).any(|arg| arg == id.as_bytes()))
}
