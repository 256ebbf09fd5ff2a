//! `ros-console`: the console and user-Docker side of RancherOS — `ros console-init`, the
//! `respawn` supervisor, `autologin`, `ros user-docker` and the `system-docker` wrapper.

pub mod autologin;
pub mod console_init;
pub mod files;
pub mod respawn;
pub mod user_docker;

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

/// The System engine's socket.
pub const SYSTEM_SOCKET: &str = "unix:///var/run/system-docker.sock";

/// `system-docker …`: the Docker CLI pointed at the System engine.
pub fn system_docker(args: Vec<OsString>) -> ExitCode {
    let err = Command::new("docker")
        .args(args.into_iter().skip(1))
        .env("DOCKER_HOST", SYSTEM_SOCKET)
        .exec();
    drop(writeln!(
        std::io::stderr(),
        "system-docker: running docker: {err}"
    ));
    ExitCode::from(127)
}
