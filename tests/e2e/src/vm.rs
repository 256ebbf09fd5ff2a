//! [`TestVm`]: one guest under test, its console read live from a unix socket.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::console::{find_line, kernel_trouble};
use crate::qemu::{BootSource, Firmware, QemuConfig, Serial};
use crate::qmp::Qmp;
use crate::ssh::{SshClient, authorize, free_port};

/// How long QEMU may take to create its console socket.
const SOCKET_WAIT: Duration = Duration::from_secs(30);

/// The build's output folder (`dist/`), where the boot artefacts are.
#[derive(Debug, Clone)]
pub struct Artefacts {
    dir: PathBuf,
}

impl Artefacts {
    /// `$ROS_DIST`, or `dist/` at the workspace root. The root comes from cargo's run-time
    /// `CARGO_MANIFEST_DIR` first: a target directory shared by two checkouts may hold this
    /// crate compiled in the other one, with the other's path baked in.
    pub fn locate() -> Result<Self> {
        let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
        let dir =
            std::env::var_os("ROS_DIST").map_or_else(|| manifest.join("../../dist"), PathBuf::from);
        if !dir.is_dir() {
            bail!(
                "{} does not exist: build the artefacts with `cargo xtask images`",
                dir.display()
            );
        }
        Ok(Self { dir })
    }

    /// A file of the output folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Kernel and initramfs, booted directly.
    pub fn direct(&self) -> BootSource {
        BootSource::Direct {
            kernel: self.path("vmlinuz"),
            initrd: self.path("initrd"),
        }
    }

    /// The hybrid ISO.
    pub fn iso(&self, firmware: Firmware) -> BootSource {
        BootSource::Iso {
            path: self.path("rancheros.iso"),
            firmware,
        }
    }

    /// The disk image, as `rancheros.img` (raw) or `rancheros.qcow2`.
    pub fn disk(&self, file: &str, firmware: Firmware) -> BootSource {
        BootSource::Disk {
            path: self.path(file),
            firmware,
        }
    }

    /// Where failing tests leave their console logs: `$ROS_E2E_LOGS` or `dist/e2e-logs`.
    pub fn log_dir(&self) -> PathBuf {
        std::env::var_os("ROS_E2E_LOGS").map_or_else(|| self.dir.join("e2e-logs"), PathBuf::from)
    }
}

/// Builds a [`TestVm`].
#[derive(Debug)]
pub struct TestVmBuilder {
    name: String,
    config: QemuConfig,
    log_dir: PathBuf,
    cloud_config: Option<PathBuf>,
    ssh_user: Option<String>,
}

impl TestVmBuilder {
    /// Guest RAM in MiB.
    pub fn memory(mut self, mib: u32) -> Self {
        self.config.memory_mib = mib;
        self
    }

    /// An extra kernel parameter (direct boots).
    pub fn cmdline(mut self, param: &str) -> Self {
        self.config.cmdline.push(param.to_string());
        self
    }

    /// An extra virtio disk.
    pub fn disk(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.disks.push(path.into());
        self
    }

    /// A cloud-config handed to the guest on a config drive.
    pub fn cloud_config(mut self, path: impl Into<PathBuf>) -> Self {
        self.cloud_config = Some(path.into());
        self
    }

    /// Log in over SSH as `user`: a key pair made for this guest is authorised through the
    /// config drive's cloud-config, and a free host port is forwarded to the guest's port 22.
    pub fn ssh(mut self, user: &str) -> Self {
        self.ssh_user = Some(user.to_string());
        self
    }

    /// Starts QEMU and connects to its console.
    pub fn boot(mut self) -> Result<TestVm> {
        let dir = tempfile::Builder::new().prefix("ros-e2e-").tempdir()?;
        let socket = dir.path().join("console.sock");
        let log = dir.path().join("console.log");
        let qmp = dir.path().join("qmp.sock");
        self.config.serial = Serial::Socket {
            path: socket.clone(),
            log: log.clone(),
        };
        self.config.qmp = Some(qmp.clone());
        let mut user_data = self.cloud_config.clone();
        let mut ssh = None;
        if let Some(user) = &self.ssh_user {
            let client = SshClient::generate(dir.path(), user, free_port()?)?;
            let given = match &user_data {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?,
                ),
                None => None,
            };
            let text = authorize(given.as_deref(), &client.public_key()?)?;
            let path = dir.path().join("user-data.yml");
            std::fs::write(&path, text)?;
            user_data = Some(path);
            self.config.ssh_port = Some(client.port);
            ssh = Some(client);
        }
        if let Some(user_data) = &user_data {
            let drive = dir.path().join("config-drive.iso");
            crate::config_drive::write(user_data, &drive)?;
            self.config.config_drive = Some(drive);
        }
        if let BootSource::Disk { path, .. } = &mut self.config.boot {
            *path = overlay(path, dir.path())?;
        }
        let stderr = std::fs::File::create(dir.path().join("qemu.stderr"))?;
        let mut command = self.config.command()?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", crate::qemu::QEMU))?;
        let stream = match connect(&socket, &mut child) {
            Ok(s) => s,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let qemu_said =
                    std::fs::read_to_string(dir.path().join("qemu.stderr")).unwrap_or_default();
                return Err(e.context(format!("{command:?}: {}", qemu_said.trim())));
            }
        };
        let shared = Arc::new(Shared::default());
        let input = stream.try_clone().context("cloning the console socket")?;
        let reader = spawn_reader(stream, Arc::clone(&shared));
        Ok(TestVm {
            input: Mutex::new(input),
            name: self.name,
            child,
            exit: None,
            shared,
            reader: Some(reader),
            cursor: 0,
            qmp,
            log_dir: self.log_dir,
            ssh,
            started: Instant::now(),
            _dir: dir,
        })
    }
}

