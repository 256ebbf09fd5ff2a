//! The system images, as OCI archives in `dist/images/`.
//!
//! `os-base` is assembled here from two Debian packages and our binary: busybox-static (the
//! shell and tools every system container has), the Mozilla CA bundle, `ros` with its applet
//! links, and the users and groups of RancherOS (rancher 1100, docker 1101). The
//! Debian-rooted images are listed in [`debian_images`] and made by [`crate::rootfs`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, ensure};

use crate::debian::Wanted;
use crate::oci::{self, ImageSpec};
use crate::rootfs::DebianImage;
use crate::tree::{Entry, FileTree, Kind};

/// The packages `os-base` is made from.
pub const BASE_PACKAGES: &[Wanted] = &[
    Wanted {
        suite: "trixie",
        name: "busybox-static",
        meta: false,
    },
    Wanted {
        suite: "trixie",
        name: "ca-certificates",
        meta: false,
    },
];

/// Where the list of package versions sits inside every image.
pub const PACKAGE_LIST: &str = "usr/share/ros/packages";

/// The image tag of this build: `v` and the workspace version.
pub fn tag() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

/// Paths no image needs: documentation, manuals, translations. Copyright files stay.
pub fn is_bloat(path: &str) -> bool {
    const DIRS: &[&str] = &[
        "usr/share/man",
        "usr/share/info",
        "usr/share/locale",
        "usr/share/i18n/locales",
        "usr/share/lintian",
        "usr/share/linda",
        "usr/share/bug",
        "usr/share/doc-base",
        "usr/share/bash-completion",
        "usr/share/zsh",
        "usr/share/fish",
        "usr/share/gtk-doc",
    ];
    if let Some(rest) = path.strip_prefix("usr/share/doc/") {
        return !rest.ends_with("/copyright") && rest.contains('/');
    }
    DIRS.iter()
        .any(|d| path == *d || path.starts_with(&format!("{d}/")))
}

/// `Package version` of a .deb.
fn deb_version(deb: &Path) -> Result<(String, String)> {
    let out = Command::new("dpkg-deb")
        .args(["--show", "--showformat", "${Package} ${Version}"])
        .arg(deb)
        .output()
        .context("running dpkg-deb --show")?;
    ensure!(
        out.status.success(),
        "dpkg-deb --show {} failed",
        deb.display()
    );
    let text = String::from_utf8(out.stdout)?;
    let (name, version) = text
        .split_once(' ')
        .with_context(|| format!("dpkg-deb --show {}: {text}", deb.display()))?;
    Ok((name.to_string(), version.to_string()))
}

/// Adds a .deb's files (without documentation) to `tree`.
pub fn add_deb(tree: &mut FileTree, deb: &Path) -> Result<()> {
    let mut child = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .spawn()
        .context("running dpkg-deb --fsys-tarfile")?;
    let stdout = child.stdout.take().context("dpkg-deb has no stdout")?;
    tree.add_tar(stdout, |p| !is_bloat(p))
        .with_context(|| deb.display().to_string())?;
    ensure!(
        child.wait()?.success(),
        "dpkg-deb --fsys-tarfile {} failed",
        deb.display()
    );
    Ok(())
}

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
    rancher:x:1100:1100:rancher:/home/rancher:/bin/sh\n\
    docker:x:1101:1101:docker:/home/docker:/bin/sh\n\
    nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\n\
    wheel:x:10:rancher,docker\n\
    sudo:x:27:rancher,docker\n\
    rancher:x:1100:\n\
    docker:x:1101:rancher,docker\n\
    nogroup:x:65534:\n";
/// Passwords locked: logins are by SSH key, or `rancher.password` set at boot.
const SHADOW: &str = "root:*:1::::::\nrancher:*:1::::::\ndocker:*:1::::::\nnobody:*:1::::::\n";

