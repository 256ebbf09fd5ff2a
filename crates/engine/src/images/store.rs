//! Image records, blobs and snapshots under the data root:
//!
//! ```text
//! image/index.json              every image: id, tags, layers (written atomically)
//! image/blobs/sha256/<hex>      configs and layer blobs, as they were loaded
//! overlay/<chain-id>/diff       a layer unpacked on top of its parents' chain
//! overlay/<chain-id>/complete   written once the unpack finished
//! ```

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::reference::Reference;
use crate::error::ApiError;

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Digest of the uncompressed tar.
    pub diff_id: String,
    /// Chain id: names the snapshot of this layer over its parents.
    pub chain_id: String,
    /// Digest of the blob as stored.
    pub blob: String,
    /// OCI media type of the stored blob.
    pub media_type: String,
    /// Stored blob size in bytes.
    pub blob_size: u64,
    /// Uncompressed size in bytes.
    pub size: u64,
}

/// One image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// `sha256:<hex>` of the config blob.
    pub id: String,
    /// Familiar `repository:tag` names.
    pub repo_tags: Vec<String>,
    /// Layers, bottom first.
    pub layers: Vec<LayerRecord>,
    /// Unix seconds the image was loaded.
    pub loaded: i64,
}

impl ImageRecord {
    /// Uncompressed size of all layers.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    images: Vec<ImageRecord>,
}

/// The store. Not synchronised: the engine keeps it behind a mutex.
#[derive(Debug)]
pub struct ImageStore {
    root: PathBuf,
    index: Index,
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// The chain id of `diff_id` over `parent` (OCI image spec).
pub fn chain_id(parent: Option<&str>, diff_id: &str) -> String {
    match parent {
        None => diff_id.to_owned(),
        Some(parent) => digest(format!("{parent} {diff_id}").as_bytes()),
    }
}

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

impl ImageStore {
    /// Opens (or creates) the store under `data_root`.
    pub fn open(data_root: &Path) -> io::Result<Self> {
        let root = data_root.to_path_buf();
        fs::create_dir_all(root.join("image/blobs/sha256"))?;
        fs::create_dir_all(root.join("overlay"))?;
        let path = root.join("image/index.json");
        let index = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Index::default(),
            Err(e) => return Err(e),
        };
        Ok(Self { root, index })
    }

    fn save(&self) -> io::Result<()> {
        let bytes = serde_json::to_vec(&self.index).map_err(io::Error::other)?;
        ros_sys::write_atomic(&self.root.join("image/index.json"), &bytes, 0o600)
            .map_err(io::Error::other)
    }

