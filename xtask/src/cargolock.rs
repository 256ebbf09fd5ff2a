//! The part of `Cargo.lock` one package is built from: what an image cache key hashes, so a
//! dependency added to some other crate of the workspace does not rebuild the images.

use std::collections::{BTreeSet, HashMap};

/// One `[[package]]` entry: its name, version and checksum line, and its dependency strings.
#[derive(Debug, Default)]
struct Package {
    name: String,
    version: String,
    checksum: String,
    dependencies: Vec<String>,
}

fn packages(lock: &str) -> Vec<Package> {
    let mut out: Vec<Package> = Vec::new();
    let mut in_deps = false;
    for line in lock.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            out.push(Package::default());
            in_deps = false;
            continue;
        }
        let Some(current) = out.last_mut() else {
            continue;
        };
        if in_deps {
            if line == "]" {
                in_deps = false;
            } else {
                current
                    .dependencies
                    .push(line.trim_end_matches(',').trim_matches('"').to_string());
            }
        } else if let Some(v) = line.strip_prefix("name = ") {
            current.name = v.trim_matches('"').to_string();
        } else if let Some(v) = line.strip_prefix("version = ") {
            current.version = v.trim_matches('"').to_string();
        } else if let Some(v) = line.strip_prefix("checksum = ") {
            current.checksum = v.trim_matches('"').to_string();
        } else if line == "dependencies = [" {
            in_deps = true;
        }
    }
    out
}

/// The `name version checksum` lines of `root` and everything it depends on, sorted.
/// A dependency string is `name` or `name version [(source)]`, as Cargo writes it.
pub fn closure(lock: &str, root: &str) -> String {
    let all = packages(lock);
    let mut by_name: HashMap<&str, Vec<&Package>> = HashMap::new();
    for p in &all {
        by_name.entry(&p.name).or_default().push(p);
    }
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    let mut lines = BTreeSet::new();
    let mut queue: Vec<&Package> = by_name.get(root).cloned().unwrap_or_default();
    while let Some(p) = queue.pop() {
        if !seen.insert((p.name.clone(), p.version.clone())) {
            continue;
        }
        lines.insert(format!("{} {} {}", p.name, p.version, p.checksum));
        for dep in &p.dependencies {
            let mut words = dep.split_whitespace();
            let name = words.next().unwrap_or_default();
            let version = words.next();
            for candidate in by_name.get(name).into_iter().flatten() {
                if version.is_none_or(|v| v == candidate.version) {
                    queue.push(candidate);
                }
            }
        }
    }
    lines.into_iter().map(|l| l + "\n").collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
version = 4

[[package]]
name = "a"
version = "1.0.0"
dependencies = [
 "b 2.0.0",
 "c",
]

[[package]]
name = "b"
version = "1.0.0"
checksum = "b1"

[[package]]
name = "b"
version = "2.0.0"
checksum = "b2"

[[package]]
name = "c"
version = "0.1.0"
checksum = "c1"

[[package]]
name = "unrelated"
version = "9.0.0"
dependencies = [
 "b 1.0.0",
]
"#;

    #[test]
    fn closure_follows_versioned_and_plain_dependencies_only() {
        assert_eq!(closure(LOCK, "a"), "a 1.0.0 \nb 2.0.0 b2\nc 0.1.0 c1\n");
        assert_eq!(closure(LOCK, "missing"), "");
    }

    #[test]
    fn the_workspace_lock_holds_xtask_and_its_archive_crates() {
        let ours = closure(include_str!("../../Cargo.lock"), "xtask");
        assert!(ours.contains("\nzstd "), "{ours}");
        assert!(ours.contains("\ntar "), "{ours}");
    }
}
