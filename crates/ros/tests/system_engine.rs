//! The System engine driven by the stock Docker CLI (and Debian's 20.10 client) on a temporary
//! socket. Privileged: needs root.

mod common;

use common::{DEBIAN_DOCKER, TestEngine, eventually};

#[test]
fn run_with_and_without_detach() {
    let engine = TestEngine::start();
    engine.load_busybox("busybox:latest");
    assert_eq!(engine.ok(&["run", "--rm", "busybox", "echo", "hi"]), "hi\n");

    let out = engine.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");

    // Debian's 20.10 client negotiates an older API version.
    let out = engine.docker_with(
        DEBIAN_DOCKER,
        &["run", "--rm", "busybox", "echo", "old client"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "old client\n");

    let id = engine.ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "--label",
        "app=tick",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo tick $i; sleep 0.2; done",
    ]);
    assert_eq!(id.trim().len(), 64);
    assert_eq!(
        engine.ok(&["logs", "-f", "ticker"]),
        "tick 1\ntick 2\ntick 3\n"
    );
    assert_eq!(engine.ok(&["logs", "--tail", "1", "ticker"]), "tick 3\n");
    let listed = engine.ok(&[
        "ps",
        "-a",
        "--filter",
        "label=app=tick",
        "--format",
        "{{.Names}} {{.Status}}",
    ]);
    assert!(listed.starts_with("ticker Exited (0)"), "{listed}");
    assert_eq!(
        engine.ok(&["ps", "-a", "--filter", "label=app=other", "-q"]),
        ""
    );
    let state = engine.ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}} {{.Name}} {{index .Config.Labels \"app\"}}",
        "ticker",
    ]);
    assert_eq!(state.trim(), "exited 0 /ticker tick");
    engine.ok(&["rename", "ticker", "tocker"]);
    engine.ok(&["rm", "tocker"]);
    let missing = engine.docker(&["inspect", "tocker"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("No such"),
        "{missing:?}"
    );
}