/// A qcow2 overlay on `base` in `dir`, so a guest's writes never reach the built image.
fn overlay(base: &Path, dir: &Path) -> Result<PathBuf> {
    let base = base
        .canonicalize()
        .with_context(|| format!("{} (run `cargo xtask images`)", base.display()))?;
    let format = if base.extension().is_some_and(|x| x == "qcow2") {
        "qcow2"
    } else {
        "raw"
    };
    let out = dir.join("disk.qcow2");
    let status = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", format, "-b"])
        .arg(&base)
        .arg(&out)
        .status()
        .context("running qemu-img")?;
    if !status.success() {
        bail!("qemu-img could not make an overlay on {}", base.display());
    }
    Ok(out)
}

/// QEMU creates the socket, then waits for us before running the guest.
fn connect(socket: &Path, child: &mut Child) -> Result<UnixStream> {
    let deadline = Instant::now() + SOCKET_WAIT;
    loop {
        if let Ok(stream) = UnixStream::connect(socket) {
            return Ok(stream);
        }
        if let Some(status) = child.try_wait()? {
            bail!("QEMU exited ({status}) before opening its console");
        }
        if Instant::now() > deadline {
            bail!("QEMU did not open {} in time", socket.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[derive(Debug, Default)]
struct Shared {
    console: Mutex<Console>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Console {
    text: String,
    closed: bool,
}

fn spawn_reader(mut stream: UnixStream, shared: Arc<Shared>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut pending = Vec::new();
        loop {
            let n = stream.read(&mut buf).unwrap_or(0);
            let mut console = shared.console.lock().unwrap_or_else(|e| e.into_inner());
            if n == 0 {
                console.text.push_str(&String::from_utf8_lossy(&pending));
                console.closed = true;
                shared.changed.notify_all();
                return;
            }
            pending.extend_from_slice(&buf[..n]);
            // Keep an incomplete UTF-8 sequence for the next read.
            let valid = match std::str::from_utf8(&pending) {
                Ok(_) => pending.len(),
                Err(e) if e.error_len().is_none() => e.valid_up_to(),
                Err(_) => pending.len(),
            };
            let rest = pending.split_off(valid);
            console.text.push_str(&String::from_utf8_lossy(&pending));
            pending = rest;
            shared.changed.notify_all();
        }
    })
}

/// A guest under test. Dropping it stops QEMU; a failing test's console log is kept.
#[derive(Debug)]
pub struct TestVm {
    name: String,
    input: Mutex<UnixStream>,
    child: Child,
    exit: Option<ExitStatus>,
    shared: Arc<Shared>,
    reader: Option<JoinHandle<()>>,
    cursor: usize,
    qmp: PathBuf,
    log_dir: PathBuf,
    ssh: Option<SshClient>,
    started: Instant,
    _dir: tempfile::TempDir,
}

impl TestVm {
    /// A guest called `name` (the name of its kept log) booting `boot`, with the defaults of
    /// [`QemuConfig::new`].
    pub fn builder(name: &str, artefacts: &Artefacts, boot: BootSource) -> TestVmBuilder {
        TestVmBuilder {
            name: name.to_string(),
            config: QemuConfig::new(boot),
            log_dir: artefacts.log_dir(),
            cloud_config: None,
            ssh_user: None,
        }
    }

    fn console(&self) -> MutexGuard<'_, Console> {
        self.shared
            .console
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The console so far.
    pub fn console_log(&self) -> String {
        self.console().text.clone()
    }

    /// Time since QEMU started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits for the next console line containing `needle` and returns it. `timeout` only
    /// guards against a hung guest; it is not a speed check.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        let cursor = self.cursor;
        let (line, next) = self.wait_on_console(
            timeout,
            &format!("a line with `{needle}`"),
            |c| match find_line(&c.text, cursor, needle) {
                Some(found) => Some(Ok(found)),
                None if c.closed => Some(Err("the console closed")),
                None => None,
            },
        )?;
        self.cursor = next;
        Ok(line)
    }

    /// Types `text` on the serial console.
    pub fn type_text(&self, text: &str) -> Result<()> {
        let mut input = self.input.lock().unwrap_or_else(|e| e.into_inner());
        input
            .write_all(text.as_bytes())
            .with_context(|| format!("{}: writing to the console", self.name))
    }

    /// Runs `command` in the shell on the serial console (logged in there) and returns what
    /// it printed, found between two unique marker lines.
    pub fn console_command(&mut self, command: &str, timeout: Duration) -> Result<String> {
        let id = self.started.elapsed().as_nanos();
        let (begin, end) = (format!("BEGIN-{id}"), format!("END-{id}"));
        let start = self.console().text.len();
        // The markers are split in the typed line, so its echo (wrapped by the terminal
        // however it likes) never holds them whole.
        let split = |m: &str| {
            let (a, b) = m.split_at(3);
            format!("echo \"{a}\"\"{b}\"")
        };
        self.type_text(&format!("{}; {command}; {}\n", split(&begin), split(&end)))?;
        self.wait_for(&end, timeout)?;
        let text = self.console_log();
        let text = text.get(start..).unwrap_or_default();
        let after_begin = text
            .find(&begin)
            .map(|i| &text[i..])
            .and_then(|t| t.split_once('\n'))
            .map_or("", |(_, rest)| rest);
        let output = after_begin
            .find(&end)
            .map_or(after_begin, |i| &after_begin[..i]);
        Ok(output.replace('\r', ""))
    }

    /// Waits for QEMU to exit on its own (the guest powered off) and returns its status.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        self.wait_on_console(timeout, "QEMU to exit", |c| c.closed.then_some(Ok(())))?;
        let status = self.child.wait()?;
        self.exit = Some(status);
        Ok(status)
    }

    /// Waits, woken by each console change, until `check` decides: `Ok` is the answer, `Err`
    /// says why it can no longer come. `timeout` guards against a hung guest.
    fn wait_on_console<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut check: impl FnMut(&Console) -> Option<Result<T, &'static str>>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        let mut console = self.console();
        loop {
            match check(&console) {
                Some(Ok(found)) => return Ok(found),
                Some(Err(why)) => bail!(
                    "{}: {why} while waiting for {what}:\n{}",
                    self.name,
                    tail(&console.text)
                ),
                None => {}
            }
            let now = Instant::now();
            if now >= deadline {
                bail!(
                    "{}: no {what} within {timeout:?}:\n{}",
                    self.name,
                    tail(&console.text)
                );
            }
            console = self
                .shared
                .changed
                .wait_timeout(console, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn ssh_client(&self) -> Result<&SshClient> {
        self.ssh
            .as_ref()
            .with_context(|| format!("{}: built without TestVmBuilder::ssh", self.name))
    }

    /// The public key the guest was given for SSH logins.
    pub fn ssh_public_key(&self) -> Result<String> {
        self.ssh_client()?.public_key()
    }

    /// Waits until an SSH login works.
    pub fn wait_for_ssh(&self, timeout: Duration) -> Result<()> {
        self.ssh_client()?.wait_ready(timeout)
    }

    /// Runs `command` in the guest over SSH; its exit status is the command's.
    pub fn ssh(&self, command: &str) -> Result<std::process::Output> {
        self.ssh_client()?.run(command)
    }

    /// Asks the guest to power off, as the power button does (ACPI).
    pub fn power_button(&self) -> Result<()> {
        Qmp::connect(&self.qmp)?.execute("system_powerdown")?;
        Ok(())
    }

    /// Fails if the console shows a kernel panic, an Oops or a BUG.
    pub fn check_kernel(&self) -> Result<()> {
        let trouble = kernel_trouble(&self.console().text);
        if let Some(first) = trouble.first() {
            bail!(
                "{}: the kernel reported trouble ({} lines), first at console line {}: {}",
                self.name,
                trouble.len(),
                first.line,
                first.text
            );
        }
        Ok(())
    }

    fn stop(&mut self) {
        if self.exit.is_none() {
            let quit = Qmp::connect(&self.qmp).and_then(|mut q| q.execute("quit"));
            if quit.is_err() {
                let _ = self.child.kill();
            }
            self.exit = self.child.wait().ok();
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }

    fn keep_log(&self) -> Option<PathBuf> {
        std::fs::create_dir_all(&self.log_dir).ok()?;
        let path = self.log_dir.join(format!("{}.log", self.name));
        std::fs::write(&path, &self.console().text).ok()?;
        Some(path)
    }
}

impl Drop for TestVm {
    fn drop(&mut self) {
        self.stop();
        let trouble = self.check_kernel();
        if (std::thread::panicking() || trouble.is_err())
            && let Some(path) = self.keep_log()
        {
            #[allow(clippy::print_stderr)] // the test's output is where a reader looks
            {
                eprintln!("{}: console log kept at {}", self.name, path.display());
            }
        }
        if let Err(e) = trouble
            && !std::thread::panicking()
        {
            panic!("{e:#}");
        }
    }
}

/// The last lines of a console, for error messages.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(25);
    lines[start..].join("\n")
}
