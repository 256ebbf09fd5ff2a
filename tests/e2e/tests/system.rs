//! The booted system: init, the System engine as PID 1, the default services, the console
//! and the user's Docker, driven through the serial console's automatic login.

use std::time::Duration;

use anyhow::{Result, ensure};
use ros_e2e::{Artefacts, TestVm};

/// Guards against a hung guest; under TCG the whole boot takes well under this.
const HANG: Duration = Duration::from_secs(300);
/// A command in the guest.
const COMMAND: Duration = Duration::from_secs(120);

/// A RAM-disk boot logged in on the serial console, with `user_data` on a config drive.
fn boot(name: &str, user_data: &str) -> Result<(TestVm, tempfile::TempDir)> {
    let artefacts = Artefacts::locate()?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("user-data.yml");
    std::fs::write(&path, user_data)?;
    let vm = TestVm::builder(name, &artefacts, artefacts.direct())
        .memory(1536)
        .cmdline("rancher.autologin=ttyS0")
        .cloud_config(&path)
        .boot()?;
    Ok((vm, dir))
}

/// RAM-disk boot to a console on the serial line, with the System engine as PID 1, the
/// default services up, the user's Docker answering, and the system surviving both a
/// `docker rm -f` of everything the user runs and a `kill -9` of a service. The user-data
/// is broken YAML: the boot goes on and says so in the boot log.
#[test]
fn ram_disk_boot_to_console_and_user_docker() -> Result<()> {
    let (mut vm, _dir) = boot("system-ram-disk", "#cloud-config\nhostname: [unclosed\n")?;
    vm.wait_for("ros: system engine ready", HANG)?;
    vm.wait_for("ros: console ready", HANG)?;
    vm.wait_for("ros: docker ready", HANG)?;
    let up = vm.wait_for("ros: services up", HANG)?;
    ensure!(up.contains("failed=0"), "{up}\n{}", vm.console_log());
    // The login shell's prompt came before the markers; a command line gets a fresh one.

    let whoami = vm.console_command("id -un", COMMAND)?;
    ensure!(whoami.contains("rancher"), "logged in as {whoami}");
    let init = vm.console_command("cat /proc/1/comm", COMMAND)?;
    ensure!(init.contains("system-dockerd"), "PID 1 is {init}");
    let log = vm.console_command("cat /var/log/boot/init.log", COMMAND)?;
    ensure!(
        log.contains("cloud-config.d/boot.yml"),
        "the broken user-data is not named in the boot log: {log}"
    );

    let names = vm.console_command(
        "sudo system-docker ps --format '{{.Names}}' | sort | tr '\\n' ' '",
        COMMAND,
    )?;
    for service in ["acpid", "console", "docker", "syslog"] {
        ensure!(names.contains(service), "{service} is not running: {names}");
    }

    let timeline = vm.console_command("sudo ros os boot-time", COMMAND)?;
    for step in [
        "boot ok",
        "system engine ready",
        "console ready",
        "services up",
    ] {
        ensure!(
            timeline.contains(step),
            "{step} missing from the timeline: {timeline}"
        );
    }

    // The user's Docker starts empty; the System engine hands it an image to run.
    let loaded = vm.console_command(
        "sudo system-docker save rancher/os-base:v0.1.0 | docker load | grep -c os-base",
        COMMAND,
    )?;
    ensure!(loaded.trim() == "1", "docker load: {loaded}");
    let ok = vm.console_command("docker run --rm rancher/os-base:v0.1.0 echo o''k", COMMAND)?;
    ensure!(ok.contains("ok"), "user docker run: {ok}");

    // The headline: removing everything the user runs leaves the system alone.
    let removed = vm.console_command(
        "docker run -d --name sleeper rancher/os-base:v0.1.0 sleep 600 >/dev/null; \
         docker rm -f $(docker ps -qa) >/dev/null; docker ps -qa | wc -l",
        COMMAND,
    )?;
    ensure!(
        removed.trim_end().ends_with('0'),
        "user containers left: {removed}"
    );
    let still = vm.console_command(
        "sudo system-docker ps --format '{{.Names}}' | sort | tr '\\n' ' '",
        COMMAND,
    )?;
    ensure!(
        still == names,
        "system containers changed: {names} -> {still}"
    );

    // kill -9 of a service's process: its restart policy brings it back.
    let pid = vm.console_command(
        "sudo system-docker inspect -f '{{.State.Pid}}' syslog",
        COMMAND,
    )?;
    let pid = pid.trim();
    vm.console_command(&format!("sudo kill -9 {pid}"), COMMAND)?;
    let mut back = String::new();
    for _ in 0..30 {
        back = vm.console_command(
            "sudo system-docker inspect -f '{{.State.Running}} {{.State.Pid}}' syslog",
            COMMAND,
        )?;
        if back.contains("true") && !back.contains(&format!(" {pid}")) {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    ensure!(back.contains("true"), "syslog did not come back: {back}");

    // The power button: acpid → busybox poweroff → SIGUSR2 to PID 1 → orderly power off.
    vm.power_button()?;
    let status = vm.wait_for_exit(HANG)?;
    ensure!(status.success(), "QEMU exited with {status}");
    vm.check_kernel()
}

/// DHCP (mozim against QEMU's user network), SSH as rancher with the key from an OpenStack
/// config drive, and the cloud-config's hostname, write_files, runcmd and sysctl in effect.
#[test]
fn config_drive_user_data_and_ssh() -> Result<()> {
    let artefacts = Artefacts::locate()?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("user-data.yml");
    std::fs::write(
        &path,
        "#cloud-config\n\
         hostname: e2e-host\n\
         write_files:\n\
         \x20 - path: /home/rancher/hello.txt\n\
         \x20   content: hello from write_files\n\
         runcmd:\n\
         \x20 - echo ran > /home/rancher/runcmd.txt\n\
         rancher:\n\
         \x20 sysctl:\n\
         \x20   vm.swappiness: 7\n",
    )?;
    let mut vm = TestVm::builder("system-ssh", &artefacts, artefacts.direct())
        .memory(1536)
        .cmdline("rancher.password=e2e-Secret")
        .cloud_config(&path)
        .ssh("rancher")
        .boot()?;
    vm.wait_for("ros: console ready", HANG)?;
    vm.wait_for_ssh(HANG)?;
    let run = |command: &str| -> Result<String> {
        let out = vm.ssh(command)?;
        ensure!(
            out.status.success(),
            "`{command}`: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    ensure!(run("hostname")?.trim() == "e2e-host");
    ensure!(run("cat /home/rancher/hello.txt")?.contains("hello from write_files"));
    ensure!(run("cat /home/rancher/runcmd.txt")?.trim() == "ran");
    ensure!(run("cat /proc/sys/vm/swappiness")?.trim() == "7");
    // rancher.password from the kernel command line: a real hash instead of the locked `*`.
    let shadow = run("sudo grep '^rancher:' /etc/shadow")?;
    ensure!(
        shadow.starts_with("rancher:$") && !shadow.contains("e2e-Secret"),
        "rancher.password was not set: {shadow}"
    );
    // The lease: QEMU's user network hands out 10.0.2.15. Restricted (no way out), it offers
    // no router and no resolver, so netconf writes the default resolvers.
    let addr = run("ip -4 addr show eth0")?;
    ensure!(addr.contains("10.0.2.15/24"), "{addr}");
    let resolv = run("cat /etc/resolv.conf")?;
    ensure!(
        resolv.starts_with("# written by netconf") && resolv.contains("nameserver 8.8.8.8"),
        "{resolv}"
    );
    let names = run("sudo system-docker ps --format '{{.Names}}'")?;
    for service in ["network", "console", "docker", "syslog", "acpid"] {
        ensure!(
            names.lines().any(|l| l == service),
            "{service} not running: {names}"
        );
    }
    // An image handed from the System engine to the user's: saved there, loaded here.
    let ok = run(
        "sudo system-docker save rancher/os-base:v0.1.0 | docker load -q >/dev/null && \
         docker run --rm rancher/os-base:v0.1.0 echo ok",
    )?;
    ensure!(ok.trim() == "ok", "{ok}");
    ensure!(
        !run("id")?.contains("root"),
        "ssh logs in as rancher, not root"
    );
    vm.check_kernel()
}

/// Persistent mode: a disk labelled `RANCHER_STATE` becomes the root; what the user made in
/// /home and in the user's Docker is still there after a power off and a second boot.
#[test]
fn a_state_partition_keeps_home_and_user_images_across_boots() -> Result<()> {
    let artefacts = Artefacts::locate()?;
    let dir = tempfile::tempdir()?;
    let disk = dir.path().join("state.img");
    std::fs::File::create(&disk)?.set_len(3 << 30)?;
    let mkfs = std::process::Command::new("mkfs.ext4")
        .args(["-q", "-L", "RANCHER_STATE"])
        .arg(&disk)
        .status()?;
    ensure!(mkfs.success(), "mkfs.ext4 (e2fsprogs) failed: {mkfs}");
    let boot = |name: &str| {
        TestVm::builder(name, &artefacts, artefacts.direct())
            .memory(1536)
            .cmdline("rancher.autologin=ttyS0")
            .cmdline("rancher.state.dev=LABEL=RANCHER_STATE")
            .cmdline("rancher.state.wait")
            .disk(&disk)
            .boot()
    };

    let mut vm = boot("system-state-1")?;
    vm.wait_for("ros: services up", HANG)?;
    let made = vm.console_command(
        "echo kept > /home/rancher/kept.txt && \
         sudo system-docker save rancher/os-base:v0.1.0 | docker load -q >/dev/null && \
         docker tag rancher/os-base:v0.1.0 mine:1 && echo made",
        COMMAND,
    )?;
    ensure!(made.trim_end().ends_with("made"), "{made}");
    vm.power_button()?;
    ensure!(vm.wait_for_exit(HANG)?.success());
    vm.check_kernel()?;
    drop(vm);

    let mut vm = boot("system-state-2")?;
    vm.wait_for("ros: services up", HANG)?;
    let state = vm.console_command("grep '^state:' /var/log/boot/init.log", COMMAND)?;
    ensure!(state.contains("state: /dev/vda"), "{state}");
    let kept = vm.console_command("cat /home/rancher/kept.txt", COMMAND)?;
    ensure!(kept.trim() == "kept", "{kept}");
    let image = vm.console_command("docker run --rm mine:1 echo still-here", COMMAND)?;
    ensure!(image.trim() == "still-here", "{image}");
    vm.power_button()?;
    ensure!(vm.wait_for_exit(HANG)?.success());
    vm.check_kernel()
}
