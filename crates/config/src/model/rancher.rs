//! `rancher.*`: the RancherOS section of cloud-config.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::de::{one_or_many, sysctl_map};
use super::{DockerConfig, NetworkConfig, StateConfig};

/// A map of service name to its compose-dialect definition. The definitions stay generic
/// here; the service runner owns their schema.
pub type ServiceMap = Map<String, Value>;

/// Everything under `rancher:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RancherConfig {
    /// Debug logging everywhere; also forces the Docker debug flags and `log`.
    pub debug: bool,
    /// Print service container logs while services come up.
    pub log: bool,
    /// Console flavour.
    pub console: String,
    /// Variables for `${VAR}` interpolation and bare `KEY` environment lookups.
    pub environment: BTreeMap<String, String>,
    /// System services, keyed by container name.
    pub services: ServiceMap,
    /// Services from repositories or files, enabled when `true`.
    pub services_include: BTreeMap<String, bool>,
    /// Bootstrap service set (RancherOS compatibility; our init needs none).
    pub bootstrap: ServiceMap,
    /// Cloud-init service set.
    pub cloud_init_services: ServiceMap,
    /// Daemon settings of RancherOS's temporary bootstrap Docker (accepted, unused).
    pub bootstrap_docker: DockerConfig,
    /// System engine settings (PID 1).
    pub system_docker: DockerConfig,
    /// User Docker settings.
    pub docker: DockerConfig,
    /// Where user-data comes from.
    pub cloud_init: CloudInit,
    /// Network configuration.
    pub network: NetworkConfig,
    /// Fallback values.
    pub defaults: Defaults,
    /// Service, console and engine catalogues.
    pub repositories: BTreeMap<String, Repository>,
    /// Upgrade source and policy.
    pub upgrade: UpgradeConfig,
    /// State partition.
    pub state: StateConfig,
    /// SSH daemon and host keys.
    pub ssh: SshConfig,
    /// Kernel parameters written to `/proc/sys`.
    #[serde(deserialize_with = "sysctl_map")]
    pub sysctl: BTreeMap<String, String>,
    /// Kernel modules loaded by init, optionally with parameters (`"name k=v"`).
    pub modules: Vec<String>,
    /// Device whose first partition and ext4 filesystem are grown once.
    pub resize_device: String,
    /// System containers restarted by cloud-init-execute.
    pub restart_services: Vec<String>,
    /// Enable the hypervisor's guest tools service automatically.
    pub hypervisor_service: bool,
    /// Seconds the power commands wait for containers to stop (minimum 5).
    pub shutdown_timeout: u32,
    /// Retries for remote YAML and URL loads.
    pub http_load_retries: u32,
    /// Wait for each preload to finish before the next.
    pub preload_wait: bool,
    /// Registry credentials for service image pulls.
    pub registry_auths: BTreeMap<String, RegistryAuth>,
    /// Features to turn off: `password`, `autologin`.
    pub disable: Vec<String>,
    /// Boot into the recovery console.
    pub recovery: bool,
    /// Recopy `/usr` on each boot (development).
    pub rm_usr: bool,
    /// Skip the shared-mount setup.
    pub no_sharedroot: bool,
    /// Recreate the console once.
    pub force_console_rebuild: bool,
    /// TTYs with automatic login (normally given on the kernel cmdline).
    #[serde(deserialize_with = "one_or_many")]
    pub autologin: Vec<String>,
    /// Password of user `rancher` (normally given on the kernel cmdline).
    pub password: String,
}

/// `rancher.cloud_init`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudInit {
    /// `type[:arg]` entries, probed in parallel.
    pub datasources: Vec<String>,
}

/// `rancher.defaults`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Defaults {
    /// Host name when `hostname` is unset.
    pub hostname: String,
    /// Engine defaults.
    pub docker: DefaultsDocker,
    /// Network defaults.
    pub network: DefaultsNetwork,
    /// Where the System engine's own output goes.
    pub system_docker_logs: String,
}

/// `rancher.defaults.docker`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DefaultsDocker {
    /// The user engine shipped in the image.
    pub engine: String,
}

/// `rancher.defaults.network`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DefaultsNetwork {
    /// Seconds to wait for a DHCP lease.
    pub dhcp_timeout: u32,
    /// Last-resort resolvers.
    pub dns: super::DnsConfig,
}

/// One `rancher.repositories` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Repository {
    /// Base URL of the catalogue.
    pub url: String,
}

/// `rancher.upgrade`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpgradeConfig {
    /// Version list URL.
    pub url: String,
    /// Upgrade image repository.
    pub image: String,
    /// `download`, `auto` or `none`.
    pub policy: String,
    /// Unused; kept for compatibility.
    pub rollback: String,
}

/// `rancher.ssh`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SshConfig {
    /// Run sshd in the console.
    pub daemon: bool,
    /// sshd port; 0 means 22.
    pub port: u16,
    /// sshd `ListenAddress`.
    pub listen_address: String,
    /// Host keys by type (`rsa`, `rsa-pub`, `ed25519`, …), persisted on first boot.
    pub keys: BTreeMap<String, String>,
}

/// One `rancher.registry_auths` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryAuth {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// `base64(user:password)`.
    pub auth: String,
    /// E-mail (legacy).
    pub email: String,
    /// Registry address.
    pub serveraddress: String,
    /// OAuth identity token.
    pub identitytoken: String,
    /// Registry bearer token.
    pub registrytoken: String,
}