/// The tree of `os-base`.
pub fn base_tree(debs: &BTreeMap<String, PathBuf>) -> Result<FileTree> {
    let mut tree = FileTree::new();
    for (link, target) in [("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib")] {
        tree.symlink(link, target)?;
    }
    let mut packages = String::new();
    for wanted in BASE_PACKAGES {
        let deb = debs
            .get(wanted.name)
            .with_context(|| format!("{} was not resolved", wanted.name))?;
        add_deb(&mut tree, deb)?;
        let (name, version) = deb_version(deb)?;
        packages.push_str(&format!("{name} {version}\n"));
    }
    // busybox's own applet list, as links in the merged /usr.
    let busybox = debian_busybox(debs)?;
    let list = Command::new(&busybox)
        .arg("--list-full")
        .output()
        .context("running busybox --list-full")?;
    ensure!(list.status.success(), "busybox --list-full failed");
    for applet in String::from_utf8(list.stdout)?.lines() {
        let merged = match applet.split_once('/') {
            Some(("bin", name)) => format!("usr/bin/{name}"),
            Some(("sbin", name)) => format!("usr/sbin/{name}"),
            _ => applet.to_string(),
        };
        if tree.get(&merged).is_none() {
            tree.symlink(&merged, "/usr/bin/busybox")?;
        }
    }
    add_ros_placeholder(&mut tree)?;
    // busybox's acpid runs this on the power button; busybox's poweroff signals PID 1.
    tree.file(
        "etc/acpi/PWRF/00000080",
        0o755,
        b"#!/bin/sh
exec /sbin/poweroff
"
        .to_vec(),
    )?;
    // update-ca-certificates would make this bundle at install time.
    let mut bundle = Vec::new();
    let certs: Vec<String> = tree
        .iter()
        .filter(|(p, _)| p.starts_with("usr/share/ca-certificates/") && p.ends_with(".crt"))
        .map(|(p, _)| p.clone())
        .collect();
    ensure!(!certs.is_empty(), "ca-certificates holds no certificates");
    for cert in &certs {
        if let Some(Entry {
            kind: Kind::File(data),
            ..
        }) = tree.get(cert)
        {
            bundle.extend_from_slice(data);
            if !bundle.ends_with(b"\n") {
                bundle.push(b'\n');
            }
        }
    }
    tree.file("etc/ssl/certs/ca-certificates.crt", 0o644, bundle)?;
    tree.file("etc/passwd", 0o644, PASSWD.into())?;
    tree.file("etc/group", 0o644, GROUP.into())?;
    tree.file("etc/shadow", 0o600, SHADOW.into())?;
    tree.file("etc/hostname", 0o644, b"rancher\n".to_vec())?;
    tree.file(
        "etc/nsswitch.conf",
        0o644,
        b"passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n".to_vec(),
    )?;
    tree.file(
        "usr/lib/os-release",
        0o644,
        crate::image::os_release().into_bytes(),
    )?;
    tree.symlink("etc/os-release", "../usr/lib/os-release")?;
    for (dir, mode) in [
        ("proc", 0o755),
        ("sys", 0o755),
        ("dev", 0o755),
        ("run", 0o755),
        ("var/log", 0o755),
        ("var/lib", 0o755),
        ("root", 0o700),
        ("tmp", 0o1777),
    ] {
        tree.dir(dir, mode)?;
    }
    tree.symlink("var/run", "../run")?;
    add_homes(&mut tree)?;
    tree.file(PACKAGE_LIST, 0o644, packages.into_bytes())?;
    Ok(tree)
}

/// `usr/bin/ros` as an empty placeholder the system services bind the host's binary over
/// (RancherOS's `command-volumes`), so a new `ros` rebuilds no image. Its applet links are
/// made at run time by the container that needs them (console-init), for the same reason.
pub(crate) fn add_ros_placeholder(tree: &mut FileTree) -> Result<()> {
    tree.file("usr/bin/ros", 0o755, Vec::new())
}

/// The home directories of rancher (1100) and docker (1101), owned by them.
pub(crate) fn add_homes(tree: &mut FileTree) -> Result<()> {
    for (user, id) in [("rancher", 1100), ("docker", 1101)] {
        tree.insert(
            &format!("home/{user}"),
            Entry {
                mode: 0o755,
                uid: id,
                gid: id,
                kind: Kind::Dir,
            },
        )?;
    }
    Ok(())
}

fn debian_busybox(debs: &BTreeMap<String, PathBuf>) -> Result<PathBuf> {
    let deb = debs
        .get("busybox-static")
        .context("busybox-static was not resolved")?;
    let dir = crate::debian::unpack(deb, &crate::image::cache_dir()?)?;
    Ok(dir.join("usr/bin/busybox"))
}

pub(crate) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

