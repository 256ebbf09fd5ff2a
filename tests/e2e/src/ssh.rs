//! The harness's SSH client: a key pair made per guest, and the system `ssh` client run
//! against the guest's forwarded port, in batch mode (never a prompt).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// `ssh`'s exit status when it could not connect or authenticate (the command's own status
/// is passed through otherwise).
const SSH_FAILED: i32 = 255;

/// A key pair and where to connect.
#[derive(Debug, Clone)]
pub struct SshClient {
    key: PathBuf,
    /// Host port forwarded to the guest's port 22.
    pub port: u16,
    /// Login user.
    pub user: String,
}

/// A port on 127.0.0.1 that nothing listens on now.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

impl SshClient {
    /// Makes an ed25519 key pair in `dir` for `user` at 127.0.0.1:`port`.
    pub fn generate(dir: &Path, user: &str, port: u16) -> Result<Self> {
        let key = dir.join("id_ed25519");
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "ros-e2e", "-f"])
            .arg(&key)
            .stdin(Stdio::null())
            .status()
            .context("running ssh-keygen (Debian's openssh-client package)")?;
        if !status.success() {
            bail!("ssh-keygen failed: {status}");
        }
        Ok(Self {
            key,
            port,
            user: user.to_string(),
        })
    }

    /// The public key, one line, for `ssh_authorized_keys`.
    pub fn public_key(&self) -> Result<String> {
        let path = self.key.with_extension("pub");
        Ok(std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?
            .trim()
            .to_string())
    }

    /// Runs `command` through the remote shell and returns its output; the exit status is
    /// the command's. Fails only if ssh itself could not run.
    pub fn run(&self, command: &str) -> Result<Output> {
        Command::new("ssh")
            .arg("-i")
            .arg(&self.key)
            .args(["-p", &self.port.to_string()])
            .args([
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                // Every guest makes new host keys; there is nothing to pin.
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "ConnectTimeout=10",
            ])
            .arg(format!("{}@127.0.0.1", self.user))
            .arg("--")
            .arg(command)
            .stdin(Stdio::null())
            .output()
            .context("running ssh (Debian's openssh-client package)")
    }

    /// Waits until a login works: retries while ssh cannot connect or authenticate, which
    /// is what a guest still booting looks like. `timeout` guards against a hang.
    pub fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.run("true")?;
            if out.status.success() {
                return Ok(());
            }
            if out.status.code() != Some(SSH_FAILED) || Instant::now() > deadline {
                bail!(
                    "ssh to {}@127.0.0.1:{} did not work ({}): {}",
                    self.user,
                    self.port,
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// `user_data` (a cloud-config, or nothing) with `public_key` authorised for logins.
pub fn authorize(user_data: Option<&str>, public_key: &str) -> Result<String> {
    let text = user_data.unwrap_or("#cloud-config\n");
    if text.lines().any(|l| l.starts_with("ssh_authorized_keys:")) {
        bail!(
            "the cloud-config already has ssh_authorized_keys; add the harness key \
             (TestVm::ssh_public_key) there instead"
        );
    }
    let mut out = text.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!("ssh_authorized_keys:\n  - {public_key}\n"));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_appended_to_a_cloud_config() {
        let cc = authorize(Some("#cloud-config\nhostname: a"), "ssh-ed25519 AAA x").unwrap();
        assert_eq!(
            cc,
            "#cloud-config\nhostname: a\nssh_authorized_keys:\n  - ssh-ed25519 AAA x\n"
        );
        assert!(authorize(None, "k").unwrap().starts_with("#cloud-config\n"));
        assert!(authorize(Some("ssh_authorized_keys:\n  - a\n"), "k").is_err());
    }

    #[test]
    fn free_ports_are_bindable() {
        let port = free_port().unwrap();
        assert!(port > 0);
        TcpListener::bind(("127.0.0.1", port)).unwrap();
    }
}
