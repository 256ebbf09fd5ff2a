//! The syscalls boot steps make (mount, module loading, power off), behind the [`Kernel`]
//! trait so the steps are unit-tested against [`RecordingKernel`] without root.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// `mount(2)` flags we use, as the kernel defines them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MountFlags(u64);

impl MountFlags {
    /// No flags.
    pub const NONE: Self = Self(0);
    /// `MS_NOSUID`.
    pub const NOSUID: Self = Self(libc::MS_NOSUID);
    /// `MS_NODEV`.
    pub const NODEV: Self = Self(libc::MS_NODEV);
    /// `MS_NOEXEC`.
    pub const NOEXEC: Self = Self(libc::MS_NOEXEC);
    /// `MS_RDONLY`.
    pub const RDONLY: Self = Self(libc::MS_RDONLY);
    /// `MS_MOVE`: move an existing mount (source) to the target.
    pub const MOVE: Self = Self(libc::MS_MOVE);
    /// `MS_BIND`.
    pub const BIND: Self = Self(libc::MS_BIND);
    /// `MS_REC`.
    pub const REC: Self = Self(libc::MS_REC);
    /// `MS_SHARED`: propagation type shared.
    pub const SHARED: Self = Self(libc::MS_SHARED);
    /// `MS_REMOUNT`.
    pub const REMOUNT: Self = Self(libc::MS_REMOUNT);

    /// The raw bits.
    pub fn bits(self) -> u64 {
        self.0
    }

    /// Both sets of flags (usable in `const` items, unlike `|`).
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

impl std::ops::BitOr for MountFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// What a boot step asks of the kernel.
pub trait Kernel: Send + Sync + std::fmt::Debug {
    /// `mount(2)`.
    fn mount(
        &self,
        source: &str,
        target: &Path,
        fstype: &str,
        flags: MountFlags,
        data: Option<&str>,
    ) -> io::Result<()>;
    /// `umount2(2)` of `target`, lazily (`MNT_DETACH`) so a busy mount still goes.
    fn unmount(&self, target: &Path) -> io::Result<()>;
    /// `finit_module(2)` of the module file at `path` with `params` (`"k=v k2=v2"`).
    fn load_module(&self, path: &Path, params: &str) -> io::Result<()>;
    /// `sync(2)`.
    fn sync(&self);
    /// `reboot(2)`: power off, restart or halt. Returns only on failure.
    fn reboot(&self, how: PowerAction) -> io::Error;
    /// `chroot(2)` into `path` (the caller changes directory first).
    fn chroot(&self, path: &Path) -> io::Result<()>;
    /// `chdir(2)`.
    fn chdir(&self, path: &Path) -> io::Result<()>;
}

/// What `reboot(2)` does to the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    /// `RB_POWER_OFF`.
    PowerOff,
    /// `RB_AUTOBOOT`.
    Restart,
    /// `RB_HALT_SYSTEM`.
    Halt,
}

impl PowerAction {
    fn command(self) -> libc::c_int {
        match self {
            Self::PowerOff => libc::RB_POWER_OFF,
            Self::Restart => libc::RB_AUTOBOOT,
            Self::Halt => libc::RB_HALT_SYSTEM,
        }
    }
}

fn cstring(text: &[u8], what: &str) -> io::Result<CString> {
    CString::new(text).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} contains a NUL byte"),
        )
    })
}

/// The real kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinuxKernel;

