//! The harness's SSH client against a real sshd (Debian's, on the host, on a free port with
//! its own keys), so the client side is proven before a guest's sshd is in the picture.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use ros_e2e::ssh::{SshClient, free_port};

struct Sshd(Child);

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn whoami() -> Result<String> {
    let out = Command::new("id").arg("-un").output()?;
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

#[test]
fn commands_run_with_their_output_and_exit_status() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let client = SshClient::generate(dir.path(), &whoami()?, port)?;
    let host_key = dir.path().join("host_key");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&host_key)
        .status()?;
    ensure!(keygen.success());
    let authorized = dir.path().join("authorized_keys");
    std::fs::write(&authorized, format!("{}\n", client.public_key()?))?;
    let config = dir.path().join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n\
             PidFile none\n",
            host_key.display(),
            authorized.display()
        ),
    )?;
    // sshd wants its privilege separation directory.
    std::fs::create_dir_all("/run/sshd")?;
    let sshd = Command::new("/usr/sbin/sshd")
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting Debian's sshd (openssh-server)")?;
    let _sshd = Sshd(sshd);
    client.wait_ready(Duration::from_secs(30))?;
    let out = client.run("echo hello from $(echo ssh); echo oops >&2; exit 3")?;
    ensure!(
        String::from_utf8_lossy(&out.stdout) == "hello from ssh\n",
        "{out:?}"
    );
    ensure!(String::from_utf8_lossy(&out.stderr) == "oops\n", "{out:?}");
    ensure!(out.status.code() == Some(3), "{out:?}");
    Ok(())
}
