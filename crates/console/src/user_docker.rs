//! `ros user-docker`: the `docker` service. It shares the host's PID, network, IPC and UTS
//! namespaces and the console's volumes, so the console's `docker` reaches it on
//! `/var/run/docker.sock`, and its data lives in `/var/lib/user-docker` on the host. It copies
//! its Docker CLI where the console links `docker` to, waits for the console, and becomes
//! dockerd with the flags of `rancher.docker`.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use ros_config::model::DockerConfig;

use crate::console_init::{CONSOLE_DONE, ENGINE_CLI};

/// Where dockerd's output goes.
pub const DOCKER_LOG: &str = "/var/log/docker.log";

/// dockerd's flags from `rancher.docker`.
pub fn dockerd_args(config: &DockerConfig, debug: bool) -> Vec<String> {
    let mut args = Vec::new();
    let mut flag = |name: &str, value: &str| {
        if !value.is_empty() {
            args.push(format!("--{name}={value}"));
        }
    };
    flag("group", &config.group);
    flag("data-root", &config.data_root);
    flag("exec-root", &config.exec_root);
    flag("pidfile", &config.pid_file);
    flag("storage-driver", &config.storage_driver);
    flag("log-driver", &config.log_driver);
    flag("bridge", &config.bridge);
    flag("bip", &config.bip);
    for host in &config.host {
        args.push(format!("--host={host}"));
    }
    for (k, v) in &config.log_opts {
        args.push(format!("--log-opt={k}={v}"));
    }
    for mirror in &config.registry_mirror {
        args.push(format!("--registry-mirror={mirror}"));
    }
    for registry in &config.insecure_registry {
        args.push(format!("--insecure-registry={registry}"));
    }
    if config.debug == Some(true) || debug {
        args.push("--debug".into());
    }
    if config.tls {
        args.extend(config.tls_args.iter().cloned());
    }
    args.extend(config.extra_args.iter().cloned());
    args
}

fn copy_cli() -> std::io::Result<()> {
    let cli = std::fs::read("/usr/bin/docker")?;
    let target = Path::new(ENGINE_CLI);
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir)?;
    }
    ros_sys::write_atomic(target, &cli, 0o755).map_err(std::io::Error::other)
}

/// Entry point.
pub fn main(_args: Vec<OsString>) -> ExitCode {
    let mut err = std::io::stderr();
    if let Err(e) = copy_cli() {
        drop(writeln!(
            err,
            "user-docker: copying the Docker CLI to {ENGINE_CLI}: {e}"
        ));
    }
    let start = Instant::now();
    while !Path::new("/").join(CONSOLE_DONE).exists() && start.elapsed() < Duration::from_secs(300)
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    let loaded = ros_config::load(&ros_config::ConfigPaths::new("/"), ros_config::Scope::Full);
    let config = loaded.typed().unwrap_or_default();
    let args = dockerd_args(&config.rancher.docker, config.rancher.debug);
    let mut command = Command::new("dockerd");
    command.args(&args).stdin(Stdio::null());
    if let Ok(log) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(DOCKER_LOG)
    {
        if let Ok(copy) = log.try_clone() {
            command.stdout(copy);
        }
        command.stderr(log);
    }
    let e = command.exec();
    drop(writeln!(err, "user-docker: starting dockerd: {e}"));
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_the_docker_settings() {
        let config = DockerConfig {
            group: "docker".into(),
            host: vec!["unix:///var/run/docker.sock".into()],
            log_opts: [("max-size".to_string(), "25m".to_string())].into(),
            tls: false,
            tls_args: vec!["--tlsverify".into()],
            extra_args: vec!["--iptables=true".into()],
            ..DockerConfig::default()
        };
        assert_eq!(
            dockerd_args(&config, false),
            [
                "--group=docker",
                "--host=unix:///var/run/docker.sock",
                "--log-opt=max-size=25m",
                "--iptables=true"
            ]
        );
        let tls = DockerConfig {
            tls: true,
            ..config
        };
        assert!(dockerd_args(&tls, true).contains(&"--tlsverify".to_string()));
        assert!(dockerd_args(&tls, true).contains(&"--debug".to_string()));
    }
}
