//! The OCI runtime config (`config.json`) for a container, from its record. Pure: the caller
//! resolves paths and users, so every rule here is unit-tested.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::record::ContainerRecord;
use crate::error::ApiError;

/// Docker's default capability set for unprivileged containers.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the kernel knows, for privileged containers.
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Where a container's namespaces come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespace {
    /// A new one.
    New,
    /// The host's (no entry in the spec).
    Host,
    /// Another container's, by `/proc/<pid>/ns/…` path.
    Join(PathBuf),
}

/// What the caller resolved for the spec.
#[derive(Debug, Clone)]
pub struct SpecInput<'a> {
    /// The container.
    pub record: &'a ContainerRecord,
    /// The mounted root file system.
    pub rootfs: &'a Path,
    /// Directory holding the generated `hosts`, `hostname` and `resolv.conf`.
    pub files: &'a Path,
    /// uid, gid and supplementary gids of the process.
    pub user: (u32, u32, Vec<u32>),
    /// Network namespace.
    pub network: Namespace,
    /// IPC namespace.
    pub ipc: Namespace,
    /// Whether the PID namespace is the host's.
    pub host_pid: bool,
    /// Whether the UTS namespace is the host's.
    pub host_uts: bool,
    /// `linux.devices` entries for `--device`.
    pub devices: Vec<Value>,
    /// Bind mounts of other containers' volumes (`volumes_from`), already resolved.
    pub extra_binds: Vec<(String, String, bool)>,
    /// The engine's own capability bounding set (bit n = capability n): a container cannot
    /// be given more, so "all" means all of these.
    pub bounding: u64,
}

/// Splits `host:container[:options]` as the CLI's `-v` writes it.
pub fn parse_bind(bind: &str) -> Result<(String, String, Vec<String>), ApiError> {
    let mut parts = bind.splitn(3, ':');
    let (Some(source), Some(dest)) = (parts.next(), parts.next()) else {
        return Err(ApiError::bad_request(format!(
            "invalid bind {bind:?}: expected host-path:container-path[:options]"
        )));
    };
    if !source.starts_with('/') {
        return Err(ApiError::bad_request(format!(
            "invalid bind {bind:?}: named volumes are not supported yet; use an absolute host path"
        )));
    }
    if !dest.starts_with('/') {
        return Err(ApiError::bad_request(format!(
            "invalid bind {bind:?}: the container path must be absolute"
        )));
    }
    let options = parts
        .next()
        .map(|o| o.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    Ok((source.to_owned(), dest.to_owned(), options))
}

fn bind_mount(source: &str, dest: &str, options: &[String]) -> Result<Value, ApiError> {
    let mut opts = vec!["rbind".to_owned()];
    let mut propagation = "rprivate";
    for option in options {
        match option.as_str() {
            "ro" | "rw" => opts.push(option.clone()),
            "z" | "Z" | "nocopy" | "consistent" | "cached" | "delegated" => {}
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                propagation = option;
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid bind option {other:?} for {dest}"
                )));
            }
        }
    }
    opts.push(propagation.to_owned());
    Ok(json!({ "destination": dest, "type": "bind", "source": source, "options": opts }))
}

fn capabilities(input: &SpecInput<'_>) -> Vec<String> {
    let available = |cap: &String| {
        ALL_CAPS
            .iter()
            .position(|c| c == cap)
            .is_none_or(|bit| bit >= 64 || input.bounding & (1 << bit) != 0)
    };
    let mut caps = requested_capabilities(input);
    caps.retain(available);
    caps
}

fn requested_capabilities(input: &SpecInput<'_>) -> Vec<String> {
    let host = &input.record.host_config;
    if host.privileged.unwrap_or(false) {
        return ALL_CAPS.iter().map(|c| (*c).to_owned()).collect();
    }
    let normal = |c: &String| {
        let upper = c.to_ascii_uppercase();
        if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        }
    };
    let add: Vec<String> = host.cap_add.iter().flatten().map(normal).collect();
    let drop: Vec<String> = host.cap_drop.iter().flatten().map(normal).collect();
    let mut caps: Vec<String> = if add.iter().any(|c| c == "CAP_ALL") {
        ALL_CAPS.iter().map(|c| (*c).to_owned()).collect()
    } else {
        DEFAULT_CAPS
            .iter()
            .map(|c| (*c).to_owned())
            .chain(add)
            .collect()
    };
    if drop.iter().any(|c| c == "CAP_ALL") {
        caps.clear();
    }
    caps.retain(|c| !drop.contains(c));
    caps.sort();
    caps.dedup();
    caps
}

