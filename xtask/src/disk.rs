//! The disk image, raw and qcow2, bootable by BIOS and UEFI:
//!
//! | where | what |
//! |---|---|
//! | sector 0 | GRUB's `boot.img` code and an MBR partition table |
//! | sectors 1–2047 | GRUB's BIOS `core.img` |
//! | partition 1 (type EF) | FAT `EFI`, the EFI System Partition: `EFI/BOOT/BOOTX64.EFI` |
//! | partition 2 (type 83, active) | ext4 `RANCHER_BOOT`: kernel, initramfs, grub.cfg |
//! | partition 3 (type 83) | ext4 `RANCHER_STATE`, empty: the persistent state from the first boot |
//!
//! The kernels live on ext4, not on the ESP, so an upgrade writes them to a journaled
//! filesystem; FAT labels could not say `RANCHER_BOOT` either (11 characters at most).
//!
//! Built from files with no loop devices or mounts, so no root is needed.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, ensure};

use crate::binary::run;
use crate::bootloader::{self, Loaders};

const SECTOR: u64 = 512;
const MIB: u64 = 1 << 20;
/// Partitions start on 1 MiB boundaries; the gap before the first holds `core.img`.
const FIRST_LBA: u64 = MIB / SECTOR;
/// Size of the empty state partition.
pub const STATE_MIB: u64 = 1024;

/// One MBR partition entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Partition {
    active: bool,
    kind: u8,
    start_lba: u64,
    sectors: u64,
}

impl Partition {
    fn encode(&self) -> Result<[u8; 16]> {
        let start = u32::try_from(self.start_lba).context("partition starts past 2 TiB")?;
        let len = u32::try_from(self.sectors).context("partition longer than 2 TiB")?;
        let mut e = [0u8; 16];
        e[0] = if self.active { 0x80 } else { 0 };
        // CHS fields say "use LBA" (the maximum), as every tool since the 1990s does.
        e[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]);
        e[4] = self.kind;
        e[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
        e[8..12].copy_from_slice(&start.to_le_bytes());
        e[12..16].copy_from_slice(&len.to_le_bytes());
        Ok(e)
    }
}

/// Sector 0: the first 440 bytes of `boot_code`, then the partition table and signature.
fn mbr(boot_code: &[u8], partitions: &[Partition]) -> Result<[u8; 512]> {
    ensure!(
        boot_code.len() >= 440,
        "boot.img is {} bytes",
        boot_code.len()
    );
    ensure!(partitions.len() <= 4, "an MBR holds four partitions");
    let mut sector = [0u8; 512];
    sector[..440].copy_from_slice(&boot_code[..440]);
    for (i, p) in partitions.iter().enumerate() {
        let at = 446 + i * 16;
        sector[at..at + 16].copy_from_slice(&p.encode()?);
    }
    sector[510] = 0x55;
    sector[511] = 0xaa;
    Ok(sector)
}

/// Writes `raw` (and `qcow2` from it) from the kernel and initramfs; `work` is scratch.
pub fn build(
    kernel: &Path,
    initrd: &Path,
    loaders: &Loaders,
    work: &Path,
    raw: &Path,
    qcow2: &Path,
) -> Result<()> {
    let efi = loaders.grub_efi_image(work)?;
    let esp_fs = work.join("esp.vfat");
    let esp_size = crate::fat::make(
        &esp_fs,
        "EFI",
        &[("EFI/BOOT/BOOTX64.EFI", efi)],
        8 << 10,
        4 << 10,
    )?;

    let boot_root = work.join("boot-root");
    let _ = std::fs::remove_dir_all(&boot_root);
    std::fs::create_dir_all(boot_root.join("boot/grub"))?;
    std::fs::copy(kernel, boot_root.join("boot/vmlinuz"))?;
    std::fs::copy(initrd, boot_root.join("boot/initrd"))?;
    std::fs::write(boot_root.join("boot/grub/grub.cfg"), bootloader::grub_cfg())?;
    std::fs::write(
        boot_root.join(bootloader::MARKER),
        "RancherOS boot medium\n",
    )?;
    let content = std::fs::metadata(kernel)?.len() + std::fs::metadata(initrd)?.len();
    // Room for an upgrade to put a second kernel and initramfs beside these.
    let boot_mib = (2 * content).div_ceil(MIB) + 64;
    let boot_fs = work.join("boot.ext4");
    mkfs_ext4(&boot_fs, "RANCHER_BOOT", boot_mib, Some(&boot_root))?;
    let state_fs = work.join("state.ext4");
    mkfs_ext4(&state_fs, "RANCHER_STATE", STATE_MIB, None)?;
    let (boot_img, core_img) = loaders.grub_bios_images(work)?;
    let core = std::fs::read(&core_img)?;
    ensure!(
        (core.len() as u64) < (FIRST_LBA - 1) * SECTOR,
        "GRUB's core.img ({} bytes) does not fit before the first partition",
        core.len()
    );

    let esp = Partition {
        active: false,
        kind: 0xef,
        start_lba: FIRST_LBA,
        sectors: esp_size / SECTOR,
    };
    let boot = Partition {
        active: true,
        kind: 0x83,
        start_lba: esp.start_lba + esp.sectors,
        sectors: boot_mib * MIB / SECTOR,
    };
    let state = Partition {
        active: false,
        kind: 0x83,
        start_lba: boot.start_lba + boot.sectors,
        sectors: STATE_MIB * MIB / SECTOR,
    };
    let total = (state.start_lba + state.sectors) * SECTOR;
    let tmp = raw.with_extension("img.tmp");
    let mut disk = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    disk.set_len(total)?;
    disk.write_all(&mbr(&std::fs::read(&boot_img)?, &[esp, boot, state])?)?;
    disk.write_all(&core)?;
    copy_sparse(&esp_fs, &mut disk, esp.start_lba * SECTOR)?;
    copy_sparse(&boot_fs, &mut disk, boot.start_lba * SECTOR)?;
    copy_sparse(&state_fs, &mut disk, state.start_lba * SECTOR)?;
    disk.sync_all()?;
    drop(disk);
    std::fs::rename(&tmp, raw)?;

    let qtmp = qcow2.with_extension("qcow2.tmp");
    run(Command::new("qemu-img")
        .args(["convert", "-q", "-c", "-f", "raw", "-O", "qcow2"])
        .arg(raw)
        .arg(&qtmp))?;
    std::fs::rename(&qtmp, qcow2)?;
    for scratch in [&esp_fs, &boot_fs, &state_fs] {
        let _ = std::fs::remove_file(scratch);
    }
    let _ = std::fs::remove_dir_all(&boot_root);
    Ok(())
}

