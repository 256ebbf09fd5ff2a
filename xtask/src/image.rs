//! `cargo xtask kernel|initramfs|iso|disk|images`: the boot artefacts in dist/.
//!
//! Inputs (Debian packages, unpacked) are cached under the build cache (`/var/cache/rancheros`
//! by default, `ROS_CACHE` to move it), outputs go to dist/: `vmlinuz` and `initrd` (also the
//! PXE pair), `rancheros.iso`, `rancheros.img` and `rancheros.qcow2`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use clap::Args;

use crate::bootloader::{self, Loaders};
use crate::debian::{self, Apt, Wanted};
use crate::tree::FileTree;
use crate::{disk, iso, kernel, sysimages};

/// Debian's cloud kernel: LZ4-compressed, fast to start under emulation.
const KERNEL: Wanted = Wanted {
    suite: "trixie",
    name: "linux-image-cloud-amd64",
    meta: true,
};

/// Tools of the host the image build runs (Debian package names).
const HOST_TOOLS: &[&str] = &[
    "apt",
    "debian-archive-keyring",
    "dosfstools",
    "e2fsprogs",
    "grub-common",
    "kmod",
    "mmdebstrap",
    "mtools",
    "qemu-utils",
    "xorriso",
    "xz-utils",
];

/// How far a build goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// dist/vmlinuz.
    Kernel,
    /// … and dist/initrd.
    Initramfs,
    /// … and dist/rancheros.iso.
    Iso,
    /// … and the disk images (everything).
    All,
}

#[derive(Debug, Args, Clone)]
pub struct ImageArgs {
    /// Resolve every Debian package afresh and rewrite os/debian.lock.
    #[arg(long)]
    pub update_lock: bool,
    /// Print the size of every artefact and write them to BENCHMARKS.md (builds everything).
    #[arg(long)]
    pub report: bool,
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
    /// dist/rancheros.iso.
    pub iso: PathBuf,
    /// dist/rancheros.img (raw).
    pub disk: PathBuf,
    /// dist/rancheros.qcow2.
    pub qcow2: PathBuf,
    /// File names of the images preloaded in the initramfs.
    pub preloaded: Vec<String>,
    /// Bytes of the initramfs without the preloaded images.
    pub base_initramfs: u64,
}

/// The build cache for Debian inputs.
pub fn cache_dir() -> Result<PathBuf> {
    let dir = std::env::var_os("ROS_CACHE")
        .map_or_else(|| PathBuf::from("/var/cache/rancheros"), PathBuf::from);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Builds up to `stage`: `ros`, the kernel, the initramfs, the ISO, the disk images.
pub fn build(args: &ImageArgs, stage: Stage) -> Result<Artifacts> {
    crate::tools::ensure_debian_packages(HOST_TOOLS)?;
    let dist = crate::dist_dir()?;
    let mut artifacts = Artifacts {
        kernel: dist.join("vmlinuz"),
        initrd: dist.join("initrd"),
        iso: dist.join("rancheros.iso"),
        disk: dist.join("rancheros.img"),
        qcow2: dist.join("rancheros.qcow2"),
        preloaded: Vec::new(),
        base_initramfs: 0,
    };
    let cache = cache_dir()?;
    let apt = Apt::open(&cache)?;
    let mut wanted = vec![KERNEL];
    wanted.extend_from_slice(bootloader::PACKAGES);
    wanted.extend_from_slice(sysimages::BASE_PACKAGES);
    let debs = debian::packages(&apt, &wanted, args.update_lock)?;
    let kernel_deb = debs
        .iter()
        .find(|(name, _)| name.starts_with("linux-image-"))
        .map(|(_, deb)| deb)
        .context("no kernel package resolved")?;
    let tree = kernel::unpack(kernel_deb, &cache)?;
    std::fs::copy(&tree.vmlinuz, &artifacts.kernel).context("copying the kernel to dist/")?;
    report("kernel", &artifacts.kernel);
    if stage == Stage::Kernel {
        return Ok(artifacts);
    }

    let ros = crate::binary::build(&crate::binary::BuildArgs { debug: false })?;
    let applets = applets(&ros)?;
    let images_dir = dist.join("images");
    std::fs::create_dir_all(&images_dir)?;
    let (base, base_tree) = sysimages::build_base(&debs, &images_dir)?;
    let console = crate::unpacked::build(
        &crate::unpacked::console_image(),
        &apt,
        &base_tree,
        &images_dir,
        args.update_lock,
    )?;
    let mut preload = vec![base, console];
    let mut aliases = Vec::new();
    let mut newest_engine = true;
    for image in sysimages::debian_images() {
        let path = crate::rootfs::build(&image, &cache, &images_dir, args.update_lock)?;
        // Of these, the newest engine is preloaded.
        let engine = image.tag_from.is_some();
        if engine && newest_engine {
            // The `docker` service names the engine this OS ships by the OS's own tag.
            let shipped = crate::oci::reference_of(&path)?;
            let repository = shipped
                .rsplit_once(':')
                .map_or(shipped.as_str(), |(r, _)| r);
            aliases.push((
                shipped.clone(),
                format!("{repository}:{}", sysimages::tag()),
            ));
            preload.push(path);
        }
        newest_engine &= !engine;
    }
    // One archive for all of them, so the layer they share is in the initramfs once.
    let preload_archive = cache.join("preload.tar");
    crate::oci::merge_archives(&preload, &aliases, &preload_archive)?;
    artifacts.base_initramfs = build_initramfs(
        &tree,
        &ros,
        &applets,
        std::slice::from_ref(&preload_archive),
        &artifacts.initrd,
        args.zstd_level,
    )?;
    artifacts.preloaded = preload
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    report("initramfs", &artifacts.initrd);
    if stage == Stage::Initramfs {
        return Ok(artifacts);
    }

    let loaders = Loaders::unpack(&debs, &cache)?;
    let work = tempfile::Builder::new()
        .prefix("media-")
        .tempdir_in(&cache)
        .context("creating a scratch directory in the cache")?;
    iso::build(
        &artifacts.kernel,
        &artifacts.initrd,
        &loaders,
        work.path(),
        &artifacts.iso,
    )?;
    report("ISO", &artifacts.iso);
    if stage == Stage::Iso {
        return Ok(artifacts);
    }
    disk::build(
        &artifacts.kernel,
        &artifacts.initrd,
        &loaders,
        work.path(),
        &artifacts.disk,
        &artifacts.qcow2,
    )?;
    report("disk (raw, sparse)", &artifacts.disk);
    report("disk (qcow2)", &artifacts.qcow2);
    if args.report {
        crate::report::report(&artifacts, &artifacts.preloaded, artifacts.base_initramfs)?;
    }
    Ok(artifacts)
}

fn report(what: &str, path: &Path) {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "xtask: {what}: {} ({:.1} MiB)",
        path.display(),
        size as f64 / f64::from(1 << 20)
    );
}

