//! `ros-sys`: the only crate of the workspace where `unsafe` is allowed.
//!
//! Every other crate denies `unsafe_code` through the workspace lints and reaches the kernel
//! through the safe wrappers here. Each `unsafe` block carries a `// SAFETY:` comment.
//! The crate also owns the durable-write primitive every state writer uses, so that "atomic and
//! durable" means the same thing everywhere.
#![allow(unsafe_code)]

mod durable;
mod kernel;
mod markers;
mod netdev;
mod pid1;

pub use durable::{AtomicWriteError, write_atomic};
pub use kernel::{Call, Kernel, LinuxKernel, MountFlags, PowerAction, RecordingKernel};
pub use markers::{BOOT_MARKERS, announce, uptime};
pub use netdev::set_link_up;
pub use pid1::{
    Reaped, catch_terminate, ctrl_alt_del_signals_init, new_session, reap_any, reap_any_nohang,
    send_signal, set_hostname, terminate_requested,
};

/// Takes ownership of descriptor `raw`, inherited across `exec` from this process's former
/// image (the shim hands its output pipes to its leaner self this way). Fails unless `raw`
/// is open.
pub fn adopt_inherited_fd(raw: i32) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: F_GETFD only reads the descriptor's flags; it touches no memory.
    if raw < 0 || unsafe { libc::fcntl(raw, libc::F_GETFD) } < 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("descriptor {raw} is not open"),
        ));
    }
    // SAFETY: `raw` is open (checked above) and was passed to this process by its previous
    // image for it to own; callers adopt each inherited descriptor once.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) })
}

/// The effective user id of the calling process.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid(2) takes no arguments, touches no memory and cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether the calling process runs with effective uid 0.
pub fn is_root() -> bool {
    effective_uid() == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_uid_matches_proc_status() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let euid: u32 = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert_eq!(effective_uid(), euid);
        assert_eq!(is_root(), euid == 0);
    }
}