/// An ext4 image of `mib` MiB labelled `label`, filled from `root` if given, owned by root.
fn mkfs_ext4(out: &Path, label: &str, mib: u64, root: Option<&Path>) -> Result<()> {
    let _ = std::fs::remove_file(out);
    let mut cmd = Command::new("mkfs.ext4");
    cmd.args(["-q", "-F", "-L", label, "-E", "root_owner=0:0"]);
    if let Some(root) = root {
        cmd.arg("-d").arg(root);
    }
    run(cmd.arg(out).arg(format!("{mib}M")))
}

/// Copies `src` into `dst` at `offset`, leaving all-zero blocks as holes.
fn copy_sparse(src: &Path, dst: &mut File, offset: u64) -> Result<()> {
    let mut input = File::open(src).with_context(|| format!("reading {}", src.display()))?;
    let mut buf = vec![0u8; MIB as usize];
    let mut at = offset;
    loop {
        let n = read_full(&mut input, &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        if buf[..n].iter().any(|&b| b != 0) {
            dst.seek(SeekFrom::Start(at))?;
            dst.write_all(&buf[..n])?;
        }
        at += n as u64;
    }
}

fn read_full(input: &mut File, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbr_keeps_the_boot_code_and_encodes_partitions() {
        let code = vec![0x90u8; 512];
        let p = Partition {
            active: true,
            kind: 0xef,
            start_lba: 2048,
            sectors: 131_072,
        };
        let s = mbr(&code, &[p]).unwrap();
        assert!(s[..440].iter().all(|&b| b == 0x90));
        assert!(
            s[440..446].iter().all(|&b| b == 0),
            "disk signature area is ours"
        );
        assert_eq!(s[446], 0x80);
        assert_eq!(s[450], 0xef);
        assert_eq!(u32::from_le_bytes(s[454..458].try_into().unwrap()), 2048);
        assert_eq!(u32::from_le_bytes(s[458..462].try_into().unwrap()), 131_072);
        assert!(
            s[462..510].iter().all(|&b| b == 0),
            "unused entries stay empty"
        );
        assert_eq!(&s[510..], &[0x55, 0xaa]);
    }

    #[test]
    fn oversized_partitions_and_short_boot_code_are_refused() {
        let huge = Partition {
            active: false,
            kind: 0x83,
            start_lba: 1 << 33,
            sectors: 1,
        };
        assert!(mbr(&[0; 512], &[huge]).is_err());
        assert!(mbr(&[0; 100], &[]).is_err());
    }

    #[test]
    fn sparse_copy_writes_data_at_the_offset_and_skips_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let mut data = vec![0u8; 3 * MIB as usize];
        data[MIB as usize * 2 + 5] = 7;
        std::fs::write(&src, &data).unwrap();
        let dst_path = dir.path().join("dst");
        let mut dst = File::create(&dst_path).unwrap();
        dst.set_len(4 * MIB).unwrap();
        copy_sparse(&src, &mut dst, MIB).unwrap();
        drop(dst);
        let out = std::fs::read(&dst_path).unwrap();
        assert_eq!(out[3 * MIB as usize + 5], 7);
        assert_eq!(out.iter().filter(|&&b| b != 0).count(), 1);
    }
}
