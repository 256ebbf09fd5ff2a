//! `ros console-init`: the console container's first process. It makes the users' homes and
//! keys, the SSH daemon's configuration and host keys, sudo rights, `/etc/issue`, runs the
//! console part of cloud-config (`write_files`, `runcmd`), then becomes `respawn` over the
//! gettys and sshd.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{PermissionsExt, chown, symlink};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use ros_config::CloudConfig;
use ros_config::model::SshConfig;

use crate::files;

/// Written once the console is set up; the user Docker waits for it.
pub const CONSOLE_DONE: &str = "run/console-done";
/// The respawn list console-init writes and hands to `respawn`.
pub const RESPAWN_CONF: &str = "etc/respawn.conf";
/// The Docker CLI the `docker` service copies out of its image.
pub const ENGINE_CLI: &str = "/var/lib/rancher/engine/docker";

/// The host key types sshd gets.
const HOST_KEYS: &[&str] = &["rsa", "ecdsa", "ed25519"];

/// Serial consoles named by `console=` on the kernel command line (`ttyS0,115200` → `ttyS0`).
pub fn serial_consoles(cmdline: &str) -> Vec<String> {
    let mut out: Vec<String> = cmdline
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("console="))
        .map(|c| c.split(',').next().unwrap_or(c).to_string())
        .filter(|c| c.starts_with("ttyS") || c.starts_with("ttyAMA") || c.starts_with("hvc"))
        .collect();
    out.dedup();
    out
}

/// `respawn.conf`: a getty per terminal (autologin where asked), then sshd.
pub fn respawn_conf(
    ttys: &[String],
    serials: &[String],
    autologin: &[String],
    config: &CloudConfig,
) -> String {
    let no_autologin = config.rancher.disable.iter().any(|d| d == "autologin");
    let mut out = String::from("# written by ros console-init\n");
    for tty in ttys.iter().chain(serials) {
        let login = if !no_autologin && autologin.iter().any(|a| a == tty) {
            "-n -l /usr/bin/autologin "
        } else {
            ""
        };
        let speed =
            if tty.starts_with("tty") && !tty.starts_with("ttyS") && !tty.starts_with("ttyAMA") {
                "38400"
            } else {
                "115200"
            };
        out.push_str(&format!("/sbin/getty {login}{speed} {tty} linux\n"));
    }
    if config.rancher.ssh.daemon {
        out.push_str("/usr/sbin/sshd -D -e\n");
    }
    out
}

/// RancherOS's lines at the end of `sshd_config`: keys only, no root, group docker.
pub fn sshd_fragment(ssh: &SshConfig) -> String {
    let mut out = String::from("\n# RancherOS (ros console-init)\n");
    if ssh.port != 0 {
        out.push_str(&format!("Port {}\n", ssh.port));
    }
    if !ssh.listen_address.is_empty() {
        out.push_str(&format!("ListenAddress {}\n", ssh.listen_address));
    }
    out.push_str(
        "ClientAliveInterval 180\nUseDNS no\nPermitRootLogin no\nAllowGroups docker\n\
         PasswordAuthentication no\nKbdInteractiveAuthentication no\n",
    );
    out
}

/// `existing` authorized_keys with every key of `keys` it lacks appended.
pub fn merge_keys(existing: &str, keys: &[String]) -> String {
    let mut out = existing.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for key in keys.iter().map(|k| k.trim()).filter(|k| !k.is_empty()) {
        if !existing.lines().any(|l| l.trim() == key) {
            out.push_str(key);
            out.push('\n');
        }
    }
    out
}

/// `/etc/issue`: the banner and the machine's addresses.
pub fn issue(version: &str, addresses: &[String]) -> String {
    let mut out = format!("RancherOS {version} \\n \\l\n");
    for a in addresses {
        out.push_str(&format!("  {a}\n"));
    }
    out.push('\n');
    out
}

/// IPv4 addresses from `/proc/net/fib_trie`'s local host entries, loopback left out.
pub fn local_addresses(fib_trie: &str) -> Vec<String> {
    let lines: Vec<&str> = fib_trie.lines().collect();
    let mut out = Vec::new();
    for pair in lines.windows(2) {
        if pair[1].contains("/32 host LOCAL") {
            let addr = pair[0].trim().trim_start_matches("|-- ").to_string();
            if !addr.starts_with("127.") && !out.contains(&addr) {
                out.push(addr);
            }
        }
    }
    out
}

fn user_home(root: &Path, user: &str, id: u32) -> io::Result<()> {
    let home = root.join("home").join(user);
    let ssh = home.join(".ssh");
    if !home.exists() {
        fs::create_dir_all(&home)?;
        chown(&home, Some(id), Some(id))?;
    }
    fs::create_dir_all(&ssh)?;
    fs::set_permissions(&ssh, fs::Permissions::from_mode(0o700))?;
    chown(&ssh, Some(id), Some(id))
}

