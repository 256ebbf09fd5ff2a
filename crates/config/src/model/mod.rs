//! The typed view of a merged cloud-config.
//!
//! Zero values here mean "unset"; real defaults live in the embedded `os-config.yml`, which is
//! always the first layer. Every struct under `rancher` rejects unknown keys (with a did-you-mean),
//! while unknown top-level keys only warn: cloud-init user-data carries keys we do not use.
//! Field names are the YAML keys, so serializing this struct gives `ros config get` its
//! "every key, zero values included" map.

mod de;
mod docker;
mod network;
mod rancher;
mod state;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use docker::DockerConfig;
pub use network::{
    DnsConfig, InterfaceConfig, ModemNetworkConfig, NetworkConfig, WifiNetworkConfig,
};
pub use rancher::{
    CloudInit, Defaults, DefaultsDocker, DefaultsNetwork, RancherConfig, RegistryAuth, Repository,
    SshConfig, UpgradeConfig,
};
pub use state::StateConfig;

/// The whole cloud-config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CloudConfig {
    /// Host name; `rancher.defaults.hostname` applies when empty.
    pub hostname: String,
    /// Keys appended to the `rancher` and `docker` users' `authorized_keys`.
    pub ssh_authorized_keys: Vec<String>,
    /// Files written at boot (or into a named system container).
    pub write_files: Vec<WriteFile>,
    /// `[device, mountpoint, fstype, options]` entries.
    pub mounts: Vec<[String; 4]>,
    /// Commands run at the end of boot; each a shell string or an argv list.
    pub runcmd: Vec<Command>,
    /// Commands run early, before the state partition is mounted.
    pub bootcmd: Vec<Command>,
    /// Kernel parameters given after `--` (internal).
    #[serde(rename = "EXTRA_CMDLINE")]
    pub extra_cmdline: String,
    /// Everything RancherOS-specific.
    pub rancher: RancherConfig,
}

/// The keys `CloudConfig` knows at top level. Anything else warns.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "hostname",
    "ssh_authorized_keys",
    "write_files",
    "mounts",
    "runcmd",
    "bootcmd",
    "EXTRA_CMDLINE",
    "rancher",
];

/// One `write_files` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WriteFile {
    /// Absolute path of the file.
    pub path: String,
    /// Content, encoded as `encoding` says.
    pub content: String,
    /// Empty, `b64`/`base64`, `gz`/`gzip` or `gz+b64` (and the other spellings cloud-init knows).
    pub encoding: String,
    /// `user[:group]`.
    pub owner: String,
    /// Octal mode as a string, e.g. `"0644"`.
    pub permissions: String,
    /// System container to write the file in; empty or `console` means the console.
    pub container: String,
}

/// A `runcmd`/`bootcmd` item: a shell string, or an argv list run without a shell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Command {
    /// Run with `sh -c`.
    Shell(String),
    /// Run as argv.
    Argv(Vec<String>),
}

impl CloudConfig {
    /// The config as a generic tree with every key present (zero values included), as
    /// `ros config get` walks it.
    pub fn to_tree(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Map::new()))
    }

    /// Unique images of `rancher.bootstrap` and `rancher.services`, sorted.
    pub fn images(&self) -> Vec<String> {
        let mut images: Vec<String> = self
            .rancher
            .bootstrap
            .values()
            .chain(self.rancher.services.values())
            .filter_map(|svc| svc.get("image").and_then(Value::as_str))
            .filter(|img| !img.is_empty())
            .map(str::to_string)
            .collect();
        images.sort();
        images.dedup();
        images
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_keys_match_the_struct() {
        let tree = CloudConfig::default().to_tree();
        let keys: Vec<&str> = tree
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, TOP_LEVEL_KEYS);
    }
}
