//! Everything a start does before the shim runs, off the async runtime: the root file
//! system, namespaces, devices, volumes from other containers, the bundle.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

use serde_json::json;

use super::runtime::{self, Launched};
use super::spec::{self, Namespace, SpecInput};
use crate::engine::Engine;
use crate::error::ApiError;

/// Resolves `mode` (`host`, `none`, `container:<name>`, anything else new) for the namespace
/// `kind` (`net`, `ipc`); `host_default` says what the empty mode means.
fn namespace(
    engine: &Engine,
    mode: Option<&str>,
    kind: &str,
    host_default: bool,
) -> Result<Namespace, ApiError> {
    match mode.unwrap_or_default() {
        "host" => Ok(Namespace::Host),
        "none" | "private" | "shareable" => Ok(Namespace::New),
        "" | "default" | "bridge" => Ok(if host_default {
            Namespace::Host
        } else {
            Namespace::New
        }),
        other => match other.strip_prefix("container:") {
            Some(name) => {
                let other = engine.find(name)?.snapshot();
                if other.state.pid == 0 {
                    return Err(ApiError::conflict(format!(
                        "cannot join the {kind} namespace of container {name}: it is not running"
                    )));
                }
                Ok(Namespace::Join(PathBuf::from(format!(
                    "/proc/{}/ns/{kind}",
                    other.state.pid
                ))))
            }
            None => Err(ApiError::bad_request(format!(
                "invalid {kind} mode {other:?}"
            ))),
        },
    }
}

fn devices(
    engine_devices: &[bollard_stubs::models::DeviceMapping],
) -> Result<Vec<serde_json::Value>, ApiError> {
    let mut out = Vec::new();
    for device in engine_devices {
        let host = device.path_on_host.clone().unwrap_or_default();
        let inside = device
            .path_in_container
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| host.clone());
        let meta = std::fs::metadata(&host).map_err(|e| {
            ApiError::bad_request(format!(
                "error gathering device information while adding device {host:?}: {e}"
            ))
        })?;
        let kind = if meta.file_type().is_char_device() {
            "c"
        } else if meta.file_type().is_block_device() {
            "b"
        } else {
            return Err(ApiError::bad_request(format!("{host} is not a device")));
        };
        let rdev = meta.rdev();
        out.push(json!({
            "path": inside, "type": kind,
            "major": rustix::fs::major(rdev), "minor": rustix::fs::minor(rdev),
            "fileMode": meta.mode() & 0o777, "uid": meta.uid(), "gid": meta.gid(),
        }));
    }
    Ok(out)
}

/// This process's capability bounding set (`CapBnd` in /proc/self/status); all bits when
/// unreadable, and the runtime reports what is missing.
fn bounding_set() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let hex = status.lines().find_map(|l| l.strip_prefix("CapBnd:"))?;
            u64::from_str_radix(hex.trim(), 16).ok()
        })
        .unwrap_or(u64::MAX)
}

/// The host's device nodes for a privileged container: `/dev` and its subdirectories, without
/// what every container gets anyway (pts, shm, mqueue, console, ptmx).
fn host_devices() -> Vec<bollard_stubs::models::DeviceMapping> {
    fn walk(
        dir: &std::path::Path,
        depth: u32,
        out: &mut Vec<bollard_stubs::models::DeviceMapping>,
    ) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if matches!(
                name.to_str(),
                Some("pts" | "shm" | "mqueue" | "console" | "ptmx")
            ) {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let kind = meta.file_type();
            if kind.is_dir() && depth > 0 {
                walk(&path, depth - 1, out);
            } else if kind.is_char_device() || kind.is_block_device() {
                let path = path.display().to_string();
                out.push(bollard_stubs::models::DeviceMapping {
                    path_on_host: Some(path.clone()),
                    path_in_container: Some(path),
                    cgroup_permissions: Some("rwm".into()),
                });
            }
        }
    }
    let mut out = Vec::new();
    walk(std::path::Path::new("/dev"), 3, &mut out);
    out
}

/// The binds of the `volumes_from` containers, and of the ones those name in turn: Docker
/// hands a container's inherited volumes on too (RancherOS's `all-volumes` is built so).
fn volumes_from(
    engine: &Engine,
    sources: &[String],
) -> Result<Vec<(String, String, bool)>, ApiError> {
    let mut binds = Vec::new();
    let mut seen = std::collections::HashSet::new();
    collect_volumes_from(engine, sources, false, &mut seen, &mut binds)?;
    Ok(binds)
}