#[test]
fn stop_kill_restart_and_remove() {
    let engine = TestEngine::start();
    engine.load_busybox("busybox:latest");
    engine.ok(&["run", "-d", "--name", "sleeper", "busybox", "sleep", "1000"]);
    // sh-less `sleep` as PID 1 ignores SIGTERM: stop falls back to SIGKILL after the timeout.
    engine.ok(&["stop", "-t", "1", "sleeper"]);
    assert_eq!(
        engine
            .ok(&["inspect", "-f", "{{.State.ExitCode}}", "sleeper"])
            .trim(),
        "137"
    );
    engine.ok(&["start", "sleeper"]);
    engine.ok(&["restart", "-t", "0", "sleeper"]);
    assert_eq!(
        engine
            .ok(&["inspect", "-f", "{{.State.Running}}", "sleeper"])
            .trim(),
        "true"
    );
    engine.ok(&["kill", "sleeper"]);
    let busy = engine.docker(&["rm", "sleeper"]);
    assert!(busy.status.success(), "a killed container is removable");
    engine.ok(&["run", "-d", "--name", "forced", "busybox", "sleep", "1000"]);
    let refused = engine.docker(&["rm", "forced"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("cannot remove a running container"));
    engine.ok(&["rm", "-f", "forced"]);
    assert_eq!(engine.ok(&["ps", "-aq"]), "");
}

#[test]
fn restart_policy_brings_a_killed_process_back() {
    let engine = TestEngine::start();
    engine.load_busybox("busybox:latest");
    engine.ok(&[
        "run",
        "-d",
        "--name",
        "keeper",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "1000",
    ]);
    let pid: i32 = engine
        .ok(&["inspect", "-f", "{{.State.Pid}}", "keeper"])
        .trim()
        .parse()
        .unwrap();
    // Killed from outside the engine, as a crash would.
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    eventually(20, "the restart", || {
        let state = engine.ok(&[
            "inspect",
            "-f",
            "{{.State.Running}} {{.State.Pid}} {{.RestartCount}}",
            "keeper",
        ]);
        let fields: Vec<&str> = state.split_whitespace().collect();
        fields[0] == "true" && fields[1] != pid.to_string() && fields[2] == "1"
    });
    engine.ok(&[
        "run",
        "-d",
        "--name",
        "once",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 5",
    ]);
    eventually(30, "on-failure to give up after 2 restarts", || {
        engine
            .ok(&[
                "inspect",
                "-f",
                "{{.State.Status}} {{.RestartCount}}",
                "once",
            ])
            .trim()
            == "exited 2"
    });
}

#[test]
fn containers_survive_an_engine_restart() {
    let mut engine = TestEngine::start();
    engine.load_busybox("busybox:latest");
    engine.ok(&[
        "run",
        "-d",
        "--name",
        "survivor",
        "busybox",
        "sh",
        "-c",
        "echo before; sleep 1000",
    ]);
    let pid = engine.ok(&["inspect", "-f", "{{.State.Pid}}", "survivor"]);
    engine.kill_and_restart();
    assert!(
        std::path::Path::new(&format!("/proc/{}", pid.trim())).exists(),
        "the container died with the engine"
    );
    assert_eq!(
        engine
            .ok(&[
                "inspect",
                "-f",
                "{{.State.Running}} {{.State.Pid}}",
                "survivor"
            ])
            .trim(),
        format!("true {}", pid.trim())
    );
    assert_eq!(engine.ok(&["logs", "survivor"]), "before\n");
    engine.ok(&["stop", "-t", "1", "survivor"]);
    assert_eq!(
        engine
            .ok(&["inspect", "-f", "{{.State.Status}}", "survivor"])
            .trim(),
        "exited"
    );
    engine.ok(&["rm", "survivor"]);
}

#[test]
fn load_save_round_trip() {
    let engine = TestEngine::start();
    engine.load_busybox("test/busybox:1");
    engine.ok(&["tag", "test/busybox:1", "again:2"]);
    let saved = engine.dir.path().join("saved.tar");
    engine.ok(&["save", "-o", saved.to_str().unwrap(), "again:2"]);
    let id = engine.ok(&["images", "-q", "--no-trunc", "again:2"]);
    engine.ok(&["rmi", "again:2", "test/busybox:1"]);
    assert_eq!(engine.ok(&["images", "-q"]), "");
    let loaded = engine.ok(&["load", "-i", saved.to_str().unwrap()]);
    assert_eq!(loaded, "Loaded image: again:2\n");
    assert_eq!(engine.ok(&["images", "-q", "--no-trunc", "again:2"]), id);
    assert_eq!(
        engine.ok(&["run", "--rm", "again:2", "echo", "round trip"]),
        "round trip\n"
    );
    let inspect = engine.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Os}} {{len .RootFS.Layers}}",
        "again:2",
    ]);
    assert_eq!(inspect.trim(), "linux 1");
}

#[test]
fn bad_requests_get_docker_errors_and_the_engine_stays_up() {
    let engine = TestEngine::start();
    engine.load_busybox("busybox:latest");
    let (status, body) = engine.request("POST", "/v1.47/containers/create", b"{not json");
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("\"message\":\"invalid container config"),
        "{body}"
    );
    let (status, body) = engine.request("POST", "/containers/create", br#"{"Image":"nope"}"#);
    assert_eq!(
        (status, body.contains("No such image: nope")),
        (404, true),
        "{body}"
    );
    let (status, _) = engine.request(
        "POST",
        "/containers/create?name=bad%2Fname",
        br#"{"Image":"busybox","Cmd":["true"]}"#,
    );
    assert_eq!(status, 400);
    let (status, _) = engine.request("GET", "/containers/nope/json", b"");
    assert_eq!(status, 404);
    let (status, _) = engine.request("GET", "/containers/json?all=maybe", b"");
    assert_eq!(status, 400);
    let (status, _) = engine.request("GET", "/containers/json?filters=%7Bbad", b"");
    assert_eq!(status, 400);
    let (status, body) = engine.request("POST", "/images/load", &b"garbage!".repeat(200));
    assert_eq!(status, 400, "{body}");
    let (status, _) = engine.request("GET", "/v9.99/version", b"");
    assert_eq!(status, 400);
    engine.ok(&["create", "--name", "twice", "busybox", "true"]);
    let dup = engine.docker(&["create", "--name", "twice", "busybox", "true"]);
    assert!(
        String::from_utf8_lossy(&dup.stderr).contains("is already in use"),
        "{dup:?}"
    );
    let (status, _) = engine.request("POST", "/containers/twice/start", b"");
    assert_eq!(status, 204);
    assert_eq!(engine.request("GET", "/_ping", b"").0, 200);
}

