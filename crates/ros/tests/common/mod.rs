//! A System engine started from the built `ros` binary on a temporary socket, for the
//! privileged integration tests (root; CI runs as root), and the stock Docker CLI to drive it.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The stock Docker CLI this machine kind ships (28.x); Debian's 20.10 is `/usr/bin/docker`.
pub const STOCK_DOCKER: &str = "/usr/local/bin/docker";
/// Debian's docker.io client.
pub const DEBIAN_DOCKER: &str = "/usr/bin/docker";

pub fn require_root() {
    assert!(
        ros_sys::is_root(),
        "the System engine tests run containers and need root; CI runs as root"
    );
}

pub struct TestEngine {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

impl TestEngine {
    pub fn start() -> Self {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix("ros-engine-")
            .tempdir()
            .unwrap();
        let mut engine = Self { dir, child: None };
        engine.spawn();
        engine
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("engine.sock")
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    fn spawn(&mut self) {
        let root = self.dir.path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(root.join("engine.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ros"))
            .arg("system-dockerd")
            .arg("--host")
            .arg(self.host())
            .arg("--data-root")
            .arg(root.join("data"))
            .arg("--exec-root")
            .arg(root.join("run"))
            .arg("--pidfile")
            .arg(root.join("engine.pid"))
            .env("RUST_LOG", "ros_engine=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok((200, _)) = self.try_request("GET", "/_ping", b"") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the engine did not answer /_ping; log:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("engine.log")).unwrap_or_default()
    }

    /// Kills the engine with SIGKILL (containers stay) and starts it again on the same roots.
    pub fn kill_and_restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        self.spawn();
    }

    pub fn docker_with(&self, cli: &str, args: &[&str]) -> Output {
        Command::new(cli)
            .args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_with(STOCK_DOCKER, args)
    }

    /// Runs the stock CLI; panics with its output unless it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed: {}\n{}\nengine log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn load_busybox(&self, tag: &str) {
        let archive = ros_engine::testing::busybox_archive(tag).unwrap();
        let path = self.dir.path().join("busybox.tar");
        std::fs::write(&path, archive).unwrap();
        let out = self.ok(&["load", "-i", path.to_str().unwrap()]);
        assert!(out.contains(&format!("Loaded image: {tag}")), "{out}");
    }

    /// One raw HTTP/1.1 request: status and body.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> std::io::Result<(u16, String)> {
        let mut stream = UnixStream::connect(self.socket())?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: engine\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("no status line in {text:?}")))?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    }

    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        self.try_request(method, path, body).unwrap()
    }

    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for TestEngine {
    fn drop(&mut self) {
        // Containers outlive the engine by design: remove them through it first.
        if self.child.is_some() {
            let ids = self.docker(&["ps", "-aq"]);
            for id in String::from_utf8_lossy(&ids.stdout).lines() {
                drop(self.docker(&["rm", "-f", id]));
            }
        }
        if let Some(mut child) = self.child.take() {
            drop(child.kill());
            drop(child.wait());
        }
        ros_engine::testing::unmount_below(self.dir.path());
    }
}

/// Polls `check` every 20 ms for up to `seconds`.
pub fn eventually(seconds: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

/// Debian's dockerd (with its own containerd) on a temporary socket: the reference engine.
pub struct RealDockerd {
    pub dir: tempfile::TempDir,
    child: Child,
}

impl RealDockerd {
    pub fn start() -> Self {
        require_root();
        let dockerd = "/usr/sbin/dockerd";
        assert!(
            Path::new(dockerd).exists(),
            "{dockerd} is missing: the interop tests need Debian's docker.io (cargo xtask test installs it)"
        );
        let dir = tempfile::Builder::new()
            .prefix("ros-dockerd-")
            .tempdir()
            .unwrap();
        let root = dir.path();
        let log = std::fs::File::create(root.join("dockerd.log")).unwrap();
        let child = Command::new(dockerd)
            .arg("--host")
            .arg(format!("unix://{}", root.join("d.sock").display()))
            .arg("--data-root")
            .arg(root.join("data"))
            .arg("--exec-root")
            .arg(root.join("exec"))
            .arg("--pidfile")
            .arg(root.join("dockerd.pid"))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
            ])
            .arg("--containerd-namespace")
            .arg(format!("ros-test-{}", std::process::id()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let dockerd = Self { dir, child };
        eventually(60, "dockerd to answer", || {
            dockerd.docker(&["version"]).status.success()
        });
        dockerd
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new(STOCK_DOCKER)
            .args(args)
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.dir.path().join("d.sock").display()),
            )
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "dockerd: docker {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for RealDockerd {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop its containerd; then whatever is left is unmounted.
        drop(
            Command::new("kill")
                .arg(self.child.id().to_string())
                .status(),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(self.child.kill());
        drop(self.child.wait());
        ros_engine::testing::unmount_below(self.dir.path());
    }
}
