//! Archives cross between Debian's dockerd and the System engine in both directions.
//! Privileged: needs root and Debian's docker.io.

mod common;

use common::{RealDockerd, TestEngine};

#[test]
fn archives_cross_between_dockerd_and_the_engine() {
    let dockerd = RealDockerd::start();
    let engine = TestEngine::start();
    let ours = engine.dir.path().join("ours.tar");
    std::fs::write(
        &ours,
        ros_engine::testing::busybox_archive("interop/busybox:1").unwrap(),
    )
    .unwrap();

    // dockerd reads the archive and writes its own: the engine must load that.
    dockerd.ok(&["load", "-i", ours.to_str().unwrap()]);
    let real = dockerd.dir.path().join("real.tar");
    dockerd.ok(&["save", "-o", real.to_str().unwrap(), "interop/busybox:1"]);
    let loaded = engine.ok(&["load", "-i", real.to_str().unwrap()]);
    assert_eq!(loaded, "Loaded image: interop/busybox:1\n");
    let id_there = dockerd.ok(&["images", "-q", "--no-trunc", "interop/busybox:1"]);
    let id_here = engine.ok(&["images", "-q", "--no-trunc", "interop/busybox:1"]);
    assert_eq!(id_here, id_there, "the same config gives the same image id");
    assert_eq!(
        engine.ok(&[
            "run",
            "--rm",
            "interop/busybox:1",
            "echo",
            "from dockerd's archive"
        ]),
        "from dockerd's archive\n"
    );

    // And the other way: what the engine saves, dockerd loads and runs.
    engine.ok(&["tag", "interop/busybox:1", "interop/back:2"]);
    let saved = engine.dir.path().join("saved.tar");
    engine.ok(&["save", "-o", saved.to_str().unwrap(), "interop/back:2"]);
    assert_eq!(
        dockerd.ok(&["load", "-i", saved.to_str().unwrap()]),
        "Loaded image: interop/back:2\n"
    );
    assert_eq!(
        dockerd.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "interop/back:2",
            "echo",
            "back in dockerd"
        ]),
        "back in dockerd\n"
    );
}
