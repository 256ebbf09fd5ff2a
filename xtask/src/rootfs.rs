//! Debian-rooted system images, made by Debian's `mmdebstrap` (apt resolves the
//! dependencies, maintainer scripts run in a chroot) from trixie, with sid for the newest
//! Docker. The tarball it writes is read into a [`FileTree`] without documentation, caches,
//! logs or SSH host keys, given RancherOS's users and the `ros` binary, and written as an OCI
//! archive. Each image's installed packages are pinned by `os/images/<image>.lock`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};

use crate::debian::{KEYRING, MIRROR};
use crate::oci::{self, ImageSpec};
use crate::pkglock::{self, lock_path};
use crate::sysimages::{PACKAGE_LIST, is_bloat};
use crate::tree::{Entry, FileTree, Kind};

/// One Debian-rooted image.
#[derive(Debug, Clone)]
pub struct DebianImage {
    /// File stem in dist/images and the lock's name (`os-console`).
    pub name: String,
    /// mmdebstrap variant: `essential` (no apt) or `minbase` (with apt).
    pub variant: &'static str,
    /// Packages to install; `pkg/sid` takes a package from sid.
    pub include: Vec<String>,
    /// The package whose upstream version is the image's tag and file name
    /// (`docker.io` 28.5.2+dfsg4-5 → `rancher/os-docker:28.5.2`, `os-docker-28.5.2.tar`).
    pub tag_from: Option<&'static str>,
    /// Files the packages ship that the image does not need (test and example binaries).
    pub drop: Vec<String>,
    /// How the image runs.
    pub spec: ImageSpec,
}

/// What an image must not carry: per-machine secrets and state, caches, docs.
fn keep(path: &str) -> bool {
    const DROP_UNDER: &[&str] = &[
        "dev/",
        "proc/",
        "sys/",
        "run/",
        "tmp/",
        "var/cache/apt/",
        "var/cache/debconf/",
        "var/lib/apt/lists/",
        "var/log/",
    ];
    const DROP: &[&str] = &[
        "etc/machine-id",
        "etc/hostname",
        "etc/resolv.conf",
        "etc/hosts",
        "var/lib/dbus/machine-id",
    ];
    if is_bloat(path) || DROP.contains(&path) {
        return false;
    }
    if DROP_UNDER.iter().any(|d| path.starts_with(d)) {
        return false;
    }
    // Host keys are made on each machine at first boot, never shipped.
    if path.starts_with("etc/ssh/ssh_host_") {
        return false;
    }
    !(path.ends_with("-old") && (path.starts_with("var/lib/dpkg/") || path.starts_with("etc/")))
}

/// Runs mmdebstrap for `image` and returns its tarball.
fn mmdebstrap(image: &DebianImage, cache: &Path) -> Result<PathBuf> {
    let debs = cache.join("mmdebstrap-debs");
    std::fs::create_dir_all(&debs)?;
    let out = cache.join(format!("rootfs-{}.tar", image.name));
    let _ = std::fs::remove_file(&out);
    let mut cmd = Command::new("mmdebstrap");
    cmd.env("SOURCE_DATE_EPOCH", "0")
        .args(["--quiet", "--mode=root", "--format=tar"])
        .arg(format!("--variant={}", image.variant))
        .arg(format!("--keyring={KEYRING}"))
        // A frozen mirror's sid Release is past its Valid-Until; signatures are still checked.
        .arg("--aptopt=Acquire::Check-Valid-Until \"false\"")
        .arg("--aptopt=APT::Default-Release \"trixie\"")
        .arg("--aptopt=Acquire::Languages \"none\"")
        .arg("--dpkgopt=path-exclude=/usr/share/man/*")
        .arg("--dpkgopt=path-exclude=/usr/share/locale/*")
        .arg("--dpkgopt=path-exclude=/usr/share/doc/*")
        .arg("--dpkgopt=path-include=/usr/share/doc/*/copyright")
        // Downloads are kept between builds in the cache.
        .arg("--skip=download/empty")
        .arg("--setup-hook=mkdir -p \"$1\"/var/cache/apt/archives/")
        .arg(format!(
            "--setup-hook=sync-in {} /var/cache/apt/archives/",
            debs.display()
        ))
        .arg(format!(
            "--customize-hook=sync-out /var/cache/apt/archives {}",
            debs.display()
        ))
        .arg("--customize-hook=rm -f \"$1\"/var/cache/apt/archives/*.deb")
        .arg(format!("--include={}", image.include.join(",")))
        .arg("trixie")
        .arg(&out)
        .arg(format!("deb {MIRROR} trixie main"))
        .arg(format!("deb {MIRROR} trixie-updates main"))
        .arg(format!("deb {MIRROR} sid main"));
    crate::binary::run(&mut cmd)
        .with_context(|| format!("building {} with mmdebstrap", image.name))?;
    Ok(out)
}

