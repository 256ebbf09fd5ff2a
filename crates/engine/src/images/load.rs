//! `docker load`: reads a docker-save archive (`manifest.json`) or an OCI image layout
//! (`index.json`), plain or compressed, into the store.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::reference::Reference;
use super::store::{ImageConfigFile, ImageRecord, ImageStore, LayerRecord, chain_id, digest};
use super::unpack::{Compression, decompress, unpack_layer};
use crate::error::ApiError;

/// Largest metadata file (manifest, index, config) read into memory.
const MAX_METADATA: u64 = 16 << 20;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SaveManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: HashMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Debug, Deserialize)]
struct Platform {
    architecture: String,
    os: String,
}

#[derive(Debug, Deserialize)]
struct OciIndex {
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct OciManifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

/// One image found in an archive, with its files inside the unpacked archive.
struct Found {
    config: PathBuf,
    layers: Vec<PathBuf>,
    tags: Vec<String>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

/// Loads every image of the archive `input`, using `scratch` (an empty directory on the data
/// root's file system) for the archive's files. Returns one line per image, as Docker prints.
pub fn load(
    store: &mut ImageStore,
    input: impl Read,
    scratch: &Path,
) -> Result<Vec<String>, ApiError> {
    let input = decompress(input).map_err(|e| bad(format!("reading the archive: {e}")))?;
    extract(input, scratch)?;
    let found = if scratch.join("manifest.json").is_file() {
        docker_images(scratch)?
    } else if scratch.join("index.json").is_file() {
        oci_images(scratch)?
    } else {
        return Err(bad(
            "invalid archive: neither manifest.json (docker save) nor index.json (OCI layout) found",
        ));
    };
    let mut lines = Vec::new();
    for image in found {
        let record = import(store, &image, scratch)?;
        if record.repo_tags.is_empty() {
            lines.push(format!("Loaded image ID: {}", record.id));
        }
        for tag in &record.repo_tags {
            lines.push(format!("Loaded image: {tag}"));
        }
        store.insert(record)?;
    }
    Ok(lines)
}

/// Writes the archive's regular files under `scratch`; symlinks (docker save links shared
/// layers) are copied as the file they point to, if that stays inside the archive.
fn extract(input: impl Read, scratch: &Path) -> Result<(), ApiError> {
    let mut archive = tar::Archive::new(input);
    let mut links = Vec::new();
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("reading the archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("reading the archive: {e}")))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(relative) = inside(Path::new(&raw)) else {
            return Err(bad(format!(
                "invalid archive: entry {raw:?} leaves the archive"
            )));
        };
        let target = scratch.join(&relative);
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent)?;
                }
                let mut file = fs::File::create(&target)?;
                io::copy(&mut entry, &mut file)
                    .map_err(|e| bad(format!("reading archive entry {raw:?}: {e}")))?;
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let link = entry.link_name().ok().flatten().unwrap_or_default();
                let base = match entry.header().entry_type() {
                    tar::EntryType::Link => PathBuf::new(),
                    _ => relative.parent().map(Path::to_path_buf).unwrap_or_default(),
                };
                let Some(source) = inside(&base.join(&link)) else {
                    return Err(bad(format!(
                        "invalid archive: link {raw:?} leaves the archive"
                    )));
                };
                links.push((source, relative));
            }
            _ => {}
        }
    }
    for (source, relative) in links {
        let target = scratch.join(relative);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::copy(scratch.join(&source), &target).map_err(|e| {
            bad(format!(
                "invalid archive: link to {} : {e}",
                source.display()
            ))
        })?;
    }
    Ok(())
}

/// `path` without `.`/`..`, if it stays inside the archive.
fn inside(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn read_json<T: serde::de::DeserializeOwned>(scratch: &Path, name: &Path) -> Result<T, ApiError> {
    let path = scratch.join(name);
    let file = fs::File::open(&path)
        .map_err(|e| bad(format!("invalid archive: {}: {e}", name.display())))?;
    let mut bytes = Vec::new();
    file.take(MAX_METADATA).read_to_end(&mut bytes)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("invalid archive: {}: {e}", name.display())))
}

fn docker_images(scratch: &Path) -> Result<Vec<Found>, ApiError> {
    let manifests: Vec<SaveManifest> = read_json(scratch, Path::new("manifest.json"))?;
    manifests
        .into_iter()
        .map(|m| {
            let path = |p: &str| {
                inside(Path::new(p))
                    .ok_or_else(|| bad(format!("invalid archive: manifest.json names {p:?}")))
            };
            Ok(Found {
                config: path(&m.config)?,
                layers: m.layers.iter().map(|l| path(l)).collect::<Result<_, _>>()?,
                tags: m.repo_tags.unwrap_or_default(),
            })
        })
        .collect()
}

fn blob_file(digest: &str) -> Result<PathBuf, ApiError> {
    let (algorithm, hex) = digest
        .split_once(':')
        .ok_or_else(|| bad(format!("invalid archive: malformed digest {digest:?}")))?;
    if algorithm != "sha256" || hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad(format!(
            "invalid archive: unsupported digest {digest:?}"
        )));
    }
    Ok(Path::new("blobs").join(algorithm).join(hex))
}

