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
