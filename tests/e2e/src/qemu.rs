//! QEMU command lines for the OS: one place that knows the machine types, firmware, devices
//! and the kernel command line each boot path needs. `cargo xtask run` and [`crate::TestVm`]
//! both build their command here, so what a developer boots is what the tests boot.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-x86_64";

/// OVMF, the UEFI firmware, as Debian's `ovmf` package installs it.
pub const OVMF: &str = "/usr/share/ovmf/OVMF.fd";

/// Used when the host's TSC frequency cannot be read (the figure the feasibility runs used).
const FALLBACK_TSC_KHZ: u64 = 2_600_000;

/// How the guest's CPU is provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Software emulation: works everywhere.
    Tcg,
    /// Hardware virtualisation: only where the CPU has vmx or svm.
    Kvm,
}

impl Accel {
    /// KVM only where the CPU really has vmx/svm and `/dev/kvm` is not PVM, whose KVM hangs
    /// stock Debian kernels; otherwise TCG.
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let has_virt = cpuinfo
            .lines()
            .filter(|l| l.starts_with("flags"))
            .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"));
        let pvm = Path::new("/sys/module/kvm_pvm").exists();
        if has_virt && !pvm && Path::new("/dev/kvm").exists() {
            Self::Kvm
        } else {
            Self::Tcg
        }
    }

    fn arg(self) -> &'static str {
        match self {
            // One emulation thread for all vCPUs: with multi-threaded TCG the guest kernel's
            // live text patching (int3 breakpoints) raced and oopsed in sched_clock_cpu once
            // in ~40 boots on this host.
            Self::Tcg => "tcg,thread=single",
            Self::Kvm => "kvm",
        }
    }
}

/// Firmware for ISO and disk boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS on the `pc` machine.
    Bios,
    /// OVMF on the `q35` machine.
    Uefi,
}

/// What the guest boots from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootSource {
    /// Kernel and initramfs loaded by QEMU itself on `-M microvm`: the quickest boot.
    Direct {
        /// The kernel image.
        kernel: PathBuf,
        /// The initramfs.
        initrd: PathBuf,
    },
    /// The hybrid ISO as a CD-ROM.
    Iso {
        /// The ISO image.
        path: PathBuf,
        /// BIOS or UEFI.
        firmware: Firmware,
    },
    /// The disk image as the first virtio disk.
    Disk {
        /// Raw or qcow2 image (told apart by the `.qcow2` extension).
        path: PathBuf,
        /// BIOS or UEFI.
        firmware: Firmware,
    },
}

/// Where the serial console goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serial {
    /// This process's terminal, with QEMU's monitor on Ctrl-A C.
    Stdio,
    /// A unix socket QEMU listens on and waits for, so no output is lost before the reader
    /// connects; everything is also copied to `log`.
    Socket {
        /// The socket path.
        path: PathBuf,
        /// The console log.
        log: PathBuf,
    },
}

/// One guest's QEMU command line.
#[derive(Debug, Clone)]
pub struct QemuConfig {
    /// What to boot.
    pub boot: BootSource,
    /// Guest RAM in MiB.
    pub memory_mib: u32,
    /// Virtual CPUs.
    pub cpus: u32,
    /// Extra kernel parameters (direct boots only: ISO and disk boots read theirs from the
    /// boot loader's configuration).
    pub cmdline: Vec<String>,
    /// Extra raw or qcow2 disks, attached as virtio disks after the boot disk.
    pub disks: Vec<PathBuf>,
    /// A config drive ([`crate::config_drive`]), attached read-only after the disks.
    pub config_drive: Option<PathBuf>,
    /// Host port forwarded to the guest's port 22 on 127.0.0.1.
    pub ssh_port: Option<u16>,
    /// Serial console.
    pub serial: Serial,
    /// QMP socket.
    pub qmp: Option<PathBuf>,
    /// Exit QEMU when the guest reboots (tests) rather than rebooting it.
    pub no_reboot: bool,
    /// CPU provider.
    pub accel: Accel,
}

impl QemuConfig {
    /// Defaults for `boot`: 1 GiB, 2 vCPUs, serial on the terminal, detected accelerator.
    pub fn new(boot: BootSource) -> Self {
        Self {
            boot,
            memory_mib: 1024,
            cpus: 2,
            cmdline: Vec::new(),
            disks: Vec::new(),
            config_drive: None,
            ssh_port: None,
            serial: Serial::Stdio,
            qmp: None,
            no_reboot: true,
            accel: Accel::detect(),
        }
    }

