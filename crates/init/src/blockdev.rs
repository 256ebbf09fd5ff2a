//! Finding a block device by `LABEL=`, `UUID=` or path without udev or libblkid: the kernel
//! lists its block devices in `/sys/class/block`, and the few filesystems we look for carry
//! their label and UUID at fixed offsets.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// What a filesystem superblock says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// `ext4` (also ext2/3: one superblock format), `iso9660` or `vfat`.
    pub fstype: &'static str,
    /// Volume label, if any.
    pub label: String,
    /// UUID as blkid prints it (lowercase; `XXXX-XXXX` for FAT).
    pub uuid: String,
}

/// A device specification of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSpec {
    /// `LABEL=name`.
    Label(String),
    /// `UUID=id`.
    Uuid(String),
    /// A path such as `/dev/vda1`.
    Path(PathBuf),
}

impl DeviceSpec {
    /// Parses `LABEL=…`, `UUID=…` or a path; `None` for an empty string.
    pub fn parse(spec: &str) -> Option<Self> {
        let spec = spec.trim();
        if spec.is_empty() {
            return None;
        }
        Some(if let Some(label) = spec.strip_prefix("LABEL=") {
            Self::Label(label.to_string())
        } else if let Some(uuid) = spec.strip_prefix("UUID=") {
            Self::Uuid(uuid.to_ascii_lowercase())
        } else {
            Self::Path(PathBuf::from(spec))
        })
    }

    fn matches(&self, probe: &Probe) -> bool {
        match self {
            Self::Label(l) => &probe.label == l,
            Self::Uuid(u) => &probe.uuid == u,
            Self::Path(_) => false,
        }
    }
}

/// Reads the superblock of the filesystem on `dev`; `Ok(None)` if it is none we know.
pub fn probe(dev: &Path) -> io::Result<Option<Probe>> {
    let mut file = File::open(dev)?;
    // ext2/3/4: superblock at 1024, magic at +0x38, UUID at +0x68, label at +0x78.
    let mut sb = [0u8; 1024];
    if read_at(&mut file, 1024, &mut sb)? && u16::from_le_bytes([sb[0x38], sb[0x39]]) == 0xEF53 {
        return Ok(Some(Probe {
            fstype: "ext4",
            label: c_string(&sb[0x78..0x88]),
            uuid: uuid_string(&sb[0x68..0x78]),
        }));
    }
    // ISO 9660: primary volume descriptor at 32 KiB, "CD001" at +1, volume id at +40.
    let mut pvd = [0u8; 2048];
    if read_at(&mut file, 32768, &mut pvd)? && &pvd[1..6] == b"CD001" && pvd[0] == 1 {
        return Ok(Some(Probe {
            fstype: "iso9660",
            label: String::from_utf8_lossy(&pvd[40..72]).trim_end().to_string(),
            uuid: String::new(),
        }));
    }
    // FAT: boot sector; FAT32 keeps serial and label at 0x43/0x47, FAT12/16 at 0x27/0x2B.
    let mut boot = [0u8; 512];
    if read_at(&mut file, 0, &mut boot)? && boot[510] == 0x55 && boot[511] == 0xAA {
        let (serial, label, kind) = if &boot[0x52..0x57] == b"FAT32" {
            (0x43, 0x47, 0x52)
        } else {
            (0x27, 0x2B, 0x36)
        };
        if &boot[kind..kind + 3] == b"FAT" {
            let s = &boot[serial..serial + 4];
            return Ok(Some(Probe {
                fstype: "vfat",
                label: String::from_utf8_lossy(&boot[label..label + 11])
                    .trim_end()
                    .to_string(),
                uuid: format!("{:02x}{:02x}-{:02x}{:02x}", s[3], s[2], s[1], s[0]),
            }));
        }
    }
    Ok(None)
}

fn read_at(file: &mut File, offset: u64, buf: &mut [u8]) -> io::Result<bool> {
    file.seek(SeekFrom::Start(offset))?;
    match file.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn uuid_string(b: &[u8]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The device nodes the kernel knows of: `dev_dir/<name>` for every entry of
/// `sys_block` (`/sys/class/block`), whole disks and partitions, in name order.
pub fn block_devices(sys_block: &Path, dev_dir: &Path) -> Vec<PathBuf> {
    let mut names: Vec<String> = std::fs::read_dir(sys_block)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with("loop") && !n.starts_with("ram"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.into_iter().map(|n| dev_dir.join(n)).collect()
}

/// A device that matched, and what is on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The device node.
    pub dev: PathBuf,
    /// Its filesystem, if we know it.
    pub probe: Option<Probe>,
}

/// Resolves `spec` among `devices`; a path resolves when it exists.
pub fn resolve(spec: &DeviceSpec, devices: &[PathBuf]) -> Option<Found> {
    if let DeviceSpec::Path(path) = spec {
        return path.exists().then(|| Found {
            dev: path.clone(),
            probe: probe(path).ok().flatten(),
        });
    }
    devices.iter().find_map(|dev| {
        let probe = probe(dev).ok().flatten()?;
        spec.matches(&probe).then(|| Found {
            dev: dev.clone(),
            probe: Some(probe),
        })
    })
}

/// Whether the first `len` bytes of `dev` are all zero: an empty disk autoformat may take.
pub fn is_zeroed(dev: &Path, len: usize) -> io::Result<bool> {
    let mut file = File::open(dev)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let want = left.min(buf.len());
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        left -= n;
    }
    Ok(true)
}

#[cfg(test)]
#[path = "blockdev_tests.rs"]
mod tests;
