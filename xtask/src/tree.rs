//! A root filesystem being assembled in memory: entries in a sorted map with explicit owners,
//! parents added implicitly, written in path order with a fixed mtime so the same inputs give
//! the same bytes, as a newc cpio ([`crate::cpio`]) or a tar layer ([`crate::oci`]).

use std::collections::BTreeMap;
use std::io::Read;

use anyhow::{Context, Result, bail, ensure};
use tar::EntryType;

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file and its bytes.
    File(Vec<u8>),
    /// A symbolic link and its target.
    Symlink(String),
    /// A character device (major, minor).
    CharDev(u32, u32),
}

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Permission bits (and setuid/setgid/sticky).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// What it is.
    pub kind: Kind,
}

/// A file tree, keyed by path relative to its root (`usr/bin/ros`).
#[derive(Debug, Default, Clone)]
pub struct FileTree {
    entries: BTreeMap<String, Entry>,
}

/// Checks and normalises a path: relative, no empty, `.` or `..` components.
pub fn clean_path(path: &str) -> Result<String> {
    let path = path.trim_start_matches("./").trim_start_matches('/');
    let path = path.trim_end_matches('/');
    ensure!(
        !path.is_empty()
            && !path
                .split('/')
                .any(|c| c.is_empty() || c == ".." || c == "."),
        "bad path `{path}`"
    );
    Ok(path.to_string())
}

