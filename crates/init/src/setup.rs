//! The new root, made ready for the System engine: the directories the system services bind,
//! the files every Linux userland expects in `/etc`, the host name, and shared propagation
//! so bind mounts marked `shared` (`/media`, `/mnt`) reach the console.

use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use ros_config::CloudConfig;

/// Directories the default services bind from the host, made once.
pub const DIRS: &[&str] = &[
    "etc/docker",
    "etc/logrotate.d",
    "etc/selinux",
    "etc/ssl/certs",
    "home",
    "lib/firmware",
    "media",
    "mnt",
    "opt",
    "root",
    "var/lib/boot2docker",
    "var/lib/kubelet",
    "var/lib/m-user-docker",
    "var/lib/rancher/cache",
    "var/lib/rancher/conf/cloud-config.d",
    "var/lib/rancher/preload/docker",
    "var/lib/rancher/preload/system-docker",
    "var/lib/system-docker",
    "var/lib/user-docker",
    "var/lib/waagent",
    "var/log/boot",
];

/// The host name: `hostname`, else `rancher.defaults.hostname`.
pub fn hostname(config: &CloudConfig) -> &str {
    if config.hostname.is_empty() {
        &config.rancher.defaults.hostname
    } else {
        &config.hostname
    }
}

/// Creates the directories and the `/etc` files below `root`. Existing files are kept, except
/// `/etc/hostname` and the host line of `/etc/hosts`, which follow the configuration.
pub fn prepare(root: &Path, config: &CloudConfig) -> io::Result<()> {
    for dir in DIRS {
        fs::create_dir_all(root.join(dir))?;
    }
    let tmp = root.join("tmp");
    fs::create_dir_all(&tmp)?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777))?;
    let var_run = root.join("var/run");
    if fs::symlink_metadata(&var_run).is_err() {
        symlink("../run", &var_run)?;
    }
    let name = hostname(config);
    if !name.is_empty() {
        ros_sys::write_atomic(
            &root.join("etc/hostname"),
            format!("{name}\n").as_bytes(),
            0o644,
        )
        .map_err(io::Error::other)?;
    }
    let hosts = root.join("etc/hosts");
    let existing = fs::read_to_string(&hosts).unwrap_or_default();
    ros_sys::write_atomic(&hosts, hosts_file(&existing, name).as_bytes(), 0o644)
        .map_err(io::Error::other)?;
    let resolv = root.join("etc/resolv.conf");
    if !resolv.exists() {
        ros_sys::write_atomic(&resolv, b"", 0o644).map_err(io::Error::other)?;
    }
    Ok(())
}

/// `/etc/hosts` with localhost lines and `127.0.1.1 <hostname>`; other lines kept.
pub fn hosts_file(existing: &str, hostname: &str) -> String {
    let mut out = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    if !hostname.is_empty() {
        out.push_str(&format!("127.0.1.1\t{hostname}\n"));
    }
    for line in existing.lines() {
        let first = line.split_whitespace().next().unwrap_or_default();
        if !matches!(first, "127.0.0.1" | "::1" | "127.0.1.1") && !line.trim().is_empty() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Writes `rancher.sysctl` below `root/proc/sys` (`net.ipv4.ip_forward` →
/// `proc/sys/net/ipv4/ip_forward`); returns one line per key that could not be set.
pub fn apply_sysctl(
    root: &Path,
    sysctl: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, value) in sysctl {
        if key.is_empty()
            || key
                .split(['.', '/'])
                .any(|part| part.is_empty() || part == "..")
        {
            problems.push(format!("rancher.sysctl.{key}: not a sysctl name"));
            continue;
        }
        let path = root.join("proc/sys").join(key.replace('.', "/"));
        if let Err(e) = fs::write(&path, format!("{value}\n")) {
            problems.push(format!("rancher.sysctl.{key}: {}: {e}", path.display()));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_keys_become_proc_sys_paths_and_bad_ones_are_named() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("proc/sys/net/ipv4")).unwrap();
        let map = std::collections::BTreeMap::from([
            ("net.ipv4.ip_forward".to_string(), "1".to_string()),
            ("kernel.missing".to_string(), "2".to_string()),
            ("net..x".to_string(), "3".to_string()),
        ]);
        let problems = apply_sysctl(root.path(), &map);
        assert_eq!(
            fs::read_to_string(root.path().join("proc/sys/net/ipv4/ip_forward")).unwrap(),
            "1\n"
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with("rancher.sysctl.kernel.missing: "),
            "{problems:?}"
        );
        assert_eq!(problems[1], "rancher.sysctl.net..x: not a sysctl name");
    }

    #[test]
    fn hosts_keeps_user_lines_and_replaces_the_local_ones() {
        let old = "127.0.0.1 localhost\n127.0.1.1 old\n10.0.0.5 db\n\n";
        assert_eq!(
            hosts_file(old, "node1"),
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
             127.0.1.1\tnode1\n10.0.0.5 db\n"
        );
    }

    #[test]
    fn prepare_makes_directories_links_and_etc_files() {
        let root = tempfile::tempdir().unwrap();
        let mut config = CloudConfig::default();
        config.rancher.defaults.hostname = "rancher".into();
        fs::create_dir_all(root.path().join("etc")).unwrap();
        fs::write(root.path().join("etc/resolv.conf"), "nameserver 10.0.2.3\n").unwrap();
        prepare(root.path(), &config).unwrap();
        for dir in DIRS {
            assert!(root.path().join(dir).is_dir(), "{dir}");
        }
        assert_eq!(
            fs::read_link(root.path().join("var/run")).unwrap(),
            Path::new("../run")
        );
        assert_eq!(
            fs::read_to_string(root.path().join("etc/hostname")).unwrap(),
            "rancher\n"
        );
        assert!(
            fs::read_to_string(root.path().join("etc/hosts"))
                .unwrap()
                .contains("127.0.1.1\trancher")
        );
        assert_eq!(
            fs::read_to_string(root.path().join("etc/resolv.conf")).unwrap(),
            "nameserver 10.0.2.3\n",
            "an existing resolv.conf is kept"
        );
        config.hostname = "node1".into();
        prepare(root.path(), &config).unwrap();
        assert_eq!(
            fs::read_to_string(root.path().join("etc/hostname")).unwrap(),
            "node1\n"
        );
    }
}
