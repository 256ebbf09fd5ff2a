//! The shim's life: create and start the container, report, copy output, reap, record the exit.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::Errno;
use rustix::pipe::{PipeFlags, pipe_with};
use rustix::process::{Pid, PidfdFlags, WaitOptions, WaitStatus, pidfd_open, wait};

use crate::jsonlog::{LineSplitter, Stream, timestamp};
use crate::protocol::{ExitRecord, ShimOptions, Started};

/// Why a shim could not run its container.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// A step of the shim's own set-up failed.
    #[error("{step}: {source}")]
    Io {
        /// What the shim was doing.
        step: String,
        /// The underlying error.
        source: io::Error,
    },
    /// libcontainer refused to create or start the container.
    #[error("runtime: {0}")]
    Runtime(String),
}

fn io_step(step: impl Into<String>) -> impl FnOnce(io::Error) -> ShimError {
    let step = step.into();
    move |source| ShimError::Io { step, source }
}

fn errno_step(step: &'static str) -> impl FnOnce(Errno) -> ShimError {
    move |errno| ShimError::Io {
        step: step.to_owned(),
        source: errno.into(),
    }
}

/// Runs the container described by `options` to its end.
pub fn run(options: &ShimOptions) -> Result<(), ShimError> {
    if let Some(monitor) = options.monitor {
        return watch(options, monitor);
    }
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(errno_step("becoming a subreaper"))?;
    let log = open_log(options)?;
    let (out_read, out_write) = pipe_with(PipeFlags::CLOEXEC).map_err(errno_step("stdout pipe"))?;
    let (err_read, err_write) = pipe_with(PipeFlags::CLOEXEC).map_err(errno_step("stderr pipe"))?;
    let started = start(options, out_write, err_write);
    report(&started)?;
    let (container, pid) = started.map_err(ShimError::Runtime)?;
    drop(container);
    drop(log);
    // Everything from here on is a poll loop. Re-executing drops libcontainer's heap and
    // pages from this process, which lives as long as the container (pid, children and the
    // subreaper flag survive exec).
    let err = become_monitor(options, pid, &out_read, &err_read);
    tracing::warn!(id = %options.id, "re-executing to watch the container: {err}");
    let log = open_log(options)?;
    finish(
        options,
        copy_until_exit(pid, out_read, err_read, BufWriter::new(log))?,
    )
}

fn open_log(options: &ShimOptions) -> Result<File, ShimError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&options.log)
        .map_err(io_step(format!("opening {}", options.log.display())))
}

/// Replaces this process with a fresh `ros-shim` watching `pid`; returns only on failure.
fn become_monitor(options: &ShimOptions, pid: Pid, out: &OwnedFd, err: &OwnedFd) -> io::Error {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    for fd in [out, err] {
        if let Err(e) = rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty()) {
            return e.into();
        }
    }
    // Not the path it was started from: that may be a sealed memfd (see the engine's `seal`),
    // which only /proc/self/exe still names.
    let exe = "/proc/self/exe";
    let watching = ShimOptions {
        monitor: Some(crate::protocol::Monitor {
            pid: pid.as_raw_nonzero().get(),
            stdout_fd: out.as_raw_fd(),
            stderr_fd: err.as_raw_fd(),
        }),
        ..options.clone()
    };
    std::process::Command::new(exe)
        .arg0("ros-shim")
        .args(watching.to_args())
        .exec()
}

/// The re-executed shim: copies output until the container's process exits, then cleans up.
fn watch(options: &ShimOptions, monitor: crate::protocol::Monitor) -> Result<(), ShimError> {
    let out = ros_sys::adopt_inherited_fd(monitor.stdout_fd).map_err(io_step("stdout pipe"))?;
    let err = ros_sys::adopt_inherited_fd(monitor.stderr_fd).map_err(io_step("stderr pipe"))?;
    for fd in [&out, &err] {
        rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC).map_err(errno_step("fcntl"))?;
    }
    let pid = Pid::from_raw(monitor.pid)
        .ok_or_else(|| ShimError::Runtime("invalid --monitor-pid".into()))?;
    let log = open_log(options)?;
    finish(
        options,
        copy_until_exit(pid, out, err, BufWriter::new(log))?,
    )
}

