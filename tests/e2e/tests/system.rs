//! The booted system: init, the System engine as PID 1, the default services, the console
//! and the user's Docker, driven through the serial console's automatic login.

use std::time::Duration;

use anyhow::{Result, ensure};
use ros_e2e::{Artefacts, TestVm};

/// Guards against a hung guest; under TCG the whole boot takes well under this.
const HANG: Duration = Duration::from_secs(300);
/// A command in the guest.
const COMMAND: Duration = Duration::from_secs(120);

fn boot(name: &str) -> Result<TestVm> {
    let artefacts = Artefacts::locate()?;
    TestVm::builder(name, &artefacts, artefacts.direct())
        .memory(1536)
        .cmdline("rancher.autologin=ttyS0")
        .boot()
}

/// RAM-disk boot to a console on the serial line, with the System engine as PID 1, the
/// default services up, the user's Docker answering, and the system surviving both a
/// `docker rm -f` of everything the user runs and a `kill -9` of a service.
#[test]
fn ram_disk_boot_to_console_and_user_docker() -> Result<()> {
    let mut vm = boot("system-ram-disk")?;
    vm.wait_for("ros: system engine ready", HANG)?;
    vm.wait_for("ros: console ready", HANG)?;
    vm.wait_for("ros: docker ready", HANG)?;
    let up = vm.wait_for("ros: services up", HANG)?;
    ensure!(up.contains("failed=0"), "{up}\n{}", vm.console_log());
    vm.wait_for("Autologin ttyS0", HANG)?;
    // The prompt of the login shell.
    std::thread::sleep(Duration::from_secs(2));

    let whoami = vm.console_command("id -un", COMMAND)?;
    ensure!(whoami.contains("rancher"), "logged in as {whoami}");
    let init = vm.console_command("cat /proc/1/comm", COMMAND)?;
    ensure!(init.contains("system-dockerd"), "PID 1 is {init}");

    let names = vm.console_command(
        "sudo system-docker ps --format '{{.Names}}' | sort | tr '\\n' ' '",
        COMMAND,
    )?;
    for service in ["acpid", "console", "docker", "syslog"] {
        ensure!(names.contains(service), "{service} is not running: {names}");
    }

    // The user's Docker starts empty; the OS's own archive has an image to run.
    let loaded = vm.console_command(
        "docker load -q -i /usr/share/ros/images/preload.tar | grep -c os-base",
        COMMAND,
    )?;
    ensure!(loaded.contains('1'), "docker load: {loaded}");
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
