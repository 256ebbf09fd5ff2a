//! One service of `rancher.services`: the compose v1 keys RancherOS accepted, typed. A key we
//! do not know is an error naming the service and the key, never silently dropped.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::ServiceError;

/// Labels with a meaning to the service runner (RancherOS's names).
pub mod labels {
    /// `system` → System engine; anything else → the user's Docker.
    pub const SCOPE: &str = "io.rancher.os.scope";
    /// Comma list: start after these.
    pub const AFTER: &str = "io.rancher.os.after";
    /// Comma list: these start after this one.
    pub const BEFORE: &str = "io.rancher.os.before";
    /// `"false"`: wait for the container to exit.
    pub const DETACH: &str = "io.rancher.os.detach";
    /// `"true"`: create, never start.
    pub const CREATE_ONLY: &str = "io.rancher.os.createonly";
    /// `"true"`: re-read the configuration once this one is up.
    pub const RELOAD_CONFIG: &str = "io.rancher.os.reloadconfig";
    /// `always` / `"false"` / absent: when to recreate the container.
    pub const REBUILD: &str = "io.docker.compose.rebuild";
    /// The hash of the definition a container was created from.
    pub const CONFIG_HASH: &str = "io.docker.compose.config-hash";
    /// The service a container belongs to.
    pub const SERVICE: &str = "io.docker.compose.service";
}

/// A string or a list of strings (`command`, `entrypoint`, `dns`, `tmpfs`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

