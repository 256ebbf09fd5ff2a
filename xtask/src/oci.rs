//! OCI image archives written by our own code: an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/sha256/…`) in one tar file, plus Docker's `manifest.json` so that
//! `docker load` takes it too. Layers are tars of a [`FileTree`] compressed with zstd, so an
//! image stays compressed in the initramfs (which leaves it uncompressed), in RAM and on the
//! wire. Every byte is a function of the inputs (mtime 0, path order).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use crate::tree::{FileTree, Kind};

const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MEDIA_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// zstd level of the layers, the highest: images are built once and read on every boot, and
/// level 22 takes 3 MiB more off the engine image than 19 (at twice the build time).
const LAYER_ZSTD_LEVEL: i32 = 22;
/// A 128 MiB window with long-distance matching finds the Go runtime and libraries that
/// dockerd, containerd, the shim and runc share: 10% off the engine image. Docker, containerd
/// and skopeo decode windows up to 512 MiB by default.
const LAYER_WINDOW_LOG: u32 = 27;
const EPOCH: &str = "1970-01-01T00:00:00Z";

/// What an image says about how to run it, and what it is called.
#[derive(Debug, Clone, Default)]
pub struct ImageSpec {
    /// Repository, e.g. `rancher/os-base`.
    pub repository: String,
    /// Tag, e.g. `v0.1.0`.
    pub tag: String,
    /// `KEY=value` environment.
    pub env: Vec<String>,
    /// Entrypoint.
    pub entrypoint: Vec<String>,
    /// Default command.
    pub cmd: Vec<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Working directory.
    pub working_dir: String,
    /// Volumes declared by the image.
    pub volumes: Vec<String>,
}

impl ImageSpec {
    /// `repository:tag`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    /// The manifest's digest (`sha256:…`), the image's identity in a registry.
    pub manifest_digest: String,
    /// The config's digest, the image ID Docker shows.
    pub config_digest: String,
    /// Uncompressed layer bytes.
    pub layer_bytes: u64,
    /// Compressed layer bytes.
    pub compressed_bytes: u64,
}

impl Written {
    /// Reports the image on stderr: name, `what` it holds, sizes, identities.
    pub fn log(&self, spec: &ImageSpec, what: &str) {
        let mib = |b: u64| b as f64 / f64::from(1 << 20);
        eprintln!(
            "xtask: image {}: {what}, {:.1} MiB of layers ({:.1} MiB compressed), id {}, \
             manifest {}",
            spec.reference(),
            mib(self.layer_bytes),
            mib(self.compressed_bytes),
            self.config_digest,
            self.manifest_digest
        );
    }
}

/// A tar of `tree` with mtime 0 and the tree's owners and modes.
pub fn layer(tree: &FileTree) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, entry) in tree.iter() {
        let mut header = Header::new_gnu();
        header.set_mode(entry.mode);
        header.set_uid(u64::from(entry.uid));
        header.set_gid(u64::from(entry.gid));
        header.set_mtime(0);
        match &entry.kind {
            Kind::Dir => {
                header.set_entry_type(EntryType::Directory);
                header.set_size(0);
                builder.append_data(&mut header, format!("{path}/"), &[][..])?;
            }
            Kind::File(data) => {
                header.set_entry_type(EntryType::Regular);
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, path, &data[..])?;
            }
            Kind::Symlink(target) => {
                header.set_entry_type(EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, path, target)?;
            }
            Kind::CharDev(major, minor) => {
                header.set_entry_type(EntryType::Char);
                header.set_size(0);
                header.set_device_major(*major)?;
                header.set_device_minor(*minor)?;
                builder.append_data(&mut header, path, &[][..])?;
            }
        }
    }
    builder.into_inner().context("finishing a layer")
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", crate::debian::hex(&Sha256::digest(bytes)))
}

fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

