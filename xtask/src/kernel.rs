//! Debian's cloud kernel: the vmlinuz, and the modules `os/modules.txt` names plus their
//! dependencies (read from each module's `.modinfo`, so no depmod is needed), decompressed and
//! in load order.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};

use crate::elf;

/// The module list, relative to the workspace root.
pub const MODULE_LIST: &str = "os/modules.txt";

/// An unpacked kernel package.
#[derive(Debug)]
pub struct KernelTree {
    /// `uname -r` of the kernel, e.g. `6.12.117+deb13-cloud-amd64`.
    pub release: String,
    /// The compressed kernel image.
    pub vmlinuz: PathBuf,
    /// `…/lib/modules/<release>`.
    pub module_dir: PathBuf,
}

/// One module for the initramfs.
#[derive(Debug, Clone)]
pub struct Module {
    /// Path below the module directory, without compression suffix (`kernel/…/x.ko`).
    pub rel: PathBuf,
    /// The uncompressed module.
    pub bytes: Vec<u8>,
}

/// Unpacks the kernel .deb (once) and finds the kernel and its modules in it.
pub fn unpack(deb: &Path, cache: &Path) -> Result<KernelTree> {
    let dest = crate::debian::unpack(deb, cache)?;
    let modules_root = ["usr/lib/modules", "lib/modules"]
        .iter()
        .map(|d| dest.join(d))
        .find(|d| d.is_dir())
        .context("the kernel package has no lib/modules")?;
    let release = std::fs::read_dir(&modules_root)?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .context("lib/modules is empty")?;
    let vmlinuz = dest.join("boot").join(format!("vmlinuz-{release}"));
    ensure!(vmlinuz.exists(), "{} is missing", vmlinuz.display());
    Ok(KernelTree {
        release: release.clone(),
        vmlinuz,
        module_dir: modules_root.join(release),
    })
}

/// Reads the module names of `os/modules.txt` (`#` comments, blank lines ignored).
pub fn wanted_modules(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty())
        .map(normalize)
        .collect())
}

/// Module names use `_`; file names sometimes `-`.
fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// The wanted modules and everything they depend on, dependencies first.
pub fn select(tree: &KernelTree, wanted: &[String]) -> Result<Vec<Module>> {
    let index = index_modules(&tree.module_dir)?;
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    for name in wanted {
        visit(
            name,
            &index,
            &tree.module_dir,
            &mut seen,
            &mut order,
            &mut Vec::new(),
        )
        .with_context(|| format!("module {name} (listed in {MODULE_LIST})"))?;
    }
    Ok(order)
}

fn visit(
    name: &str,
    index: &BTreeMap<String, PathBuf>,
    dir: &Path,
    seen: &mut HashSet<String>,
    order: &mut Vec<Module>,
    stack: &mut Vec<String>,
) -> Result<()> {
    if seen.contains(name) {
        return Ok(());
    }
    if stack.iter().any(|s| s == name) {
        bail!("dependency cycle: {} -> {name}", stack.join(" -> "));
    }
    let Some(path) = index.get(name) else {
        bail!("no module called {name} in this kernel (is it built in?)");
    };
    let bytes = read_module(path)?;
    let modinfo = elf::section(&bytes, ".modinfo")
        .with_context(|| path.display().to_string())?
        .with_context(|| format!("{} has no .modinfo", path.display()))?;
    stack.push(name.to_string());
    for dep in depends(modinfo) {
        visit(&dep, index, dir, seen, order, stack)?;
    }
    stack.pop();
    seen.insert(name.to_string());
    let rel = path.strip_prefix(dir)?.to_path_buf();
    let rel = match rel.extension() {
        Some(x) if x == "xz" || x == "zst" || x == "gz" => rel.with_extension(""),
        _ => rel,
    };
    order.push(Module { rel, bytes });
    Ok(())
}

/// The `depends=` entry of a `.modinfo` section (NUL-separated `key=value` strings).
fn depends(modinfo: &[u8]) -> Vec<String> {
    modinfo
        .split(|&b| b == 0)
        .filter_map(|kv| kv.strip_prefix(b"depends="))
        .flat_map(|v| {
            String::from_utf8_lossy(v)
                .split(',')
                .map(normalize)
                .collect::<Vec<_>>()
        })
        .filter(|d| !d.is_empty())
        .collect()
}

/// The index files `depmod` writes for `modules` (modules.dep, modules.alias, their .bin
/// forms…), by file name, so that modprobe and udev's module autoloading work in the image.
/// The kernel package's modules.builtin and modules.order go along, so modprobe knows what
/// is built in.
pub fn depmod(
    tree: &KernelTree,
    modules: &[Module],
    work: &Path,
) -> Result<Vec<(String, Vec<u8>)>> {
    let base = work.join("depmod");
    let _ = std::fs::remove_dir_all(&base);
    let dir = base.join("lib/modules").join(&tree.release);
    for m in modules {
        let path = dir.join(&m.rel);
        std::fs::create_dir_all(path.parent().unwrap_or(&dir))?;
        std::fs::write(&path, &m.bytes)?;
    }
    for name in [
        "modules.builtin",
        "modules.builtin.modinfo",
        "modules.order",
    ] {
        let from = tree.module_dir.join(name);
        if from.exists() {
            std::fs::copy(&from, dir.join(name))?;
        }
    }
    crate::binary::run(
        Command::new("depmod")
            .arg("--basedir")
            .arg(&base)
            .arg("--all")
            .arg(&tree.release),
    )
    .context("running depmod")?;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("modules.") && entry.file_type()?.is_file() {
            files.push((name, std::fs::read(entry.path())?));
        }
    }
    files.sort();
    ensure!(
        files.iter().any(|(n, _)| n == "modules.dep"),
        "depmod wrote no modules.dep"
    );
    let _ = std::fs::remove_dir_all(&base);
    Ok(files)
}

fn index_modules(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut index = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let file = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if let Some(stem) = [".ko.xz", ".ko.zst", ".ko.gz", ".ko"]
                .iter()
                .find_map(|s| file.strip_suffix(s))
            {
                index.insert(normalize(stem), path);
            }
        }
    }
    Ok(index)
}

fn read_module(path: &Path) -> Result<Vec<u8>> {
    let name = path.to_string_lossy();
    if !name.ends_with(".xz") {
        ensure!(
            name.ends_with(".ko"),
            "{name}: only .ko and .ko.xz modules are handled"
        );
        return std::fs::read(path).with_context(|| format!("reading {name}"));
    }
    let out = Command::new("xz")
        .arg("-dc")
        .arg(path)
        .output()
        .context("running xz")?;
    ensure!(
        out.status.success(),
        "xz -dc {name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_are_split_and_normalized() {
        let modinfo = b"license=GPL\0depends=nf_conntrack,crc32c-generic\0name=nf_nat\0";
        assert_eq!(depends(modinfo), ["nf_conntrack", "crc32c_generic"]);
        assert!(depends(b"depends=\0name=x\0").is_empty());
    }

    #[test]
    fn module_list_ignores_comments() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("modules.txt");
        std::fs::write(&list, "# c\nvirtio-mmio\n\noverlay # fs\n").unwrap();
        assert_eq!(wanted_modules(&list).unwrap(), ["virtio_mmio", "overlay"]);
    }
}
