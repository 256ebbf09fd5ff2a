//! Images made by unpacking Debian packages onto `os-base`, without maintainer scripts: apt
//! resolves what the wanted packages need, the script-only and busybox-covered packages are
//! left out, and what the scripts would have made (users, PAM stacks, sshd_config) is
//! written here. The result is a fraction of a debootstrapped image: `os-console` is
//! OpenSSH and sudo with their libraries, a layer on top of `os-base`'s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::debian::Apt;
use crate::oci::{self, ImageSpec};
use crate::pkglock;
use crate::rootfs::{edit_text, upsert};
use crate::sysimages::{PACKAGE_LIST, add_deb, strings, tag};
use crate::tree::{Entry, FileTree, Kind};

/// One image of this kind.
#[derive(Debug, Clone)]
pub struct UnpackedImage {
    /// File stem and lock name.
    pub name: String,
    /// What to install (apt adds the dependencies).
    pub roots: Vec<String>,
    /// Dependencies not to unpack: only their maintainer scripts use them, or busybox in
    /// `os-base` does their job.
    pub skip: Vec<String>,
    /// Path prefixes of unpacked files the image does without.
    pub drop_under: Vec<String>,
    /// How the image runs.
    pub spec: ImageSpec,
}

/// Packages whose files only maintainer scripts, init systems or interactive tools use.
pub const SCRIPT_ONLY: &[&str] = &[
    "adduser",
    "base-passwd",
    "debconf",
    "init-system-helpers",
    "libdebconfclient0",
    "libtext-charwidth-perl",
    "libtext-wrapi18n-perl",
    "login.defs",
    "openssl-provider-legacy",
    "lsb-base",
    "passwd",
    // passwd's own libraries
    "libsemanage2",
    "libsemanage-common",
    "libsepol2",
    "libbz2-1.0",
    "perl-base",
    "procps",
    "libproc2-0",
    "runit-helper",
    "sensible-utils",
    "systemd-standalone-sysusers",
    "sysvinit-utils",
    "ucf",
];

/// Unpacked paths in the merged-/usr layout `os-base` has (`bin` → `usr/bin` …).
fn merged_usr(path: &str) -> String {
    for top in ["bin", "sbin", "lib", "lib64"] {
        if path == top {
            return format!("usr/{top}");
        }
        if let Some(rest) = path.strip_prefix(&format!("{top}/")) {
            return format!("usr/{top}/{rest}");
        }
    }
    path.to_string()
}

fn file_text(tree: &FileTree, path: &str) -> Result<Vec<u8>> {
    match tree.get(path) {
        Some(Entry {
            kind: Kind::File(d),
            ..
        }) => Ok(d.clone()),
        _ => bail!("{path} is missing from the unpacked packages"),
    }
}

/// What the console's maintainer scripts would have done.
fn finish_console(tree: &mut FileTree) -> Result<()> {
    // sshd's privilege separation user, as openssh-server's sysusers.d entry makes it.
    let sshd = "sshd:x:100:65534:sshd privsep:/run/sshd:/usr/sbin/nologin";
    edit_text(tree, "etc/passwd", 0o644, |t| upsert(&t, "sshd", sshd))?;
    edit_text(tree, "etc/shadow", 0o600, |t| {
        upsert(&t, "sshd", "sshd:!:1::::::")
    })?;
    let config = file_text(tree, "usr/share/openssh/sshd_config")?;
    tree.file("etc/ssh/sshd_config", 0o644, config)?;
    // The stacks pam-auth-update would render from libpam-runtime's templates.
    for stack in [
        "common-auth",
        "common-account",
        "common-password",
        "common-session",
        "common-session-noninteractive",
    ] {
        let template = file_text(tree, &format!("usr/share/pam/{stack}"))?;
        let text = render_pam_stack(stack, &String::from_utf8_lossy(&template))?;
        tree.file(&format!("etc/pam.d/{stack}"), 0o644, text.into_bytes())?;
    }
    // sudo refuses a sudoers that others can write; its postinst makes it 0440.
    let sudoers = file_text(tree, "etc/sudoers")?;
    tree.file("etc/sudoers", 0o440, sudoers)?;
    tree.symlink("usr/sbin/nologin", "/bin/false")?;
    Ok(())
}

