//! The container's side of the host: its overlay root, generated `/etc` files, the user it
//! runs as, and the shim process that runs it.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use ros_shim::{ShimOptions, Started};
use ros_sys::{Kernel, MountFlags};

use crate::error::ApiError;

/// Whether `path` is a mount point now (read from `/proc/self/mountinfo`).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let wanted = path.to_string_lossy();
    info.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .any(|mount_point| mount_point == wanted)
}

/// Mounts the overlay of `lowers` (top first) at `<dir>/merged`, with `upper` and `work`
/// next to it; returns the merged path. A mount that is already there (an engine restart)
/// is kept.
pub fn mount_rootfs(
    kernel: &dyn Kernel,
    dir: &Path,
    lowers: &[PathBuf],
) -> Result<PathBuf, ApiError> {
    let merged = dir.join("merged");
    if is_mounted(&merged) {
        return Ok(merged);
    }
    let empty = dir.join("empty");
    for sub in ["upper", "work", "merged", "empty"] {
        fs::create_dir_all(dir.join(sub))?;
    }
    let mut lower: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
    if lower.is_empty() {
        lower.push(empty.display().to_string());
    }
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        dir.join("upper").display(),
        dir.join("work").display()
    );
    kernel
        .mount("overlay", &merged, "overlay", MountFlags::NONE, Some(&data))
        .map_err(|e| {
            ApiError::internal(format!("mounting the overlay at {}: {e}", merged.display()))
        })?;
    Ok(merged)
}

/// Unmounts the container's root if it is mounted.
pub fn unmount_rootfs(kernel: &dyn Kernel, dir: &Path) -> Result<(), ApiError> {
    let merged = dir.join("merged");
    if is_mounted(&merged) {
        kernel
            .unmount(&merged)
            .map_err(|e| ApiError::internal(format!("unmounting {}: {e}", merged.display())))?;
    }
    Ok(())
}

/// Writes `hosts`, `hostname` and `resolv.conf` for the container into `files`.
pub fn write_etc_files(files: &Path, hostname: &str, host_network: bool) -> Result<(), ApiError> {
    fs::create_dir_all(files)?;
    let resolv = fs::read("/etc/resolv.conf").unwrap_or_default();
    let hosts = if host_network {
        fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
        )
    };
    for (name, content) in [
        ("resolv.conf", resolv),
        ("hosts", hosts.into_bytes()),
        ("hostname", format!("{hostname}\n").into_bytes()),
    ] {
        ros_sys::write_atomic(&files.join(name), &content, 0o644)
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    Ok(())
}

/// Reads `etc/<name>` of `rootfs` without following a symlink out of the container.
fn read_etc(rootfs: &Path, name: &str) -> String {
    let etc = rootfs.join("etc");
    let file = etc.join(name);
    let safe = [&etc, &file]
        .iter()
        .all(|p| fs::symlink_metadata(p).is_ok_and(|m| !m.file_type().is_symlink()));
    if safe {
        fs::read_to_string(file).unwrap_or_default()
    } else {
        String::new()
    }
}

/// Resolves `user` (`name`, `uid`, `name:group`, `uid:gid`, empty for root) against the
/// container's `/etc/passwd` and `/etc/group`: uid, gid, supplementary groups.
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<(u32, u32, Vec<u32>), ApiError> {
    if user.is_empty() {
        return Ok((0, 0, Vec::new()));
    }
    let passwd = read_etc(rootfs, "passwd");
    let group = read_etc(rootfs, "group");
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && (f[0] == user_part || f[2] == user_part));
    let uid = match (user_part.parse::<u32>(), &entry) {
        (Ok(uid), _) => uid,
        (Err(_), Some(fields)) => fields[2].parse().unwrap_or(0),
        (Err(_), None) => {
            return Err(ApiError::bad_request(format!(
                "unable to find user {user_part}: no matching entries in passwd file"
            )));
        }
    };
    let name = entry.as_ref().map(|f| f[0].to_owned());
    let gid = match group_part {
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() > 2 && f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        },
        None => entry.as_ref().and_then(|f| f[3].parse().ok()).unwrap_or(0),
    };
    let groups = name
        .map(|name| {
            group
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .filter(|f| f.len() > 3 && f[3].split(',').any(|m| m == name))
                .filter_map(|f| f[2].parse().ok())
                .filter(|g| *g != gid)
                .collect()
        })
        .unwrap_or_default();
    Ok((uid, gid, groups))
}

/// A started shim: its process (our child until the engine restarts) and the container pid.
#[derive(Debug)]
pub struct Launched {
    /// The shim process.
    pub shim: Child,
    /// Host pid of the container's first process.
    pub pid: i32,
}

/// Starts a shim for `options` and waits for its one line. Blocking: call off the runtime.
pub fn launch(
    shim_exe: &Path,
    options: &ShimOptions,
    shim_log: &Path,
) -> Result<Launched, ApiError> {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(shim_log)?;
    let mut child = Command::new(shim_exe)
        .arg0("ros-shim")
        .args(options.to_args())
        // libcontainer logs through tracing from inside the container's process too, where
        // stderr is the container's: the shim must not log there.
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        // Its own process group: a terminal's Ctrl-C to the engine must not reach containers.
        .process_group(0)
        .spawn()
        .map_err(|e| {
            ApiError::internal(format!("starting the shim {}: {e}", shim_exe.display()))
        })?;
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        drop(BufReader::new(stdout).read_line(&mut line));
    }
    match serde_json::from_str::<Started>(&line) {
        Ok(Started::Running { pid }) => Ok(Launched { shim: child, pid }),
        Ok(Started::Failed { message }) => {
            drop(child.wait());
            Err(ApiError::internal(format!(
                "OCI runtime create failed: {message}"
            )))
        }
        Err(_) => {
            drop(child.wait());
            let detail = fs::read_to_string(shim_log).unwrap_or_default();
            let last = detail.lines().last().unwrap_or("no output");
            Err(ApiError::internal(format!(
                "the shim exited before starting the container: {last}"
            )))
        }
    }
}