    fn is_microvm(&self) -> bool {
        matches!(self.boot, BootSource::Direct { .. })
    }

    /// The virtio device model for `kind` (`blk`, `net`, `rng`) on this machine type.
    fn virtio(&self, kind: &str) -> String {
        if self.is_microvm() {
            format!("virtio-{kind}-device")
        } else {
            format!("virtio-{kind}-pci")
        }
    }

    /// The kernel command line of a direct boot.
    pub fn kernel_cmdline(&self) -> String {
        let mut parts = vec![
            "console=ttyS0".to_string(),
            // microvm has no PIT/HPET to calibrate the TSC against; without this the boot
            // hangs now and then under TCG.
            format!("tsc_early_khz={}", tsc_khz()),
            "panic=-1".to_string(),
        ];
        parts.extend(self.cmdline.iter().cloned());
        parts.join(" ")
    }

    /// The full command.
    pub fn command(&self) -> Result<Command> {
        let mut cmd = Command::new(QEMU);
        cmd.args(["-accel", self.accel.arg(), "-display", "none"]);
        cmd.args(["-m", &self.memory_mib.to_string()]);
        cmd.args(["-smp", &self.cpus.to_string()]);
        if self.no_reboot {
            cmd.arg("-no-reboot");
        }
        match &self.boot {
            BootSource::Direct { kernel, initrd } => {
                existing(kernel)?;
                existing(initrd)?;
                cmd.args(["-M", "microvm,rtc=on"]);
                cmd.arg("-kernel").arg(kernel).arg("-initrd").arg(initrd);
                cmd.args(["-append", &self.kernel_cmdline()]);
            }
            BootSource::Iso { path, firmware } => {
                existing(path)?;
                firmware_args(&mut cmd, *firmware)?;
                cmd.arg("-drive").arg(format!(
                    "file={},media=cdrom,readonly=on,if=ide,index=2",
                    path.display()
                ));
                cmd.args(["-boot", "order=d"]);
            }
            BootSource::Disk { path, firmware } => {
                existing(path)?;
                firmware_args(&mut cmd, *firmware)?;
                cmd.arg("-drive").arg(drive_arg(path, "boot"));
                cmd.args(["-device", &format!("{},drive=boot", self.virtio("blk"))]);
            }
        }
        for (i, disk) in self.disks.iter().enumerate() {
            existing(disk)?;
            let id = format!("data{i}");
            cmd.arg("-drive").arg(drive_arg(disk, &id));
            cmd.args(["-device", &format!("{},drive={id}", self.virtio("blk"))]);
        }
        if let Some(drive) = &self.config_drive {
            existing(drive)?;
            cmd.arg("-drive").arg(format!(
                "file={},format=raw,if=none,id=config,readonly=on",
                drive.display()
            ));
            cmd.args(["-device", &format!("{},drive=config", self.virtio("blk"))]);
        }
        let mut netdev = "user,id=n0,restrict=on".to_string();
        if let Some(port) = self.ssh_port {
            netdev.push_str(&format!(",hostfwd=tcp:127.0.0.1:{port}-:22"));
        }
        cmd.args(["-netdev", &netdev]);
        cmd.args(["-device", &format!("{},netdev=n0", self.virtio("net"))]);
        // Without an entropy source Go daemons (dockerd) stall on getrandom at boot.
        cmd.args(["-object", "rng-random,id=rng0,filename=/dev/urandom"]);
        cmd.args(["-device", &format!("{},rng=rng0", self.virtio("rng"))]);
        match &self.serial {
            Serial::Stdio => {
                cmd.args(["-serial", "mon:stdio"]);
            }
            Serial::Socket { path, log } => {
                cmd.args([
                    "-chardev",
                    &format!(
                        "socket,id=con0,path={},server=on,wait=on,logfile={}",
                        path.display(),
                        log.display()
                    ),
                    "-serial",
                    "chardev:con0",
                ]);
            }
        }
        if let Some(qmp) = &self.qmp {
            cmd.args([
                "-qmp",
                &format!("unix:{},server=on,wait=off", qmp.display()),
            ]);
        }
        Ok(cmd)
    }
}

