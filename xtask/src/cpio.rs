//! A newc ("070701") cpio archive of a [`FileTree`], the format the kernel unpacks as an
//! initramfs: path order, the tree's owners, mtime 0.

use std::io::{self, Write};

use crate::tree::{FileTree, Kind};

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// Writes `tree` as a cpio archive, trailer included.
pub fn write(tree: &FileTree, out: &mut impl Write) -> io::Result<()> {
    let mut written = 0usize;
    for (ino, (path, entry)) in tree.iter().enumerate() {
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
        let head = Header {
            ino: ino as u32 + 1,
            mode: kind_bits | entry.mode,
            uid: entry.uid,
            gid: entry.gid,
            nlink,
            size: data.len(),
            rdev,
        };
        written += head.write(out, path)?;
        out.write_all(data)?;
        written += data.len();
        written += pad(out, written)?;
    }
    let trailer = Header {
        ino: 0,
        mode: 0,
        uid: 0,
        gid: 0,
        nlink: 1,
        size: 0,
        rdev: (0, 0),
    };
    trailer.write(out, "TRAILER!!!")?;
    Ok(())
}

struct Header {
    ino: u32,
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u32,
    size: usize,
    rdev: (u32, u32),
}

impl Header {
    fn write(&self, out: &mut impl Write, name: &str) -> io::Result<usize> {
        let fields = [
            self.ino,
            self.mode,
            self.uid,
            self.gid,
            self.nlink,
            0, // mtime
            self.size as u32,
            0, // dev major
            0, // dev minor
            self.rdev.0,
            self.rdev.1,
            name.len() as u32 + 1,
            0, // check
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
        let mut a = FileTree::new();
        a.file("/usr/bin/ros", 0o755, b"hello".to_vec()).unwrap();
        a.symlink("init", "usr/bin/ros").unwrap();
        a.char_dev("dev/console", 0o600, 5, 1).unwrap();
        let mut bytes = Vec::new();
        write(&a, &mut bytes).unwrap();
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
    fn same_inputs_same_bytes() {
        let build = || {
            let mut a = FileTree::new();
            a.file("b", 0o644, b"2".to_vec()).unwrap();
            a.file("a", 0o644, b"1".to_vec()).unwrap();
            let mut out = Vec::new();
            write(&a, &mut out).unwrap();
            out
        };
        assert_eq!(build(), build());
    }
}
