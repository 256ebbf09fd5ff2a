//! A newc ("070701") cpio archive, the format the kernel unpacks as an initramfs. Entries are
//! kept in a sorted map and written in path order with fixed owners and mtime, so the same
//! inputs give the same bytes; parent directories are added implicitly.

use std::collections::BTreeMap;
use std::io::{self, Write};

use anyhow::{Result, ensure};

#[derive(Debug, Clone)]
enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    CharDev(u32, u32),
}

#[derive(Debug, Clone)]
struct Entry {
    mode: u32,
    kind: Kind,
}

/// An initramfs being assembled.
#[derive(Debug, Default)]
pub struct Archive {
    entries: BTreeMap<String, Entry>,
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

impl Archive {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    fn insert(&mut self, path: &str, mode: u32, kind: Kind) -> Result<()> {
        let path = path.trim_start_matches('/');
        ensure!(
            !path.is_empty() && !path.split('/').any(|c| c.is_empty() || c == ".."),
            "bad path `{path}`"
        );
        let mut parent = path;
        while let Some((up, _)) = parent.rsplit_once('/') {
            self.entries.entry(up.to_string()).or_insert(Entry {
                mode: 0o755,
                kind: Kind::Dir,
            });
            parent = up;
        }
        self.entries.insert(path.to_string(), Entry { mode, kind });
        Ok(())
    }

    /// A directory with permission bits `mode`.
    pub fn dir(&mut self, path: &str, mode: u32) -> Result<()> {
        self.insert(path, mode, Kind::Dir)
    }

    /// A regular file.
    pub fn file(&mut self, path: &str, mode: u32, data: Vec<u8>) -> Result<()> {
        self.insert(path, mode, Kind::File(data))
    }

    /// A symbolic link to `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<()> {
        self.insert(path, 0o777, Kind::Symlink(target.to_string()))
    }

    /// A character device node.
    pub fn char_dev(&mut self, path: &str, mode: u32, major: u32, minor: u32) -> Result<()> {
        self.insert(path, mode, Kind::CharDev(major, minor))
    }

    /// Writes the archive, trailer included.
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        let mut written = 0usize;
        for (ino, (path, entry)) in self.entries.iter().enumerate() {
            let (kind_bits, data, rdev): (u32, &[u8], (u32, u32)) = match &entry.kind {
                Kind::Dir => (S_IFDIR, &[], (0, 0)),
                Kind::File(d) => (S_IFREG, d, (0, 0)),
                Kind::Symlink(t) => (S_IFLNK, t.as_bytes(), (0, 0)),
                Kind::CharDev(ma, mi) => (S_IFCHR, &[], (*ma, *mi)),
            };
            let nlink = if matches!(entry.kind, Kind::Dir) {
                2
            } else {
                1
            };
            written += header(
                out,
                ino as u32 + 1,
                kind_bits | entry.mode,
                nlink,
                data.len(),
                rdev,
                path,
            )?;
            out.write_all(data)?;
            written += data.len();
            written += pad(out, written)?;
        }
        header(out, 0, 0, 1, 0, (0, 0), "TRAILER!!!")?;
        Ok(())
    }
}

fn header(
    out: &mut impl Write,
    ino: u32,
    mode: u32,
    nlink: u32,
    size: usize,
    rdev: (u32, u32),
    name: &str,
) -> io::Result<usize> {
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        0,
        size as u32,
        0,
        0,
        rdev.0,
        rdev.1,
        name.len() as u32 + 1,
        0,
    ];
    let mut head = String::from("070701");
    for f in fields {
        head.push_str(&format!("{f:08X}"));
    }
    out.write_all(head.as_bytes())?;
    out.write_all(name.as_bytes())?;
    out.write_all(&[0])?;
    let len = head.len() + name.len() + 1;
    Ok(len + pad(out, len)?)
}

/// Pads to a multiple of four bytes, given how much was written; returns the padding.
fn pad(out: &mut impl Write, written: usize) -> io::Result<usize> {
    let n = (4 - written % 4) % 4;
    out.write_all(&[0u8; 3][..n])?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_come_first_and_layout_is_aligned() {
        let mut a = Archive::new();
        a.file("/usr/bin/ros", 0o755, b"hello".to_vec()).unwrap();
        a.symlink("init", "usr/bin/ros").unwrap();
        a.char_dev("dev/console", 0o600, 5, 1).unwrap();
        let mut bytes = Vec::new();
        a.write_to(&mut bytes).unwrap();
        assert_eq!(bytes.len() % 4, 0);
        let text = String::from_utf8_lossy(&bytes);
        let order: Vec<usize> = [
            "dev\0",
            "dev/console\0",
            "init\0",
            "usr\0",
            "usr/bin\0",
            "usr/bin/ros\0",
            "TRAILER!!!\0",
        ]
        .iter()
        // rfind: the symlink's target `usr/bin/ros`, NUL-padded, precedes the file's name
        .map(|n| text.rfind(n).unwrap_or_else(|| panic!("{n} missing")))
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        // the file's header: regular file 0755, size 5
        let at = text.rfind("usr/bin/ros\0").unwrap() - 110;
        assert_eq!(&text[at + 14..at + 22], "000081ED");
        assert_eq!(&text[at + 54..at + 62], "00000005");
    }

    #[test]
    fn bad_paths_are_refused() {
        let mut a = Archive::new();
        assert!(a.file("../x", 0o644, vec![]).is_err());
        assert!(a.file("a//b", 0o644, vec![]).is_err());
        assert!(a.file("/", 0o644, vec![]).is_err());
    }

    #[test]
    fn same_inputs_same_bytes() {
        let build = || {
            let mut a = Archive::new();
            a.file("b", 0o644, b"2".to_vec()).unwrap();
            a.file("a", 0o644, b"1".to_vec()).unwrap();
            let mut out = Vec::new();
            a.write_to(&mut out).unwrap();
            out
        };
        assert_eq!(build(), build());
    }
}
