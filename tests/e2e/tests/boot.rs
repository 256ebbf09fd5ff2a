//! Every boot path (kernel and initrd, ISO and disk by BIOS and UEFI) reaches init's marker
//! and the System engine as PID 1; the whole system is `system.rs`'s job.

use std::time::Duration;

use anyhow::{Result, ensure};
use ros_e2e::{Artefacts, BootSource, Firmware, TestVm};

/// Guards against a hung guest; TCG boots take seconds, firmware boots a little more.
const HANG: Duration = Duration::from_secs(180);

/// `modules=56/56 images=3/3` → every listed module loaded, every preloaded image readable,
/// and there are some of each.
fn check_marker(line: &str) -> Result<()> {
    for field in ["modules=", "images="] {
        let value = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix(field))
            .ok_or_else(|| anyhow::anyhow!("no {field} in `{line}`"))?;
        let (done, listed) = value
            .split_once('/')
            .ok_or_else(|| anyhow::anyhow!("bad {field} in `{line}`"))?;
        ensure!(done == listed, "not all {field}: `{line}`");
        ensure!(listed != "0", "no {field}: `{line}`");
    }
    Ok(())
}

fn boots_to_the_engine(name: &str, boot: impl Fn(&Artefacts) -> BootSource) -> Result<()> {
    let artefacts = Artefacts::locate()?;
    let mut vm = TestVm::builder(name, &artefacts, boot(&artefacts))
        .memory(512)
        .boot()?;
    let line = vm.wait_for("ros: boot ok", HANG)?;
    check_marker(&line)?;
    vm.wait_for("ros: system engine ready", HANG)?;
    vm.check_kernel()
}

#[test]
fn kernel_and_initrd() -> Result<()> {
    boots_to_the_engine("kernel-initrd", Artefacts::direct)
}

/// `cargo xtask run --cloud-config` hands the guest a config drive, here with the harness's
/// SSH key added and a port forwarded; the guest sees the disk once init has loaded
/// virtio_blk.
#[test]
fn config_drive_is_a_disk_the_guest_sees() -> Result<()> {
    let artefacts = Artefacts::locate()?;
    let dir = tempfile::tempdir()?;
    let user_data = dir.path().join("cloud-config.yml");
    std::fs::write(&user_data, "#cloud-config\nhostname: e2e\n")?;
    let mut vm = TestVm::builder("config-drive", &artefacts, artefacts.direct())
        .memory(512)
        .cloud_config(&user_data)
        .ssh("rancher")
        .boot()?;
    ensure!(vm.ssh_public_key()?.starts_with("ssh-ed25519 "));
    vm.wait_for("[vda]", HANG)?;
    check_marker(&vm.wait_for("ros: boot ok", HANG)?)?;
    vm.wait_for("ros: system engine ready", HANG)?;
    vm.check_kernel()
}

#[test]
fn iso_by_bios() -> Result<()> {
    boots_to_the_engine("iso-bios", |a| a.iso(Firmware::Bios))
}

#[test]
fn iso_by_uefi() -> Result<()> {
    boots_to_the_engine("iso-uefi", |a| a.iso(Firmware::Uefi))
}

#[test]
fn qcow2_disk_by_bios() -> Result<()> {
    boots_to_the_engine("disk-bios", |a| a.disk("rancheros.qcow2", Firmware::Bios))
}

#[test]
fn raw_disk_by_uefi() -> Result<()> {
    boots_to_the_engine("disk-uefi", |a| a.disk("rancheros.img", Firmware::Uefi))
}
