use std::fs;
use std::path::Path;

use ros_sys::{Call, MountFlags, RecordingKernel};

use super::*;
use crate::mounts::{NOSUID_NODEV, NOSUID_NODEV_NOEXEC};

const EBUSY: i32 = 16;

fn root_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let full = dir.path().join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, text).unwrap();
    }
    dir
}

fn oci_archive(path: &Path, with_index: bool) {
    let mut builder = tar::Builder::new(fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, data).unwrap();
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    if with_index {
        add("index.json", br#"{"schemaVersion":2,"manifests":[]}"#);
    }
    builder.finish().unwrap();
}

#[test]
fn early_mounts_in_order_with_flags() {
    let root = root_with(&[]);
    let kernel = RecordingKernel::new();
    Boot::new(&kernel, root.path()).mount_early().unwrap();
    let mounts: Vec<(String, String, MountFlags)> = kernel
        .calls()
        .into_iter()
        .map(|c| match c {
            Call::Mount {
                fstype,
                target,
                flags,
                ..
            } => (
                fstype,
                target
                    .strip_prefix(root.path())
                    .unwrap()
                    .display()
                    .to_string(),
                flags,
            ),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        mounts,
        [
            ("proc".into(), "proc".into(), NOSUID_NODEV_NOEXEC),
            ("sysfs".into(), "sys".into(), NOSUID_NODEV_NOEXEC),
            ("devtmpfs".into(), "dev".into(), MountFlags::NOSUID),
            ("tmpfs".into(), "run".into(), NOSUID_NODEV),
            (
                "devpts".into(),
                "dev/pts".into(),
                MountFlags::NOSUID | MountFlags::NOEXEC
            ),
            ("tmpfs".into(), "dev/shm".into(), NOSUID_NODEV_NOEXEC),
            ("mqueue".into(), "dev/mqueue".into(), NOSUID_NODEV_NOEXEC),
            (
                "cgroup2".into(),
                "sys/fs/cgroup".into(),
                NOSUID_NODEV_NOEXEC
            ),
        ]
    );
    assert!(
        root.path().join("run").is_dir(),
        "missing mount points are created"
    );
}

#[test]
fn an_already_mounted_target_is_fine_but_other_errors_stop() {
    let root = root_with(&[]);
    let busy = RecordingKernel::new().fail_on("/dev", EBUSY);
    Boot::new(&busy, root.path()).mount_early().unwrap();
    assert_eq!(busy.calls().len(), EARLY_MOUNTS.len());

    let denied = RecordingKernel::new().fail_on("/sys", 1);
    let err = Boot::new(&denied, root.path()).mount_early().unwrap_err();
    assert!(err.to_string().starts_with("mount sysfs on "), "{err}");
    assert_eq!(
        denied.calls().len(),
        2,
        "nothing is mounted inside a failed mount"
    );
}

#[test]
fn modules_load_in_list_order_with_params_and_failures_do_not_stop_the_rest() {
    let root = root_with(&[(
        "lib/modules/6.12.0-test/ros.modules",
        "# generated\nkernel/a.ko\n\nkernel/crc32c-intel.ko\nkernel/bonding.ko max_bonds=0 miimon=100\nkernel/dup.ko\n",
    )]);
    let kernel = RecordingKernel::new()
        .fail_on("crc32c", 19)
        .fail_on("dup", EEXIST_FOR_TEST);
    let dir = root.path().join("lib/modules/6.12.0-test");
    let report = load_modules(&kernel, &dir);
    assert_eq!((report.listed, report.loaded), (4, 3));
    assert_eq!(report.failures.len(), 1);
    assert!(
        report.failures[0].starts_with("kernel/crc32c-intel.ko: "),
        "{:?}",
        report.failures
    );
    assert_eq!(
        kernel.calls()[2],
        Call::LoadModule(
            dir.join("kernel/bonding.ko"),
            "max_bonds=0 miimon=100".into()
        )
    );
}

const EEXIST_FOR_TEST: i32 = 17;

#[test]
fn no_module_list_means_nothing_to_load() {
    let root = root_with(&[]);
    let kernel = RecordingKernel::new();
    assert_eq!(load_modules(&kernel, root.path()), ModuleReport::default());
    assert!(kernel.calls().is_empty());
}

#[test]
fn images_need_an_oci_index_and_a_readable_archive() {
    let root = root_with(&[("usr/share/ros/images/notes.txt", "ignored")]);
    let dir = root.path().join(IMAGES_DIR);
    oci_archive(&dir.join("os-base.tar"), true);
    oci_archive(&dir.join("broken.tar"), false);
    fs::write(dir.join("garbage.tar"), vec![0xffu8; 1536]).unwrap();
    let check = check_images(&dir);
    assert_eq!(check.readable, [dir.join("os-base.tar")]);
    let bad: Vec<String> = check
        .unreadable
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into())
        .collect();
    assert_eq!(bad, ["broken.tar", "garbage.tar"]);
    assert!(check.unreadable[0].1.contains("no index.json"));
}

#[test]
fn run_reports_uptime_modules_and_images_on_one_line() {
    let root = root_with(&[
        ("proc/sys/kernel/osrelease", "6.12.0-test\n"),
        ("proc/uptime", "1.917 0.50\n"),
        (
            "lib/modules/6.12.0-test/ros.modules",
            "kernel/a.ko\nkernel/b.ko\n",
        ),
    ]);
    fs::create_dir_all(root.path().join(IMAGES_DIR)).unwrap();
    oci_archive(&root.path().join(IMAGES_DIR).join("os-base.tar"), true);
    let kernel = RecordingKernel::new().fail_on("b.ko", 2);
    let mut console = Vec::new();
    let report = Boot::new(&kernel, root.path()).run(&mut console);
    assert_eq!(
        report.marker_line(),
        "ros: boot ok uptime=1.92 modules=1/2 images=1/1"
    );
    let console = String::from_utf8(console).unwrap();
    assert!(
        console.starts_with("ros: init: module kernel/b.ko: "),
        "{console}"
    );
    assert!(
        !kernel.calls().iter().any(|c| matches!(c, Call::Reboot(_))),
        "run leaves power to the caller"
    );
}

#[test]
fn named_modules_load_after_their_dependencies_with_parameters() {
    let root = root_with(&[(
        "lib/modules/r/modules.dep",
        "kernel/net/bonding/bonding.ko: kernel/net/tls/tls.ko\n\
         kernel/net/8021q/8021q.ko: kernel/net/802/mrp.ko kernel/net/802/garp.ko kernel/net/llc/llc.ko\n\
         kernel/fs/overlay/overlay.ko:\n",
    )]);
    let dir = root.path().join("lib/modules/r");
    let kernel = RecordingKernel::new();
    let wanted = [
        "bonding max_bonds=0".to_string(),
        "8021q".into(),
        "nope".into(),
    ];
    let report = load_named(&kernel, &dir, &wanted);
    assert_eq!((report.listed, report.loaded), (3, 2));
    assert_eq!(report.failures, ["nope: not in this image's modules"]);
    let loaded: Vec<(String, String)> = kernel
        .calls()
        .into_iter()
        .map(|c| match c {
            Call::LoadModule(p, params) => {
                (p.strip_prefix(&dir).unwrap().display().to_string(), params)
            }
            other => panic!("{other:?}"),
        })
        .collect();
    let names: Vec<&str> = loaded
        .iter()
        .map(|(p, _)| p.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "tls.ko",
            "bonding.ko",
            "llc.ko",
            "garp.ko",
            "mrp.ko",
            "8021q.ko"
        ]
    );
    assert_eq!(loaded[1].1, "max_bonds=0");
}

#[test]
fn a_broken_layer_is_reported_and_the_rest_still_loads() {
    let root = root_with(&[
        (
            "var/lib/rancher/conf/cloud-config.yml",
            "hostname: node1\nrancher:\n  modules: [a]\n",
        ),
        (
            "var/lib/rancher/conf/cloud-config.d/bad.yml",
            "rancher:\n  not_a_key: 1\n",
        ),
    ]);
    let (config, problems) = load_config(root.path());
    assert_eq!(config.hostname, "node1");
    assert_eq!(config.rancher.modules, ["a"]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("bad.yml"), "{problems:?}");
    assert_eq!(
        config.rancher.system_docker.data_root,
        "/var/lib/system-docker"
    );
}
