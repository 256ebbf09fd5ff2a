//! User-data from a local drive, read by init before the configuration is loaded the last
//! time: an OpenStack config drive (label `config-2`, `openstack/latest/user_data` and
//! `meta_data.json`) or a NoCloud drive (label `cidata`, `user-data` and `meta-data`). What it
//! holds is saved where RancherOS's cloud-init-save put it: a `#cloud-config` document as
//! `cloud-config.d/boot.yml`, a script as `cloud-config-script`, and the metadata (host name,
//! SSH keys) as the `metadata` layer.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use ros_config::ConfigPaths;
use ros_sys::{Kernel, MountFlags};

use crate::blockdev::{DeviceSpec, Found, resolve};

/// The drive layouts we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// OpenStack config drive.
    ConfigDrive,
    /// cloud-init NoCloud.
    NoCloud,
}

impl Layout {
    fn labels(self) -> &'static [&'static str] {
        match self {
            Self::ConfigDrive => &["config-2", "CONFIG-2"],
            Self::NoCloud => &["cidata", "CIDATA"],
        }
    }

    fn user_data(self) -> &'static str {
        match self {
            Self::ConfigDrive => "openstack/latest/user_data",
            Self::NoCloud => "user-data",
        }
    }
}

/// The layouts `rancher.cloud_init.datasources` asks for (`configdrive[:…]`, `nocloud`).
pub fn wanted(datasources: &[String]) -> Vec<Layout> {
    let mut out = Vec::new();
    for source in datasources {
        let kind = source.split(':').next().unwrap_or_default();
        let layout = match kind {
            "configdrive" => Layout::ConfigDrive,
            "nocloud" => Layout::NoCloud,
            _ => continue,
        };
        if !out.contains(&layout) {
            out.push(layout);
        }
    }
    out
}

/// What a drive gave.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DriveData {
    /// The user-data file, if any.
    pub user_data: Option<Vec<u8>>,
    /// Host name from the metadata.
    pub hostname: String,
    /// SSH public keys from the metadata, by name.
    pub keys: BTreeMap<String, String>,
}

/// Reads a mounted drive of `layout` at `dir`.
pub fn read_drive(layout: Layout, dir: &Path) -> DriveData {
    let mut data = DriveData {
        user_data: std::fs::read(dir.join(layout.user_data())).ok(),
        ..DriveData::default()
    };
    match layout {
        Layout::ConfigDrive => {
            let json =
                std::fs::read(dir.join("openstack/latest/meta_data.json")).unwrap_or_default();
            if let Ok(meta) = serde_json::from_slice::<serde_json::Value>(&json) {
                let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
                data.hostname = meta.get("hostname").and_then(text).unwrap_or_default();
                if let Some(keys) = meta.get("public_keys").and_then(|k| k.as_object()) {
                    for (name, key) in keys {
                        if let Some(key) = text(key) {
                            data.keys.insert(name.clone(), key);
                        }
                    }
                }
            }
        }
        Layout::NoCloud => {
            // meta-data is YAML; only `local-hostname` matters here, read line-wise.
            let meta = std::fs::read_to_string(dir.join("meta-data")).unwrap_or_default();
            for line in meta.lines() {
                if let Some(v) = line.strip_prefix("local-hostname:") {
                    data.hostname = v.trim().trim_matches('"').to_string();
                }
            }
        }
    }
    data
}

fn write(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    ros_sys::write_atomic(path, data, mode).map_err(io::Error::other)
}

/// Writes `data` into the configuration directories below `paths`; returns what was written.
pub fn save(paths: &ConfigPaths, data: &DriveData) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    if let Some(user_data) = &data.user_data {
        let text = String::from_utf8_lossy(user_data);
        let target = if text.starts_with("#cloud-config") {
            Some((paths.cloud_config_dir().join("boot.yml"), 0o600))
        } else if text.starts_with("#!") {
            Some((paths.cloud_config_script(), 0o700))
        } else {
            None
        };
        if let Some((path, mode)) = target {
            write(&path, user_data, mode)?;
            written.push(path);
        }
    }
    if !data.hostname.is_empty() || !data.keys.is_empty() {
        let meta = serde_json::json!({
            "hostname": data.hostname,
            "ssh_public_keys": data.keys,
        });
        let path = paths.metadata_file();
        write(&path, meta.to_string().as_bytes(), 0o600)?;
        written.push(path);
    }
    Ok(written)
}

/// Finds, mounts (read-only, at `run/ros/datasource`), reads and saves the first drive of
/// the wanted layouts among `devices`. `Ok(None)` when there is none.
pub fn load<K: Kernel + ?Sized>(
    kernel: &K,
    root: &Path,
    layouts: &[Layout],
    devices: &[PathBuf],
) -> io::Result<Option<(PathBuf, Vec<PathBuf>)>> {
    let found = layouts.iter().find_map(|layout| {
        layout.labels().iter().find_map(|label| {
            resolve(&DeviceSpec::Label((*label).to_string()), devices).map(|f| (*layout, f))
        })
    });
    let Some((layout, Found { dev, probe })) = found else {
        return Ok(None);
    };
    let fstype = probe.map_or("iso9660", |p| p.fstype);
    let dir = root.join("run/ros/datasource");
    std::fs::create_dir_all(&dir)?;
    kernel.mount(
        &dev.to_string_lossy(),
        &dir,
        fstype,
        MountFlags::RDONLY,
        None,
    )?;
    let data = read_drive(layout, &dir);
    let unmounted = kernel.unmount(&dir);
    let written = save(&ConfigPaths::new(root), &data)?;
    unmounted?;
    Ok(Some((dev, written)))
}

#[cfg(test)]
#[path = "datasource_tests.rs"]
mod tests;
