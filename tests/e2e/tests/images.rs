//! The system images in dist/images, read by a tool we did not write: skopeo copies each OCI
//! archive to a directory, decompressing its layers, which checks every blob against its
//! digest. Then the layers must match the config's diff_ids, and the contents must hold
//! what RancherOS needs (users, package list, no SSH host keys).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use ros_e2e::Artefacts;
use serde_json::Value;

/// Path → (mode, uid, contents of small regular files).
type Listing = BTreeMap<String, (u32, u64, Vec<u8>)>;

fn images() -> Result<Vec<PathBuf>> {
    let dir = Artefacts::locate()?.path("images");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tar"))
        .collect();
    found.sort();
    ensure!(!found.is_empty(), "no images in {}", dir.display());
    Ok(found)
}

/// skopeo's decompressed copy of `archive`, checked against the config; returns its files.
fn unpack_with_skopeo(archive: &Path, dir: &Path) -> Result<(Value, Listing)> {
    let out = Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-decompress"])
        .arg(format!("oci-archive:{}", archive.display()))
        .arg(format!("dir:{}", dir.display()))
        .output()
        .context("running skopeo (Debian's skopeo package)")?;
    if !out.status.success() {
        bail!(
            "skopeo refused {}: {}",
            archive.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let read_json = |name: &str| -> Result<Value> {
        Ok(serde_json::from_slice(&std::fs::read(dir.join(name))?)?)
    };
    let manifest = read_json("manifest.json")?;
    let config_digest = manifest["config"]["digest"].as_str().context("no config")?;
    let config = read_json(config_digest.trim_start_matches("sha256:"))?;
    let layers: Vec<&str> = manifest["layers"]
        .as_array()
        .context("no layers")?
        .iter()
        .filter_map(|l| l["digest"].as_str())
        .collect();
    let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
        .as_array()
        .context("no diff_ids")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // skopeo names a decompressed layer by the digest of its uncompressed bytes.
    ensure!(
        layers == diff_ids,
        "{}: layers {layers:?} vs diff_ids {diff_ids:?}",
        archive.display()
    );
    let mut listing = Listing::new();
    for layer in layers {
        let file = std::fs::File::open(dir.join(layer.trim_start_matches("sha256:")))?;
        for entry in tar::Archive::new(file).entries()? {
            let mut entry = entry?;
            let path = entry
                .path()?
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string();
            let (mode, uid) = (entry.header().mode()?, entry.header().uid()?);
            let mut data = Vec::new();
            if entry.header().entry_type().is_file() && entry.size() < 1 << 20 {
                entry.read_to_end(&mut data)?;
            }
            listing.insert(path, (mode, uid, data));
        }
    }
    Ok((config, listing))
}

fn text(listing: &Listing, path: &str) -> Result<String> {
    let (_, _, data) = listing
        .get(path)
        .with_context(|| format!("{path} is missing"))?;
    Ok(String::from_utf8_lossy(data).into_owned())
}

#[test]
fn every_image_is_valid_and_carries_rancheros_users_and_its_package_list() -> Result<()> {
    let scratch = tempfile::tempdir()?;
    for (i, image) in images()?.iter().enumerate() {
        let name = image
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let (config, files) = unpack_with_skopeo(image, &scratch.path().join(i.to_string()))
            .with_context(|| name.clone())?;
        ensure!(
            config["architecture"] == "amd64" && config["os"] == "linux",
            "{name}: platform"
        );
        let passwd = text(&files, "etc/passwd")?;
        ensure!(
            passwd.contains("\nrancher:x:1100:1100:"),
            "{name}: user rancher"
        );
        ensure!(
            passwd.contains("\ndocker:x:1101:1101:"),
            "{name}: user docker"
        );
        let group = text(&files, "etc/group")?;
        ensure!(
            group.lines().any(|l| l == "docker:x:1101:rancher,docker"),
            "{name}: group docker:\n{group}"
        );
        let packages = text(&files, "usr/share/ros/packages")?;
        ensure!(
            packages.lines().count() >= 2,
            "{name}: package list:\n{packages}"
        );
        // ros is bound from the host over an empty placeholder (command-volumes).
        ensure!(
            files.contains_key("usr/bin/ros"),
            "{name}: no placeholder for ros"
        );
        let keys: Vec<&String> = files
            .keys()
            .filter(|p| p.starts_with("etc/ssh/ssh_host_"))
            .collect();
        ensure!(keys.is_empty(), "{name} ships SSH host keys: {keys:?}");
        ensure!(
            !files.keys().any(|p| p.starts_with("usr/share/man/")),
            "{name}: manual pages were not stripped"
        );
        let os_release = text(&files, "usr/lib/os-release")?;
        ensure!(
            os_release.contains("NAME=\"RancherOS\""),
            "{name}: os-release"
        );
        if name.starts_with("os-docker-") {
            ensure!(files.contains_key("usr/sbin/dockerd"), "{name}: no dockerd");
            // the CLI ships with its engine, so the two always match
            ensure!(
                files.contains_key("usr/bin/docker"),
                "{name}: no docker CLI"
            );
            ensure!(
                packages.contains("docker.io "),
                "{name}: docker.io not listed"
            );
        }
        if name.contains("console") {
            ensure!(files.contains_key("usr/sbin/sshd"), "{name}: no sshd");
            ensure!(files.contains_key("usr/bin/sudo"), "{name}: no sudo");
            let (mode, uid, _) = files["usr/bin/sudo"];
            ensure!(
                uid == 0 && mode & 0o4000 != 0,
                "{name}: sudo is not setuid root"
            );
        }
    }
    Ok(())
}

#[test]
fn the_newest_engine_is_docker_28_or_later() -> Result<()> {
    let newest = images()?
        .iter()
        .filter_map(|p| {
            let stem = p.file_stem()?.to_string_lossy().into_owned();
            let version = stem.strip_prefix("os-docker-")?.to_string();
            let major: u32 = version.split('.').next()?.parse().ok()?;
            Some((major, version))
        })
        .max()
        .context("no os-docker image")?;
    ensure!(newest.0 >= 28, "newest Docker is {}", newest.1);
    Ok(())
}

/// The console's programs run: its layer unpacked by tar and entered with chroot, sshd checks
/// its configuration and host key, sudo and the shell start.
#[test]
fn console_programs_run_in_their_root() -> Result<()> {
    let archive = Artefacts::locate()?.path("images/os-console.tar");
    let scratch = tempfile::tempdir()?;
    let (config, _) = unpack_with_skopeo(&archive, &scratch.path().join("oci"))?;
    let root = scratch.path().join("root");
    std::fs::create_dir_all(&root)?;
    for layer in config["rootfs"]["diff_ids"]
        .as_array()
        .context("no diff_ids")?
    {
        let blob = scratch.path().join("oci").join(
            layer
                .as_str()
                .unwrap_or_default()
                .trim_start_matches("sha256:"),
        );
        let status = Command::new("tar")
            .args(["-x", "--same-owner", "--numeric-owner", "-p", "-C"])
            .arg(&root)
            .arg("-f")
            .arg(&blob)
            .status()?;
        ensure!(status.success(), "tar could not unpack {}", blob.display());
    }
    // What a container runtime would provide.
    let null = Command::new("mknod")
        .arg(root.join("dev/null"))
        .args(["c", "1", "3"])
        .status()?;
    ensure!(null.success(), "mknod dev/null failed");
    let run = |args: &[&str]| -> Result<String> {
        let out = Command::new("chroot").arg(&root).args(args).output()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        ensure!(
            out.status.success(),
            "{args:?} failed in the console root: {text}"
        );
        Ok(text)
    };
    run(&[
        "/usr/bin/ssh-keygen",
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-f",
        "/tmp/host_key",
    ])?;
    std::fs::create_dir_all(root.join("run/sshd"))?;
    run(&["/usr/sbin/sshd", "-t", "-h", "/tmp/host_key"])?;
    ensure!(run(&["/usr/bin/sudo", "-V"])?.contains("Sudo version"));
    ensure!(run(&["/bin/sh", "-c", "id rancher"])?.contains("1101(docker)"));
    Ok(())
}