fn authorize(root: &Path, user: &str, id: u32, keys: &[String]) -> io::Result<()> {
    let path = root.join("home").join(user).join(".ssh/authorized_keys");
    let existing = fs::read_to_string(&path).unwrap_or_default();
    let merged = merge_keys(&existing, keys);
    if merged != existing {
        ros_sys::write_atomic(&path, merged.as_bytes(), 0o600).map_err(io::Error::other)?;
    }
    chown(&path, Some(id), Some(id)).or_else(|e| if keys.is_empty() { Ok(()) } else { Err(e) })
}

/// Host keys: from `rancher.ssh.keys` where given, else generated and saved there, so a
/// rebuilt console keeps its identity.
fn host_keys(root: &Path, config: &CloudConfig) -> Vec<String> {
    let mut problems = Vec::new();
    let keys = &config.rancher.ssh.keys;
    for kind in HOST_KEYS {
        let private = root.join(format!("etc/ssh/ssh_host_{kind}_key"));
        if let (Some(key), Some(public)) = (keys.get(*kind), keys.get(&format!("{kind}-pub"))) {
            let write = ros_sys::write_atomic(&private, key.as_bytes(), 0o600).and_then(|()| {
                ros_sys::write_atomic(&private.with_extension("pub"), public.as_bytes(), 0o644)
            });
            if let Err(e) = write {
                problems.push(format!("host key {kind}: {e}"));
            }
        }
    }
    let missing: Vec<&str> = HOST_KEYS
        .iter()
        .copied()
        .filter(|k| !root.join(format!("etc/ssh/ssh_host_{k}_key")).exists())
        .collect();
    if missing.is_empty() {
        return problems;
    }
    match Command::new("ssh-keygen")
        .arg("-A")
        .stdout(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => {}
        Ok(s) => problems.push(format!("ssh-keygen -A: {s}")),
        Err(e) => problems.push(format!("ssh-keygen -A: {e}")),
    }
    let mut made = Vec::new();
    for kind in missing {
        let private = root.join(format!("etc/ssh/ssh_host_{kind}_key"));
        for (key, path) in [
            (kind.to_string(), private.clone()),
            (format!("{kind}-pub"), private.with_extension("pub")),
        ] {
            if let Ok(text) = fs::read_to_string(&path) {
                made.push((key, text));
            }
        }
    }
    if !made.is_empty() && !save_keys(&keys_yaml(&made)) {
        problems.push("saving the new host keys in cloud-config.yml".into());
    }
    problems
}

/// `rancher.ssh.keys` as YAML with literal blocks: a PEM key's line breaks must survive
/// (a plain `ros config set` value would be folded onto one line).
pub fn keys_yaml(keys: &[(String, String)]) -> String {
    let mut yaml = String::from("rancher:\n  ssh:\n    keys:\n");
    for (name, text) in keys {
        yaml.push_str(&format!("      {name}: |\n"));
        for line in text.lines() {
            yaml.push_str(&format!("        {line}\n"));
        }
    }
    yaml
}

/// Merges `yaml` into cloud-config.yml through `ros config merge`. Nothing it prints is
/// kept: on failure it would echo the private keys.
fn save_keys(yaml: &str) -> bool {
    feed(Command::new("ros").args(["config", "merge"]), yaml).is_ok_and(|o| o.status.success())
}

/// Runs `command` with `input` on its stdin (secrets never go on a command line); its
/// stdout is returned, its stderr discarded (it could echo the secret).
fn feed(command: &mut Command, input: &str) -> io::Result<std::process::Output> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes())?;
    }
    child.wait_with_output()
}

/// `shadow` with `user`'s password field replaced by `hash`; `None` if the user is absent.
pub fn with_password_hash(shadow: &str, user: &str, hash: &str) -> Option<String> {
    let mut found = false;
    let mut out = String::new();
    for line in shadow.lines() {
        let mut fields: Vec<&str> = line.split(':').collect();
        if fields.first() == Some(&user) && fields.len() > 1 {
            fields[1] = hash;
            found = true;
        }
        out.push_str(&fields.join(":"));
        out.push('\n');
    }
    found.then_some(out)
}

/// Hashes the password with busybox's `mkpasswd -m sha512` (read from stdin, never on a
/// command line) and puts the hash in `/etc/shadow`.
fn set_password(root: &Path, config: &CloudConfig) -> Option<String> {
    let password = &config.rancher.password;
    if password.is_empty() || config.rancher.disable.iter().any(|d| d == "password") {
        return None;
    }
    let output = feed(
        Command::new("busybox").args(["mkpasswd", "-m", "sha512"]),
        &format!("{password}\n"),
    );
    let hash = match output {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Ok(o) => return Some(format!("rancher.password: mkpasswd: {}", o.status)),
        Err(e) => return Some(format!("rancher.password: mkpasswd: {e}")),
    };
    if !hash.starts_with('$') || hash.contains(':') {
        return Some("rancher.password: mkpasswd gave no usable hash".into());
    }
    let path = root.join("etc/shadow");
    let shadow = match fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => return Some(format!("rancher.password: {}: {e}", path.display())),
    };
    let Some(updated) = with_password_hash(&shadow, "rancher", &hash) else {
        return Some("rancher.password: no rancher in /etc/shadow".into());
    };
    ros_sys::write_atomic(&path, updated.as_bytes(), 0o640)
        .err()
        .map(|e| format!("rancher.password: {e}"))
}

