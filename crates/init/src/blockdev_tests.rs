use super::*;

fn image(len: usize, writes: &[(usize, &[u8])]) -> tempfile::NamedTempFile {
    let mut bytes = vec![0u8; len];
    for (at, data) in writes {
        bytes[*at..*at + data.len()].copy_from_slice(data);
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    file
}

fn ext4(label: &str) -> tempfile::NamedTempFile {
    let mut lbl = [0u8; 16];
    lbl[..label.len()].copy_from_slice(label.as_bytes());
    let uuid: Vec<u8> = (0u8..16).collect();
    image(
        4096,
        &[
            (1024 + 0x38, &[0x53, 0xEF]),
            (1024 + 0x68, &uuid),
            (1024 + 0x78, &lbl),
        ],
    )
}

#[test]
fn specs_parse_as_label_uuid_or_path() {
    assert_eq!(
        DeviceSpec::parse("LABEL=RANCHER_STATE"),
        Some(DeviceSpec::Label("RANCHER_STATE".into()))
    );
    assert_eq!(
        DeviceSpec::parse("UUID=ABCD-1234"),
        Some(DeviceSpec::Uuid("abcd-1234".into()))
    );
    assert_eq!(
        DeviceSpec::parse("/dev/vda1"),
        Some(DeviceSpec::Path("/dev/vda1".into()))
    );
    assert_eq!(DeviceSpec::parse("  "), None);
}

#[test]
fn ext4_label_and_uuid_are_read_from_the_superblock() {
    let disk = ext4("RANCHER_STATE");
    let probe = probe(disk.path()).unwrap().unwrap();
    assert_eq!(probe.fstype, "ext4");
    assert_eq!(probe.label, "RANCHER_STATE");
    assert_eq!(probe.uuid, "00010203-0405-0607-0809-0a0b0c0d0e0f");
}

#[test]
fn iso9660_and_fat_labels_are_read() {
    let mut pvd = vec![1u8];
    pvd.extend_from_slice(b"CD001");
    let mut volume = b"config-2".to_vec();
    volume.resize(32, b' ');
    let iso = image(40000, &[(32768, &pvd), (32768 + 40, &volume)]);
    let probe = probe(iso.path()).unwrap().unwrap();
    assert_eq!(
        (probe.fstype, probe.label.as_str()),
        ("iso9660", "config-2")
    );

    let fat = image(
        4096,
        &[
            (0x27, &[0x78, 0x56, 0x34, 0x12]),
            (0x2B, b"CIDATA     "),
            (0x36, b"FAT12   "),
            (510, &[0x55, 0xAA]),
        ],
    );
    let probe = super::probe(fat.path()).unwrap().unwrap();
    assert_eq!(
        (probe.fstype, probe.label.as_str(), probe.uuid.as_str()),
        ("vfat", "CIDATA", "1234-5678")
    );
}

#[test]
fn unknown_or_short_devices_probe_as_nothing() {
    assert_eq!(probe(image(512, &[]).path()).unwrap(), None);
    assert_eq!(probe(image(100_000, &[]).path()).unwrap(), None);
}

#[test]
fn resolve_finds_the_labelled_device_among_many() {
    let empty = image(8192, &[]);
    let other = ext4("OTHER");
    let state = ext4("RANCHER_STATE");
    let devices = vec![
        empty.path().to_path_buf(),
        other.path().to_path_buf(),
        state.path().to_path_buf(),
    ];
    let found = resolve(&DeviceSpec::Label("RANCHER_STATE".into()), &devices).unwrap();
    assert_eq!(found.dev, state.path());
    assert_eq!(resolve(&DeviceSpec::Label("NONE".into()), &devices), None);
    let by_path = resolve(&DeviceSpec::Path(other.path().into()), &[]).unwrap();
    assert_eq!(by_path.probe.unwrap().label, "OTHER");
    assert_eq!(
        resolve(&DeviceSpec::Path("/nonexistent/dev".into()), &[]),
        None
    );
}

#[test]
fn block_devices_are_listed_from_sysfs_without_loop_and_ram() {
    let sys = tempfile::tempdir().unwrap();
    for name in ["vda", "vda1", "loop0", "ram0", "sr0"] {
        std::fs::create_dir(sys.path().join(name)).unwrap();
    }
    let devs = block_devices(sys.path(), Path::new("/dev"));
    assert_eq!(
        devs,
        ["/dev/sr0", "/dev/vda", "/dev/vda1"].map(PathBuf::from)
    );
}

#[test]
fn zeroed_means_every_byte_of_the_prefix() {
    assert!(is_zeroed(image(200_000, &[]).path(), 131_072).unwrap());
    assert!(!is_zeroed(image(200_000, &[(100_000, &[1])]).path(), 131_072).unwrap());
    assert!(is_zeroed(image(200_000, &[(150_000, &[1])]).path(), 131_072).unwrap());
}