fn config_json(spec: &ImageSpec, diff_ids: &[String]) -> Value {
    let mut config = serde_json::Map::new();
    if !spec.env.is_empty() {
        config.insert("Env".into(), json!(spec.env));
    }
    if !spec.entrypoint.is_empty() {
        config.insert("Entrypoint".into(), json!(spec.entrypoint));
    }
    if !spec.cmd.is_empty() {
        config.insert("Cmd".into(), json!(spec.cmd));
    }
    if !spec.working_dir.is_empty() {
        config.insert("WorkingDir".into(), json!(spec.working_dir));
    }
    if !spec.labels.is_empty() {
        config.insert("Labels".into(), json!(spec.labels));
    }
    if !spec.volumes.is_empty() {
        let volumes: serde_json::Map<String, Value> = spec
            .volumes
            .iter()
            .map(|v| (v.clone(), json!({})))
            .collect();
        config.insert("Volumes".into(), Value::Object(volumes));
    }
    json!({
        "created": EPOCH,
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "history": diff_ids.iter().map(|_| json!({
            "created": EPOCH,
            "created_by": "cargo xtask images",
        })).collect::<Vec<_>>(),
    })
}

/// Writes `spec` with `layers` (bottom first) as an OCI archive at `out`.
pub fn write_image(spec: &ImageSpec, layers: &[FileTree], out: &Path) -> Result<Written> {
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut layer_descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    let (mut layer_bytes, mut compressed_bytes) = (0, 0);
    for tree in layers {
        let bytes = layer(tree)?;
        diff_ids.push(digest(&bytes));
        layer_bytes += bytes.len() as u64;
        let compressed = compress(&bytes)?;
        let d = digest(&compressed);
        compressed_bytes += compressed.len() as u64;
        layer_descriptors.push(json!({
            "mediaType": MEDIA_LAYER,
            "digest": d,
            "size": compressed.len(),
        }));
        blobs.push((d, compressed));
    }
    let config = serde_json::to_vec(&config_json(spec, &diff_ids))?;
    let config_digest = digest(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": layer_descriptors,
    }))?;
    let manifest_digest = digest(&manifest);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": MEDIA_MANIFEST,
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": {
                "io.containerd.image.name": format!("docker.io/{}", spec.reference()),
                "org.opencontainers.image.ref.name": spec.tag,
            },
        }],
    }))?;
    let docker_manifest = serde_json::to_vec(&json!([{
        "Config": blob_path(&config_digest),
        "RepoTags": [spec.reference()],
        "Layers": layer_descriptors
            .iter()
            .map(|l| blob_path(l["digest"].as_str().unwrap_or_default()))
            .collect::<Vec<_>>(),
    }]))?;
    blobs.push((config_digest.clone(), config));
    blobs.push((manifest_digest.clone(), manifest));
    blobs.sort_by(|a, b| a.0.cmp(&b.0));
    blobs.dedup_by(|a, b| a.0 == b.0);

    let mut files = vec![
        (
            "oci-layout".to_string(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        ("index.json".to_string(), index),
        ("manifest.json".to_string(), docker_manifest),
    ];
    files.extend(blobs.into_iter().map(|(d, bytes)| (blob_path(&d), bytes)));
    write_tar(&files, out)?;
    Ok(Written {
        manifest_digest,
        config_digest,
        layer_bytes,
        compressed_bytes,
    })
}

/// Combines OCI archives into one, each blob stored once: images that share layers (the
/// console shares `os-base`'s) cost their own layers only. `docker load` and skopeo read the
/// result as a multi-image archive.
/// The first `RepoTags` entry of a Docker-compatible archive.
pub fn reference_of(archive: &Path) -> Result<String> {
    let file =
        std::fs::File::open(archive).with_context(|| format!("reading {}", archive.display()))?;
    let mut tar = tar::Archive::new(std::io::BufReader::new(file));
    for entry in tar.entries()? {
        let mut entry = entry?;
        if entry.path()?.as_os_str() == "manifest.json" {
            let mut data = Vec::new();
            entry.read_to_end(&mut data)?;
            let docker: Value = serde_json::from_slice(&data)?;
            return docker[0]["RepoTags"][0]
                .as_str()
                .map(str::to_string)
                .with_context(|| format!("{}: no RepoTags", archive.display()));
        }
    }
    anyhow::bail!("{}: no manifest.json", archive.display())
}

pub fn merge_archives(inputs: &[PathBuf], aliases: &[(String, String)], out: &Path) -> Result<()> {
    let mut blobs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut manifests = Vec::new();
    let mut docker = Vec::new();
    for input in inputs {
        let file =
            std::fs::File::open(input).with_context(|| format!("reading {}", input.display()))?;
        let mut archive = tar::Archive::new(std::io::BufReader::new(file));
        for entry in archive.entries()? {
            let mut entry = entry?;
            let name = entry.path()?.to_string_lossy().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data)?;
            let parse = |d: &[u8]| -> Result<Value> {
                serde_json::from_slice(d).with_context(|| format!("{}: {name}", input.display()))
            };
            match name.as_str() {
                "index.json" => manifests.extend(
                    parse(&data)?["manifests"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                ),
                "manifest.json" => {
                    docker.extend(parse(&data)?.as_array().cloned().unwrap_or_default());
                }
                "oci-layout" => {}
                _ => {
                    blobs.insert(name, data);
                }
            }
        }
    }
    // Extra names: `from` is also known as `to` (the engine this OS ships, by the OS's tag).
    for (from, to) in aliases {
        for entry in docker.iter_mut() {
            let tags = entry["RepoTags"].as_array_mut();
            if let Some(tags) = tags
                && tags.iter().any(|t| t == from.as_str())
            {
                tags.push(Value::String(to.clone()));
            }
        }
        let (repo, tag) = to.rsplit_once(':').context("an alias without a tag")?;
        let copies: Vec<Value> = manifests
            .iter()
            .filter(|m| {
                m["annotations"]["io.containerd.image.name"] == format!("docker.io/{from}").as_str()
            })
            .map(|m| {
                let mut m = m.clone();
                m["annotations"]["io.containerd.image.name"] =
                    Value::String(format!("docker.io/{repo}:{tag}"));
                m["annotations"]["org.opencontainers.image.ref.name"] = Value::String(tag.into());
                m
            })
            .collect();
        anyhow::ensure!(!copies.is_empty(), "alias {to}: no image {from} to alias");
        manifests.extend(copies);
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    }))?;
    let docker = serde_json::to_vec(&Value::Array(docker))?;
    let mut files = vec![
        (
            "oci-layout".to_string(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        ("index.json".to_string(), index),
        ("manifest.json".to_string(), docker),
    ];
    files.extend(blobs);
    write_tar(&files, out)
}

fn write_tar(files: &[(String, Vec<u8>)], out: &Path) -> Result<()> {
    let tmp = out.with_extension("tar.tmp");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut archive = tar::Builder::new(std::io::BufWriter::new(file));
    for (path, bytes) in files {
        let mut header = Header::new_ustar();
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_size(bytes.len() as u64);
        header.set_entry_type(EntryType::Regular);
        archive.append_data(&mut header, path, &bytes[..])?;
    }
    let mut writer = archive.into_inner()?;
    writer.flush()?;
    writer
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    std::fs::rename(&tmp, out)?;
    Ok(())
}

fn compress(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = zstd::Encoder::new(Vec::new(), LAYER_ZSTD_LEVEL)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    encoder.multithread(threads)?;
    encoder.include_checksum(true)?;
    encoder.long_distance_matching(true)?;
    encoder.window_log(LAYER_WINDOW_LOG)?;
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_archive(path: &Path) -> BTreeMap<String, Vec<u8>> {
        let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = e.path().unwrap().to_string_lossy().into_owned();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (name, data)
            })
            .collect()
    }

    #[test]
    fn archive_is_a_consistent_oci_layout_and_docker_archive() {
        let dir = tempfile::tempdir().unwrap();
        let mut tree = FileTree::new();
        tree.file("etc/hostname", 0o644, b"rancher\n".to_vec())
            .unwrap();
        tree.symlink("bin/sh", "busybox").unwrap();
        let spec = ImageSpec {
            repository: "rancher/os-base".into(),
            tag: "v1".into(),
            cmd: vec!["sh".into()],
            ..ImageSpec::default()
        };
        let out = dir.path().join("base.tar");
        let written = write_image(&spec, &[tree], &out).unwrap();
        let files = read_archive(&out);
        // every blob is stored under its own digest
        for (name, data) in &files {
            if let Some(hex) = name.strip_prefix("blobs/sha256/") {
                assert_eq!(digest(data), format!("sha256:{hex}"), "{name}");
            }
        }
        let index: Value = serde_json::from_slice(&files["index.json"]).unwrap();
        assert_eq!(index["manifests"][0]["digest"], written.manifest_digest);
        assert_eq!(
            index["manifests"][0]["annotations"]["io.containerd.image.name"],
            "docker.io/rancher/os-base:v1"
        );
        let manifest: Value =
            serde_json::from_slice(&files[&blob_path(&written.manifest_digest)]).unwrap();
        assert_eq!(manifest["config"]["digest"], written.config_digest);
        let layer_digest = manifest["layers"][0]["digest"].as_str().unwrap();
        let layer = zstd::decode_all(&files[&blob_path(layer_digest)][..]).unwrap();
        let config: Value =
            serde_json::from_slice(&files[&blob_path(&written.config_digest)]).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][0], digest(&layer));
        assert_eq!(config["config"]["Cmd"][0], "sh");
        let docker: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
        assert_eq!(docker[0]["RepoTags"][0], "rancher/os-base:v1");
        assert_eq!(docker[0]["Layers"][0], blob_path(layer_digest));
        // the layer holds the tree, parents first
        let mut names = Vec::new();
        for e in tar::Archive::new(&layer[..]).entries().unwrap() {
            let e = e.unwrap();
            names.push(e.path().unwrap().to_string_lossy().into_owned());
        }
        assert_eq!(names, ["bin/", "bin/sh", "etc/", "etc/hostname"]);
    }

    #[test]
    fn merged_archives_hold_every_image_and_each_blob_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut base = FileTree::new();
        base.file("bin/sh", 0o755, b"shell".to_vec()).unwrap();
        let mut top = FileTree::new();
        top.file("usr/sbin/sshd", 0o755, b"sshd".to_vec()).unwrap();
        let spec = |r: &str| ImageSpec {
            repository: r.into(),
            tag: "v1".into(),
            ..ImageSpec::default()
        };
        let (a, b) = (dir.path().join("a.tar"), dir.path().join("b.tar"));
        write_image(&spec("rancher/os-base"), &[base.clone()], &a).unwrap();
        write_image(&spec("rancher/os-console"), &[base, top], &b).unwrap();
        let merged = dir.path().join("all.tar");
        merge_archives(
            &[a, b],
            &[(
                "rancher/os-console:v1".into(),
                "rancher/os-console:latest".into(),
            )],
            &merged,
        )
        .unwrap();
        let files = read_archive(&merged);
        let index: Value = serde_json::from_slice(&files["index.json"]).unwrap();
        // the alias is a second index entry and a second tag of the same image
        assert_eq!(index["manifests"].as_array().unwrap().len(), 3);
        assert_eq!(
            index["manifests"][2]["annotations"]["io.containerd.image.name"],
            "docker.io/rancher/os-console:latest"
        );
        assert_eq!(
            index["manifests"][2]["digest"],
            index["manifests"][1]["digest"]
        );
        let docker: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
        assert_eq!(docker[1]["RepoTags"][0], "rancher/os-console:v1");
        assert_eq!(docker[1]["RepoTags"][1], "rancher/os-console:latest");
        // the base layer is shared: 2 configs + 2 manifests + 2 distinct layers
        let blobs = files.keys().filter(|k| k.starts_with("blobs/")).count();
        assert_eq!(blobs, 6);
        for layer in docker[1]["Layers"].as_array().unwrap() {
            assert!(files.contains_key(layer.as_str().unwrap()));
        }
    }

    #[test]
    fn same_inputs_same_archive() {
        let dir = tempfile::tempdir().unwrap();
        let spec = ImageSpec {
            repository: "r".into(),
            tag: "t".into(),
            ..ImageSpec::default()
        };
        let mut tree = FileTree::new();
        tree.file("a", 0o600, vec![1, 2, 3]).unwrap();
        let (a, b) = (dir.path().join("a.tar"), dir.path().join("b.tar"));
        write_image(&spec, &[tree.clone()], &a).unwrap();
        write_image(&spec, &[tree], &b).unwrap();
        assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    }
}