/// `KEY: value` map or `KEY=value` list (`environment`, `labels`); values may be any scalar.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
enum MapOrList {
    Map(BTreeMap<String, Value>),
    List(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Raw {
    image: String,
    command: Option<StringOrList>,
    entrypoint: Option<StringOrList>,
    environment: Option<MapOrList>,
    labels: Option<MapOrList>,
    net: String,
    network_mode: String,
    pid: String,
    ipc: String,
    uts: String,
    privileged: bool,
    read_only: bool,
    restart: String,
    volumes: Vec<String>,
    volumes_from: Vec<String>,
    devices: Vec<String>,
    cap_add: Vec<String>,
    cap_drop: Vec<String>,
    links: Vec<String>,
    log_driver: String,
    log_opt: BTreeMap<String, Value>,
    tmpfs: Option<StringOrList>,
    user: String,
    working_dir: String,
    hostname: String,
    domainname: String,
    stop_signal: String,
    dns: Option<StringOrList>,
    dns_search: Option<StringOrList>,
    extra_hosts: Vec<String>,
    security_opt: Vec<String>,
    oom_score_adj: Option<i64>,
    stdin_open: bool,
    tty: bool,
    /// Accepted and ignored: the container is always named after the service.
    container_name: String,
}

/// A typed service definition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Service {
    /// The key under `rancher.services`, also the container name.
    pub name: String,
    /// Image reference.
    pub image: String,
    /// `Cmd`, split as a shell would if given as one string.
    pub command: Option<Vec<String>>,
    /// `Entrypoint`, likewise.
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=value` entries.
    pub environment: Vec<String>,
    /// Labels, values as strings.
    pub labels: BTreeMap<String, String>,
    /// Network mode (`net` or `network_mode`).
    pub network_mode: String,
    /// `host` or `container:<name>`.
    pub pid: String,
    /// Likewise.
    pub ipc: String,
    /// Likewise.
    pub uts: String,
    /// All capabilities and devices.
    pub privileged: bool,
    /// Read-only root.
    pub read_only: bool,
    /// `no`, `always`, `on-failure[:N]`, `unless-stopped`.
    pub restart: String,
    /// `host:container[:opts]` binds and bare container paths.
    pub volumes: Vec<String>,
    /// Containers whose volumes this one takes.
    pub volumes_from: Vec<String>,
    /// `host[:container[:perms]]`.
    pub devices: Vec<String>,
    /// Capabilities to add.
    pub cap_add: Vec<String>,
    /// Capabilities to drop.
    pub cap_drop: Vec<String>,
    /// Links (ordering only; every system service shares the host network).
    pub links: Vec<String>,
    /// Log driver.
    pub log_driver: String,
    /// Log options.
    pub log_opt: BTreeMap<String, String>,
    /// tmpfs mounts (`/path[:opts]`).
    pub tmpfs: Vec<String>,
    /// User.
    pub user: String,
    /// Working directory.
    pub working_dir: String,
    /// Host name.
    pub hostname: String,
    /// Domain name.
    pub domainname: String,
    /// Stop signal.
    pub stop_signal: String,
    /// DNS servers.
    pub dns: Vec<String>,
    /// DNS search domains.
    pub dns_search: Vec<String>,
    /// `host:ip` lines for /etc/hosts.
    pub extra_hosts: Vec<String>,
    /// Security options.
    pub security_opt: Vec<String>,
    /// OOM score adjustment.
    pub oom_score_adj: Option<i64>,
    /// Keep stdin open.
    pub stdin_open: bool,
    /// Allocate a TTY.
    pub tty: bool,
}

impl Service {
    /// Types the definition `value` of service `name`.
    pub fn parse(name: &str, value: &Value) -> Result<Self, ServiceError> {
        let invalid = |message: String| ServiceError::Invalid {
            service: name.to_string(),
            message,
        };
        let raw: Raw = serde_path_free(value).map_err(&invalid)?;
        if raw.image.is_empty() {
            return Err(invalid("image: required".into()));
        }
        let split = |v: Option<StringOrList>,
                     key: &str|
         -> Result<Option<Vec<String>>, ServiceError> {
            v.map(|v| match v {
                StringOrList::One(s) => split_words(&s).map_err(|e| invalid(format!("{key}: {e}"))),
                StringOrList::Many(list) => Ok(list),
            })
            .transpose()
        };
        let list = |v: Option<StringOrList>| match v {
            None => Vec::new(),
            Some(StringOrList::One(s)) => vec![s],
            Some(StringOrList::Many(l)) => l,
        };
        Ok(Self {
            name: name.to_string(),
            image: raw.image,
            command: split(raw.command, "command")?,
            entrypoint: split(raw.entrypoint, "entrypoint")?,
            environment: match raw.environment {
                None => Vec::new(),
                Some(MapOrList::List(l)) => l,
                Some(MapOrList::Map(m)) => m
                    .into_iter()
                    .map(|(k, v)| match v {
                        // `KEY:` with no value: looked up like a bare `KEY`.
                        Value::Null => k,
                        v => format!("{k}={}", scalar(&v)),
                    })
                    .collect(),
            },
            labels: match raw.labels {
                None => BTreeMap::new(),
                Some(MapOrList::Map(m)) => m.into_iter().map(|(k, v)| (k, scalar(&v))).collect(),
                Some(MapOrList::List(l)) => l
                    .into_iter()
                    .map(|e| match e.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (e, String::new()),
                    })
                    .collect(),
            },
            network_mode: if raw.network_mode.is_empty() {
                raw.net
            } else {
                raw.network_mode
            },
            pid: raw.pid,
            ipc: raw.ipc,
            uts: raw.uts,
            privileged: raw.privileged,
            read_only: raw.read_only,
            restart: raw.restart,
            volumes: raw.volumes,
            volumes_from: raw.volumes_from,
            devices: raw.devices,
            cap_add: raw.cap_add,
            cap_drop: raw.cap_drop,
            links: raw.links,
            log_driver: raw.log_driver,
            log_opt: raw
                .log_opt
                .into_iter()
                .map(|(k, v)| (k, scalar(&v)))
                .collect(),
            tmpfs: list(raw.tmpfs),
            user: raw.user,
            working_dir: raw.working_dir,
            hostname: raw.hostname,
            domainname: raw.domainname,
            stop_signal: raw.stop_signal,
            dns: list(raw.dns),
            dns_search: list(raw.dns_search),
            extra_hosts: raw.extra_hosts,
            security_opt: raw.security_opt,
            oom_score_adj: raw.oom_score_adj,
            stdin_open: raw.stdin_open,
            tty: raw.tty,
        })
    }

    /// A label's value, if set.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    /// Whether the service runs in the System engine (`io.rancher.os.scope: system`).
    pub fn is_system(&self) -> bool {
        self.label(labels::SCOPE) == Some("system")
    }

    /// `io.rancher.os.detach: "false"`: Up waits for the container to exit.
    pub fn waits_for_exit(&self) -> bool {
        self.label(labels::DETACH) == Some("false")
    }

    /// `io.rancher.os.createonly: "true"`.
    pub fn create_only(&self) -> bool {
        self.label(labels::CREATE_ONLY) == Some("true")
    }
}

/// Deserializes with the path of the failing key in the message (`volumes[2]: …`).
fn serde_path_free(value: &Value) -> Result<Raw, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })
}

/// A scalar as compose stringifies it (`true`, `3`, `x`); other values as JSON.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Splits a command line as a POSIX shell would, without expansions: words separated by
/// blanks, single quotes literal, double quotes with backslash escapes.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("trailing backslash".into()),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