/// The upstream part of a Debian version: `28.5.2+dfsg4-5` → `28.5.2`, `1:2.0-1` → `2.0`.
fn upstream_version(version: &str) -> String {
    let v = version.split_once(':').map_or(version, |(_, v)| v);
    let v = v.rsplit_once('-').map_or(v, |(u, _)| u);
    v.split(['+', '~']).next().unwrap_or(v).to_string()
}

/// `package version` lines from a dpkg status file.
pub(crate) fn installed(status: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for stanza in status.split("\n\n") {
        let field = |key: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_string())
        };
        if let (Some(name), Some(version)) = (field("Package:"), field("Version:")) {
            out.insert(name, version);
        }
    }
    out
}

/// Rewrites a text file of the tree through `edit`, keeping its mode and owners (a new file
/// is root's, with `mode`).
pub(crate) fn edit_text(
    tree: &mut FileTree,
    path: &str,
    mode: u32,
    edit: impl FnOnce(String) -> String,
) -> Result<()> {
    let (text, meta) = match tree.get(path) {
        Some(Entry {
            kind: Kind::File(d),
            mode,
            uid,
            gid,
        }) => (String::from_utf8_lossy(d).into_owned(), (*mode, *uid, *gid)),
        Some(_) => bail!("{path} is not a file"),
        None => (String::new(), (mode, 0, 0)),
    };
    let (mode, uid, gid) = meta;
    tree.insert(
        path,
        Entry {
            mode,
            uid,
            gid,
            kind: Kind::File(edit(text).into_bytes()),
        },
    )
}

/// Drops the lines of `name` from a colon-separated database, then appends `line`.
pub(crate) fn upsert(text: &str, name: &str, line: &str) -> String {
    let prefix = format!("{name}:");
    let mut out: String = text
        .lines()
        .filter(|l| !l.starts_with(&prefix))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(line);
    out.push('\n');
    out
}

/// RancherOS's users on top of Debian's, the applet links of `ros`, os-release.
pub(crate) fn add_rancher(tree: &mut FileTree) -> Result<()> {
    for (user, id) in [("rancher", 1100), ("docker", 1101)] {
        let home = format!("{user}:x:{id}:{id}:{user}:/home/{user}:/bin/bash");
        edit_text(tree, "etc/passwd", 0o644, |t| upsert(&t, user, &home))?;
        let shadow = format!("{user}:*:1::::::");
        edit_text(tree, "etc/shadow", 0o640, |t| upsert(&t, user, &shadow))?;
        // docker.io makes a system group `docker`; ours (1101) replaces it.
        let members = if user == "docker" {
            "rancher,docker"
        } else {
            ""
        };
        let group = format!("{user}:x:{id}:{members}");
        edit_text(tree, "etc/group", 0o644, |t| upsert(&t, user, &group))?;
    }
    crate::sysimages::add_homes(tree)?;
    // Debian's sudo group (27) takes both users: passwordless sudo is configured at boot.
    edit_text(tree, "etc/group", 0o644, |group| {
        group
            .lines()
            .map(|l| match l.strip_prefix("sudo:") {
                Some(rest) if !rest.contains("rancher") => {
                    let sep = if l.ends_with(':') { "" } else { "," };
                    format!("{l}{sep}rancher,docker\n")
                }
                _ => format!("{l}\n"),
            })
            .collect()
    })?;
    crate::sysimages::add_ros_placeholder(tree)?;
    tree.file(
        "usr/lib/os-release",
        0o644,
        crate::image::os_release().into_bytes(),
    )?;
    tree.symlink("etc/os-release", "../usr/lib/os-release")?;
    for dir in ["dev", "proc", "sys", "run"] {
        tree.dir(dir, 0o755)?;
    }
    tree.dir("tmp", 0o1777)?;
    Ok(())
}

