//! Debian packages through a private apt configuration: its own sources list (trixie as the
//! base, sid for the newest Docker, pinned low so nothing comes from it unasked), state and
//! cache directories under the build cache, and Debian's archive keyring, so the host's
//! release and apt setup do not matter. apt verifies the archive's signatures and each
//! package's hash; the lock file `os/debian.lock` pins every package and its sha256.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};

/// The Debian archive.
pub const MIRROR: &str = "http://deb.debian.org/debian";
/// Debian's archive keyring, as the host's debian-archive-keyring package installs it.
pub const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";
/// The lock file, relative to the workspace root.
pub const LOCK_FILE: &str = "os/debian.lock";

/// A package the build asks for by name; the lock turns it into a version.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    /// `trixie` or `sid`.
    pub suite: &'static str,
    /// Package name.
    pub name: &'static str,
    /// A metapackage (`linux-image-cloud-amd64`): lock the package it depends on instead.
    pub meta: bool,
}

/// One locked package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked {
    /// Suite it came from.
    pub suite: String,
    /// Package name.
    pub name: String,
    /// Exact version.
    pub version: String,
    /// sha256 of the .deb.
    pub sha256: String,
}

/// The private apt tree and the .deb cache.
#[derive(Debug)]
pub struct Apt {
    root: PathBuf,
    debs: PathBuf,
}

impl Apt {
    /// Sets up (idempotently) the private apt tree below `cache`.
    pub fn open(cache: &Path) -> Result<Self> {
        let root = cache.join("apt");
        for dir in [
            "etc/apt/apt.conf.d",
            "etc/apt/preferences.d",
            "etc/apt/sources.list.d",
            "etc/apt/trusted.gpg.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg",
        ] {
            std::fs::create_dir_all(root.join(dir)).with_context(|| format!("creating {dir}"))?;
        }
        ensure!(
            Path::new(KEYRING).exists(),
            "{KEYRING} is missing: install Debian's debian-archive-keyring"
        );
        let status = root.join("var/lib/dpkg/status");
        if !status.exists() {
            std::fs::write(&status, "")?;
        }
        let conf = format!(
            "Dir \"{root}/\";\n\
             Dir::State::status \"{status}\";\n\
             APT::Architecture \"amd64\";\n\
             APT::Architectures {{ \"amd64\"; }};\n\
             APT::Install-Recommends \"false\";\n\
             Acquire::Languages \"none\";\n\
             Acquire::IndexTargets::deb::DEP-11::DefaultEnabled \"false\";\n\
             Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled \"false\";\n\
             Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled \"false\";\n\
             Acquire::Retries \"3\";\n\
             Acquire::Check-Valid-Until \"false\";\n",
            root = root.display(),
            status = status.display(),
        );
        // Signatures are still checked; only the Valid-Until date is not, because the mirror
        // this builds from may be a frozen snapshot whose sid Release has expired.
        std::fs::write(root.join("apt.conf"), conf)?;
        let sources = ["trixie", "trixie-updates", "sid"]
            .iter()
            .map(|suite| format!("deb [signed-by={KEYRING}] {MIRROR} {suite} main\n"))
            .collect::<String>();
        std::fs::write(root.join("etc/apt/sources.list"), sources)?;
        // sid only when asked for by name: trixie is the base of everything.
        std::fs::write(
            root.join("etc/apt/preferences"),
            "Package: *\nPin: release n=sid\nPin-Priority: 100\n",
        )?;
        let debs = cache.join("debs");
        std::fs::create_dir_all(&debs)?;
        Ok(Self { root, debs })
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("APT_CONFIG", self.root.join("apt.conf"))
            .env("LC_ALL", "C");
        cmd
    }

