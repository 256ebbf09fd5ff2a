//! `cargo xtask images --report`: the size of every artefact, printed and written to
//! BENCHMARKS.md between markers, so other benchmark sections there stay as they are.

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::image::Artifacts;

const BEGIN: &str = "<!-- sizes:begin (written by `cargo xtask images --report`) -->";
const END: &str = "<!-- sizes:end -->";
const MIB: f64 = (1 << 20) as f64;

/// The targets of the image issue, in bytes.
const KERNEL_AND_BASE_TARGET: u64 = 25 << 20;
const ISO_TARGET: u64 = 80 << 20;

fn size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len())
}

/// Bytes an image's layers hold uncompressed, by decompressing them.
fn uncompressed_layers(archive: &Path) -> Result<u64> {
    let mut blobs = std::collections::BTreeMap::new();
    let mut tar = tar::Archive::new(std::fs::File::open(archive)?);
    let mut manifest_json = Vec::new();
    for entry in tar.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        if name == "manifest.json" {
            manifest_json = data;
        } else {
            blobs.insert(name, data);
        }
    }
    let manifest: Value = serde_json::from_slice(&manifest_json)
        .with_context(|| format!("{}: manifest.json", archive.display()))?;
    let mut total = 0;
    for layer in manifest[0]["Layers"].as_array().context("no Layers")? {
        let name = layer.as_str().context("a layer that is not a path")?;
        let blob = blobs
            .get(name)
            .with_context(|| format!("{name} is missing"))?;
        let mut decoder = zstd::Decoder::new(&blob[..])?;
        decoder.window_log_max(31)?;
        total += std::io::copy(&mut decoder, &mut std::io::sink())?;
    }
    Ok(total)
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / MIB)
}

fn verdict(value: u64, target: u64) -> &'static str {
    if value <= target {
        "meets"
    } else {
        "**misses**"
    }
}

/// Measures the artefacts, prints the table and writes it into BENCHMARKS.md.
pub fn report(built: &Artifacts, preloaded: &[String], base_initramfs: u64) -> Result<()> {
    let kernel = size(&built.kernel)?;
    let initrd = size(&built.initrd)?;
    let iso = size(&built.iso)?;
    let qcow2 = size(&built.qcow2)?;
    let images_dir = built.kernel.with_file_name("images");
    let mut images: Vec<_> = std::fs::read_dir(&images_dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tar"))
        .collect();
    images.sort();

    let mut text = String::new();
    let _ = writeln!(text, "{BEGIN}");
    let _ = writeln!(text, "## Sizes\n");
    let _ = writeln!(
        text,
        "Measured by `cargo xtask images --report` on {} (x86_64). MiB = 2^20 bytes.\n",
        today()
    );
    let _ = writeln!(text, "| artefact | size (MiB) | notes |\n|---|---|---|");
    let _ = writeln!(
        text,
        "| kernel (`vmlinuz`, LZ4) | {} | Debian trixie cloud kernel |",
        mib(kernel)
    );
    let _ = writeln!(
        text,
        "| initramfs without images (zstd) | {} | `ros`, modules, depmod indexes |",
        mib(base_initramfs)
    );
    let _ = writeln!(
        text,
        "| initramfs (`initrd`) | {} | with the preloaded images: {} |",
        mib(initrd),
        preloaded.join(", ")
    );
    let _ = writeln!(
        text,
        "| ISO (`rancheros.iso`) | {} | BIOS + UEFI, hybrid |",
        mib(iso)
    );
    let _ = writeln!(
        text,
        "| disk (`rancheros.qcow2`) | {} | compressed qcow2 |\n",
        mib(qcow2)
    );
    let _ = writeln!(
        text,
        "| image | archive, zstd layers (MiB) | layers uncompressed (MiB) | preloaded |\n|---|---|---|---|"
    );
    let mut engine_images = 0;
    for image in &images {
        let name = image
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let is_preloaded = preloaded.contains(&name);
        if is_preloaded && name.starts_with("os-docker-") {
            engine_images += size(image)?;
        }
        let _ = writeln!(
            text,
            "| `{name}` | {} | {} | {} |",
            mib(size(image)?),
            mib(uncompressed_layers(image)?),
            if is_preloaded { "yes" } else { "no" }
        );
    }
    let without_engine = kernel + initrd.saturating_sub(engine_images);
    let _ = writeln!(
        text,
        "\n| target | value (MiB) | target (MiB) | |\n|---|---|---|---|"
    );
    let _ = writeln!(
        text,
        "| kernel + initramfs without the user-engine image | {} | {} | {} |",
        mib(without_engine),
        mib(KERNEL_AND_BASE_TARGET),
        verdict(without_engine, KERNEL_AND_BASE_TARGET)
    );
    let _ = writeln!(
        text,
        "| ISO with the newest Docker | {} | {} | {} |",
        mib(iso),
        mib(ISO_TARGET),
        verdict(iso, ISO_TARGET)
    );
    let _ = writeln!(
        text,
        "\nAnchors: Talos' initramfs is 57.7 MiB; RancherOS 1.5's initrd alone was 96.8 MiB."
    );
    let _ = writeln!(text, "{END}");

    eprint!("{text}");
    write_section(BEGIN, END, &text)
}

/// Replaces the part of BENCHMARKS.md between `begin` and `end` (markers included in `text`),
/// or appends `text` when the markers are not there yet.
pub fn write_section(begin: &str, end: &str, text: &str) -> Result<()> {
    let path = crate::workspace_root().join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        "# Benchmarks\n\nFigures measured on this project's CI machine kind; the commands that \
         produce each section are named in it.\n\n"
            .to_string()
    });
    let new = match (old.find(begin), old.find(end)) {
        (Some(b), Some(e)) if b < e => format!("{}{text}{}", &old[..b], &old[e + end.len() + 1..]),
        _ => format!("{old}\n{text}"),
    };
    let tmp = path.with_extension("md.tmp");
    std::fs::write(&tmp, new)?;
    std::fs::rename(&tmp, &path)?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

pub fn today() -> String {
    std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "an unknown date".into())
}
