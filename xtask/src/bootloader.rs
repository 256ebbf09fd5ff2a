//! Boot loaders from Debian packages: ISOLINUX for BIOS boots of the ISO, GRUB for UEFI (ISO
//! and disk) and for BIOS boots of the disk. GRUB images are made with the host's
//! `grub-mkimage` from the modules of trixie's GRUB packages, with every module they need
//! built in, so nothing is read from a module directory at boot.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};

use crate::debian::{self, Wanted};

/// The Debian packages the loaders come from.
pub const PACKAGES: &[Wanted] = &[
    Wanted {
        suite: "trixie",
        name: "isolinux",
        meta: false,
    },
    Wanted {
        suite: "trixie",
        name: "syslinux-common",
        meta: false,
    },
    Wanted {
        suite: "trixie",
        name: "grub-efi-amd64-bin",
        meta: false,
    },
    Wanted {
        suite: "trixie",
        name: "grub-pc-bin",
        meta: false,
    },
];

/// The file whose presence marks a RancherOS boot medium; GRUB searches for it.
pub const MARKER: &str = "boot/grub/rancheros";

/// Kernel parameters of every ISO and disk boot: both consoles (the serial one last, so it
/// is `/dev/console`), and a reboot 10 s after a panic.
const KERNEL_ARGS: &str = "console=tty0 console=ttyS0,115200n8 panic=10";

/// GRUB modules built into both images.
const GRUB_COMMON: &[&str] = &[
    "part_msdos",
    "part_gpt",
    "fat",
    "iso9660",
    "ext2",
    "search",
    "search_fs_file",
    "normal",
    "configfile",
    "linux",
    "echo",
    "test",
    "serial",
    "terminal",
    "sleep",
];

/// Where each loader's files are, once the packages are unpacked.
#[derive(Debug)]
pub struct Loaders {
    /// `isolinux.bin` and `isohdpfx.bin`.
    pub isolinux: PathBuf,
    /// `ldlinux.c32`.
    pub syslinux_bios: PathBuf,
    /// GRUB's x86_64-efi modules.
    pub grub_efi: PathBuf,
    /// GRUB's i386-pc modules, `boot.img` among them.
    pub grub_pc: PathBuf,
}

impl Loaders {
    /// Unpacks the loader packages from `debs` (by package name).
    pub fn unpack(debs: &BTreeMap<String, PathBuf>, cache: &Path) -> Result<Self> {
        let root = |name: &str| -> Result<PathBuf> {
            let deb = debs
                .get(name)
                .with_context(|| format!("{name} was not resolved"))?;
            debian::unpack(deb, cache)
        };
        let loaders = Self {
            isolinux: root("isolinux")?.join("usr/lib/ISOLINUX"),
            syslinux_bios: root("syslinux-common")?.join("usr/lib/syslinux/modules/bios"),
            grub_efi: root("grub-efi-amd64-bin")?.join("usr/lib/grub/x86_64-efi"),
            grub_pc: root("grub-pc-bin")?.join("usr/lib/grub/i386-pc"),
        };
        for dir in [
            &loaders.isolinux,
            &loaders.syslinux_bios,
            &loaders.grub_efi,
            &loaders.grub_pc,
        ] {
            ensure!(
                dir.is_dir(),
                "{} is missing from its package",
                dir.display()
            );
        }
        Ok(loaders)
    }

    /// `BOOTX64.EFI`: GRUB for UEFI, which finds the medium and reads its grub.cfg.
    pub fn grub_efi_image(&self, work: &Path) -> Result<PathBuf> {
        let out = work.join("BOOTX64.EFI");
        let mut modules = GRUB_COMMON.to_vec();
        modules.extend(["efi_gop", "all_video"]);
        self.mkimage(&self.grub_efi, "x86_64-efi", &modules, work, &out)?;
        Ok(out)
    }

    /// GRUB's BIOS `core.img` for the disk, which goes right after the MBR, and `boot.img`
    /// whose first 440 bytes are the MBR's code.
    pub fn grub_bios_images(&self, work: &Path) -> Result<(PathBuf, PathBuf)> {
        let out = work.join("core.img");
        let mut modules = GRUB_COMMON.to_vec();
        modules.push("biosdisk");
        self.mkimage(&self.grub_pc, "i386-pc", &modules, work, &out)?;
        Ok((self.grub_pc.join("boot.img"), out))
    }

    fn mkimage(
        &self,
        dir: &Path,
        format: &str,
        modules: &[&str],
        work: &Path,
        out: &Path,
    ) -> Result<()> {
        let early = work.join(format!("early-{format}.cfg"));
        std::fs::write(&early, early_config())?;
        crate::binary::run(
            Command::new("grub-mkimage")
                .arg("--directory")
                .arg(dir)
                .args(["--format", format, "--prefix", "/boot/grub"])
                .arg("--config")
                .arg(&early)
                .arg("--output")
                .arg(out)
                .args(modules),
        )
        .with_context(|| format!("making the {format} GRUB image"))
    }
}

/// Built into each GRUB image: find the medium, then normal mode reads `$prefix/grub.cfg`.
fn early_config() -> String {
    format!(
        "search --no-floppy --file --set=root /{MARKER}\n\
         set prefix=($root)/boot/grub\n"
    )
}

/// `boot/grub/grub.cfg`, for GRUB on the ISO (UEFI) and on the disk.
pub fn grub_cfg() -> String {
    format!(
        "serial --unit=0 --speed=115200\n\
         terminal_input console serial\n\
         terminal_output console serial\n\
         set timeout=1\n\
         menuentry \"RancherOS\" {{\n\
         \tlinux /boot/vmlinuz {KERNEL_ARGS}\n\
         \tinitrd /boot/initrd\n\
         }}\n\
         menuentry \"RancherOS recovery console\" {{\n\
         \tlinux /boot/vmlinuz {KERNEL_ARGS} rancher.recovery=true\n\
         \tinitrd /boot/initrd\n\
         }}\n"
    )
}

/// `boot/isolinux/isolinux.cfg`, for BIOS boots of the ISO.
pub fn isolinux_cfg() -> String {
    format!(
        "SERIAL 0 115200\n\
         DEFAULT rancheros\n\
         PROMPT 0\n\
         TIMEOUT 10\n\
         LABEL rancheros\n\
         \x20 KERNEL /boot/vmlinuz\n\
         \x20 INITRD /boot/initrd\n\
         \x20 APPEND {KERNEL_ARGS}\n\
         LABEL recovery\n\
         \x20 KERNEL /boot/vmlinuz\n\
         \x20 INITRD /boot/initrd\n\
         \x20 APPEND {KERNEL_ARGS} rancher.recovery=true\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_loaders_boot_the_same_kernel_with_the_serial_console_last() {
        for cfg in [grub_cfg(), isolinux_cfg()] {
            let line = cfg
                .lines()
                .find(|l| l.contains("/boot/vmlinuz") && l.contains("console="))
                .or_else(|| cfg.lines().find(|l| l.contains("APPEND")))
                .unwrap();
            let last = line
                .split_whitespace()
                .rfind(|w| w.starts_with("console="))
                .unwrap();
            assert_eq!(last, "console=ttyS0,115200n8", "{cfg}");
            assert!(cfg.contains("/boot/initrd"));
        }
    }

    #[test]
    fn grub_finds_the_medium_by_its_marker() {
        assert!(early_config().contains("--file --set=root /boot/grub/rancheros"));
    }
}