fn oci_images(scratch: &Path) -> Result<Vec<Found>, ApiError> {
    let index: OciIndex = read_json(scratch, Path::new("index.json"))?;
    let mut found = Vec::new();
    for descriptor in index.manifests {
        let mut manifest_ref = descriptor;
        // A manifest list: take the linux/amd64 image.
        if manifest_ref.media_type.contains("index") || manifest_ref.media_type.contains("list") {
            let nested: OciIndex = read_json(scratch, &blob_file(&manifest_ref.digest)?)?;
            let annotations = manifest_ref.annotations;
            let Some(mut pick) = nested.manifests.into_iter().find(|m| {
                m.platform
                    .as_ref()
                    .is_none_or(|p| p.architecture == "amd64" && p.os == "linux")
            }) else {
                continue;
            };
            pick.annotations.extend(annotations);
            manifest_ref = pick;
        }
        let manifest: OciManifest = read_json(scratch, &blob_file(&manifest_ref.digest)?)?;
        let tags = manifest_ref
            .annotations
            .get("io.containerd.image.name")
            .or_else(|| {
                manifest_ref
                    .annotations
                    .get("org.opencontainers.image.ref.name")
            })
            .filter(|name| Reference::parse(name).is_ok())
            .cloned()
            .into_iter()
            .collect();
        found.push(Found {
            config: blob_file(&manifest.config.digest)?,
            layers: manifest
                .layers
                .iter()
                .map(|l| blob_file(&l.digest))
                .collect::<Result<_, _>>()?,
            tags,
        });
    }
    Ok(found)
}

fn import(store: &ImageStore, image: &Found, scratch: &Path) -> Result<ImageRecord, ApiError> {
    let config_bytes = fs::read(scratch.join(&image.config)).map_err(|e| {
        bad(format!(
            "invalid archive: config {}: {e}",
            image.config.display()
        ))
    })?;
    let config: ImageConfigFile = serde_json::from_slice(&config_bytes).map_err(|e| {
        bad(format!(
            "invalid archive: config {}: {e}",
            image.config.display()
        ))
    })?;
    let diff_ids = config.rootfs.map(|r| r.diff_ids).unwrap_or_default();
    if diff_ids.len() != image.layers.len() {
        return Err(bad(format!(
            "invalid archive: config {} lists {} layers, the manifest {}",
            image.config.display(),
            diff_ids.len(),
            image.layers.len()
        )));
    }
    let id = digest(&config_bytes);
    let mut layers = Vec::new();
    let mut parent: Option<String> = None;
    for (layer_path, expected) in image.layers.iter().zip(&diff_ids) {
        let chain = chain_id(parent.as_deref(), expected);
        let file = scratch.join(layer_path);
        let layer = import_layer(store, &file, &chain, expected).map_err(|e| ApiError {
            message: format!("layer {}: {}", layer_path.display(), e.message),
            ..e
        })?;
        parent = Some(chain);
        layers.push(layer);
    }
    ros_sys::write_atomic(&store.blob_path(&id), &config_bytes, 0o600)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut repo_tags = Vec::new();
    for tag in &image.tags {
        let reference = Reference::parse(tag)
            .map_err(|e| bad(format!("invalid archive: tag {tag:?}: {}", e.message)))?;
        repo_tags.push(reference.to_string());
    }
    Ok(ImageRecord {
        id,
        repo_tags,
        layers,
        loaded: chrono::Utc::now().timestamp(),
    })
}

fn import_layer(
    store: &ImageStore,
    file: &Path,
    chain: &str,
    expected: &str,
) -> Result<LayerRecord, ApiError> {
    let mut head = [0u8; 4];
    let mut blob =
        fs::File::open(file).map_err(|e| bad(format!("missing from the archive: {e}")))?;
    let read = blob.read(&mut head)?;
    let compression = Compression::sniff(&head[..read]);
    let blob_size = blob.metadata()?.len();
    let mut hasher = Sha256::new();
    io::copy(&mut fs::File::open(file)?, &mut hasher)?;
    let blob_digest = format!("sha256:{:x}", hasher.finalize());
    let size = if store.has_snapshot(chain) {
        fs::metadata(store.snapshot_dir(chain).join("size"))
            .ok()
            .and_then(|_| fs::read_to_string(store.snapshot_dir(chain).join("size")).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(blob_size)
    } else {
        unpack_snapshot(store, file, chain, expected)?
    };
    let stored = store.blob_path(&blob_digest);
    if !stored.exists() {
        // A link, not a rename: another image of the same archive may share this layer.
        fs::hard_link(file, &stored).or_else(|_| fs::copy(file, &stored).map(drop))?;
    }
    Ok(LayerRecord {
        diff_id: expected.to_owned(),
        chain_id: chain.to_owned(),
        blob: blob_digest,
        media_type: compression.media_type().to_owned(),
        blob_size,
        size,
    })
}

fn unpack_snapshot(
    store: &ImageStore,
    file: &Path,
    chain: &str,
    expected: &str,
) -> Result<u64, ApiError> {
    let dir = store.snapshot_dir(chain);
    if dir.exists() {
        // Left over from an interrupted load.
        fs::remove_dir_all(&dir)?;
    }
    let diff = dir.join("diff");
    fs::create_dir_all(&diff)?;
    let outcome = unpack_layer(fs::File::open(file)?, &diff);
    let unpacked = match outcome {
        Ok(u) if u.diff_id == expected => u,
        Ok(u) => {
            drop(fs::remove_dir_all(&dir));
            return Err(bad(format!(
                "content is {} but the config says {expected}",
                u.diff_id
            )));
        }
        Err(e) => {
            drop(fs::remove_dir_all(&dir));
            return Err(bad(e.to_string()));
        }
    };
    fs::write(dir.join("size"), unpacked.size.to_string())?;
    ros_sys::write_atomic(&dir.join("complete"), b"", 0o600)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(unpacked.size)
}