impl Kernel for LinuxKernel {
    fn mount(
        &self,
        source: &str,
        target: &Path,
        fstype: &str,
        flags: MountFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        let source = cstring(source.as_bytes(), "mount source")?;
        let target = cstring(target.as_os_str().as_bytes(), "mount target")?;
        let fstype = cstring(fstype.as_bytes(), "filesystem type")?;
        let data = data
            .map(|d| cstring(d.as_bytes(), "mount data"))
            .transpose()?;
        let data_ptr = data
            .as_ref()
            .map_or(std::ptr::null(), |d| d.as_ptr().cast());
        // SAFETY: every pointer is a NUL-terminated string that outlives the call (or null
        // for `data`, which mount(2) accepts); the kernel copies them before returning.
        let rc = unsafe {
            libc::mount(
                source.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                flags.bits(),
                data_ptr,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn unmount(&self, target: &Path) -> io::Result<()> {
        rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH).map_err(Into::into)
    }

    fn load_module(&self, path: &Path, params: &str) -> io::Result<()> {
        let file = File::open(path)?;
        let params = cstring(params.as_bytes(), "module parameters")?;
        // SAFETY: finit_module(2) reads the open descriptor and the NUL-terminated parameter
        // string, both valid for the duration of the call; flags 0 asks for no special checks.
        let rc =
            unsafe { libc::syscall(libc::SYS_finit_module, file.as_raw_fd(), params.as_ptr(), 0) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn sync(&self) {
        // SAFETY: sync(2) takes no arguments and cannot fail.
        unsafe { libc::sync() }
    }

    fn reboot(&self, how: PowerAction) -> io::Error {
        // SAFETY: reboot(2) takes a constant command; on success it does not return.
        unsafe { libc::reboot(how.command()) };
        io::Error::last_os_error()
    }

    fn chroot(&self, path: &Path) -> io::Result<()> {
        rustix::process::chroot(path).map_err(Into::into)
    }

    fn chdir(&self, path: &Path) -> io::Result<()> {
        std::env::set_current_dir(path)
    }
}

/// One call a [`RecordingKernel`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `mount(source, target, fstype, flags, data)`.
    Mount {
        /// Source.
        source: String,
        /// Target.
        target: PathBuf,
        /// Filesystem type.
        fstype: String,
        /// Flags.
        flags: MountFlags,
        /// Data string.
        data: Option<String>,
    },
    /// `umount2(target, MNT_DETACH)`.
    Unmount(PathBuf),
    /// `finit_module(path, params)`.
    LoadModule(PathBuf, String),
    /// `sync()`.
    Sync,
    /// `reboot(how)`.
    Reboot(PowerAction),
    /// `chroot(path)`.
    Chroot(PathBuf),
    /// `chdir(path)`.
    Chdir(PathBuf),
}

/// A fake kernel that records calls and fails the ones it is told to.
#[derive(Debug, Default)]
pub struct RecordingKernel {
    calls: Mutex<Vec<Call>>,
    failures: Mutex<Vec<(String, i32)>>,
}

impl RecordingKernel {
    /// A fake where every call succeeds.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes calls whose target (mount) or path (module) contains `needle` fail with `errno`.
    pub fn fail_on(self, needle: &str, errno: i32) -> Self {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((needle.into(), errno));
        self
    }

    /// The calls so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn record(&self, call: Call, key: &Path) -> io::Result<()> {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(call);
        let key = key.to_string_lossy();
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match failures
            .iter()
            .find(|(needle, _)| key.contains(needle.as_str()))
        {
            Some((_, errno)) => Err(io::Error::from_raw_os_error(*errno)),
            None => Ok(()),
        }
    }
}

impl Kernel for RecordingKernel {
    fn mount(
        &self,
        source: &str,
        target: &Path,
        fstype: &str,
        flags: MountFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        let call = Call::Mount {
            source: source.into(),
            target: target.into(),
            fstype: fstype.into(),
            flags,
            data: data.map(Into::into),
        };
        self.record(call, target)
    }

    fn unmount(&self, target: &Path) -> io::Result<()> {
        self.record(Call::Unmount(target.into()), target)
    }

    fn load_module(&self, path: &Path, params: &str) -> io::Result<()> {
        self.record(Call::LoadModule(path.into(), params.into()), path)
    }

    fn sync(&self) {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Call::Sync);
    }

    fn reboot(&self, how: PowerAction) -> io::Error {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Call::Reboot(how));
        io::Error::other("recording kernel: reboot recorded")
    }

    fn chroot(&self, path: &Path) -> io::Result<()> {
        self.record(Call::Chroot(path.into()), path)
    }

    fn chdir(&self, path: &Path) -> io::Result<()> {
        self.record(Call::Chdir(path.into()), path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_kernel_records_and_fails_on_request() {
        let k = RecordingKernel::new().fail_on("/sys", libc::EBUSY);
        k.mount("proc", Path::new("/proc"), "proc", MountFlags::NOSUID, None)
            .unwrap();
        let err = k
            .mount("sysfs", Path::new("/sys"), "sysfs", MountFlags::NONE, None)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBUSY));
        k.sync();
        assert_eq!(k.calls().len(), 3);
        assert_eq!(k.calls()[2], Call::Sync);
    }

    #[test]
    fn nul_bytes_are_refused_before_the_syscall() {
        let err = LinuxKernel
            .mount(
                "a\0b",
                Path::new("/nonexistent"),
                "tmpfs",
                MountFlags::NONE,
                None,
            )
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn loading_a_missing_module_file_fails_cleanly() {
        let err = LinuxKernel
            .load_module(Path::new("/nonexistent.ko"), "")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