/// The applet names of `ros applets` output (`name<TAB>about` lines) that should be linked
/// in `usr/bin`: all but `ros` itself and `init`.
pub fn applet_names(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|l| l.split('\t').next())
        .map(str::trim)
        .filter(|n| !n.is_empty() && !n.contains('/') && *n != "ros" && *n != "init")
        .map(str::to_string)
        .collect()
}

/// Links `usr/bin/<name>` to `ros` for every applet the image does not already provide: the
/// images carry only `ros` (bound from the host), so a new applet needs no image rebuild.
pub fn link_applets(root: &Path, names: &[String]) -> io::Result<()> {
    for name in names {
        let link = root.join("usr/bin").join(name);
        if fs::symlink_metadata(&link).is_err() {
            symlink("ros", &link)?;
        }
    }
    Ok(())
}

fn ros_applets() -> io::Result<Vec<String>> {
    let out = Command::new("/usr/bin/ros").arg("applets").output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!("ros applets: {}", out.status)));
    }
    Ok(applet_names(&String::from_utf8_lossy(&out.stdout)))
}

/// Every step before `respawn`, against `root`; returns the problems (none is fatal).
pub fn prepare(root: &Path, config: &CloudConfig, cmdline: &str, version: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut note = |what: &str, r: io::Result<()>| {
        if let Err(e) = r {
            problems.push(format!("{what}: {e}"));
        }
    };
    note("home of rancher", user_home(root, "rancher", 1100));
    note("home of docker", user_home(root, "docker", 1101));
    for (user, id) in [("rancher", 1100), ("docker", 1101)] {
        note(
            "authorized_keys",
            authorize(root, user, id, &config.ssh_authorized_keys),
        );
    }
    let sudoers = "rancher ALL=(ALL) NOPASSWD: ALL\ndocker ALL=(ALL) NOPASSWD: ALL\n";
    note(
        "sudoers",
        ros_sys::write_atomic(
            &root.join("etc/sudoers.d/rancher"),
            sudoers.as_bytes(),
            0o440,
        )
        .map_err(io::Error::other),
    );
    let sshd = root.join("etc/ssh/sshd_config");
    let base = fs::read_to_string(&sshd).unwrap_or_default();
    let base = base
        .split("\n# RancherOS (ros console-init)\n")
        .next()
        .unwrap_or_default();
    let text = format!("{base}{}", sshd_fragment(&config.rancher.ssh));
    note(
        "sshd_config",
        ros_sys::write_atomic(&sshd, text.as_bytes(), 0o644).map_err(io::Error::other),
    );
    note("/run/sshd", fs::create_dir_all(root.join("run/sshd")));
    let docker = root.join("usr/bin/docker");
    if fs::symlink_metadata(&docker).is_err() {
        note("docker link", symlink(ENGINE_CLI, &docker));
    }
    let fib = fs::read_to_string(root.join("proc/net/fib_trie")).unwrap_or_default();
    note(
        "/etc/issue",
        fs::write(
            root.join("etc/issue"),
            issue(version, &local_addresses(&fib)),
        ),
    );
    let ttys: Vec<String> = ["tty1"]
        .iter()
        .filter(|t| root.join("dev").join(t).exists())
        .map(|t| (*t).to_string())
        .collect();
    let serials: Vec<String> = serial_consoles(cmdline)
        .into_iter()
        .filter(|t| root.join("dev").join(t).exists())
        .collect();
    let conf = respawn_conf(&ttys, &serials, &config.rancher.autologin, config);
    note("respawn.conf", fs::write(root.join(RESPAWN_CONF), conf));
    problems.extend(set_password(root, config));
    problems.extend(host_keys(root, config));
    problems.extend(files::write_files(root, &config.write_files, "console"));
    problems
}

/// Entry point of `ros console-init`.
pub fn main(_args: Vec<OsString>) -> ExitCode {
    let root = Path::new("/");
    let loaded = ros_config::load(&ros_config::ConfigPaths::new(root), ros_config::Scope::Full);
    let config = loaded.typed().unwrap_or_default();
    let cmdline = fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let version = concat!("v", env!("CARGO_PKG_VERSION"));
    if let Err(e) = ros_applets().and_then(|names| link_applets(root, &names)) {
        drop(writeln!(io::stderr(), "console-init: applet links: {e}"));
    }
    for problem in prepare(root, &config, &cmdline, version) {
        tracing::warn!(%problem, "console-init");
        drop(writeln!(io::stderr(), "console-init: {problem}"));
    }
    for problem in files::run_commands(&config.runcmd) {
        drop(writeln!(io::stderr(), "console-init: runcmd: {problem}"));
    }
    drop(fs::write(root.join(CONSOLE_DONE), "default\n"));
    let err = Command::new("/usr/bin/respawn")
        .args(["-f", "/etc/respawn.conf"])
        .env("TERM", "linux")
        .exec();
    drop(writeln!(
        io::stderr(),
        "console-init: starting respawn: {err}"
    ));
    ExitCode::FAILURE
}

#[cfg(test)]
#[path = "console_init_tests.rs"]
mod tests;