/// The Debian-rooted images: the Debian console and one user engine per Docker version, each
/// with its Docker CLI. The first user engine is the newest and the one preloaded.
pub fn debian_images() -> Vec<DebianImage> {
    let spec = |repository: &str, cmd: &[&str]| ImageSpec {
        repository: repository.into(),
        tag: tag(),
        env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
        cmd: strings(cmd),
        ..ImageSpec::default()
    };
    // Without it, openssh-server and docker.io pull in all of systemd for `sysusers`.
    let sysusers = "systemd-standalone-sysusers";
    // containerd's and runc's debugging, example and test binaries; dockerd needs none.
    let sid_extras = strings(&[
        "usr/bin/ctr",
        "usr/lib/containerd/containerd-shim-runc-fp-v1",
        "usr/lib/containerd/runc-fp",
        "usr/lib/containerd/loopback-v2",
        "usr/lib/cni/cni-bridge-fp",
        "usr/sbin/pidfd-kill",
        "usr/sbin/recvtty",
        "usr/sbin/sd-helper",
        "usr/sbin/remap-rootfs",
        "usr/sbin/seccompagent",
        "usr/sbin/fs-idmap",
    ]);
    vec![
        DebianImage {
            name: "os-debian-console".into(),
            variant: "minbase",
            include: strings(&[
                "openssh-server",
                "sudo",
                "iproute2",
                "ca-certificates",
                "less",
                "vim-tiny",
                "procps",
                sysusers,
                "docker-cli/sid",
            ]),
            tag_from: None,
            drop: Vec::new(),
            spec: spec("rancher/os-debianconsole", &["/bin/bash"]),
        },
        DebianImage {
            name: "os-docker-sid".into(),
            variant: "essential",
            include: strings(&[
                "docker.io/sid",
                "docker-cli/sid",
                "containerd/sid",
                "runc/sid",
                "tini-static/sid",
                "iptables",
                "ca-certificates",
                sysusers,
            ]),
            tag_from: Some("docker.io"),
            drop: sid_extras,
            spec: spec("rancher/os-docker", &["/usr/sbin/dockerd"]),
        },
        DebianImage {
            name: "os-docker-trixie".into(),
            variant: "essential",
            include: strings(&[
                "docker.io",
                "docker-cli",
                "iptables",
                "ca-certificates",
                sysusers,
            ]),
            tag_from: Some("docker.io"),
            // ctr, and containerd 1.7's legacy v1 shims (Docker 26 uses runc-v2).
            drop: strings(&[
                "usr/bin/ctr",
                "usr/bin/containerd-shim",
                "usr/bin/containerd-shim-runc-v1",
            ]),
            spec: spec("rancher/os-docker", &["/usr/sbin/dockerd"]),
        },
    ]
}

/// Writes `os-base` to `out_dir/os-base.tar`.
pub fn build_base(debs: &BTreeMap<String, PathBuf>, out_dir: &Path) -> Result<(PathBuf, FileTree)> {
    let tree = base_tree(debs)?;
    let spec = ImageSpec {
        repository: "rancher/os-base".into(),
        tag: tag(),
        env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
        cmd: vec!["/bin/sh".into()],
        ..ImageSpec::default()
    };
    let out = out_dir.join("os-base.tar");
    let written = oci::write_image(&spec, std::slice::from_ref(&tree), &out)?;
    written.log(&spec, &format!("{} entries", tree.len()));
    Ok((out, tree))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documentation_is_bloat_but_copyright_is_not() {
        assert!(is_bloat("usr/share/man/man1/ls.1.gz"));
        assert!(is_bloat("usr/share/doc/sudo/changelog.gz"));
        assert!(is_bloat("usr/share/locale/de/LC_MESSAGES/sudo.mo"));
        assert!(!is_bloat("usr/share/doc/sudo/copyright"));
        assert!(!is_bloat("usr/share/doc/sudo"));
        assert!(!is_bloat("usr/share/ca-certificates/mozilla/x.crt"));
        assert!(!is_bloat("usr/share/mandoc"));
    }

    #[test]
    fn users_and_groups_match_rancheros() {
        assert!(PASSWD.contains("rancher:x:1100:1100:"));
        assert!(PASSWD.contains("docker:x:1101:1101:"));
        let docker_group = GROUP.lines().find(|l| l.starts_with("docker:")).unwrap();
        assert_eq!(docker_group, "docker:x:1101:rancher,docker");
        for user in ["root", "rancher", "docker", "nobody"] {
            assert!(SHADOW.contains(&format!("{user}:*:")), "{user} locked");
        }
    }
}
