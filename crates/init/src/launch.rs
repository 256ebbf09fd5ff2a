//! The hand-over: `ros-sysinit` starts in the background, then init becomes the System
//! engine with `execve`, so the engine is PID 1 and sysinit its child, as in RancherOS.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use ros_config::model::DockerConfig;

/// Where the engine's own log goes (`rancher.defaults.system_docker_logs`).
pub const ENGINE_LOG: &str = "/var/log/system-docker.log";

/// `system-dockerd`'s arguments from `rancher.system_docker`, as dockerd's flags.
pub fn engine_args(config: &DockerConfig) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["system-dockerd".into()];
    let mut flag = |name: &str, value: &str| {
        if !value.is_empty() {
            args.push(name.into());
            args.push(value.into());
        }
    };
    flag("--host", config.host.first().map_or("", String::as_str));
    flag("--data-root", &config.data_root);
    flag("--exec-root", &config.exec_root);
    flag("--pidfile", &config.pid_file);
    if config.group != "root" {
        flag("--group", &config.group);
    }
    args
}

/// Starts `ros-sysinit` with the console as its output. It outlives this process image: after
/// the `exec` below it is the engine's child, reaped by the engine's reaper.
pub fn spawn_sysinit(ros: &Path) -> std::io::Result<u32> {
    let child = Command::new(ros)
        .arg0("ros-sysinit")
        .stdin(Stdio::null())
        .spawn()?;
    Ok(child.id())
}

/// Replaces this process with the engine; returns only if `execve` failed.
pub fn exec_engine(ros: &Path, args: &[OsString], debug: bool) -> std::io::Error {
    // Through the applet link when there is one, so PID 1 shows as `system-dockerd` in ps
    // and /proc/1/comm rather than as `ros`.
    let link = ros.with_file_name("system-dockerd");
    let program = if link.exists() { link.as_path() } else { ros };
    let mut command = Command::new(program);
    command
        .arg0(&args[0])
        .args(&args[1..])
        .env("RUST_LOG", if debug { "debug" } else { "info" })
        .stdin(Stdio::null());
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(ENGINE_LOG)
    {
        Ok(log) if !debug => {
            command.stderr(log);
        }
        _ => {}
    }
    command.exec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_flags_follow_the_system_docker_settings() {
        let config = DockerConfig {
            host: vec!["unix:///var/run/system-docker.sock".into()],
            data_root: "/var/lib/system-docker".into(),
            exec_root: "/var/run/system-docker".into(),
            pid_file: "/var/run/system-docker.pid".into(),
            group: "root".into(),
            ..DockerConfig::default()
        };
        let args: Vec<String> = engine_args(&config)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "system-dockerd",
                "--host",
                "unix:///var/run/system-docker.sock",
                "--data-root",
                "/var/lib/system-docker",
                "--exec-root",
                "/var/run/system-docker",
                "--pidfile",
                "/var/run/system-docker.pid"
            ]
        );
        let grouped = DockerConfig {
            group: "docker".into(),
            ..DockerConfig::default()
        };
        assert_eq!(engine_args(&grouped).len(), 3);
    }
}