impl FileTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts (or replaces) `path`, creating missing parents as root-owned 0755 directories.
    pub fn insert(&mut self, path: &str, entry: Entry) -> Result<()> {
        let path = clean_path(path)?;
        let mut parent = path.as_str();
        while let Some((up, _)) = parent.rsplit_once('/') {
            self.entries.entry(up.to_string()).or_insert(Entry {
                mode: 0o755,
                uid: 0,
                gid: 0,
                kind: Kind::Dir,
            });
            parent = up;
        }
        self.entries.insert(path, entry);
        Ok(())
    }

    fn root_owned(&mut self, path: &str, mode: u32, kind: Kind) -> Result<()> {
        self.insert(
            path,
            Entry {
                mode,
                uid: 0,
                gid: 0,
                kind,
            },
        )
    }

    /// A root-owned directory with permission bits `mode`.
    pub fn dir(&mut self, path: &str, mode: u32) -> Result<()> {
        self.root_owned(path, mode, Kind::Dir)
    }

    /// A root-owned regular file.
    pub fn file(&mut self, path: &str, mode: u32, data: Vec<u8>) -> Result<()> {
        self.root_owned(path, mode, Kind::File(data))
    }

    /// A symbolic link to `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<()> {
        self.root_owned(path, 0o777, Kind::Symlink(target.to_string()))
    }

    /// A character device node.
    pub fn char_dev(&mut self, path: &str, mode: u32, major: u32, minor: u32) -> Result<()> {
        self.root_owned(path, mode, Kind::CharDev(major, minor))
    }

    /// Removes the entry at `path` (not a directory's contents); returns whether it was there.
    pub fn remove(&mut self, path: &str) -> bool {
        self.entries.remove(path.trim_matches('/')).is_some()
    }

    /// The layer that turns `lower` into `self`: every entry that is new or different, with
    /// its parent directories as `self` has them. Fails if `self` lacks something `lower`
    /// has, since these layers carry no whiteouts.
    pub fn diff_from(&self, lower: &FileTree) -> Result<FileTree> {
        if let Some((gone, _)) = lower.iter().find(|(p, _)| self.get(p).is_none()) {
            bail!("{gone} would have to be deleted, which a layer here cannot say");
        }
        let mut upper = FileTree::new();
        for (path, entry) in self.iter() {
            if lower.get(path) == Some(entry) {
                continue;
            }
            let mut parent = path.as_str();
            while let Some((up, _)) = parent.rsplit_once('/') {
                if let Some(dir) = self.get(up) {
                    upper.entries.insert(up.to_string(), dir.clone());
                }
                parent = up;
            }
            upper.entries.insert(path.clone(), entry.clone());
        }
        Ok(upper)
    }

    /// The entry at `path`.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path.trim_matches('/'))
    }

    /// Every entry, in path order (parents before children).
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.entries.iter()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds the contents of a tar stream, keeping modes and owners; entries for which `keep`
    /// says no are left out. Hard links become copies; device nodes other than character
    /// devices, FIFOs and sockets are left out (a runtime makes /dev).
    pub fn add_tar(&mut self, reader: impl Read, keep: impl Fn(&str) -> bool) -> Result<()> {
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().context("reading a tar stream")? {
            let mut entry = entry.context("reading a tar entry")?;
            let raw = entry.path()?.to_string_lossy().into_owned();
            let Ok(path) = clean_path(&raw) else {
                if raw.trim_start_matches("./").trim_matches('/').is_empty() {
                    continue; // the root directory itself
                }
                bail!("tar entry with a bad path `{raw}`");
            };
            if !keep(&path) {
                continue;
            }
            let header = entry.header();
            let (mode, uid, gid) = (header.mode()?, header.uid()?, header.gid()?);
            let kind = match header.entry_type() {
                EntryType::Directory => Kind::Dir,
                EntryType::Regular | EntryType::Continuous => {
                    let mut data = Vec::with_capacity(header.size()? as usize);
                    entry.read_to_end(&mut data)?;
                    Kind::File(data)
                }
                EntryType::Symlink => Kind::Symlink(
                    entry
                        .link_name()?
                        .with_context(|| format!("symlink {path} without a target"))?
                        .to_string_lossy()
                        .into_owned(),
                ),
                EntryType::Link => {
                    let target = entry
                        .link_name()?
                        .with_context(|| format!("hard link {path} without a target"))?;
                    let target = clean_path(&target.to_string_lossy())?;
                    match self.entries.get(&target) {
                        Some(e) => e.kind.clone(),
                        None => {
                            bail!("hard link {path} to {target}, which comes later or not at all")
                        }
                    }
                }
                EntryType::Char => Kind::CharDev(
                    header.device_major()?.unwrap_or(0),
                    header.device_minor()?.unwrap_or(0),
                ),
                _ => continue,
            };
            self.insert(
                &path,
                Entry {
                    mode: mode & 0o7777,
                    uid: u32::try_from(uid).context("uid out of range")?,
                    gid: u32::try_from(gid).context("gid out of range")?,
                    kind,
                },
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_implicit_and_paths_are_checked() {
        let mut t = FileTree::new();
        t.file("/usr/bin/ros", 0o755, b"x".to_vec()).unwrap();
        let paths: Vec<&String> = t.iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["usr", "usr/bin", "usr/bin/ros"]);
        assert!(t.file("../x", 0o644, vec![]).is_err());
        assert!(t.file("a//b", 0o644, vec![]).is_err());
        assert!(t.file("/", 0o644, vec![]).is_err());
        assert_eq!(clean_path("./etc/").unwrap(), "etc");
    }

    #[test]
    fn a_diff_holds_changes_and_their_parents_only() {
        let mut lower = FileTree::new();
        lower.file("etc/passwd", 0o644, b"root\n".to_vec()).unwrap();
        lower.file("bin/sh", 0o755, b"sh".to_vec()).unwrap();
        lower.dir("home", 0o700).unwrap();
        let mut upper = lower.clone();
        upper
            .file("etc/passwd", 0o644, b"root\nsshd\n".to_vec())
            .unwrap();
        upper
            .insert(
                "home/rancher/.profile",
                Entry {
                    mode: 0o644,
                    uid: 1100,
                    gid: 1100,
                    kind: Kind::File(vec![]),
                },
            )
            .unwrap();
        let diff = upper.diff_from(&lower).unwrap();
        let paths: Vec<&String> = diff.iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "etc",
                "etc/passwd",
                "home",
                "home/rancher",
                "home/rancher/.profile"
            ]
        );
        assert_eq!(
            diff.get("home").unwrap().mode,
            0o700,
            "parents keep their mode"
        );
        let mut smaller = lower.clone();
        smaller.entries.remove("bin/sh");
        assert!(smaller.diff_from(&lower).is_err());
    }

    #[test]
    fn tar_streams_keep_owners_and_follow_the_filter() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o4755);
        h.set_uid(1100);
        h.set_gid(1101);
        h.set_mtime(0);
        h.set_size(2);
        b.append_data(&mut h, "./usr/bin/sudo", &b"hi"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Link);
        h.set_mode(0o4755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(0);
        b.append_link(&mut h, "./usr/bin/sudoedit", "./usr/bin/sudo")
            .unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(1);
        b.append_data(&mut h, "./usr/share/man/x.1", &b"m"[..])
            .unwrap();
        let bytes = b.into_inner().unwrap();
        let mut t = FileTree::new();
        t.add_tar(&bytes[..], |p| !p.starts_with("usr/share/man"))
            .unwrap();
        let sudo = t.get("usr/bin/sudo").unwrap();
        assert_eq!((sudo.mode, sudo.uid, sudo.gid), (0o4755, 1100, 1101));
        assert_eq!(
            t.get("usr/bin/sudoedit").unwrap().kind,
            Kind::File(b"hi".to_vec())
        );
        assert!(t.get("usr/share/man/x.1").is_none());
    }
}