/// Removes the runtime state (and cgroup) of the exited container and records its exit.
fn finish(options: &ShimOptions, exit_code: i64) -> Result<(), ShimError> {
    // Only now load libcontainer's view again.
    match Container::load(options.root.join(&options.id)) {
        Ok(mut container) => {
            if let Err(err) = container.delete(true) {
                tracing::warn!(id = %options.id, "deleting the runtime state: {err}");
            }
        }
        Err(err) => tracing::warn!(id = %options.id, "loading the runtime state: {err}"),
    }
    let record = ExitRecord {
        exit_code,
        finished_at: timestamp(),
    };
    let encoded = serde_json::to_vec(&record).map_err(|e| io_step("encoding exit")(e.into()))?;
    ros_sys::write_atomic(&options.exit_file, &encoded, 0o600)
        .map_err(|e| io_step("writing the exit record")(io::Error::other(e)))
}

fn start(
    options: &ShimOptions,
    stdout: OwnedFd,
    stderr: OwnedFd,
) -> Result<(Container, Pid), String> {
    let stdin = File::open("/dev/null").map_err(|e| format!("opening /dev/null: {e}"))?;
    let mut container = ContainerBuilder::new(options.id.clone(), SyscallType::default())
        .with_root_path(PathBuf::from(&options.root))
        .map_err(|e| e.to_string())?
        .with_stdin(OwnedFd::from(stdin))
        .with_stdout(stdout)
        .with_stderr(stderr)
        .validate_id()
        .map_err(|e| e.to_string())?
        .as_init(&options.bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .map_err(|e| e.to_string())?;
    if let Some(pid) = container.pid() {
        loopback_up(options, pid.as_raw()).map_err(|e| format!("bringing up loopback: {e}"))?;
    }
    container.start().map_err(|e| e.to_string())?;
    let pid = container
        .pid()
        .and_then(|pid| Pid::from_raw(pid.as_raw()))
        .ok_or("the runtime reported no pid for the started container")?;
    Ok((container, pid))
}

/// Brings up `lo` in the container's network namespace when the bundle asks for a new one
/// (Docker does; the runtime leaves it down). The shim steps into the namespace and back.
fn loopback_up(options: &ShimOptions, pid: i32) -> io::Result<()> {
    use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};
    let config = std::fs::read(options.bundle.join("config.json"))?;
    let config: serde_json::Value = serde_json::from_slice(&config).map_err(io::Error::other)?;
    let new_network = config["linux"]["namespaces"]
        .as_array()
        .is_some_and(|spaces| {
            spaces
                .iter()
                .any(|ns| ns["type"] == "network" && ns.get("path").is_none())
        });
    if !new_network {
        return Ok(());
    }
    let own = File::open("/proc/self/ns/net")?;
    let theirs = File::open(format!("/proc/{pid}/ns/net"))?;
    move_into_link_name_space(theirs.as_fd(), Some(LinkNameSpaceType::Network))?;
    let result = ros_sys::set_link_up("lo");
    move_into_link_name_space(own.as_fd(), Some(LinkNameSpaceType::Network))?;
    result
}

/// Prints the one [`Started`] line, then points stdout at /dev/null so the engine's end of the
/// pipe can close (and the engine can die) without hurting us.
fn report(started: &Result<(Container, Pid), String>) -> Result<(), ShimError> {
    let line = match started {
        Ok((_, pid)) => Started::Running {
            pid: pid.as_raw_nonzero().get(),
        },
        Err(message) => Started::Failed {
            message: message.clone(),
        },
    };
    let mut encoded = serde_json::to_vec(&line).map_err(|e| io_step("encoding")(e.into()))?;
    encoded.push(b'\n');
    let mut stdout = io::stdout().lock();
    // The engine may already be gone; the container runs either way.
    drop(stdout.write_all(&encoded).and_then(|()| stdout.flush()));
    let null = File::open("/dev/null").map_err(io_step("opening /dev/null"))?;
    rustix::stdio::dup2_stdout(&null).map_err(errno_step("redirecting stdout"))?;
    Ok(())
}

