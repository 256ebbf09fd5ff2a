//! `docker save`: writes images as Docker ≥ 25 does, one archive that is both a docker-save
//! archive (`manifest.json`) and an OCI image layout (`oci-layout`, `index.json`, `blobs/`).
//! Layers go out as stored, so what was loaded compressed is saved compressed.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};

use serde_json::json;

use super::store::{ImageRecord, ImageStore, digest};
use crate::error::ApiError;

fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, path: &str, bytes: &[u8]) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, path, bytes)
}

fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

/// Writes `images` (each with the names to record for it) as one archive into `out`.
pub fn save(
    store: &ImageStore,
    images: &[(ImageRecord, Vec<String>)],
    out: impl Write,
) -> Result<(), ApiError> {
    let mut tar = tar::Builder::new(out);
    let mut written = HashSet::new();
    let dirs = |tar: &mut tar::Builder<_>| -> io::Result<()> {
        for dir in ["blobs/", "blobs/sha256/"] {
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            tar.append_data(&mut header, dir, io::empty())?;
        }
        Ok(())
    };
    dirs(&mut tar)?;
    let mut docker_manifest = Vec::new();
    let mut index = Vec::new();
    for (image, names) in images {
        let config = fs::read(store.blob_path(&image.id))?;
        let mut layers = Vec::new();
        for layer in &image.layers {
            let path = blob_path(&layer.blob);
            if written.insert(layer.blob.clone()) {
                let mut file = fs::File::open(store.blob_path(&layer.blob))?;
                let mut header = tar::Header::new_ustar();
                header.set_size(file.metadata()?.len());
                header.set_mode(0o644);
                tar.append_data(&mut header, &path, &mut file)?;
            }
            layers.push(json!({
                "mediaType": layer.media_type,
                "digest": layer.blob,
                "size": layer.blob_size,
            }));
        }
        if written.insert(image.id.clone()) {
            append_bytes(&mut tar, &blob_path(&image.id), &config)?;
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": image.id,
                "size": config.len(),
            },
            "layers": layers,
        });
        let manifest = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
        let manifest_digest = digest(&manifest);
        if written.insert(manifest_digest.clone()) {
            append_bytes(&mut tar, &blob_path(&manifest_digest), &manifest)?;
        }
        let descriptor = |name: Option<&String>| {
            let mut d = json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest.len(),
            });
            if let Some(name) = name {
                let tag = name.rsplit_once(':').map_or("latest", |(_, t)| t);
                d["annotations"] = json!({
                    "io.containerd.image.name": name,
                    "org.opencontainers.image.ref.name": tag,
                });
            }
            d
        };
        if names.is_empty() {
            index.push(descriptor(None));
        }
        for name in names {
            index.push(descriptor(Some(name)));
        }
        docker_manifest.push(json!({
            "Config": blob_path(&image.id),
            "RepoTags": names,
            "Layers": image.layers.iter().map(|l| blob_path(&l.blob)).collect::<Vec<_>>(),
        }));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": index,
    });
    append_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    append_bytes(
        &mut tar,
        "index.json",
        &serde_json::to_vec(&index).map_err(io::Error::other)?,
    )?;
    append_bytes(
        &mut tar,
        "manifest.json",
        &serde_json::to_vec(&docker_manifest).map_err(io::Error::other)?,
    )?;
    tar.finish()?;
    Ok(())
}
