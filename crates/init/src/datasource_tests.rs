use std::fs;

use ros_sys::{Call, RecordingKernel};

use super::*;

fn iso_labelled(label: &str) -> tempfile::NamedTempFile {
    let mut bytes = vec![0u8; 40000];
    bytes[32768] = 1;
    bytes[32769..32774].copy_from_slice(b"CD001");
    let mut volume = label.as_bytes().to_vec();
    volume.resize(32, b' ');
    bytes[32768 + 40..32768 + 72].copy_from_slice(&volume);
    let file = tempfile::NamedTempFile::new().unwrap();
    fs::write(file.path(), bytes).unwrap();
    file
}

#[test]
fn datasources_select_the_drive_layouts() {
    let list = |s: &[&str]| s.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(
        wanted(&list(&[
            "configdrive:/media/config-2",
            "ec2",
            "nocloud",
            "configdrive"
        ])),
        [Layout::ConfigDrive, Layout::NoCloud]
    );
    assert!(wanted(&list(&["url:http://x/y"])).is_empty());
}

#[test]
fn a_config_drive_is_mounted_read_only_read_and_saved_as_layers() {
    let root = tempfile::tempdir().unwrap();
    let drive = iso_labelled("config-2");
    let other = iso_labelled("OTHER");
    // The fake kernel mounts nothing: the files are put where the drive would appear.
    let mounted = root.path().join("run/ros/datasource/openstack/latest");
    fs::create_dir_all(&mounted).unwrap();
    fs::write(
        mounted.join("user_data"),
        "#cloud-config\nhostname: drive\n",
    )
    .unwrap();
    fs::write(
        mounted.join("meta_data.json"),
        r#"{"hostname": "meta", "public_keys": {"mykey": "ssh-ed25519 AAAA me"}}"#,
    )
    .unwrap();
    let kernel = RecordingKernel::new();
    let devices = vec![other.path().to_path_buf(), drive.path().to_path_buf()];
    let (dev, written) = load(&kernel, root.path(), &[Layout::ConfigDrive], &devices)
        .unwrap()
        .unwrap();
    assert_eq!(dev, drive.path());
    assert_eq!(written.len(), 2);
    let conf = root.path().join("var/lib/rancher/conf");
    assert_eq!(
        fs::read_to_string(conf.join("cloud-config.d/boot.yml")).unwrap(),
        "#cloud-config\nhostname: drive\n"
    );
    let meta = fs::read_to_string(conf.join("metadata")).unwrap();
    let loaded = ros_config::load(&ConfigPaths::new(root.path()), ros_config::Scope::Full);
    let config = loaded.typed().unwrap();
    assert_eq!(
        config.hostname, "drive",
        "user-data wins over metadata: {meta}"
    );
    assert_eq!(config.ssh_authorized_keys, ["ssh-ed25519 AAAA me"]);
    let calls = kernel.calls();
    assert!(
        matches!(&calls[0], Call::Mount { fstype, flags, .. }
            if fstype == "iso9660" && *flags == MountFlags::RDONLY),
        "{calls:?}"
    );
    assert!(matches!(&calls[1], Call::Unmount(_)), "{calls:?}");
}

#[test]
fn no_drive_is_no_error_and_a_failed_mount_is_one() {
    let root = tempfile::tempdir().unwrap();
    let other = iso_labelled("OTHER");
    let kernel = RecordingKernel::new();
    let devices = vec![other.path().to_path_buf()];
    assert!(
        load(&kernel, root.path(), &[Layout::ConfigDrive], &devices)
            .unwrap()
            .is_none()
    );
    let drive = iso_labelled("cidata");
    let kernel = RecordingKernel::new().fail_on("datasource", 19);
    let devices = vec![drive.path().to_path_buf()];
    assert!(load(&kernel, root.path(), &[Layout::NoCloud], &devices).is_err());
}

#[test]
fn nocloud_scripts_and_hostnames_are_saved_where_rancheros_put_them() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("drive");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("user-data"), "#!/bin/sh\necho hi\n").unwrap();
    fs::write(
        dir.join("meta-data"),
        "instance-id: i-1\nlocal-hostname: \"nc\"\n",
    )
    .unwrap();
    let data = read_drive(Layout::NoCloud, &dir);
    assert_eq!(data.hostname, "nc");
    let paths = ConfigPaths::new(root.path());
    let written = save(&paths, &data).unwrap();
    assert_eq!(
        written,
        [paths.cloud_config_script(), paths.metadata_file()]
    );
    // Anything else (not #cloud-config, not a script) is not a layer.
    let plain = DriveData {
        user_data: Some(b"hello".to_vec()),
        ..DriveData::default()
    };
    assert!(save(&paths, &plain).unwrap().is_empty());
}