#[test]
fn container_settings_take_effect() {
    let engine = TestEngine::start();
    engine.load_busybox("busybox:latest");
    let run = |args: &[&str]| {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        engine.ok(&all)
    };
    let fails = |args: &[&str]| {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        !engine.docker(&all).status.success()
    };
    assert_eq!(run(&["--user", "nobody", "busybox", "id", "-u"]), "65534\n");
    assert_eq!(
        run(&[
            "--user",
            "1234:5678",
            "busybox",
            "sh",
            "-c",
            "echo $(id -u):$(id -g)"
        ]),
        "1234:5678\n"
    );
    assert_eq!(
        run(&[
            "-w",
            "/tmp",
            "-e",
            "FOO=bar",
            "busybox",
            "sh",
            "-c",
            "echo $FOO $(pwd)"
        ]),
        "bar /tmp\n"
    );
    assert_eq!(run(&["--entrypoint", "echo", "busybox", "a", "b"]), "a b\n");

    // The System engine's default network is the host's; `none` leaves only loopback.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(run(&["busybox", "hostname"]), host);
    assert_eq!(
        run(&[
            "--network",
            "none",
            "--hostname",
            "boxy",
            "busybox",
            "sh",
            "-c",
            // flags 0x9: IFF_UP | IFF_LOOPBACK, brought up as Docker does.
            "hostname; ls /sys/class/net; cat /sys/class/net/lo/flags"
        ]),
        "boxy\nlo\n0x9\n"
    );

    assert!(fails(&["--read-only", "busybox", "touch", "/x"]));
    assert_eq!(
        run(&[
            "--read-only",
            "--tmpfs",
            "/scratch",
            "busybox",
            "sh",
            "-c",
            "echo t > /scratch/f && cat /scratch/f"
        ]),
        "t\n"
    );

    let shared = engine.dir.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("file"), "data").unwrap();
    let ro = format!("{}:/data:ro", shared.display());
    assert_eq!(run(&["-v", &ro, "busybox", "cat", "/data/file"]), "data");
    assert!(fails(&["-v", &ro, "busybox", "touch", "/data/new"]));
    engine.ok(&[
        "create",
        "--name",
        "holder",
        "-v",
        &format!("{}:/data", shared.display()),
        "busybox",
        "true",
    ]);
    assert_eq!(
        run(&["--volumes-from", "holder", "busybox", "cat", "/data/file"]),
        "data"
    );
    // A holder of holders (RancherOS's all-volumes) passes its sources' binds on, and a
    // `:ro` on the way makes them read-only.
    engine.ok(&[
        "create",
        "--name",
        "all",
        "--volumes-from",
        "holder",
        "busybox",
        "true",
    ]);
    assert_eq!(
        run(&["--volumes-from", "all", "busybox", "cat", "/data/file"]),
        "data"
    );
    assert!(fails(&[
        "--volumes-from",
        "all:ro",
        "busybox",
        "touch",
        "/data/new2"
    ]));

    let count = |text: String| text.trim().parse::<u32>().unwrap();
    let own = count(run(&["busybox", "sh", "-c", "ls /proc | grep -c '^[0-9]'"]));
    let host_pids = count(run(&[
        "--pid",
        "host",
        "busybox",
        "sh",
        "-c",
        "ls /proc | grep -c '^[0-9]'",
    ]));
    assert!(
        own <= 3 && host_pids > 10,
        "own pid namespace {own}, host's {host_pids}"
    );

    assert!(fails(&[
        "--cap-drop",
        "CHOWN",
        "busybox",
        "chown",
        "nobody",
        "/tmp"
    ]));
    assert_eq!(run(&["busybox", "chown", "nobody", "/tmp"]), "");
    assert_eq!(
        run(&[
            "--device",
            "/dev/null:/dev/mynull",
            "busybox",
            "sh",
            "-c",
            "echo x > /dev/mynull && echo ok"
        ]),
        "ok\n"
    );
    assert_eq!(
        run(&[
            "--privileged",
            "busybox",
            "sh",
            "-c",
            "test -e /dev/kmsg && echo host devices"
        ]),
        "host devices\n"
    );
}