fn namespace(kind: &str, ns: &Namespace) -> Option<Value> {
    match ns {
        Namespace::New => Some(json!({ "type": kind })),
        Namespace::Host => None,
        Namespace::Join(path) => Some(json!({ "type": kind, "path": path })),
    }
}

/// The OCI runtime config for `input`.
pub fn oci_spec(input: &SpecInput<'_>) -> Result<Value, ApiError> {
    let record = input.record;
    let host = &record.host_config;
    let privileged = host.privileged.unwrap_or(false);
    let mut args = vec![record.path.clone()];
    args.extend(record.args.iter().cloned());
    if record.path.is_empty() {
        return Err(ApiError::bad_request("no command specified"));
    }
    let mut env: Vec<String> = record.config.env.clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
        );
    }
    let hostname = record
        .config
        .hostname
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| record.short_id().to_owned());
    if !input.host_uts {
        env.push(format!("HOSTNAME={hostname}"));
    }
    let caps = capabilities(input);
    let (uid, gid, groups) = &input.user;
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", if privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
    ];
    // A privileged container gets the host's device nodes in its own /dev (the caller lists
    // them in `devices`), as with Docker: libcontainer cannot bind the host's /dev itself.
    mounts.insert(1, json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}));
    mounts.push(json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}));
    for file in ["resolv.conf", "hostname", "hosts"] {
        mounts.push(json!({
            "destination": format!("/etc/{file}"), "type": "bind",
            "source": input.files.join(file), "options": ["rbind", "rprivate"],
        }));
    }
    let mut shared = false;
    for (source, dest, read_only) in &input.extra_binds {
        let options = if *read_only {
            vec!["ro".to_owned()]
        } else {
            Vec::new()
        };
        mounts.push(bind_mount(source, dest, &options)?);
    }
    for bind in host.binds.iter().flatten() {
        let (source, dest, options) = parse_bind(bind)?;
        shared |= options.iter().any(|o| o == "shared" || o == "rshared");
        mounts.push(bind_mount(&source, &dest, &options)?);
    }
    for (dest, options) in host.tmpfs.iter().flatten() {
        let mut opts = vec!["nosuid".to_owned(), "nodev".to_owned()];
        opts.extend(
            options
                .split(',')
                .filter(|o| !o.is_empty())
                .map(str::to_owned),
        );
        mounts.push(
            json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": opts}),
        );
    }
    let mut namespaces = vec![json!({"type": "mount"})];
    namespaces.extend(namespace("network", &input.network));
    namespaces.extend(namespace("ipc", &input.ipc));
    if !input.host_pid {
        namespaces.push(json!({"type": "pid"}));
    }
    if !input.host_uts {
        namespaces.push(json!({"type": "uts"}));
    }
    let mut process = json!({
        "terminal": false,
        "user": { "uid": uid, "gid": gid, "additionalGids": groups },
        "args": args,
        "env": env,
        "cwd": record.config.working_dir.clone().filter(|w| !w.is_empty()).unwrap_or_else(|| "/".to_owned()),
        "capabilities": { "bounding": caps, "effective": caps, "permitted": caps },
        "noNewPrivileges": false,
    });
    if let Some(adj) = host.oom_score_adj {
        process["oomScoreAdj"] = json!(adj);
    }
    let mut device_rules = vec![json!({ "allow": privileged, "access": "rwm" })];
    for device in &input.devices {
        device_rules.push(json!({
            "allow": true, "type": device["type"], "major": device["major"],
            "minor": device["minor"], "access": "rwm",
        }));
    }
    let mut linux = json!({
        "cgroupsPath": format!("/system-docker/{}", record.id),
        "namespaces": namespaces,
        "resources": { "devices": device_rules },
        "devices": input.devices,
    });
    if shared {
        // libcontainer's names lack the `r`: they always apply recursively (default: slave).
        linux["rootfsPropagation"] = json!("shared");
    }
    if !privileged {
        linux["maskedPaths"] = json!(MASKED);
        linux["readonlyPaths"] = json!(READONLY);
    }
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": { "path": input.rootfs, "readonly": host.readonly_rootfs.unwrap_or(false) },
        "mounts": mounts,
        "linux": linux,
    });
    if !input.host_uts {
        spec["hostname"] = json!(hostname);
    }
    Ok(spec)
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