    fn output(&self, program: &str, args: &[&str]) -> Result<String> {
        let out = self
            .command(program)
            .args(args)
            .output()
            .with_context(|| format!("running {program}"))?;
        if !out.status.success() {
            bail!(
                "{program} {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn has_lists(&self) -> bool {
        std::fs::read_dir(self.root.join("var/lib/apt/lists"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .any(|e| e.file_name().to_string_lossy().ends_with("_Packages"))
            })
            .unwrap_or(false)
    }

    /// Downloads the package indexes (signatures checked by apt).
    pub fn update(&self) -> Result<()> {
        eprintln!("xtask: apt-get update (private configuration)");
        crate::binary::run(self.command("apt-get").args(["update", "-q"]))
    }

    /// What `apt-get install` would install for `packages` on an empty system (no
    /// recommends), as `(package, version)`; `pkg/sid` asks for sid's version.
    pub fn closure(&self, packages: &[String]) -> Result<Vec<(String, String)>> {
        if !self.has_lists() {
            self.update()?;
        }
        let mut args = vec!["-s", "-q", "install", "--no-install-recommends"];
        args.extend(packages.iter().map(String::as_str));
        let plan = self.output("apt-get", &args)?;
        let mut out = Vec::new();
        for line in plan.lines() {
            // `Inst libc6 (2.41-12+deb13u5 Debian:13.5/stable [amd64])`
            if let Some(rest) = line.strip_prefix("Inst ") {
                let mut words = rest.split_whitespace();
                let name = words.next().context("an Inst line without a package")?;
                let version = words
                    .next()
                    .and_then(|v| v.strip_prefix('('))
                    .with_context(|| format!("an Inst line without a version: {line}"))?;
                out.push((name.to_string(), version.to_string()));
            }
        }
        ensure!(
            !out.is_empty(),
            "apt would install nothing for {packages:?}"
        );
        Ok(out)
    }

    /// The version `suite` offers for `name`.
    fn candidate(&self, suite: &str, name: &str) -> Result<String> {
        let show = self.output("apt-cache", &["show", &format!("{name}/{suite}")])?;
        field(&show, "Version").with_context(|| format!("{name}/{suite} has no Version"))
    }

    /// Resolves what the build wants to exact packages and versions.
    pub fn resolve(&self, wanted: &[Wanted]) -> Result<Vec<(String, String, String)>> {
        let mut out = Vec::new();
        for w in wanted {
            let version = self.candidate(w.suite, w.name)?;
            if !w.meta {
                out.push((w.suite.to_string(), w.name.to_string(), version));
                continue;
            }
            let show = self.output("apt-cache", &["show", &format!("{}={version}", w.name)])?;
            let depends = field(&show, "Depends")
                .with_context(|| format!("{} depends on nothing", w.name))?;
            let target = depends
                .split([',', ' ', '('])
                .next()
                .unwrap_or_default()
                .to_string();
            ensure!(
                !target.is_empty(),
                "cannot read the dependency of {}: {depends}",
                w.name
            );
            let target_version = self.candidate(w.suite, &target)?;
            out.push((w.suite.to_string(), target, target_version));
        }
        Ok(out)
    }

    /// The .deb of `name=version`, from the cache or downloaded, checked against `sha256`
    /// when given. Returns its path and sha256.
    pub fn fetch(
        &self,
        name: &str,
        version: &str,
        sha256: Option<&str>,
    ) -> Result<(PathBuf, String)> {
        let file = self
            .debs
            .join(format!("{name}_{}_amd64.deb", version.replace(':', "%3a")));
        if !file.exists() {
            if !self.has_lists() {
                self.update()?;
            }
            let tmp = self.debs.join("partial");
            std::fs::create_dir_all(&tmp)?;
            let out = self
                .command("apt-get")
                .current_dir(&tmp)
                .args(["download", "-q", &format!("{name}={version}")])
                .output()
                .context("running apt-get download")?;
            if !out.status.success() {
                bail!(
                    "{name} {version} could not be downloaded ({}); if the archive moved on, \
                     run `cargo xtask images --update-lock`",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            let got = std::fs::read_dir(&tmp)?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "deb"))
                .context("apt-get download wrote no .deb")?;
            std::fs::rename(&got, &file)?;
        }
        let actual = sha256_file(&file)?;
        if let Some(expected) = sha256
            && actual != expected
        {
            bail!(
                "{} has sha256 {actual}, the lock says {expected}",
                file.display()
            );
        }
        Ok((file, actual))
    }
}

/// Unpacks a .deb once into `cache/unpacked/<deb name>` and returns that directory. The
/// directory appears whole or not at all (unpacked beside it, then renamed).
pub fn unpack(deb: &Path, cache: &Path) -> Result<PathBuf> {
    let stem = deb.file_stem().context("a .deb without a name")?;
    let dest = cache.join("unpacked").join(stem);
    if dest.is_dir() {
        return Ok(dest);
    }
    let tmp = dest.with_extension("partial");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    crate::binary::run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&tmp))?;
    std::fs::rename(&tmp, &dest).with_context(|| format!("renaming to {}", dest.display()))?;
    Ok(dest)
}

fn field(stanza: &str, key: &str) -> Option<String> {
    let prefix = format!("{key}: ");
    stanza
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().to_string())
}

/// sha256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex(&Sha256::digest(&bytes)))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Reads the lock file; a missing file is an empty lock.
pub fn read_lock(path: &Path) -> Result<BTreeMap<String, Locked>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    parse_lock(&text).with_context(|| path.display().to_string())
}