/// Copies output into the log until the container's first process `pid` exits; returns its
/// exit code. Orphans re-parented to the shim are reaped as they come.
fn copy_until_exit(
    pid: Pid,
    out: OwnedFd,
    err: OwnedFd,
    mut log: BufWriter<File>,
) -> Result<i64, ShimError> {
    let pidfd = pidfd_open(pid, PidfdFlags::empty()).map_err(errno_step("pidfd_open"))?;
    let mut streams = [
        (Some(out), LineSplitter::new(Stream::Stdout)),
        (Some(err), LineSplitter::new(Stream::Stderr)),
    ];
    let mut exit_code = None;
    let mut buffer = vec![0u8; 64 * 1024];
    while exit_code.is_none() {
        let mut fds = vec![PollFd::new(&pidfd, PollFlags::IN)];
        let open: Vec<usize> = (0..streams.len())
            .filter(|&i| streams[i].0.is_some())
            .collect();
        for &i in &open {
            if let Some(fd) = &streams[i].0 {
                fds.push(PollFd::new(fd, PollFlags::IN));
            }
        }
        match poll(&mut fds, None) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(errno_step("poll")(e)),
        }
        let ready: Vec<bool> = fds.iter().map(|fd| !fd.revents().is_empty()).collect();
        drop(fds);
        for (slot, &i) in open.iter().enumerate() {
            if ready[slot + 1] {
                copy_once(&mut streams[i], &mut buffer, &mut log)?;
            }
        }
        if ready[0] {
            exit_code = reap(pid);
        }
    }
    // The first process is gone; take what is still buffered in the pipes, without waiting for
    // writers it may have left behind (they are killed with the container).
    for stream in &mut streams {
        if let Some(fd) = &stream.0 {
            rustix::fs::fcntl_setfl(fd, rustix::fs::OFlags::NONBLOCK)
                .map_err(errno_step("fcntl"))?;
        }
        while stream.0.is_some() {
            if !copy_once(stream, &mut buffer, &mut log)? {
                break;
            }
        }
        let now = timestamp();
        stream
            .1
            .finish(&now, &mut log)
            .map_err(io_step("writing the log"))?;
    }
    log.flush().map_err(io_step("writing the log"))?;
    Ok(exit_code.unwrap_or_default())
}

/// Reads once from a stream into the log; returns whether more may follow.
fn copy_once(
    (fd, splitter): &mut (Option<OwnedFd>, LineSplitter),
    buffer: &mut [u8],
    log: &mut BufWriter<File>,
) -> Result<bool, ShimError> {
    let Some(reader) = fd.as_ref() else {
        return Ok(false);
    };
    match rustix::io::read(reader.as_fd(), &mut *buffer) {
        Ok(0) => {
            *fd = None;
            Ok(false)
        }
        Ok(n) => {
            let now = timestamp();
            splitter
                .push(&buffer[..n], &now, log)
                .map_err(io_step("writing the log"))?;
            log.flush().map_err(io_step("writing the log"))?;
            Ok(true)
        }
        Err(Errno::AGAIN | Errno::INTR) => Ok(false),
        Err(e) => {
            tracing::warn!("reading container output: {e}");
            *fd = None;
            Ok(false)
        }
    }
}

/// Reaps every exited child; returns the exit code if `pid` was among them.
fn reap(pid: Pid) -> Option<i64> {
    let mut found = None;
    // libcontainer clones the container's process without SIGCHLD as its exit signal, which
    // makes it a "clone" child that only __WALL waits for.
    let options = WaitOptions::NOHANG | WaitOptions::from_bits_retain(libc::__WALL as u32);
    while let Ok(Some((child, status))) = wait(options) {
        if child == pid {
            found = Some(exit_code(status));
        }
    }
    found
}

fn exit_code(status: WaitStatus) -> i64 {
    if let Some(code) = status.exit_status() {
        i64::from(code)
    } else if let Some(signal) = status.terminating_signal() {
        128 + i64::from(signal)
    } else {
        0
    }
}