/// The code that decides what goes into these images and how they are written: a change to
/// any of it rebuilds them (and so does one to the crates xtask is built from).
const RECIPE: &[&str] = &[
    include_str!("rootfs.rs"),
    include_str!("oci.rs"),
    include_str!("tree.rs"),
    include_str!("sysimages.rs"),
    include_str!("pkglock.rs"),
];

/// What a built image depends on: its definition, its lock, [`RECIPE`] and xtask's crates
/// (not `ros` itself, which the system services bind-mount from the host). Not the
/// xtask binary itself, which differs with the checkout's path, so that CI's fresh clones
/// reuse the cache.
fn input_key(image: &DebianImage) -> Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(format!("{image:?}\n").as_bytes());
    hasher.update(crate::cargolock::closure(include_str!("../../Cargo.lock"), "xtask").as_bytes());
    hasher.update(std::fs::read(lock_path(&image.name)).unwrap_or_default());
    for source in RECIPE {
        hasher.update(source.as_bytes());
    }
    Ok(crate::debian::hex(&hasher.finalize()))
}

/// Builds `image` into `out_dir`, checking (or with `update`, rewriting) its lock. A build
/// from the same inputs is taken from the cache (`cache/images`) instead.
pub fn build(image: &DebianImage, cache: &Path, out_dir: &Path, update: bool) -> Result<PathBuf> {
    let stash = cache.join("images");
    std::fs::create_dir_all(&stash)?;
    let key_file = stash.join(format!("{}.key", image.name));
    let key = input_key(image)?;
    if !update
        && let Ok(saved) = std::fs::read_to_string(&key_file)
        && let Some((saved_key, file)) = saved.trim().split_once(' ')
        && saved_key == key
        && stash.join(file).exists()
    {
        let out = out_dir.join(file);
        std::fs::copy(stash.join(file), &out)?;
        eprintln!(
            "xtask: image {file}: unchanged inputs, taken from {}",
            stash.display()
        );
        return Ok(out);
    }
    let built = build_fresh(image, cache, &stash, update)?;
    let file = built.file_name().context("an image without a name")?;
    let out = out_dir.join(file);
    std::fs::copy(&built, &out)?;
    // The key is taken after the build: with `update` the lock may just have changed.
    let key = input_key(image)?;
    std::fs::write(&key_file, format!("{key} {}\n", file.to_string_lossy()))?;
    Ok(out)
}

