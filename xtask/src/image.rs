//! `cargo xtask images|kernel|initramfs`: the kernel and the initramfs in dist/.
//!
//! Inputs (Debian packages, the unpacked kernel) are cached under the build cache
//! (`/var/cache/rancheros` by default, `ROS_CACHE` to move it), outputs go to dist/.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use clap::Args;

use crate::cpio::Archive;
use crate::debian::{self, Apt, Wanted};
use crate::kernel;

/// Debian's cloud kernel: LZ4-compressed, fast to start under emulation.
const KERNEL: Wanted = Wanted {
    suite: "trixie",
    name: "linux-image-cloud-amd64",
    meta: true,
};

#[derive(Debug, Args, Clone)]
pub struct ImageArgs {
    /// Resolve every Debian package afresh and rewrite os/debian.lock.
    #[arg(long)]
    pub update_lock: bool,
    /// zstd level of the initramfs (19 is smallest, 3 is quickest).
    #[arg(long, default_value_t = 19)]
    pub zstd_level: i32,
}

/// What the build produced.
#[derive(Debug)]
pub struct Artifacts {
    /// dist/vmlinuz.
    pub kernel: PathBuf,
    /// dist/initrd.
    pub initrd: PathBuf,
    /// The kernel's release.
    pub release: String,
}

/// The build cache for Debian inputs.
pub fn cache_dir() -> Result<PathBuf> {
    let dir = std::env::var_os("ROS_CACHE")
        .map_or_else(|| PathBuf::from("/var/cache/rancheros"), PathBuf::from);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Builds `ros`, the kernel and the initramfs.
pub fn build_all(args: &ImageArgs) -> Result<Artifacts> {
    let ros = crate::binary::build(&crate::binary::BuildArgs { debug: false })?;
    let cache = cache_dir()?;
    let apt = Apt::open(&cache)?;
    let debs = debian::packages(&apt, &[KERNEL], args.update_lock)?;
    let kernel_deb = debs.values().next().context("no kernel package resolved")?;
    let tree = kernel::unpack(kernel_deb, &cache)?;
    let dist = crate::dist_dir()?;
    let vmlinuz = dist.join("vmlinuz");
    std::fs::copy(&tree.vmlinuz, &vmlinuz).context("copying the kernel to dist/")?;

    let wanted = kernel::wanted_modules(&crate::workspace_root().join(kernel::MODULE_LIST))?;
    let modules = kernel::select(&tree, &wanted)?;
    let mut archive = Archive::new();
    add_base(&mut archive, &ros)?;
    let module_root = format!("usr/lib/modules/{}", tree.release);
    let mut load_list = String::from("# load order, written by cargo xtask initramfs\n");
    for m in &modules {
        archive.file(
            &format!("{module_root}/{}", m.rel.display()),
            0o644,
            m.bytes.clone(),
        )?;
        load_list.push_str(&format!("{}\n", m.rel.display()));
    }
    archive.file(
        &format!("{module_root}/ros.modules"),
        0o644,
        load_list.into_bytes(),
    )?;

    let initrd = dist.join("initrd");
    write_compressed(&archive, &initrd, args.zstd_level)?;
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "xtask: kernel {} ({} bytes), initramfs {} ({} bytes, {} modules)",
        tree.release,
        size(&vmlinuz),
        initrd.display(),
        size(&initrd),
        modules.len()
    );
    Ok(Artifacts {
        kernel: vmlinuz,
        initrd,
        release: tree.release,
    })
}

/// The root skeleton: `ros` with its applet links, device nodes for the first console
/// output, mount points and os-release.
fn add_base(archive: &mut Archive, ros: &Path) -> Result<()> {
    let binary = std::fs::read(ros).with_context(|| format!("reading {}", ros.display()))?;
    archive.file("usr/bin/ros", 0o755, binary)?;
    for applet in applets(ros)? {
        if applet != "ros" {
            archive.symlink(&format!("usr/bin/{applet}"), "ros")?;
        }
    }
    archive.symlink("init", "usr/bin/ros")?;
    for (link, target) in [
        ("bin", "usr/bin"),
        ("sbin", "usr/bin"),
        ("lib", "usr/lib"),
        ("usr/sbin", "bin"),
    ] {
        archive.symlink(link, target)?;
    }
    // The kernel opens /dev/console for init before anything is mounted.
    archive.char_dev("dev/console", 0o600, 5, 1)?;
    archive.char_dev("dev/null", 0o666, 1, 3)?;
    for dir in [
        "proc",
        "sys",
        "run",
        "etc",
        "var",
        "root",
        "usr/share/ros/images",
    ] {
        archive.dir(dir, 0o755)?;
    }
    archive.dir("tmp", 0o1777)?;
    let version = env!("CARGO_PKG_VERSION");
    let os_release = format!(
        "NAME=\"RancherOS\"\nID=rancheros\nVERSION=v{version}\nVERSION_ID=v{version}\n\
         PRETTY_NAME=\"RancherOS v{version}\"\nHOME_URL=\"https://github.com/rancher/os\"\n"
    );
    archive.file("usr/lib/os-release", 0o644, os_release.into_bytes())?;
    archive.symlink("etc/os-release", "../usr/lib/os-release")?;
    Ok(())
}

/// The applet names, as the built binary lists them (`ros applets`).
fn applets(ros: &Path) -> Result<Vec<String>> {
    let out = Command::new(ros)
        .arg("applets")
        .output()
        .with_context(|| format!("running {} applets", ros.display()))?;
    anyhow::ensure!(out.status.success(), "{} applets failed", ros.display());
    Ok(String::from_utf8(out.stdout)?
        .lines()
        .filter_map(|l| l.split('\t').next())
        .map(str::to_string)
        .collect())
}

fn write_compressed(archive: &Archive, path: &Path, level: i32) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut encoder = zstd::Encoder::new(file, level)?;
    // The kernel's zstd decompressor wants the content checksum off and a bounded window.
    encoder.include_checksum(false)?;
    encoder.window_log(22)?;
    archive.write_to(&mut encoder)?;
    encoder.finish()?.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
