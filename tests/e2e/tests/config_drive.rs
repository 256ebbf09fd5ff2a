//! The config drive is a real ISO 9660 filesystem that other tools read back.

use std::process::Command;

use anyhow::{Result, ensure};
use ros_e2e::config_drive;

#[test]
fn config_drive_carries_user_data_under_the_openstack_path() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let user_data = dir.path().join("cc.yml");
    std::fs::write(&user_data, "#cloud-config\nhostname: drive-test\n")?;
    let drive = dir.path().join("drive.iso");
    config_drive::write(&user_data, &drive)?;
    let extracted = dir.path().join("out");
    let status = Command::new("xorriso")
        .args(["-osirrox", "on", "-indev"])
        .arg(&drive)
        .args(["-extract", "/openstack/latest/user_data"])
        .arg(&extracted)
        .output()?;
    ensure!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    ensure!(std::fs::read_to_string(&extracted)? == "#cloud-config\nhostname: drive-test\n");
    let label = Command::new("xorriso")
        .args(["-indev"])
        .arg(&drive)
        .arg("-pvd_info")
        .output()?;
    let info = String::from_utf8_lossy(&label.stdout).into_owned()
        + &String::from_utf8_lossy(&label.stderr);
    ensure!(info.contains("Volume Id    : config-2"), "{info}");
    Ok(())
}

#[test]
fn a_missing_cloud_config_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let err =
        config_drive::write(&dir.path().join("nope.yml"), &dir.path().join("d.iso")).unwrap_err();
    assert!(format!("{err:#}").contains("nope.yml"), "{err:#}");
}