/// `ros` as /init with its applet links, the modules with their load list, os-release, and
/// the images to preload. Two cpio archives back to back, as the kernel allows: first the
/// images, uncompressed (their layers are zstd already), then the rest, compressed. Returns
/// the size of the compressed part.
fn build_initramfs(
    tree: &kernel::KernelTree,
    ros: &Path,
    applets: &[String],
    preload: &[PathBuf],
    out: &Path,
    level: i32,
) -> Result<u64> {
    let wanted = kernel::wanted_modules(&crate::workspace_root().join(kernel::MODULE_LIST))?;
    let modules = kernel::select(tree, &wanted)?;
    let mut archive = FileTree::new();
    add_base(&mut archive, ros, applets)?;
    let mut images = FileTree::new();
    for image in preload {
        let name = image.file_name().context("an image without a name")?;
        let bytes = std::fs::read(image).with_context(|| format!("reading {}", image.display()))?;
        images.file(
            &format!("{}/{}", ros_init_images_dir(), name.to_string_lossy()),
            0o644,
            bytes,
        )?;
    }
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
    let work = tempfile::Builder::new()
        .prefix("depmod-")
        .tempdir_in(cache_dir()?)?;
    for (name, bytes) in kernel::depmod(tree, &modules, work.path())? {
        archive.file(&format!("{module_root}/{name}"), 0o644, bytes)?;
    }
    let base = write_initramfs(&images, &archive, out, level)?;
    eprintln!(
        "xtask: initramfs holds {} modules and {} images",
        modules.len(),
        preload.len()
    );
    Ok(base)
}

/// Where `/init` looks for the images to preload (`ros_init::IMAGES_DIR`).
fn ros_init_images_dir() -> &'static str {
    "usr/share/ros/images"
}

/// `os-release` of this build.
pub fn os_release() -> String {
    let version = env!("CARGO_PKG_VERSION");
    format!(
        "NAME=\"RancherOS\"\nID=rancheros\nVERSION=v{version}\nVERSION_ID=v{version}\n\
         PRETTY_NAME=\"RancherOS v{version}\"\nHOME_URL=\"https://github.com/rancher/os\"\n"
    )
}

/// The root skeleton: `ros` with its applet links, device nodes for the first console
/// output, mount points and os-release.
fn add_base(archive: &mut FileTree, ros: &Path, applets: &[String]) -> Result<()> {
    let binary = std::fs::read(ros).with_context(|| format!("reading {}", ros.display()))?;
    archive.file("usr/bin/ros", 0o755, binary)?;
    for applet in applets {
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
    archive.file("usr/lib/os-release", 0o644, os_release().into_bytes())?;
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

/// Writes both archives; returns the size of the compressed one.
fn write_initramfs(
    plain: &FileTree,
    compressed: &FileTree,
    path: &Path,
    level: i32,
) -> Result<u64> {
    let tmp = path.with_extension("tmp");
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
    );
    if plain.len() > 0 {
        crate::cpio::write(plain, &mut file)?;
    }
    file.flush()?;
    let plain_len = file.get_ref().metadata()?.len();
    let mut encoder = zstd::Encoder::new(file, level)?;
    // The kernel's zstd decompressor wants the content checksum off and a bounded window.
    encoder.include_checksum(false)?;
    encoder.window_log(22)?;
    crate::cpio::write(compressed, &mut encoder)?;
    let file = encoder.finish()?.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    let total = file.metadata()?.len();
    std::fs::rename(&tmp, path)?;
    Ok(total - plain_len)
}
