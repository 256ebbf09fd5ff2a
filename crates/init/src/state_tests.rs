use std::cell::RefCell;

use ros_sys::{Call, RecordingKernel};

use super::*;

#[derive(Debug, Default)]
struct FakeFormatter {
    formatted: RefCell<Vec<PathBuf>>,
}

impl Formatter for FakeFormatter {
    fn format(&self, dev: &Path) -> io::Result<()> {
        self.formatted.borrow_mut().push(dev.to_path_buf());
        // What mkfs.ext4 -L RANCHER_STATE leaves: an ext4 superblock with the label.
        let mut bytes = std::fs::read(dev)?;
        bytes[1024 + 0x38..1024 + 0x3a].copy_from_slice(&[0x53, 0xEF]);
        bytes[1024 + 0x78..1024 + 0x78 + STATE_LABEL.len()].copy_from_slice(STATE_LABEL.as_bytes());
        std::fs::write(dev, bytes)
    }
}

fn root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sys/class/block")).unwrap();
    std::fs::create_dir_all(dir.path().join("dev")).unwrap();
    dir
}

fn disk(root: &Path, name: &str, bytes: Vec<u8>) -> PathBuf {
    std::fs::create_dir_all(root.join("sys/class/block").join(name)).unwrap();
    let dev = root.join("dev").join(name);
    std::fs::write(&dev, bytes).unwrap();
    dev
}

fn mounts(kernel: &RecordingKernel) -> Vec<(String, String)> {
    kernel
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Mount { source, fstype, .. } => Some((source, fstype)),
            _ => None,
        })
        .collect()
}

fn run(
    root: &Path,
    config: &StateConfig,
    kernel: &RecordingKernel,
    f: &FakeFormatter,
) -> Result<StateRoot, String> {
    StateMount {
        kernel,
        formatter: f,
        root,
        config,
    }
    .run()
}

#[test]
fn without_a_state_device_the_root_is_a_tmpfs() {
    let root = root();
    let kernel = RecordingKernel::new();
    let out = run(
        root.path(),
        &StateConfig::default(),
        &kernel,
        &FakeFormatter::default(),
    )
    .unwrap();
    assert_eq!(out, StateRoot::RamDisk("no rancher.state.dev".into()));
    assert_eq!(
        mounts(&kernel),
        [("tmpfs".to_string(), "tmpfs".to_string())]
    );
}

#[test]
fn a_labelled_partition_is_mounted_with_its_probed_type() {
    let root = root();
    let mut bytes = vec![0u8; 4096];
    bytes[1024 + 0x38..1024 + 0x3a].copy_from_slice(&[0x53, 0xEF]);
    bytes[1024 + 0x78..1024 + 0x78 + 13].copy_from_slice(b"RANCHER_STATE");
    let dev = disk(root.path(), "vda1", bytes);
    let config = StateConfig {
        dev: "LABEL=RANCHER_STATE".into(),
        fstype: "auto".into(),
        directory: "/os".into(),
        ..StateConfig::default()
    };
    let kernel = RecordingKernel::new();
    let out = run(root.path(), &config, &kernel, &FakeFormatter::default()).unwrap();
    assert_eq!(
        out,
        StateRoot::Persistent {
            dev: dev.clone(),
            formatted: false
        }
    );
    let state = root.path().join("state");
    assert_eq!(
        mounts(&kernel),
        [
            (dev.display().to_string(), "ext4".to_string()),
            (state.join("os").display().to_string(), String::new()),
        ]
    );
}

#[test]
fn autoformat_takes_the_first_zeroed_disk_only() {
    let root = root();
    let used = disk(root.path(), "vda", vec![7u8; 2 << 20]);
    let empty = disk(root.path(), "vdb", vec![0u8; 2 << 20]);
    let config = StateConfig {
        dev: "LABEL=RANCHER_STATE".into(),
        fstype: "auto".into(),
        autoformat: vec![used.display().to_string(), empty.display().to_string()],
        ..StateConfig::default()
    };
    let kernel = RecordingKernel::new();
    let formatter = FakeFormatter::default();
    let out = run(root.path(), &config, &kernel, &formatter).unwrap();
    assert_eq!(
        out,
        StateRoot::Persistent {
            dev: empty.clone(),
            formatted: true
        }
    );
    assert_eq!(*formatter.formatted.borrow(), std::slice::from_ref(&empty));
    assert_eq!(
        std::fs::read(&used).unwrap()[0],
        7,
        "a used disk is never touched"
    );
}

#[test]
fn a_missing_device_falls_back_to_ram_unless_required() {
    let root = root();
    let mut config = StateConfig {
        dev: "LABEL=NOPE".into(),
        ..StateConfig::default()
    };
    let kernel = RecordingKernel::new();
    let out = run(root.path(), &config, &kernel, &FakeFormatter::default()).unwrap();
    assert_eq!(
        out,
        StateRoot::RamDisk("rancher.state.dev LABEL=NOPE: no such device".into())
    );
    config.required = true;
    let err = run(
        root.path(),
        &config,
        &RecordingKernel::new(),
        &FakeFormatter::default(),
    )
    .unwrap_err();
    assert!(err.contains("no such device"), "{err}");
}

#[test]
fn a_failing_mount_is_reported_with_device_and_type() {
    let root = root();
    let dev = disk(root.path(), "vdc", vec![0u8; 4096]);
    let config = StateConfig {
        dev: dev.display().to_string(),
        fstype: "xfs".into(),
        ..StateConfig::default()
    };
    let kernel = RecordingKernel::new().fail_on("/state", 19);
    let out = run(root.path(), &config, &kernel, &FakeFormatter::default());
    // The tmpfs fallback mounts at /state too and fails the same way.
    let err = out.unwrap_err();
    assert!(err.starts_with("mounting a tmpfs root at "), "{err}");
    let first = kernel.calls()[0].clone();
    assert!(matches!(first, Call::Mount { fstype, .. } if fstype == "xfs"));
}