fn firmware_args(cmd: &mut Command, firmware: Firmware) -> Result<()> {
    match firmware {
        Firmware::Bios => {
            cmd.args(["-M", "pc"]);
        }
        Firmware::Uefi => {
            existing(Path::new(OVMF)).context("UEFI boots need Debian's ovmf package")?;
            cmd.args(["-M", "q35", "-bios", OVMF]);
        }
    }
    Ok(())
}

fn drive_arg(path: &Path, id: &str) -> String {
    let format = if path.extension().is_some_and(|x| x == "qcow2") {
        "qcow2"
    } else {
        "raw"
    };
    format!("file={},format={format},if=none,id={id}", path.display())
}

fn existing(path: &Path) -> Result<()> {
    if !path.exists() {
        bail!(
            "{} does not exist (run `cargo xtask images`)",
            path.display()
        );
    }
    Ok(())
}

/// The host's TSC frequency in kHz, from `/proc/cpuinfo` (TCG's guest TSC follows the host's).
pub fn tsc_khz() -> u64 {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    parse_cpu_khz(&cpuinfo).unwrap_or(FALLBACK_TSC_KHZ)
}

fn parse_cpu_khz(cpuinfo: &str) -> Option<u64> {
    let mhz: f64 = cpuinfo
        .lines()
        .find(|l| l.starts_with("cpu MHz"))?
        .split(':')
        .nth(1)?
        .trim()
        .parse()
        .ok()?;
    (mhz > 0.0).then(|| (mhz * 1000.0).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn direct_boot_is_microvm_with_mmio_devices_and_tsc() {
        let dir = tempfile::tempdir().unwrap();
        let (kernel, initrd) = (dir.path().join("k"), dir.path().join("i"));
        std::fs::write(&kernel, "").unwrap();
        std::fs::write(&initrd, "").unwrap();
        let mut config = QemuConfig::new(BootSource::Direct { kernel, initrd });
        config.accel = Accel::Tcg;
        config.ssh_port = Some(2222);
        config.cmdline.push("rancher.debug".into());
        let a = args(&config.command().unwrap());
        let joined = a.join(" ");
        assert!(joined.contains("-accel tcg"), "{joined}");
        assert!(joined.contains("-M microvm"), "{joined}");
        assert!(joined.contains("virtio-net-device"), "{joined}");
        assert!(joined.contains("virtio-rng-device"), "{joined}");
        assert!(
            joined.contains("hostfwd=tcp:127.0.0.1:2222-:22"),
            "{joined}"
        );
        let append = &a[a.iter().position(|x| x == "-append").unwrap() + 1];
        assert!(
            append.starts_with("console=ttyS0 tsc_early_khz="),
            "{append}"
        );
        assert!(append.ends_with(" rancher.debug"), "{append}");
    }

    #[test]
    fn uefi_iso_boot_uses_q35_and_ovmf() {
        let dir = tempfile::tempdir().unwrap();
        let iso = dir.path().join("r.iso");
        std::fs::write(&iso, "").unwrap();
        let mut config = QemuConfig::new(BootSource::Iso {
            path: iso,
            firmware: Firmware::Bios,
        });
        let bios = args(&config.command().unwrap()).join(" ");
        assert!(
            bios.contains("-M pc") && bios.contains("media=cdrom"),
            "{bios}"
        );
        assert!(bios.contains("virtio-rng-pci"), "{bios}");
        assert!(!bios.contains("-append"), "{bios}");
        if Path::new(OVMF).exists() {
            if let BootSource::Iso { firmware, .. } = &mut config.boot {
                *firmware = Firmware::Uefi;
            }
            let uefi = args(&config.command().unwrap()).join(" ");
            assert!(uefi.contains("-M q35 -bios"), "{uefi}");
        }
    }

    #[test]
    fn missing_artefacts_are_named() {
        let config = QemuConfig::new(BootSource::Disk {
            path: "/nonexistent/disk.qcow2".into(),
            firmware: Firmware::Bios,
        });
        let err = config.command().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/disk.qcow2"), "{err}");
    }

    #[test]
    fn qcow2_is_told_from_raw() {
        assert!(drive_arg(Path::new("a.qcow2"), "x").contains("format=qcow2"));
        assert!(drive_arg(Path::new("a.img"), "x").contains("format=raw"));
    }

    #[test]
    fn cpu_mhz_becomes_khz() {
        let info = "processor\t: 0\ncpu MHz\t\t: 2300.000\n";
        assert_eq!(parse_cpu_khz(info), Some(2_300_000));
        assert_eq!(parse_cpu_khz("nothing"), None);
    }
}
