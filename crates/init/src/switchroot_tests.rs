use std::os::unix::fs::PermissionsExt;

use ros_sys::{Call, RecordingKernel};

use super::*;

fn initramfs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::write(root.join("usr/bin/ros"), b"binary").unwrap();
    fs::set_permissions(root.join("usr/bin/ros"), fs::Permissions::from_mode(0o755)).unwrap();
    symlink("ros", root.join("usr/bin/init")).unwrap();
    symlink("usr/bin", root.join("bin")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/hostname"), b"initramfs\n").unwrap();
    fs::create_dir_all(root.join("tmp")).unwrap();
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    for m in MOVED_MOUNTS {
        fs::create_dir_all(root.join(m)).unwrap();
        fs::write(root.join(m).join("stays"), b"").unwrap();
    }
    fs::create_dir(root.join("state")).unwrap();
    dir
}

#[test]
fn ram_disk_mode_moves_everything_but_the_mount_points() {
    let dir = initramfs();
    let (old, new) = (dir.path(), dir.path().join("state"));
    let moved = Populate {
        old_root: old,
        new_root: &new,
        persistent: false,
        version: "v1",
    }
    .run()
    .unwrap();
    assert_eq!(moved.kept, 0);
    assert_eq!(fs::read(new.join("usr/bin/ros")).unwrap(), b"binary");
    let mode = fs::metadata(new.join("usr/bin/ros"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o755);
    assert_eq!(
        fs::read_link(new.join("bin")).unwrap(),
        Path::new("usr/bin")
    );
    let tmp = fs::metadata(new.join("tmp")).unwrap().permissions().mode();
    assert_eq!(tmp & 0o7777, 0o1777);
    assert!(!old.join("usr").exists(), "the initramfs copy is freed");
    assert!(!old.join("etc").exists());
    for m in MOVED_MOUNTS {
        assert!(old.join(m).join("stays").exists(), "{m} is left alone");
        assert!(
            new.join(m).is_dir(),
            "{m} has a mount point in the new root"
        );
    }
}

#[test]
fn persistent_mode_keeps_the_state_and_versions_usr() {
    let dir = initramfs();
    let (old, new) = (dir.path(), dir.path().join("state"));
    fs::create_dir_all(new.join("etc")).unwrap();
    fs::write(new.join("etc/hostname"), b"saved\n").unwrap();
    let moved = Populate {
        old_root: old,
        new_root: &new,
        persistent: true,
        version: "v1",
    }
    .run()
    .unwrap();
    assert!(moved.kept >= 1);
    assert_eq!(fs::read(new.join("etc/hostname")).unwrap(), b"saved\n");
    assert_eq!(fs::read_link(new.join("usr")).unwrap(), Path::new("usr-v1"));
    assert_eq!(fs::read(new.join("usr/bin/ros")).unwrap(), b"binary");

    // The next boot of the same version keeps usr-v1 as it is.
    let second = initramfs();
    fs::remove_dir(second.path().join("state")).unwrap();
    fs::rename(&new, second.path().join("state")).unwrap();
    fs::write(second.path().join("usr/bin/ros"), b"other").unwrap();
    let new = second.path().join("state");
    Populate {
        old_root: second.path(),
        new_root: &new,
        persistent: true,
        version: "v1",
    }
    .run()
    .unwrap();
    assert_eq!(fs::read(new.join("usr/bin/ros")).unwrap(), b"binary");
    assert!(!second.path().join("usr").exists());
}

#[test]
fn a_usr_directory_on_the_state_is_an_error_not_overwritten() {
    let dir = initramfs();
    let (old, new) = (dir.path(), dir.path().join("state"));
    fs::create_dir_all(new.join("usr")).unwrap();
    let err = Populate {
        old_root: old,
        new_root: &new,
        persistent: true,
        version: "v1",
    }
    .run()
    .unwrap_err();
    assert!(err.to_string().contains("is a directory"), "{err}");
}

#[test]
fn switch_moves_mounts_then_the_root_then_chroots() {
    let kernel = RecordingKernel::new();
    switch(&kernel, Path::new("/"), Path::new("/state")).unwrap();
    let calls = kernel.calls();
    let moved: Vec<String> = calls
        .iter()
        .filter_map(|c| match c {
            Call::Mount {
                source,
                target,
                flags,
                ..
            } if *flags == MountFlags::MOVE => Some(format!("{source}->{}", target.display())),
            _ => None,
        })
        .collect();
    assert_eq!(
        moved,
        [
            "/dev->/state/dev",
            "/proc->/state/proc",
            "/sys->/state/sys",
            "/run->/state/run",
            ".->/"
        ]
    );
    assert_eq!(
        calls[calls.len() - 3..],
        [
            Call::Mount {
                source: ".".into(),
                target: "/".into(),
                fstype: String::new(),
                flags: MountFlags::MOVE,
                data: None
            },
            Call::Chroot(".".into()),
            Call::Chdir("/".into()),
        ]
    );
}

#[test]
fn a_failed_move_names_the_mount() {
    let kernel = RecordingKernel::new().fail_on("/state/sys", 22);
    let err = switch(&kernel, Path::new("/"), Path::new("/state")).unwrap_err();
    assert!(err.to_string().starts_with("moving /sys: "), "{err}");
    assert!(!kernel.calls().iter().any(|c| matches!(c, Call::Chroot(_))));
}