fn parse_lock(text: &str) -> Result<BTreeMap<String, Locked>> {
    let mut lock = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [suite, name, version, sha256] = fields[..] else {
            bail!("line {}: expected `suite package version sha256`", i + 1);
        };
        ensure!(
            sha256.len() == 64,
            "line {}: `{sha256}` is not a sha256",
            i + 1
        );
        let entry = Locked {
            suite: suite.into(),
            name: name.into(),
            version: version.into(),
            sha256: sha256.into(),
        };
        lock.insert(name.to_string(), entry);
    }
    Ok(lock)
}

/// Writes the lock file atomically.
pub fn write_lock(path: &Path, lock: &BTreeMap<String, Locked>) -> Result<()> {
    let mut text = String::from(
        "# Debian packages the image build uses: suite, package, version, sha256 of the .deb.\n\
         # Written by `cargo xtask images --update-lock`; builds read it and never change it.\n",
    );
    for l in lock.values() {
        let _ = writeln!(text, "{} {} {} {}", l.suite, l.name, l.version, l.sha256);
    }
    let tmp = path.with_extension("lock.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Exact packages for `wanted`: from the lock, or (with `update`) freshly resolved from the
/// archive and written back to the lock. Returns each package's .deb path, by name.
pub fn packages(apt: &Apt, wanted: &[Wanted], update: bool) -> Result<BTreeMap<String, PathBuf>> {
    let lock_path = crate::workspace_root().join(LOCK_FILE);
    let mut lock = read_lock(&lock_path)?;
    let mut debs = BTreeMap::new();
    if update {
        apt.update()?;
        for (suite, name, version) in apt.resolve(wanted)? {
            let (path, sha256) = apt.fetch(&name, &version, None)?;
            eprintln!("xtask: locked {suite} {name} {version}");
            lock.retain(|_, l| !same_root(&l.name, &name));
            lock.insert(
                name.clone(),
                Locked {
                    suite,
                    name: name.clone(),
                    version,
                    sha256,
                },
            );
            debs.insert(name, path);
        }
        write_lock(&lock_path, &lock)?;
        return Ok(debs);
    }
    for w in wanted {
        let entry = lock
            .values()
            .find(|l| l.name == w.name || (w.meta && same_root(&l.name, w.name)))
            .with_context(|| {
                format!(
                    "{} is not in {LOCK_FILE}; run `cargo xtask images --update-lock`",
                    w.name
                )
            })?;
        let (path, _) = apt.fetch(&entry.name, &entry.version, Some(&entry.sha256))?;
        debs.insert(entry.name.clone(), path);
    }
    Ok(debs)
}

/// `linux-image-6.12.117+deb13-cloud-amd64` is what the metapackage
/// `linux-image-cloud-amd64` resolves to: a version, then the same flavour.
fn same_root(locked: &str, wanted: &str) -> bool {
    locked == wanted
        || wanted.strip_prefix("linux-image-").is_some_and(|flavour| {
            locked.strip_prefix("linux-image-").is_some_and(|rest| {
                rest.starts_with(|c: char| c.is_ascii_digit())
                    && rest.ends_with(&format!("-{flavour}"))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_round_trips_and_rejects_bad_lines() {
        let sha = "a".repeat(64);
        let text = format!("# c\n\ntrixie busybox-static 1:1.37.0-6 {sha}\n");
        let lock = parse_lock(&text).unwrap();
        assert_eq!(lock["busybox-static"].version, "1:1.37.0-6");
        assert!(
            parse_lock("trixie busybox 1.0\n")
                .unwrap_err()
                .to_string()
                .contains("line 1")
        );
        assert!(parse_lock("trixie busybox 1.0 abc\n").is_err());
    }

    #[test]
    fn metapackage_matches_its_versioned_kernel() {
        assert!(same_root(
            "linux-image-6.12.117+deb13-cloud-amd64",
            "linux-image-cloud-amd64"
        ));
        assert!(!same_root(
            "linux-image-6.12.117+deb13-amd64",
            "linux-image-cloud-amd64"
        ));
        assert!(!same_root("busybox", "busybox-static"));
    }

    #[test]
    fn fields_are_read_from_a_stanza() {
        let s = "Package: x\nVersion: 1.2-3\nDepends: a (= 1), b\n";
        assert_eq!(field(s, "Version").as_deref(), Some("1.2-3"));
        assert_eq!(field(s, "Depends").as_deref(), Some("a (= 1), b"));
        assert_eq!(field(s, "Missing"), None);
    }
}
