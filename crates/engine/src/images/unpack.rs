//! Unpacks one image layer (tar, gzip or zstd) into a snapshot directory, safely: no entry
//! may leave the directory through `..`, an absolute path, a hard link or a symlink in its
//! path. Whiteouts become overlayfs whiteouts (0:0 character devices) and opaque markers the
//! `trusted.overlay.opaque` attribute, so snapshots stack as overlay lower directories.

use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, Timespec, Timestamps};
use sha2::{Digest, Sha256};

/// What went wrong in a layer, naming the entry.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The entry's path or link would leave the layer.
    #[error("layer entry {path:?}: {why}")]
    Unsafe {
        /// Entry path as stored.
        path: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// Reading or writing failed.
    #[error("layer entry {path:?}: {source}")]
    Io {
        /// Entry path as stored (empty before the first entry).
        path: String,
        /// The error.
        source: io::Error,
    },
}

/// Compression of a blob, read from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

impl Compression {
    /// Detects the compression from a blob's first bytes.
    pub fn sniff(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else {
            Self::None
        }
    }

    /// The OCI media type of a layer compressed this way.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::None => "application/vnd.oci.image.layer.v1.tar",
            Self::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Self::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// Opens a decompressing reader over `blob`.
pub fn decompress<'a>(blob: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let mut blob = BufReader::new(blob);
    Ok(match Compression::sniff(blob.fill_buf()?) {
        Compression::None => Box::new(blob),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(blob)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(blob)?),
    })
}

struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// What unpacking measured: the layer's diff id and uncompressed size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: String,
    /// Bytes of uncompressed tar.
    pub size: u64,
}

/// Unpacks the layer `blob` into `dest` (an existing, empty directory).
pub fn unpack_layer(blob: impl Read, dest: &Path) -> Result<Unpacked, UnpackError> {
    let io_err = |path: &str| {
        let path = path.to_owned();
        move |source| UnpackError::Io { path, source }
    };
    let reader = decompress(blob).map_err(io_err(""))?;
    let mut hashing = Hashing {
        inner: reader,
        hasher: Sha256::new(),
        size: 0,
    };
    let mut directories = Vec::new();
    {
        let mut archive = tar::Archive::new(&mut hashing);
        for entry in archive.entries().map_err(io_err(""))? {
            let mut entry = entry.map_err(io_err(""))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            if let Some(dir) = unpack_entry(&mut entry, &raw, dest)? {
                directories.push(dir);
            }
        }
    }
    // Directory times last: writing into a directory changes its mtime.
    for (path, mtime) in directories.iter().rev() {
        set_mtime(path, *mtime).map_err(io_err(&path.display().to_string()))?;
    }
    io::copy(&mut hashing, &mut io::sink()).map_err(io_err(""))?;
    Ok(Unpacked {
        diff_id: format!("sha256:{:x}", hashing.hasher.finalize()),
        size: hashing.size,
    })
}

/// Turns an entry path into a relative path without `.`/`..`; `None` for the root itself.
fn clean(raw: &str) -> Result<Option<PathBuf>, UnpackError> {
    let mut out = PathBuf::new();
    for component in Path::new(raw).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(UnpackError::Unsafe {
                    path: raw.to_owned(),
                    why: "`..` in an entry path",
                });
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(UnpackError::Unsafe {
                    path: raw.to_owned(),
                    why: "absolute entry path",
                });
            }
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Refuses a path whose parent directories include a symlink (writing through it could land
/// outside the layer), and creates missing parents.
fn prepare_parent(dest: &Path, relative: &Path, raw: &str) -> Result<PathBuf, UnpackError> {
    let mut current = dest.to_path_buf();
    if let Some(parent) = relative.parent() {
        for part in parent.components() {
            current.push(part);
            match fs::symlink_metadata(&current) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(UnpackError::Unsafe {
                        path: raw.to_owned(),
                        why: "a parent directory is a symlink",
                    });
                }
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return Err(UnpackError::Unsafe {
                        path: raw.to_owned(),
                        why: "a parent directory is not a directory",
                    });
                }
                Err(_) => fs::create_dir(&current).map_err(|source| UnpackError::Io {
                    path: raw.to_owned(),
                    source,
                })?,
            }
        }
    }
    Ok(dest.join(relative))
}

