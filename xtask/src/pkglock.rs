//! Per-image package locks, `os/images/<image>.lock`: one `package version` line per
//! package inside the image. A build compares what it installed with the lock and fails on
//! any difference; `--update-lock` rewrites the lock instead.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Where the per-image package locks live, relative to the workspace root.
pub const LOCK_DIR: &str = "os/images";

pub fn lock_path(name: &str) -> PathBuf {
    crate::workspace_root()
        .join(LOCK_DIR)
        .join(format!("{name}.lock"))
}

pub fn lock_text(name: &str, packages: &BTreeMap<String, String>) -> String {
    let mut text = format!(
        "# Packages inside the {name} image, as installed. Written by\n\
         # `cargo xtask images --update-lock`; a build that installs anything else fails.\n"
    );
    for (p, v) in packages {
        let _ = writeln!(text, "{p} {v}");
    }
    text
}

pub fn parse_lock(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .map(|(p, v)| (p.to_string(), v.trim().to_string()))
        .collect()
}

/// What differs between the lock and what was installed, one line each.
pub fn lock_drift(
    locked: &BTreeMap<String, String>,
    got: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut drift = Vec::new();
    for (p, v) in got {
        match locked.get(p) {
            None => drift.push(format!("{p} {v} is not in the lock")),
            Some(l) if l != v => drift.push(format!("{p} is {v}, the lock says {l}")),
            Some(_) => {}
        }
    }
    for (p, l) in locked {
        if !got.contains_key(p) {
            drift.push(format!("{p} {l} is locked but was not installed"));
        }
    }
    drift
}

/// Checks `got` against the lock of `name`, or with `update` writes it as the new lock.
pub fn check_or_update(name: &str, got: &BTreeMap<String, String>, update: bool) -> Result<()> {
    let lock = lock_path(name);
    if update {
        std::fs::create_dir_all(lock.parent().unwrap_or(Path::new(".")))?;
        std::fs::write(&lock, lock_text(name, got))?;
        return Ok(());
    }
    let locked = read(name)?.with_context(|| {
        format!(
            "{} is missing; run `cargo xtask images --update-lock`",
            lock.display()
        )
    })?;
    let drift = lock_drift(&locked, got);
    if !drift.is_empty() {
        bail!(
            "{} does not match what the archive installs now (run `cargo xtask images \
             --update-lock` to take the archive's versions):\n  {}",
            lock.display(),
            drift.join("\n  ")
        );
    }
    Ok(())
}

/// The lock of `name`, if there is one.
pub fn read(name: &str) -> Result<Option<BTreeMap<String, String>>> {
    let lock = lock_path(name);
    match std::fs::read_to_string(&lock) {
        Ok(text) => Ok(Some(parse_lock(&text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", lock.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_names_every_difference() {
        let locked = parse_lock("a 1\nb 2\nc 3\n");
        let got = parse_lock("a 1\nb 2.1\nd 4\n");
        let drift = lock_drift(&locked, &got);
        assert_eq!(drift.len(), 3, "{drift:?}");
        assert!(drift.iter().any(|d| d == "b is 2.1, the lock says 2"));
        assert!(drift.iter().any(|d| d.starts_with("d 4 is not")));
        assert!(drift.iter().any(|d| d.starts_with("c 3 is locked")));
    }
}
