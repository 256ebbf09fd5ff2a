//! Builders for test inputs, shared by the unit and the integration tests: image archives
//! made here from files, the way `docker save` writes them.

use std::io::Write;

use serde_json::json;
use sha2::{Digest, Sha256};

/// A file of a test layer: path, mode, content (`None` for a directory).
pub type TestFile<'a> = (&'a str, u32, Option<&'a [u8]>);

/// A plain tar layer holding `files`, owned by root.
pub fn layer_tar(files: &[TestFile<'_>]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, mode, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_mode(*mode);
        header.set_mtime(1_700_000_000);
        header.set_uid(0);
        header.set_gid(0);
        match content {
            Some(bytes) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(bytes.len() as u64);
                tar.append_data(&mut header, path, *bytes)
            }
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                tar.append_data(&mut header, path, std::io::empty())
            }
        }
        .expect("appending to an in-memory tar");
    }
    tar.into_inner().expect("finishing an in-memory tar")
}

/// Applets the test busybox image links, enough for the engine's tests.
const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "sleep", "true", "false", "ls", "id", "env", "hostname", "kill", "ps",
    "wc", "seq", "grep", "test", "mount", "touch", "pwd", "chown", "head",
];

/// A one-layer busybox root file system built from the host's static busybox
/// (Debian's busybox-static): `/bin/<applet>` links, `/etc/passwd` and `/etc/group`.
pub fn busybox_layer() -> Result<Vec<u8>, String> {
    let path = "/bin/busybox";
    let busybox = std::fs::read(path)
        .map_err(|e| format!("{path}: {e} (the engine tests need Debian's busybox-static)"))?;
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, mode: u32, data: &[u8], link: Option<&str>| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        header.set_size(data.len() as u64);
        if let Some(link) = link {
            header.set_link_name(link).map_err(|e| e.to_string())?;
        }
        tar.append_data(&mut header, path, data)
            .map_err(|e| e.to_string())
    };
    for dir in ["bin", "etc", "root", "tmp"] {
        add(
            dir,
            tar::EntryType::Directory,
            if dir == "tmp" { 0o1777 } else { 0o755 },
            b"",
            None,
        )?;
    }
    add(
        "bin/busybox",
        tar::EntryType::Regular,
        0o755,
        &busybox,
        None,
    )?;
    for applet in APPLETS {
        add(
            &format!("bin/{applet}"),
            tar::EntryType::Symlink,
            0o777,
            b"",
            Some("busybox"),
        )?;
    }
    add(
        "etc/passwd",
        tar::EntryType::Regular,
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        None,
    )?;
    add(
        "etc/group",
        tar::EntryType::Regular,
        0o644,
        b"root:x:0:\nnogroup:x:65534:\n",
        None,
    )?;
    tar.into_inner().map_err(|e| e.to_string())
}

/// A `docker save` archive of a busybox image tagged `tag` (default command `sh`).
pub fn busybox_archive(tag: &str) -> Result<Vec<u8>, String> {
    Ok(docker_save_archive(tag, &[busybox_layer()?], &["sh"]))
}

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// A classic `docker save` archive (`manifest.json`, `<n>/layer.tar`) of one image tagged
/// `tag`, with `layers` (plain tars) and `cmd` as its default command.
pub fn docker_save_archive(tag: &str, layers: &[Vec<u8>], cmd: &[&str]) -> Vec<u8> {
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": { "Cmd": cmd, "Env": ["PATH=/bin:/usr/bin"], "Labels": {"test": "yes"} },
        "rootfs": { "type": "layers", "diff_ids": layers.iter().map(|l| sha(l)).collect::<Vec<_>>() },
    });
    let config = serde_json::to_vec(&config).expect("json");
    let config_name = format!("{}.json", sha(&config).trim_start_matches("sha256:"));
    let layer_names: Vec<String> = (0..layers.len())
        .map(|i| format!("{i}/layer.tar"))
        .collect();
    let manifest = json!([{ "Config": config_name, "RepoTags": [tag], "Layers": layer_names }]);
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_ustar();
        header.set_mode(0o644);
        header.set_size(bytes.len() as u64);
        tar.append_data(&mut header, path, bytes)
            .expect("in-memory tar");
    };
    add(&config_name, &config);
    for (name, layer) in layer_names.iter().zip(layers) {
        add(name, layer);
    }
    add(
        "manifest.json",
        &serde_json::to_vec(&manifest).expect("json"),
    );
    let mut out = tar.into_inner().expect("in-memory tar");
    out.flush().expect("vec");
    out
}

/// Lazily unmounts whatever is still mounted under `root`, deepest first: what a failed test
/// or a benchmarked engine left behind.
pub fn unmount_below(root: &std::path::Path) {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = root.to_string_lossy().into_owned();
    let mut points: Vec<&str> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        rustix::mount::unmount(point, rustix::mount::UnmountFlags::DETACH).ok();
    }
}
