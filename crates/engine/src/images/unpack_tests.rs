use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use super::*;

/// Builds a tar from (path, kind, data-or-link) triples, owned by the caller's ids so the
/// test needs no root except where whiteouts are involved.
fn layer(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, kind, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(*kind);
        header.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
        header.set_uid(u64::from(ros_sys::effective_uid()));
        header.set_gid(0);
        header.set_mtime(1_000_000);
        let body: &[u8] = match kind {
            tar::EntryType::Regular => data.as_bytes(),
            _ => b"",
        };
        header.set_size(body.len() as u64);
        if matches!(kind, tar::EntryType::Symlink | tar::EntryType::Link) {
            header.set_link_name_literal(data).unwrap();
        }
        // Raw path bytes: the builder's own setters refuse `..`, which is exactly what the
        // tests need to feed in.
        let name = &mut header.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        builder.append(&header, body).unwrap();
    }
    builder.into_inner().unwrap()
}

fn unpack(tar: &[u8]) -> (tempfile::TempDir, Result<Unpacked, UnpackError>) {
    let dir = tempfile::tempdir().unwrap();
    let result = unpack_layer(tar, dir.path());
    (dir, result)
}

#[test]
fn files_directories_and_links_land_with_their_modes() {
    use tar::EntryType::{Directory, Link, Regular, Symlink};
    let tar = layer(&[
        ("etc/", Directory, ""),
        ("etc/hostname", Regular, "box\n"),
        ("etc/alias", Symlink, "/etc/hostname"),
        ("etc/hard", Link, "etc/hostname"),
    ]);
    let (dir, result) = unpack(&tar);
    let unpacked = result.unwrap();
    assert_eq!(unpacked.size, tar.len() as u64);
    assert_eq!(
        unpacked.diff_id,
        format!("sha256:{:x}", Sha256::digest(&tar))
    );
    let root = dir.path();
    assert_eq!(
        fs::read_to_string(root.join("etc/hostname")).unwrap(),
        "box\n"
    );
    assert_eq!(
        fs::read_link(root.join("etc/alias")).unwrap(),
        Path::new("/etc/hostname")
    );
    let meta = fs::metadata(root.join("etc/hard")).unwrap();
    assert_eq!(meta.nlink(), 2);
    assert_eq!(meta.mode() & 0o7777, 0o644);
    assert_eq!(fs::metadata(root.join("etc")).unwrap().mtime(), 1_000_000);
}

#[test]
fn compressed_layers_unpack_with_the_uncompressed_digest() {
    let tar = layer(&[("a", tar::EntryType::Regular, "x")]);
    let digest = format!("sha256:{:x}", Sha256::digest(&tar));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    for blob in [gz, zst] {
        let (dir, result) = unpack(&blob);
        assert_eq!(result.unwrap().diff_id, digest);
        assert_eq!(fs::read_to_string(dir.path().join("a")).unwrap(), "x");
    }
}

#[test]
fn escapes_are_refused_and_name_the_entry() {
    use tar::EntryType::{Link, Regular, Symlink};
    type Entries<'a> = &'a [(&'a str, tar::EntryType, &'a str)];
    let cases: &[(Entries<'_>, &str)] = &[
        (&[("../evil", Regular, "x")], "`..` in an entry path"),
        (&[("/etc/evil", Regular, "x")], "absolute entry path"),
        (
            &[("out", Symlink, "/etc"), ("out/passwd", Regular, "x")],
            "a parent directory is a symlink",
        ),
        (&[("h", Link, "../../etc/passwd")], "`..` in an entry path"),
        (
            &[("h", Link, "missing")],
            "hard link to an entry that is not in the layer",
        ),
    ];
    for (entries, why) in cases {
        let (dir, result) = unpack(&layer(entries));
        let err = result.unwrap_err().to_string();
        assert!(err.contains(why), "{err} should say {why}");
        assert!(!dir.path().parent().unwrap().join("evil").exists());
    }
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let (_dir, result) = unpack(b"this is not a tar archive, not even close........");
    assert!(result.is_err());
    let (_dir, result) = unpack(&[0x1f, 0x8b, 0, 1, 2]);
    assert!(result.is_err());
}

#[test]
fn whiteouts_become_overlay_whiteouts_privileged() {
    assert!(
        ros_sys::is_root(),
        "this test needs root (mknod and trusted.* attributes); CI runs as root"
    );
    use tar::EntryType::{Directory, Regular};
    let tar = layer(&[
        ("d/", Directory, ""),
        ("d/.wh..wh..opq", Regular, ""),
        (".wh.gone", Regular, ""),
    ]);
    let (dir, result) = unpack(&tar);
    result.unwrap();
    let gone = fs::symlink_metadata(dir.path().join("gone")).unwrap();
    assert!(gone.file_type().is_char_device());
    assert_eq!(gone.rdev(), 0);
    let mut value = [0u8; 4];
    let n =
        rustix::fs::getxattr(dir.path().join("d"), "trusted.overlay.opaque", &mut value).unwrap();
    assert_eq!(&value[..n], b"y");
    assert!(!dir.path().join("d/.wh..wh..opq").exists());
}
