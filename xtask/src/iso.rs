//! The hybrid ISO: ISOLINUX for BIOS (also from a USB stick, through the isohybrid MBR) and
//! GRUB in an EFI System image for UEFI, volume label `RancherOS`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::bootloader::{self, Loaders};

/// The ISO's volume label.
pub const VOLUME: &str = "RancherOS";

/// Writes the ISO to `out` from the kernel and initramfs; `work` is scratch space.
pub fn build(
    kernel: &Path,
    initrd: &Path,
    loaders: &Loaders,
    work: &Path,
    out: &Path,
) -> Result<()> {
    let stage = work.join("iso-root");
    let _ = std::fs::remove_dir_all(&stage);
    let put = |dest: &str, src: &Path| -> Result<()> {
        let to = stage.join(dest);
        std::fs::create_dir_all(to.parent().unwrap_or(&stage))?;
        std::fs::copy(src, &to).with_context(|| format!("copying {}", src.display()))?;
        Ok(())
    };
    let write = |dest: &str, text: String| -> Result<()> {
        let to = stage.join(dest);
        std::fs::create_dir_all(to.parent().unwrap_or(&stage))?;
        std::fs::write(&to, text).with_context(|| format!("writing {dest}"))
    };
    put("boot/vmlinuz", kernel)?;
    put("boot/initrd", initrd)?;
    put(
        "boot/isolinux/isolinux.bin",
        &loaders.isolinux.join("isolinux.bin"),
    )?;
    put(
        "boot/isolinux/ldlinux.c32",
        &loaders.syslinux_bios.join("ldlinux.c32"),
    )?;
    write("boot/isolinux/isolinux.cfg", bootloader::isolinux_cfg())?;
    write("boot/grub/grub.cfg", bootloader::grub_cfg())?;
    write(bootloader::MARKER, "RancherOS boot medium\n".into())?;
    let efi = loaders.grub_efi_image(work)?;
    crate::fat::make(
        &stage.join("boot/efi.img"),
        "EFIBOOT",
        &[("EFI/BOOT/BOOTX64.EFI", efi)],
        0,
        // FAT12's tables and root directory, with room to spare
        128,
    )?;

    let tmp = out.with_extension("iso.tmp");
    let _ = std::fs::remove_file(&tmp);
    crate::binary::run(
        Command::new("xorriso")
            .args(["-as", "mkisofs", "-quiet", "-o"])
            .arg(&tmp)
            .args(["-V", VOLUME, "-R", "-J", "-joliet-long"])
            .arg("-isohybrid-mbr")
            .arg(loaders.isolinux.join("isohdpfx.bin"))
            .args([
                "-c",
                "boot/isolinux/boot.cat",
                "-b",
                "boot/isolinux/isolinux.bin",
            ])
            .args(["-no-emul-boot", "-boot-load-size", "4", "-boot-info-table"])
            .args(["-eltorito-alt-boot", "-e", "boot/efi.img", "-no-emul-boot"])
            .arg("-isohybrid-gpt-basdat")
            .arg(&stage),
    )
    .context("making the ISO with xorriso")?;
    std::fs::rename(&tmp, out)?;
    let _ = std::fs::remove_dir_all(&stage);
    Ok(())
}