fn remove_existing(target: &Path, keep_dir: bool) -> io::Result<()> {
    match fs::symlink_metadata(target) {
        Ok(meta) if meta.is_dir() && keep_dir => Ok(()),
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(target),
        Ok(_) => fs::remove_file(target),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

type DirTime = (PathBuf, i64);

fn unpack_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    raw: &str,
    dest: &Path,
) -> Result<Option<DirTime>, UnpackError> {
    let io_err = |source| UnpackError::Io {
        path: raw.to_owned(),
        source,
    };
    let Some(relative) = clean(raw)? else {
        return Ok(None);
    };
    let name = relative
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    let target = prepare_parent(dest, &relative, raw)?;
    if name == ".wh..wh..opq" {
        let dir = target.parent().unwrap_or(dest);
        rustix::fs::setxattr(
            dir,
            "trusted.overlay.opaque",
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .map_err(|e| io_err(e.into()))?;
        return Ok(None);
    }
    if let Some(hidden) = name.strip_prefix(".wh.") {
        let whiteout = target.with_file_name(hidden);
        remove_existing(&whiteout, false).map_err(io_err)?;
        rustix::fs::mknodat(CWD, &whiteout, FileType::CharacterDevice, Mode::empty(), 0)
            .map_err(|e| io_err(e.into()))?;
        return Ok(None);
    }
    let header = entry.header();
    let kind = header.entry_type();
    let mode = header.mode().map_err(io_err)? & 0o7777;
    let uid = header.uid().map_err(io_err)?;
    let gid = header.gid().map_err(io_err)?;
    let mtime = header.mtime().map_err(io_err)?;
    let mtime = i64::try_from(mtime).unwrap_or(0);
    remove_existing(&target, kind.is_dir()).map_err(io_err)?;
    match kind {
        tar::EntryType::Directory => {
            if !target.is_dir() {
                fs::create_dir(&target).map_err(io_err)?;
            }
        }
        tar::EntryType::Regular | tar::EntryType::Continuous => {
            let mut file = fs::File::create(&target).map_err(io_err)?;
            io::copy(entry, &mut file).map_err(io_err)?;
        }
        tar::EntryType::Symlink => {
            let link = entry.link_name().map_err(io_err)?.ok_or_else(|| {
                io_err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "symlink without a target",
                ))
            })?;
            // A symlink may point anywhere: it is only ever resolved inside the container.
            symlink(link, &target).map_err(io_err)?;
        }
        tar::EntryType::Link => {
            let link = entry.link_name_bytes().unwrap_or_default();
            let link = String::from_utf8_lossy(&link).into_owned();
            let Some(source) = clean(&link)? else {
                return Err(UnpackError::Unsafe {
                    path: raw.to_owned(),
                    why: "hard link to the layer root",
                });
            };
            let source = prepare_parent(dest, &source, raw)?;
            if fs::symlink_metadata(&source).is_err() {
                return Err(UnpackError::Unsafe {
                    path: raw.to_owned(),
                    why: "hard link to an entry that is not in the layer",
                });
            }
            fs::hard_link(&source, &target).map_err(io_err)?;
            return Ok(None);
        }
        tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
            let file_type = match kind {
                tar::EntryType::Char => FileType::CharacterDevice,
                tar::EntryType::Block => FileType::BlockDevice,
                _ => FileType::Fifo,
            };
            let major = header.device_major().map_err(io_err)?.unwrap_or(0);
            let minor = header.device_minor().map_err(io_err)?.unwrap_or(0);
            let dev = rustix::fs::makedev(major, minor);
            rustix::fs::mknodat(CWD, &target, file_type, Mode::empty(), dev)
                .map_err(|e| io_err(e.into()))?;
        }
        // PAX and GNU long-name headers are consumed by the tar crate; anything else (sparse
        // files, unknown types) is skipped as Docker skips it.
        _ => return Ok(None),
    }
    rustix::fs::chownat(
        CWD,
        &target,
        Some(rustix::fs::Uid::from_raw(u32::try_from(uid).unwrap_or(0))),
        Some(rustix::fs::Gid::from_raw(u32::try_from(gid).unwrap_or(0))),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| io_err(e.into()))?;
    if kind == tar::EntryType::Symlink {
        return Ok(None);
    }
    fs::set_permissions(&target, fs::Permissions::from_mode(mode)).map_err(io_err)?;
    if kind.is_dir() {
        return Ok(Some((target, mtime)));
    }
    set_mtime(&target, mtime).map_err(io_err)?;
    Ok(None)
}

fn set_mtime(path: &Path, seconds: i64) -> io::Result<()> {
    let time = Timespec {
        tv_sec: seconds,
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: time,
        last_modification: time,
    };
    rustix::fs::utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(io::Error::from)
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod tests;