/// A libpam-runtime template (`$auth_primary`, `$session_nonint_additional`, …) rendered as
/// pam-auth-update does with only the `unix` profile enabled. Left unrendered, the stacks
/// hold nothing but `pam_deny`, and sudo refuses everyone.
fn render_pam_stack(stack: &str, template: &str) -> Result<String> {
    let kind = stack
        .strip_prefix("common-")
        .and_then(|s| s.split('-').next())
        .unwrap_or_default();
    // `success=1` jumps over the pam_deny that follows the primary block; an empty primary
    // block (sessions) becomes a pam_permit that does the same, or every session is denied.
    let primary = match kind {
        "auth" => "auth\t[success=1 default=ignore]\tpam_unix.so nullok",
        "account" => "account\t[success=1 new_authtok_reqd=done default=ignore]\tpam_unix.so",
        "password" => "password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt",
        _ => "session\t[default=1]\tpam_permit.so",
    };
    let additional = if kind == "session" {
        "session\trequired\tpam_unix.so"
    } else {
        ""
    };
    let mut out = String::new();
    for line in template.lines() {
        let line = match line.strip_prefix('$') {
            Some(var) if var.ends_with("_primary") => primary,
            Some(var) if var.ends_with("_additional") => additional,
            Some(var) => bail!("{stack}: unknown template variable ${var}"),
            None => line,
        };
        if !line.is_empty() {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

/// Builds `image` on `base` into `out_dir/<name>.tar`.
pub fn build(
    image: &UnpackedImage,
    apt: &Apt,
    base: &FileTree,
    out_dir: &Path,
    update: bool,
) -> Result<PathBuf> {
    let plan = apt.closure(&image.roots)?;
    let mut packages = BTreeMap::new();
    for (name, version) in &plan {
        if !image.skip.iter().any(|s| s == name) {
            packages.insert(name.clone(), version.clone());
        }
    }
    pkglock::check_or_update(&image.name, &packages, update)?;
    let mut unpacked = FileTree::new();
    for (name, version) in &packages {
        let (deb, _) = apt
            .fetch(name, version, None)
            .with_context(|| format!("{}: {name}", image.name))?;
        add_deb(&mut unpacked, &deb)?;
    }
    let mut tree = base.clone();
    for (path, entry) in unpacked.iter() {
        let path = merged_usr(path);
        if image
            .drop_under
            .iter()
            .any(|d| path.starts_with(d.as_str()))
        {
            continue;
        }
        // os-base's directories and symlinks stay; a package's file replaces a busybox link.
        match (tree.get(&path), &entry.kind) {
            (Some(_), Kind::Dir) => {}
            _ => tree.insert(&path, entry.clone())?,
        }
    }
    tree.symlink("lib64", "usr/lib64")?;
    finish_console(&mut tree)?;
    let base_list = match tree.get(PACKAGE_LIST) {
        Some(Entry {
            kind: Kind::File(d),
            ..
        }) => String::from_utf8_lossy(d).into_owned(),
        _ => String::new(),
    };
    let list: String = base_list
        + &packages
            .iter()
            .map(|(p, v)| format!("{p} {v}\n"))
            .collect::<String>();
    tree.file(PACKAGE_LIST, 0o644, list.into_bytes())?;
    // Two layers, the first exactly os-base's: the archives share it, and so do engines.
    let upper = tree.diff_from(base)?;
    let out = out_dir.join(format!("{}.tar", image.name));
    let written = oci::write_image(&image.spec, &[base.clone(), upper], &out)?;
    written.log(
        &image.spec,
        &format!("{} packages on os-base", packages.len()),
    );
    Ok(out)
}

/// `os-console`: OpenSSH and sudo unpacked onto `os-base`. The Docker CLI is not here: it
/// comes with the engine image, so it always matches the engine that runs.
pub fn console_image() -> UnpackedImage {
    let mut skip = strings(SCRIPT_ONLY);
    // Pulled in by the sysusers alternative the scripts use; busybox has mount and friends.
    skip.extend(strings(&[
        "libmount1",
        "libblkid1",
        "libsmartcols1",
        "mount",
    ]));
    UnpackedImage {
        name: "os-console".into(),
        roots: strings(&["openssh-server", "sudo", "systemd-standalone-sysusers"]),
        skip,
        // glibc's character set converters and vector maths: nothing in the console calls
        // iconv or libmvec; pam_userdb (and so libdb) is not in any PAM stack here.
        drop_under: strings(&[
            "usr/lib/x86_64-linux-gnu/gconv/",
            "usr/lib/x86_64-linux-gnu/libmvec.so",
            "usr/lib/x86_64-linux-gnu/security/pam_userdb.so",
            // sudo's log server, log sender, policy converter and session replayer
            "usr/sbin/sudo_logsrvd",
            "usr/sbin/sudo_sendlog",
            "usr/bin/cvtsudoers",
            "usr/bin/sudoreplay",
        ]),
        spec: ImageSpec {
            repository: "rancher/os-console".into(),
            tag: tag(),
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            cmd: strings(&["/bin/sh"]),
            ..ImageSpec::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pam_templates_render_with_pam_unix() {
        let account = "# primary\n$account_primary\naccount\trequisite\t\t\tpam_deny.so\n\
                       account\trequired\t\t\tpam_permit.so\n$account_additional\n";
        let text = render_pam_stack("common-account", account).unwrap();
        assert!(
            text.starts_with("# primary\naccount\t[success=1 new_authtok_reqd=done"),
            "{text}"
        );
        assert!(!text.contains('$'), "{text}");
        let session = "$session_nonint_primary\nsession\trequired\tpam_permit.so\n\
                       $session_nonint_additional\n";
        assert_eq!(
            render_pam_stack("common-session-noninteractive", session).unwrap(),
            "session\t[default=1]\tpam_permit.so\nsession\trequired\tpam_permit.so\n\
             session\trequired\tpam_unix.so\n"
        );
        assert!(render_pam_stack("common-auth", "$oops\n").is_err());
    }

    #[test]
    fn unmerged_paths_move_under_usr() {
        assert_eq!(
            merged_usr("lib/x86_64-linux-gnu/security/pam_unix.so"),
            "usr/lib/x86_64-linux-gnu/security/pam_unix.so"
        );
        assert_eq!(merged_usr("sbin/unix_chkpwd"), "usr/sbin/unix_chkpwd");
        assert_eq!(merged_usr("lib"), "usr/lib");
        assert_eq!(merged_usr("library/x"), "library/x");
        assert_eq!(merged_usr("etc/ssh/moduli"), "etc/ssh/moduli");
    }
}
