//! Daemon settings shared by `rancher.docker`, `rancher.system_docker` and
//! `rancher.bootstrap_docker`, and the daemon arguments they generate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::de::one_or_many;

/// One engine's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DockerConfig {
    /// `--bridge`.
    pub bridge: String,
    /// `--bip`.
    pub bip: String,
    /// `--config-file`.
    pub config_file: String,
    /// `--containerd`.
    pub containerd: String,
    /// `--data-root`. Wins over `graph`.
    pub data_root: String,
    /// `--debug` / `--debug=false`.
    pub debug: Option<bool>,
    /// `--exec-root`.
    pub exec_root: String,
    /// Group owning the socket: `--group`.
    pub group: String,
    /// RancherOS's name for the data root; emitted as `--data-root`, since Docker 23 removed
    /// `--graph`.
    pub graph: String,
    /// `--host`, repeated.
    pub host: Vec<String>,
    /// `--insecure-registry`, repeated.
    #[serde(deserialize_with = "one_or_many")]
    pub insecure_registry: Vec<String>,
    /// `--live-restore`.
    pub live_restore: Option<bool>,
    /// `--log-driver`.
    pub log_driver: String,
    /// `--log-opt k=v`, repeated.
    pub log_opts: BTreeMap<String, String>,
    /// `--pidfile`.
    pub pid_file: String,
    /// `--registry-mirror`, repeated.
    #[serde(deserialize_with = "one_or_many")]
    pub registry_mirror: Vec<String>,
    /// Accepted for compatibility, never passed: current dockerd has no `--restart` flag.
    pub restart: Option<bool>,
    /// `--selinux-enabled`.
    pub selinux_enabled: Option<bool>,
    /// `--storage-driver`.
    pub storage_driver: String,
    /// `--userland-proxy`.
    pub userland_proxy: Option<bool>,

    /// Engine to run (user Docker only): a name from the catalogue, a path or a URL.
    pub engine: String,
    /// Append `tls_args`.
    pub tls: bool,
    /// Arguments that turn on TLS.
    pub tls_args: Vec<String>,
    /// Free-form daemon arguments, appended after the generated ones.
    pub extra_args: Vec<String>,
    /// Server certificate (PEM), written to `/etc/docker/tls` when `tls` is on.
    pub server_cert: String,
    /// Server key (PEM).
    pub server_key: String,
    /// CA certificate (PEM).
    pub ca_cert: String,
    /// CA key (PEM).
    pub ca_key: String,
    /// `K=V` entries added to the daemon's environment.
    pub environment: Vec<String>,
    /// Container whose namespaces host the user daemon.
    pub storage_context: String,
    /// System engine only: `true` execs it as PID 1.
    pub exec: Option<bool>,
}

impl DockerConfig {
    /// The daemon's arguments, in a stable order: the options in declaration order, then
    /// `extra_args`, then `tls_args` when `tls` is on.
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut value = |flag: &str, v: &str| {
            if !v.is_empty() {
                args.extend([format!("--{flag}"), v.to_string()]);
            }
        };
        value("bridge", &self.bridge);
        value("bip", &self.bip);
        value("config-file", &self.config_file);
        value("containerd", &self.containerd);
        let data_root = if self.data_root.is_empty() {
            &self.graph
        } else {
            &self.data_root
        };
        value("data-root", data_root);
        value("exec-root", &self.exec_root);
        value("group", &self.group);
        for host in &self.host {
            value("host", host);
        }
        for registry in &self.insecure_registry {
            value("insecure-registry", registry);
        }
        value("log-driver", &self.log_driver);
        for (k, v) in &self.log_opts {
            value("log-opt", &format!("{k}={v}"));
        }
        value("pidfile", &self.pid_file);
        for mirror in &self.registry_mirror {
            value("registry-mirror", mirror);
        }
        value("storage-driver", &self.storage_driver);
        let flags = [
            ("debug", self.debug),
            ("live-restore", self.live_restore),
            ("selinux-enabled", self.selinux_enabled),
            ("userland-proxy", self.userland_proxy),
        ];
        for (flag, set) in flags {
            match set {
                Some(true) => args.push(format!("--{flag}")),
                Some(false) => args.push(format!("--{flag}=false")),
                None => {}
            }
        }
        args.extend(self.extra_args.iter().cloned());
        if self.tls {
            args.extend(self.tls_args.iter().cloned());
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_generates_no_arguments() {
        assert!(DockerConfig::default().args().is_empty());
    }

    #[test]
    fn arguments_follow_declaration_order_then_extra_then_tls() {
        let cfg = DockerConfig {
            storage_driver: "overlay2".into(),
            group: "docker".into(),
            host: vec![
                "unix:///var/run/docker.sock".into(),
                "tcp://0.0.0.0:2375".into(),
            ],
            log_opts: BTreeMap::from([
                ("max-size".into(), "25m".into()),
                ("max-file".into(), "2".into()),
            ]),
            debug: Some(true),
            userland_proxy: Some(false),
            restart: Some(false),
            graph: "/var/lib/x".into(),
            extra_args: vec!["--iptables=false".into()],
            tls: true,
            tls_args: vec!["--tlsverify".into()],
            ..DockerConfig::default()
        };
        assert_eq!(
            cfg.args(),
            [
                "--data-root",
                "/var/lib/x",
                "--group",
                "docker",
                "--host",
                "unix:///var/run/docker.sock",
                "--host",
                "tcp://0.0.0.0:2375",
                "--log-opt",
                "max-file=2",
                "--log-opt",
                "max-size=25m",
                "--storage-driver",
                "overlay2",
                "--debug",
                "--userland-proxy=false",
                "--iptables=false",
                "--tlsverify",
            ]
        );
    }

    #[test]
    fn data_root_wins_over_graph_and_tls_args_need_tls() {
        let cfg = DockerConfig {
            graph: "/old".into(),
            data_root: "/new".into(),
            tls_args: vec!["--tlsverify".into()],
            ..DockerConfig::default()
        };
        assert_eq!(cfg.args(), ["--data-root", "/new"]);
    }
}
