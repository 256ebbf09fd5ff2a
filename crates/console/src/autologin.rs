//! `autologin`: what a getty runs instead of `login` on a terminal named by
//! `rancher.autologin`: a banner, then `login -f rancher`.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

/// The banner for `tty` on `hostname`.
pub fn banner(version: &str, hostname: &str, tty: &str) -> String {
    format!("\nRancherOS {version} {hostname} {tty}\nAutologin {tty}\n\n")
}

/// Entry point.
pub fn main(_args: Vec<OsString>) -> ExitCode {
    let tty = std::fs::read_link("/proc/self/fd/0")
        .map(|p| {
            p.display()
                .to_string()
                .trim_start_matches("/dev/")
                .to_string()
        })
        .unwrap_or_else(|_| "console".into());
    let hostname = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let version = concat!("v", env!("CARGO_PKG_VERSION"));
    drop(Command::new("stty").arg("sane").status());
    let mut out = std::io::stdout().lock();
    drop(out.write_all(banner(version, hostname.trim(), &tty).as_bytes()));
    drop(out.flush());
    let err = Command::new("login").args(["-f", "rancher"]).exec();
    drop(writeln!(std::io::stderr(), "autologin: login: {err}"));
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    #[test]
    fn banner_names_version_host_and_terminal() {
        assert_eq!(
            super::banner("v1", "node", "ttyS0"),
            "\nRancherOS v1 node ttyS0\nAutologin ttyS0\n\n"
        );
    }
}
