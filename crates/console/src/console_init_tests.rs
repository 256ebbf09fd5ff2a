use super::*;

fn config() -> CloudConfig {
    let mut c = CloudConfig::default();
    c.rancher.ssh.daemon = true;
    c
}

#[test]
fn serial_consoles_come_from_the_cmdline() {
    let cmdline =
        "root=x console=tty0 console=ttyS0,115200n8 console=ttyS0 rancher.autologin=ttyS0";
    assert_eq!(serial_consoles(cmdline), ["ttyS0"]);
}

#[test]
fn respawn_lists_gettys_with_autologin_then_sshd() {
    let ttys = vec!["tty1".to_string()];
    let serials = vec!["ttyS0".to_string()];
    let conf = respawn_conf(&ttys, &serials, &["ttyS0".into()], &config());
    assert_eq!(
        conf,
        "# written by ros console-init\n\
         /sbin/getty 38400 tty1 linux\n\
         /sbin/getty -n -l /usr/bin/autologin 115200 ttyS0 linux\n\
         /usr/sbin/sshd -D -e\n"
    );
    let mut off = config();
    off.rancher.disable = vec!["autologin".into()];
    off.rancher.ssh.daemon = false;
    let conf = respawn_conf(&[], &serials, &["ttyS0".into()], &off);
    assert!(
        !conf.contains("autologin") && !conf.contains("sshd"),
        "{conf}"
    );
}

#[test]
fn sshd_allows_keys_of_group_docker_only() {
    let mut ssh = config().rancher.ssh;
    ssh.port = 2222;
    let text = sshd_fragment(&ssh);
    for line in [
        "Port 2222",
        "PermitRootLogin no",
        "AllowGroups docker",
        "PasswordAuthentication no",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
}

#[test]
fn keys_are_appended_once() {
    let keys = vec![
        "ssh-ed25519 AAA a".to_string(),
        "ssh-rsa BBB b".into(),
        " ".into(),
    ];
    let merged = merge_keys("ssh-ed25519 AAA a", &keys);
    assert_eq!(merged, "ssh-ed25519 AAA a\nssh-rsa BBB b\n");
    assert_eq!(merge_keys(&merged, &keys), merged);
}

#[test]
fn addresses_come_from_the_fib_trie_without_loopback() {
    let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 10.0.2.15\n        /32 host LOCAL\n     |-- 127.0.0.1\n        /32 host LOCAL\nLocal:\n     |-- 10.0.2.15\n        /32 host LOCAL\n";
    assert_eq!(local_addresses(trie), ["10.0.2.15"]);
    assert!(issue("v1", &local_addresses(trie)).contains("  10.0.2.15\n"));
}

#[test]
fn prepare_writes_homes_sudo_sshd_and_respawn_files() {
    let root = tempfile::tempdir().unwrap();
    for dir in [
        "etc/ssh",
        "etc/sudoers.d",
        "usr/bin",
        "run",
        "dev",
        "proc/net",
    ] {
        fs::create_dir_all(root.path().join(dir)).unwrap();
    }
    fs::write(root.path().join("dev/ttyS0"), "").unwrap();
    fs::write(root.path().join("etc/ssh/sshd_config"), "Include x\n").unwrap();
    let mut config = config();
    config.ssh_authorized_keys = vec!["ssh-ed25519 AAA test".into()];
    config.rancher.autologin = vec!["ttyS0".into()];
    // Host keys from the configuration: no ssh-keygen needed.
    for kind in HOST_KEYS {
        config
            .rancher
            .ssh
            .keys
            .insert((*kind).into(), format!("{kind} private\n"));
        config
            .rancher
            .ssh
            .keys
            .insert(format!("{kind}-pub"), format!("{kind} public\n"));
    }
    // chown to 1100 needs root; without it only those steps fail.
    let problems = prepare(root.path(), &config, "console=ttyS0", "v1");
    let r = |p: &str| fs::read_to_string(root.path().join(p)).unwrap();
    assert!(r("home/rancher/.ssh/authorized_keys").contains("ssh-ed25519 AAA test"));
    assert!(r("etc/sudoers.d/rancher").contains("rancher ALL=(ALL) NOPASSWD: ALL"));
    let sshd = r("etc/ssh/sshd_config");
    assert!(sshd.starts_with("Include x\n") && sshd.contains("AllowGroups docker"));
    assert!(r("etc/respawn.conf").contains("-l /usr/bin/autologin 115200 ttyS0"));
    assert_eq!(r("etc/ssh/ssh_host_ed25519_key"), "ed25519 private\n");
    assert_eq!(
        fs::read_link(root.path().join("usr/bin/docker")).unwrap(),
        Path::new(ENGINE_CLI)
    );
    // A second run does not stack the fragment.
    drop(prepare(root.path(), &config, "console=ttyS0", "v1"));
    assert_eq!(r("etc/ssh/sshd_config").matches("AllowGroups").count(), 1);
    if ros_sys::is_root() {
        assert!(problems.is_empty(), "{problems:?}");
    }
}

#[test]
fn applets_are_linked_except_ros_init_and_what_the_image_has() {
    let names = applet_names("ros\tcontrol\ninit\tPID 1\nrespawn\trun lines\nnetconf\tnet\n\n");
    assert_eq!(names, ["respawn", "netconf"]);
    let root = tempfile::tempdir().unwrap();
    fs::create_dir_all(root.path().join("usr/bin")).unwrap();
    fs::write(root.path().join("usr/bin/netconf"), "own").unwrap();
    link_applets(root.path(), &names).unwrap();
    link_applets(root.path(), &names).unwrap();
    let bin = root.path().join("usr/bin");
    assert_eq!(
        fs::read_link(bin.join("respawn")).unwrap(),
        Path::new("ros")
    );
    assert_eq!(fs::read_to_string(bin.join("netconf")).unwrap(), "own");
}

#[test]
fn host_keys_are_saved_as_literal_blocks_that_keep_their_lines() {
    let key =
        "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\nBBBB\n-----END OPENSSH PRIVATE KEY-----\n";
    let yaml = keys_yaml(&[("ed25519".into(), key.into())]);
    let mut loaded = ros_config::Loaded::empty();
    loaded.add_yaml(&yaml, "keys.yml");
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let config = loaded.typed().unwrap();
    assert_eq!(config.rancher.ssh.keys["ed25519"], key);
}

#[test]
fn a_password_hash_replaces_only_that_users_field() {
    let shadow = "root:*:1::::::\nrancher:*:1::::::\ndocker:*:1::::::\n";
    assert_eq!(
        with_password_hash(shadow, "rancher", "$6$salt$hash").unwrap(),
        "root:*:1::::::\nrancher:$6$salt$hash:1::::::\ndocker:*:1::::::\n"
    );
    assert!(with_password_hash(shadow, "nobody", "$6$x").is_none());
}
