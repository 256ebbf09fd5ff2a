//! What only the first process of the system needs: reaping every orphan, asking the kernel
//! for a signal on Ctrl-Alt-Del, naming the host.

use std::io;

/// How a reaped process ended, as `waitpid(2)` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reaped {
    /// The process.
    pub pid: i32,
    /// The raw wait status.
    pub status: i32,
}

/// Blocks until any child (including `clone` children, `__WALL`) ends and reaps it.
/// `ECHILD` means there is none right now; PID 1 sleeps and asks again.
pub fn reap_any() -> io::Result<Reaped> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid(2) writes the status into the local `status` and touches nothing
        // else; -1 asks for any child.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::__WALL) };
        if pid > 0 {
            return Ok(Reaped { pid, status });
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Like [`reap_any`] but returns `Ok(None)` at once when no child has ended yet.
pub fn reap_any_nohang() -> io::Result<Option<Reaped>> {
    let mut status = 0;
    // SAFETY: as in `reap_any`; WNOHANG makes the call return at once.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::__WALL | libc::WNOHANG) };
    match pid {
        0 => Ok(None),
        p if p > 0 => Ok(Some(Reaped { pid: p, status })),
        _ => Err(io::Error::last_os_error()),
    }
}

static TERMINATE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn note_terminate(_signal: libc::c_int) {
    TERMINATE.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Installs a SIGTERM handler that only raises a flag; [`terminate_requested`] reads it. For
/// synchronous supervisors (respawn) that poll.
pub fn catch_terminate() -> io::Result<()> {
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler only
    // stores to an atomic, which is async-signal-safe; the old action is not needed.
    let rc = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = note_terminate as extern "C" fn(libc::c_int) as usize;
        libc::sigaction(libc::SIGTERM, &action, std::ptr::null_mut())
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether SIGTERM arrived since [`catch_terminate`].
pub fn terminate_requested() -> bool {
    TERMINATE.load(std::sync::atomic::Ordering::SeqCst)
}

/// Makes `command` start its child in a new session (`setsid`), as a getty needs to own its
/// terminal.
pub fn new_session(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid(2) is async-signal-safe and touches no memory of the parent; it is the
    // only call made between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        });
    }
}

/// Sends `signal` to process `pid`.
pub fn send_signal(pid: i32, signal: i32) -> io::Result<()> {
    // SAFETY: kill(2) takes two integers and touches no memory.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Makes the kernel send SIGINT to PID 1 on Ctrl-Alt-Del instead of rebooting at once.
pub fn ctrl_alt_del_signals_init() -> io::Result<()> {
    // SAFETY: reboot(2) with RB_DISABLE_CAD only flips a kernel flag; it does not reboot.
    let rc = unsafe { libc::reboot(libc::RB_DISABLE_CAD) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `sethostname(2)`.
pub fn set_hostname(name: &str) -> io::Result<()> {
    if name.is_empty() || name.len() > 64 || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("hostname {name:?}: 1 to 64 bytes, no NUL"),
        ));
    }
    // SAFETY: the pointer and length describe `name`'s bytes, valid during the call; the
    // kernel copies them.
    let rc = unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // The only test of this crate that starts a process, so nothing else can be reaped here;
    // the child is reaped by `reap_any`, not by `wait`.
    #[allow(clippy::zombie_processes)]
    fn reaps_a_child_with_its_status() {
        let child = std::process::Command::new("sh")
            .args(["-c", "exit 3"])
            .spawn()
            .unwrap();
        let reaped = reap_any().unwrap();
        assert_eq!(reaped.pid, child.id() as i32);
        assert!(libc::WIFEXITED(reaped.status));
        assert_eq!(libc::WEXITSTATUS(reaped.status), 3);
        assert_eq!(reap_any().unwrap_err().raw_os_error(), Some(libc::ECHILD));
    }

    #[test]
    fn bad_hostnames_are_refused_before_the_syscall() {
        assert_eq!(
            set_hostname("").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            set_hostname(&"x".repeat(65)).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }
}