    /// Path of the blob `digest`.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.root.join("image/blobs/sha256").join(hex(digest))
    }

    /// Directory of the snapshot `chain_id` (its `diff` is the overlay lower directory).
    pub fn snapshot_dir(&self, chain_id: &str) -> PathBuf {
        self.root.join("overlay").join(hex(chain_id))
    }

    /// Whether the snapshot `chain_id` is fully unpacked.
    pub fn has_snapshot(&self, chain_id: &str) -> bool {
        self.snapshot_dir(chain_id).join("complete").exists()
    }

    /// Every image.
    pub fn list(&self) -> &[ImageRecord] {
        &self.index.images
    }

    /// Finds an image by id, unique id prefix or name.
    pub fn resolve(&self, name: &str) -> Result<&ImageRecord, ApiError> {
        let missing = || ApiError::not_found(format!("No such image: {name}"));
        let short = hex(name);
        if short.len() >= 4 && short.chars().all(|c| c.is_ascii_hexdigit()) {
            let mut found = self
                .index
                .images
                .iter()
                .filter(|i| hex(&i.id).starts_with(short));
            if let Some(first) = found.next() {
                return match found.next() {
                    None => Ok(first),
                    Some(_) => Err(ApiError::bad_request(format!(
                        "image id prefix {short} is ambiguous"
                    ))),
                };
            }
        }
        let wanted = Reference::parse(name).map_err(|_| missing())?.to_string();
        self.index
            .images
            .iter()
            .find(|i| i.repo_tags.contains(&wanted))
            .ok_or_else(missing)
    }

    /// Adds `image` (or merges tags into the same id) and moves its tags off other images.
    pub fn insert(&mut self, image: ImageRecord) -> io::Result<()> {
        let tags = image.repo_tags.clone();
        for other in &mut self.index.images {
            other.repo_tags.retain(|t| !tags.contains(t));
        }
        match self.index.images.iter_mut().find(|i| i.id == image.id) {
            Some(existing) => existing.repo_tags.extend(tags),
            None => self.index.images.push(image),
        }
        self.save()
    }

    /// Points `reference` at the image `id`.
    pub fn tag(&mut self, id: &str, reference: &Reference) -> io::Result<()> {
        let tag = reference.to_string();
        for image in &mut self.index.images {
            image.repo_tags.retain(|t| *t != tag);
            if image.id == id {
                image.repo_tags.push(tag.clone());
            }
        }
        self.save()
    }

    /// Removes the name `name` if it is one, else the image itself; `in_use` holds the image
    /// ids containers refer to. Returns what was untagged and deleted, in Docker's words.
    pub fn remove(
        &mut self,
        name: &str,
        force: bool,
        in_use: &HashSet<String>,
    ) -> Result<Vec<(String, String)>, ApiError> {
        let image = self.resolve(name)?.clone();
        let by_tag = Reference::parse(name)
            .ok()
            .map(|r| r.to_string())
            .filter(|t| image.repo_tags.contains(t));
        let mut report = Vec::new();
        if let Some(tag) = &by_tag
            && (image.repo_tags.len() > 1 || (in_use.contains(&image.id) && !force))
        {
            // Only the name goes; the image stays for its other names or its containers.
            for record in self.index.images.iter_mut().filter(|i| i.id == image.id) {
                record.repo_tags.retain(|t| t != tag);
            }
            report.push(("Untagged".to_owned(), tag.clone()));
            self.save()?;
            return Ok(report);
        }
        if in_use.contains(&image.id) && !force {
            return Err(ApiError::conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is being used by a container",
                hex(&image.id).get(..12).unwrap_or_default()
            )));
        }
        if by_tag.is_none() && image.repo_tags.len() > 1 && !force {
            return Err(ApiError::conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                hex(&image.id).get(..12).unwrap_or_default()
            )));
        }
        for tag in &image.repo_tags {
            report.push(("Untagged".to_owned(), tag.clone()));
        }
        self.index.images.retain(|i| i.id != image.id);
        self.save()?;
        report.push(("Deleted".to_owned(), image.id.clone()));
        self.collect_garbage(&image)?;
        Ok(report)
    }

    /// Deletes blobs and snapshots of `removed` that no remaining image uses.
    fn collect_garbage(&self, removed: &ImageRecord) -> io::Result<()> {
        let mut blobs = HashSet::new();
        let mut chains = HashSet::new();
        for image in &self.index.images {
            blobs.insert(image.id.as_str());
            for layer in &image.layers {
                blobs.insert(layer.blob.as_str());
                chains.insert(layer.chain_id.as_str());
            }
        }
        let gone = |e: io::Error| {
            if e.kind() == io::ErrorKind::NotFound {
                Ok(())
            } else {
                Err(e)
            }
        };
        if !blobs.contains(removed.id.as_str()) {
            fs::remove_file(self.blob_path(&removed.id)).or_else(gone)?;
        }
        for layer in &removed.layers {
            if !blobs.contains(layer.blob.as_str()) {
                fs::remove_file(self.blob_path(&layer.blob)).or_else(gone)?;
            }
            if !chains.contains(layer.chain_id.as_str()) {
                fs::remove_dir_all(self.snapshot_dir(&layer.chain_id)).or_else(gone)?;
            }
        }
        Ok(())
    }

    /// The image's config blob, parsed.
    pub fn config(&self, image: &ImageRecord) -> Result<ImageConfigFile, ApiError> {
        let path = self.blob_path(&image.id);
        let bytes =
            fs::read(&path).map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))
    }

    /// Overlay lower directories of `image`, top layer first.
    pub fn lower_dirs(&self, image: &ImageRecord) -> Vec<PathBuf> {
        image
            .layers
            .iter()
            .rev()
            .map(|l| self.snapshot_dir(&l.chain_id).join("diff"))
            .collect()
    }
}

/// The parts of an image config file (OCI / Docker) the engine reads.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImageConfigFile {
    /// Defaults for containers.
    #[serde(default)]
    pub config: Option<bollard_stubs::models::ImageConfig>,
    /// Creation time.
    #[serde(default)]
    pub created: Option<String>,
    /// CPU architecture.
    #[serde(default)]
    pub architecture: Option<String>,
    /// Operating system.
    #[serde(default)]
    pub os: Option<String>,
    /// Layers' diff ids.
    #[serde(default)]
    pub rootfs: Option<RootFs>,
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Layer digests, bottom first.
    #[serde(default)]
    pub diff_ids: Vec<String>,
}