fn build_fresh(image: &DebianImage, cache: &Path, out_dir: &Path, update: bool) -> Result<PathBuf> {
    let lock = lock_path(&image.name);
    ensure!(
        update || pkglock::read(&image.name)?.is_some(),
        "{} is missing; run `cargo xtask images --update-lock`",
        lock.display()
    );
    let tarball = mmdebstrap(image, cache)?;
    let mut tree = FileTree::new();
    let file = std::fs::File::open(&tarball)?;
    tree.add_tar(std::io::BufReader::new(file), keep)
        .with_context(|| format!("reading {}", tarball.display()))?;
    let status = match tree.get("var/lib/dpkg/status") {
        Some(Entry {
            kind: Kind::File(d),
            ..
        }) => String::from_utf8_lossy(d).into_owned(),
        _ => bail!("{}: no dpkg status", image.name),
    };
    let packages = installed(&status);
    pkglock::check_or_update(&image.name, &packages, update)?;
    for path in &image.drop {
        if !tree.remove(path) {
            eprintln!(
                "xtask: warning: {}: {path} is not there to drop",
                image.name
            );
        }
    }
    add_rancher(&mut tree)?;
    let list: String = packages.iter().map(|(p, v)| format!("{p} {v}\n")).collect();
    tree.file(PACKAGE_LIST, 0o644, list.into_bytes())?;
    let mut spec = image.spec.clone();
    let mut file = image.name.clone();
    if let Some(package) = image.tag_from {
        let version = packages
            .get(package)
            .with_context(|| format!("{}: {package} was not installed", image.name))?;
        spec.tag = upstream_version(version);
        file = format!(
            "{}-{}",
            spec.repository.rsplit('/').next().unwrap_or("image"),
            spec.tag
        );
    }
    let out = out_dir.join(format!("{file}.tar"));
    let written = oci::write_image(&spec, std::slice::from_ref(&tree), &out)?;
    let _ = std::fs::remove_file(&tarball);
    written.log(&spec, &format!("{} packages", packages.len()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_caches_and_docs_stay_out() {
        for path in [
            "etc/ssh/ssh_host_ed25519_key",
            "etc/machine-id",
            "var/cache/apt/pkgcache.bin",
            "var/lib/apt/lists/deb.debian.org_dists_trixie_InRelease",
            "var/log/dpkg.log",
            "dev/null",
            "usr/share/man/man8/sshd.8.gz",
            "var/lib/dpkg/status-old",
        ] {
            assert!(!keep(path), "{path}");
        }
        for path in [
            "etc/ssh/sshd_config",
            "var/lib/dpkg/status",
            "usr/sbin/sshd",
            "var/log",
            "usr/share/doc/sudo/copyright",
        ] {
            assert!(keep(path), "{path}");
        }
    }

    #[test]
    fn status_stanzas_give_versions() {
        let status = "Package: sudo\nStatus: install ok installed\nVersion: 1.9\n\n\
                      Package: libc6\nArchitecture: amd64\nVersion: 2.41-12\n";
        let got = installed(status);
        assert_eq!(got["sudo"], "1.9");
        assert_eq!(got["libc6"], "2.41-12");
        assert_eq!(pkglock::parse_lock(&pkglock::lock_text("x", &got)), got);
    }

    #[test]
    fn upstream_versions_make_tags() {
        assert_eq!(upstream_version("28.5.2+dfsg4-5"), "28.5.2");
        assert_eq!(upstream_version("26.1.5+dfsg1-9+deb13u1+b1"), "26.1.5");
        assert_eq!(upstream_version("1:10.0p1-7"), "10.0p1");
        assert_eq!(upstream_version("2.0~rc1"), "2.0");
    }

    #[test]
    fn users_are_added_to_debian_files() {
        let mut tree = FileTree::new();
        tree.file(
            "etc/passwd",
            0o644,
            b"root:x:0:0:root:/root:/bin/bash\n".to_vec(),
        )
        .unwrap();
        tree.file(
            "etc/group",
            0o644,
            b"root:x:0:\nsudo:x:27:\ndocker:x:989:\n".to_vec(),
        )
        .unwrap();
        add_rancher(&mut tree).unwrap();
        let text = |p: &str| match &tree.get(p).unwrap().kind {
            Kind::File(d) => String::from_utf8(d.clone()).unwrap(),
            _ => panic!("{p}"),
        };
        assert!(text("etc/passwd").contains("\nrancher:x:1100:1100:"));
        assert!(text("etc/group").contains("sudo:x:27:rancher,docker\n"));
        assert!(text("etc/group").contains("docker:x:1101:rancher,docker\n"));
        assert!(
            !text("etc/group").contains("docker:x:989"),
            "the system group is replaced"
        );
        assert_eq!(tree.get("home/docker").unwrap().uid, 1101);
        assert!(
            tree.get("usr/bin/system-docker").is_none(),
            "applet links are made at run time, not baked in"
        );
        assert_eq!(
            tree.get("usr/bin/ros").unwrap().kind,
            Kind::File(Vec::new()),
            "ros is bound over a placeholder, not baked in"
        );
    }
}
