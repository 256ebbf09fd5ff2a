//! Layered loading against a temporary root: order, skipping of broken layers, the kernel
//! cmdline, `EXTRA_CMDLINE`, debug forcing and metadata, and every built-in default.

use std::fs;
use std::path::Path;

use ros_config::{CloudConfig, ConfigPaths, Scope, load};
use serde_json::json;

struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, path: &str, text: &str) -> &Self {
        let full = self.dir.path().join(path.trim_start_matches('/'));
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, text).unwrap();
        self
    }

    fn paths(&self) -> ConfigPaths {
        ConfigPaths::new(self.dir.path())
    }

    fn typed(&self) -> CloudConfig {
        let loaded = load(&self.paths(), Scope::Full);
        loaded.typed().unwrap()
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

const DROP_IN: &str = "/var/lib/rancher/conf/cloud-config.d";
const USER_FILE: &str = "/var/lib/rancher/conf/cloud-config.yml";

#[test]
fn every_built_in_default() {
    let root = Root::new();
    let loaded = load(&root.paths(), Scope::Full);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let c = loaded.typed().unwrap();
    let r = &c.rancher;

    assert_eq!(c.hostname, "");
    assert!(c.ssh_authorized_keys.is_empty() && c.write_files.is_empty() && c.mounts.is_empty());
    assert!(c.runcmd.is_empty() && c.bootcmd.is_empty() && c.extra_cmdline.is_empty());

    assert!(!r.debug && !r.log && !r.recovery && !r.rm_usr && !r.no_sharedroot);
    assert!(!r.force_console_rebuild && !r.preload_wait);
    assert_eq!(r.console, "default");
    assert_eq!(
        serde_json::to_value(&r.environment).unwrap(),
        json!({"REGISTRY_DOMAIN": "docker.io", "SUFFIX": "", "VERSION": "v0.1.0"})
    );
    assert_eq!(r.cloud_init.datasources, ["configdrive:/media/config-2"]);
    assert_eq!(r.defaults.hostname, "rancher");
    assert_eq!(r.defaults.docker.engine, "docker");
    assert_eq!(r.defaults.network.dhcp_timeout, 10);
    assert_eq!(r.defaults.network.dns.nameservers, ["8.8.8.8", "8.8.4.4"]);
    assert_eq!(r.defaults.system_docker_logs, "/var/log/system-docker.log");
    assert_eq!(r.upgrade.image, "rancher/os");
    assert_eq!(r.upgrade.policy, "none", "we never phone home unless asked");
    assert!(r.ssh.daemon);
    assert_eq!(r.ssh.port, 0);
    assert_eq!(
        serde_json::to_value(&r.sysctl).unwrap(),
        json!({"fs.file-max": "1000000000", "kernel.printk": "4 4 1 7"})
    );
    assert!(r.hypervisor_service);
    assert_eq!(r.shutdown_timeout, 60);
    assert_eq!(r.http_load_retries, 6);
    assert!(r.modules.is_empty() && r.disable.is_empty() && r.autologin.is_empty());
    assert!(r.services_include.is_empty() && r.registry_auths.is_empty());

    let s = &r.state;
    assert_eq!(
        (s.dev.as_str(), s.fstype.as_str(), s.directory.as_str()),
        ("", "auto", "")
    );
    assert!(!s.wait && !s.required && s.autoformat.is_empty());
    assert!(!s.mdadm_scan && !s.lvm_scan && !s.cryptsetup && s.rngd);
    assert_eq!(
        (s.oem_dev.as_str(), s.oem_fstype.as_str()),
        ("LABEL=RANCHER_OEM", "auto")
    );
    assert_eq!(
        (s.boot_dev.as_str(), s.boot_fstype.as_str()),
        ("LABEL=RANCHER_BOOT", "auto")
    );

    assert_eq!(
        r.system_docker.args(),
        [
            "--data-root",
            "/var/lib/system-docker",
            "--exec-root",
            "/var/run/system-docker",
            "--group",
            "root",
            "--host",
            "unix:///var/run/system-docker.sock",
            "--log-opt",
            "max-file=2",
            "--log-opt",
            "max-size=25m",
            "--pidfile",
            "/var/run/system-docker.pid",
            "--storage-driver",
            "overlay2",
        ]
    );
    assert_eq!(r.system_docker.exec, Some(true));
    assert_eq!(
        r.docker.args(),
        [
            "--group",
            "docker",
            "--host",
            "unix:///var/run/docker.sock",
            "--log-opt",
            "max-file=2",
            "--log-opt",
            "max-size=25m",
        ]
    );
    assert_eq!(r.docker.engine, "docker");
    assert_eq!(r.docker.storage_context, "console");
    assert_eq!(
        r.docker.storage_driver, "",
        "the user engine picks its own driver"
    );
    assert!(!r.docker.tls);
    assert_eq!(
        r.docker.tls_args.last().map(String::as_str),
        Some("-H=0.0.0.0:2376")
    );
    assert_eq!(r.network, Default::default());
}

#[test]
fn tls_appends_tls_args_after_extra_args() {
    let root = Root::new();
    root.write(
        USER_FILE,
        "rancher:\n  docker:\n    tls: true\n    extra_args: [--mtu, '1400']\n",
    );
    let args = root.typed().rancher.docker.args();
    let mtu = args.iter().position(|a| a == "--mtu").unwrap();
    let tls = args.iter().position(|a| a == "--tlsverify").unwrap();
    assert!(mtu < tls, "{args:?}");
    assert_eq!(args.last().unwrap(), "-H=0.0.0.0:2376");
}

#[test]
fn layers_apply_in_order_and_last_drop_in_wins_lexically() {
    let root = Root::new();
    root.write(
        "/usr/share/ros/oem/oem-config.yml",
        "hostname: oem\nrancher: {console: oem}\n",
    )
    .write(&format!("{DROP_IN}/10-b.yml"), "hostname: ten\n")
    .write(&format!("{DROP_IN}/9-a.yml"), "hostname: nine\n")
    .write(&format!("{DROP_IN}/.hidden.yml"), "hostname: hidden\n");
    assert_eq!(root.typed().hostname, "nine", "byte order: 10-b < 9-a");
    assert_eq!(root.typed().rancher.console, "oem");

    root.write(USER_FILE, "rancher: {console: mine}\n");
    assert_eq!(root.typed().rancher.console, "mine");
    root.write(
        "/proc/cmdline",
        "quiet rancher.console=cmd cc.hostname=cmdline\n",
    );
    let c = root.typed();
    assert_eq!(
        (c.hostname.as_str(), c.rancher.console.as_str()),
        ("cmdline", "cmd")
    );
}

#[test]
fn a_directory_among_drop_ins_is_not_a_layer() {
    let root = Root::new();
    fs::create_dir_all(
        root.path()
            .join(DROP_IN.trim_start_matches('/'))
            .join("z.yml"),
    )
    .unwrap();
    root.write(&format!("{DROP_IN}/a.yml"), "hostname: a\n");
    let loaded = load(&root.paths(), Scope::Full);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    assert_eq!(loaded.typed().unwrap().hostname, "a");
}

#[test]
fn broken_layers_are_skipped_with_their_position_and_the_rest_loads() {
    let root = Root::new();
    root.write(
        &format!("{DROP_IN}/a.yml"),
        "hostname: a\nrancher:\n  debug: maybe\n",
    )
    .write(&format!("{DROP_IN}/b.yml"), "rancher: {console: b}\n")
    .write(&format!("{DROP_IN}/c.yml"), "hostname: [unclosed\n")
    .write(USER_FILE, "rancher:\n  dockr: {}\n");
    let loaded = load(&root.paths(), Scope::Full);
    let messages: Vec<String> = loaded.diagnostics.iter().map(ToString::to_string).collect();
    let dir = root.path().join(DROP_IN.trim_start_matches('/'));
    let user = root.path().join(USER_FILE.trim_start_matches('/'));
    assert_eq!(
        messages,
        [
            format!(
                "{}/a.yml:3:10: rancher.debug: invalid boolean",
                dir.display()
            ),
            format!("{}/c.yml:1:11: unclosed bracket '['", dir.display()),
            format!(
                "{}:2:3: rancher.dockr: unknown key `dockr`, did you mean `docker`?",
                user.display()
            ),
        ]
    );
    let c = loaded.typed().unwrap();
    assert_eq!(c.hostname, "", "nothing of a skipped layer is kept");
    assert_eq!(c.rancher.console, "b");
}

#[test]
fn extra_cmdline_is_a_layer_after_the_cmdline() {
    let root = Root::new();
    root.write(
        "/proc/cmdline",
        "console=ttyS0 cc.hostname=first rancher.debug -- cc.hostname=nope rancher.password=three",
    );
    let c = root.typed();
    assert_eq!(c.hostname, "nope");
    assert_eq!(c.extra_cmdline, "cc.hostname=nope rancher.password=three");
    assert_eq!(c.rancher.password, "three");
    assert!(c.rancher.debug && c.rancher.log);
    assert_eq!(c.rancher.docker.debug, Some(true));
    assert_eq!(c.rancher.system_docker.debug, Some(true));
    assert_eq!(c.rancher.bootstrap_docker.debug, Some(true));
}

#[test]
fn a_cmdline_value_of_the_wrong_type_skips_only_the_cmdline_layer() {
    let root = Root::new();
    root.write(USER_FILE, "hostname: kept\n")
        .write("/proc/cmdline", "rancher.shutdown_timeout=soon");
    let loaded = load(&root.paths(), Scope::Full);
    assert_eq!(loaded.diagnostics.len(), 1);
    let d = loaded.diagnostics[0].to_string();
    assert!(
        d.starts_with("kernel cmdline: rancher.shutdown_timeout: "),
        "{d}"
    );
    let c = loaded.typed().unwrap();
    assert_eq!(
        (c.hostname.as_str(), c.rancher.shutdown_timeout),
        ("kept", 60)
    );
}

#[test]
fn metadata_sets_hostname_only_if_unset_and_appends_keys_by_name() {
    let root = Root::new();
    root.write(
        "/var/lib/rancher/conf/metadata",
        "hostname: md\nssh_public_keys:\n  zz: ssh-ed25519 Z\n  aa: ssh-ed25519 A\nroot_disk: /dev/xvda\n",
    );
    let c = root.typed();
    assert_eq!(c.hostname, "md");
    assert_eq!(c.ssh_authorized_keys, ["ssh-ed25519 A", "ssh-ed25519 Z"]);
    assert_eq!(c.rancher.resize_device, "/dev/xvda");

    root.write(
        USER_FILE,
        "hostname: mine\nssh_authorized_keys: [ssh-rsa U]\n",
    );
    let c = root.typed();
    assert_eq!(c.hostname, "mine");
    assert_eq!(
        c.ssh_authorized_keys,
        ["ssh-rsa U", "ssh-ed25519 A", "ssh-ed25519 Z"]
    );
}

#[test]
fn go_field_names_in_metadata_are_accepted() {
    let root = Root::new();
    root.write(
        "/var/lib/rancher/conf/metadata",
        "Hostname: go\nSSHPublicKeys: {k: ssh-rsa K}\n",
    );
    let c = root.typed();
    assert_eq!(
        (c.hostname.as_str(), c.ssh_authorized_keys.as_slice()),
        ("go", &["ssh-rsa K".to_string()][..])
    );
}

#[test]
fn user_scope_leaves_out_defaults_and_oem() {
    let root = Root::new();
    root.write(
        "/usr/share/ros/oem/oem-config.yml",
        "rancher: {console: oem}\n",
    )
    .write(USER_FILE, "hostname: h\n");
    let loaded = load(&root.paths(), Scope::User);
    assert_eq!(loaded.tree, json!({"hostname": "h"}));
}

#[test]
fn sysctl_keys_given_nested_or_dotted_are_the_same() {
    let root = Root::new();
    root.write(
        USER_FILE,
        "rancher:\n  sysctl:\n    net.ipv4.ip_forward: 1\n",
    )
    .write("/proc/cmdline", "rancher.sysctl.vm.swappiness=10");
    let sysctl = root.typed().rancher.sysctl;
    assert_eq!(sysctl["net.ipv4.ip_forward"], "1");
    assert_eq!(sysctl["vm.swappiness"], "10");
    assert_eq!(sysctl["fs.file-max"], "1000000000");
}

#[test]
fn extra_cmdline_saved_in_a_drop_in_applies_without_a_cmdline_file() {
    let root = Root::new();
    root.write(
        &format!("{DROP_IN}/init.yml"),
        "EXTRA_CMDLINE: cc.hostname=saved\n",
    );
    assert_eq!(root.typed().hostname, "saved");
}