fn collect_volumes_from(
    engine: &Engine,
    sources: &[String],
    force_ro: bool,
    seen: &mut std::collections::HashSet<String>,
    binds: &mut Vec<(String, String, bool)>,
) -> Result<(), ApiError> {
    for source in sources {
        let (name, mode) = source.split_once(':').unwrap_or((source, "rw"));
        let other = engine.find(name)?.snapshot();
        if !seen.insert(other.id.clone()) {
            continue;
        }
        let ro = force_ro || mode == "ro";
        for bind in other.host_config.binds.iter().flatten() {
            let (host, inside, options) = spec::parse_bind(bind)?;
            binds.push((host, inside, ro || options.iter().any(|o| o == "ro")));
        }
        let nested = other.host_config.volumes_from.clone().unwrap_or_default();
        collect_volumes_from(engine, &nested, ro, seen, binds)?;
    }
    Ok(())
}

/// Prepares container `id` and starts its shim. Blocking.
pub fn prepare_and_launch(engine: &Engine, id: &str) -> Result<Launched, ApiError> {
    let container = engine.find(id)?;
    let record = container.snapshot();
    let host = &record.host_config;
    let lowers = {
        let images = engine.images();
        let image = images.resolve(&record.image_id).map_err(|_| {
            ApiError::conflict(format!(
                "the image {} of this container is gone",
                record.image_name
            ))
        })?;
        images.lower_dirs(image)
    };
    let dir = engine.container_dir(id);
    let run_dir = engine.container_run_dir(id);
    std::fs::create_dir_all(&run_dir)?;
    let rootfs = runtime::mount_rootfs(engine.kernel.as_ref(), &dir.join("fs"), &lowers)?;
    let result = (|| {
        // The System engine's default network is the host's (RancherOS system services).
        let network = namespace(engine, host.network_mode.as_deref(), "net", true)?;
        let ipc = namespace(engine, host.ipc_mode.as_deref(), "ipc", false)?;
        let host_network = network == Namespace::Host;
        let hostname = match record.config.hostname.as_deref().filter(|h| !h.is_empty()) {
            Some(h) => h.to_owned(),
            None if host_network => std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| record.short_id().to_owned()),
            None => record.short_id().to_owned(),
        };
        let files = dir.join("etc");
        runtime::write_etc_files(&files, &hostname, host_network)?;
        let mut with_hostname = record.clone();
        with_hostname.config.hostname = Some(hostname);
        let user =
            runtime::resolve_user(&rootfs, record.config.user.as_deref().unwrap_or_default())?;
        let input = SpecInput {
            record: &with_hostname,
            rootfs: &rootfs,
            files: &files,
            user,
            network,
            ipc,
            host_pid: host.pid_mode.as_deref() == Some("host"),
            host_uts: host.uts_mode.as_deref() == Some("host"),
            devices: {
                let mut wanted = host.devices.clone().unwrap_or_default();
                if host.privileged.unwrap_or(false) {
                    let named: Vec<_> = wanted
                        .iter()
                        .filter_map(|d| d.path_in_container.clone())
                        .collect();
                    wanted.extend(host_devices().into_iter().filter(|d| {
                        d.path_in_container
                            .as_ref()
                            .is_none_or(|p| !named.contains(p))
                    }));
                }
                devices(&wanted)?
            },
            extra_binds: volumes_from(engine, host.volumes_from.as_deref().unwrap_or_default())?,
            bounding: bounding_set(),
        };
        let spec = spec::oci_spec(&input)?;
        let bundle = run_dir.join("bundle");
        std::fs::create_dir_all(&bundle)?;
        let encoded = serde_json::to_vec(&spec).map_err(|e| ApiError::internal(e.to_string()))?;
        ros_sys::write_atomic(&bundle.join("config.json"), &encoded, 0o600)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let exit_file = run_dir.join("exit.json");
        match std::fs::remove_file(&exit_file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        let options = ros_shim::ShimOptions {
            id: id.to_owned(),
            bundle,
            root: engine.config.exec_root.join("runtime"),
            log: engine.log_path(id),
            exit_file,
            monitor: None,
        };
        runtime::launch(&engine.config.shim_exe, &options, &run_dir.join("shim.log"))
    })();
    if result.is_err() {
        drop(runtime::unmount_rootfs(
            engine.kernel.as_ref(),
            &dir.join("fs"),
        ));
    }
    result
}
