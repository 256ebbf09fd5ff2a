//! `ros config` end to end: the built binary, run under its applet names, against a temporary
//! root given with `--root` or `ROS_ROOT`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

const CONF: &str = "var/lib/rancher/conf";

struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn file(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) -> &Self {
        let path = self.file(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
        self
    }

    fn ros(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        self.ros_stdin(args, "")
    }

    fn ros_stdin(&self, args: &[&str], stdin: &str) -> assert_cmd::assert::Assert {
        Command::cargo_bin("ros")
            .unwrap()
            .env("ROS_ROOT", self.dir.path())
            .env_remove("RUST_LOG")
            .args(args)
            .write_stdin(stdin)
            .assert()
    }

    fn user_file(&self) -> PathBuf {
        self.file(&format!("{CONF}/cloud-config.yml"))
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn get_prints_defaults_and_zero_values() {
    let root = Root::new();
    root.ros(&["config", "get", "rancher.docker.storage_driver"])
        .success()
        .stdout("\n");
    root.ros(&["config", "get", "rancher.system_docker.storage_driver"])
        .success()
        .stdout("overlay2\n");
    root.ros(&["c", "get", "rancher.shutdown_timeout"])
        .success()
        .stdout("60\n");
    root.ros(&["config", "get", "rancher.debug"])
        .success()
        .stdout("false\n");
    root.ros(&["config", "get", "rancher.sysctl.fs.file-max"])
        .success()
        .stdout("1000000000\n");
    root.ros(&["config", "get", "rancher.no.such.key"])
        .success()
        .stdout("\n");
    root.ros(&["config", "get", "rancher.defaults.network.dns"])
        .success()
        .stdout("nameservers:\n- \"8.8.8.8\"\n- \"8.8.4.4\"\nsearch: []\n");
}

#[test]
fn set_then_get_prints_a_yaml_list_and_the_file_is_private() {
    let root = Root::new();
    root.ros(&["config", "set", "rancher.network.dns.search", "[a,b]"])
        .success()
        .stdout("");
    root.ros(&["config", "get", "rancher.network.dns.search"])
        .success()
        .stdout("- a\n- b\n");
    root.ros(&["config", "set", "rancher.debug", "true"])
        .success();
    root.ros(&["config", "get", "rancher.debug"])
        .success()
        .stdout("true\n");
    root.ros(&["config", "get", "rancher.docker.debug"])
        .success()
        .stdout("true\n");
    assert_eq!(
        mode(&root.user_file()),
        0o600,
        "RancherOS wrote decimal 400 (0620)"
    );
    assert_eq!(mode(&root.file(CONF)), 0o700);
    assert_eq!(
        fs::read_to_string(root.user_file()).unwrap(),
        "rancher:\n  network:\n    dns:\n      search:\n      - a\n      - b\n  debug: true\n"
    );
}

#[test]
fn set_refuses_values_of_the_wrong_type_and_keeps_the_file() {
    let root = Root::new();
    root.write(&format!("{CONF}/cloud-config.yml"), "hostname: h\n");
    root.ros(&["config", "set", "rancher.shutdown_timeout", "soon"])
        .failure()
        .stderr(predicate::str::contains("rancher.shutdown_timeout"));
    root.ros(&["config", "set", "rancher.dockr.tls", "true"])
        .failure()
        .stderr(predicate::str::contains("did you mean `docker`?"));
    root.ros(&["config", "set", "rancher..x", "1"])
        .failure()
        .stderr(predicate::str::contains("is not a dotted key"));
    assert_eq!(
        fs::read_to_string(root.user_file()).unwrap(),
        "hostname: h\n"
    );
}

#[test]
fn set_and_merge_never_overwrite_a_file_they_cannot_parse() {
    let root = Root::new();
    let broken = "hostname: h\nrancher: [x\n";
    root.write(&format!("{CONF}/cloud-config.yml"), broken);
    let user = root.user_file().display().to_string();
    root.ros(&["config", "set", "hostname", "y"])
        .failure()
        .stderr(predicate::str::contains(format!(
            "{user}:2:10: unclosed bracket"
        )))
        .stderr(predicate::str::contains("fix or remove the file first"));
    root.ros_stdin(&["config", "merge"], "hostname: y\n")
        .failure();
    assert_eq!(fs::read_to_string(root.user_file()).unwrap(), broken);
}

#[test]
fn get_hostname_with_three_drop_ins_last_in_lexical_order_wins() {
    let root = Root::new();
    root.write(&format!("{CONF}/cloud-config.d/b.yml"), "hostname: bee\n")
        .write(&format!("{CONF}/cloud-config.d/c.yml"), "hostname: sea\n")
        .write(&format!("{CONF}/cloud-config.d/a.yml"), "hostname: ay\n");
    root.ros(&["config", "get", "hostname"])
        .success()
        .stdout("sea\n");
    root.write(&format!("{CONF}/cloud-config.yml"), "hostname: file\n");
    root.ros(&["config", "get", "hostname"])
        .success()
        .stdout("file\n");
}

#[test]
fn a_broken_layer_is_reported_with_its_position_and_skipped() {
    let root = Root::new();
    root.write(&format!("{CONF}/cloud-config.d/a.yml"), "hostname: a\n")
        .write(
            &format!("{CONF}/cloud-config.d/b.yml"),
            "hostname: b\nrancher:\n  debug: maybe\n",
        );
    let b = root
        .file(&format!("{CONF}/cloud-config.d/b.yml"))
        .display()
        .to_string();
    root.ros(&["config", "get", "hostname"])
        .success()
        .stdout("a\n")
        .stderr(format!(
            "{b}:3:10: rancher.debug: invalid boolean (layer skipped)\n"
        ));
}

#[test]
fn merge_deep_merges_stdin_and_accepts_crlf() {
    let root = Root::new();
    root.ros(&["config", "set", "rancher.docker.tls", "true"])
        .success();
    root.ros_stdin(
        &["config", "merge"],
        "rancher:\r\n  docker:\r\n    storage_driver: vfs\r\n  modules: [btrfs]\r\n",
    )
    .success();
    root.ros(&["config", "get", "rancher.docker.tls"])
        .success()
        .stdout("true\n");
    root.ros(&["config", "get", "rancher.docker.storage_driver"])
        .success()
        .stdout("vfs\n");
    root.ros(&["config", "get", "rancher.modules"])
        .success()
        .stdout("- btrfs\n");
    assert_eq!(mode(&root.user_file()), 0o600);
}

#[test]
fn merge_rejects_bad_input_with_its_position_and_changes_nothing() {
    let root = Root::new();
    root.ros(&["config", "set", "hostname", "h"]).success();
    let before = fs::read_to_string(root.user_file()).unwrap();
    root.ros_stdin(
        &["config", "merge"],
        "rancher:\n  network:\n    dns:\n      nameservers: x\n",
    )
    .failure()
    .stderr("<stdin>:4:20: rancher.network.dns.nameservers: expected sequence start\n");
    assert_eq!(fs::read_to_string(root.user_file()).unwrap(), before);
}

#[test]
fn export_hides_secrets_unless_private_and_defaults_unless_full() {
    let root = Root::new();
    root.write(
        &format!("{CONF}/cloud-config.yml"),
        "hostname: h\nrancher:\n  ssh:\n    keys:\n      ed25519: SECRETKEY\n  docker:\n    ca_key: CAKEY\n",
    )
    .write("proc/cmdline", "rancher.password=hunter2 rancher.autologin=tty1");

    let plain = root.ros(&["config", "export"]).success();
    let plain = String::from_utf8(plain.get_output().stdout.clone()).unwrap();
    assert_eq!(plain, "hostname: h\n");

    let private = root.ros(&["config", "export", "--private"]).success();
    let private = String::from_utf8(private.get_output().stdout.clone()).unwrap();
    assert!(
        private.contains("SECRETKEY") && private.contains("CAKEY"),
        "{private}"
    );
    assert!(!private.contains("storage_driver"), "{private}");

    let full = root
        .ros(&["config", "export", "--private", "--full"])
        .success();
    let full = String::from_utf8(full.get_output().stdout.clone()).unwrap();
    for want in [
        "hostname: h",
        "SECRETKEY",
        "storage_driver: overlay2",
        "console: default",
    ] {
        assert!(full.contains(want), "missing {want}: {full}");
    }
    for never in ["hunter2", "autologin", "password"] {
        assert!(!full.contains(never), "{never} exported: {full}");
    }
}

#[test]
fn export_to_a_file_writes_it_private() {
    let root = Root::new();
    root.ros(&["config", "set", "hostname", "h"]).success();
    let out = root.file("export.yml");
    root.ros(&["config", "export", "-o", out.to_str().unwrap()])
        .success()
        .stdout("");
    assert_eq!(fs::read_to_string(&out).unwrap(), "hostname: h\n");
    assert_eq!(mode(&out), 0o600);
}

#[test]
fn validate_exits_non_zero_on_errors_and_zero_with_warnings() {
    let root = Root::new();
    root.write(
        "bad.yml",
        "rancher:\n  docker:\n    storage_drive: overlay2\n",
    );
    let bad = root.file("bad.yml").display().to_string();
    root.ros(&["config", "validate", "-i", &bad]).failure().code(1).stderr(format!(
        "{bad}:3:5: rancher.docker.storage_drive: unknown key `storage_drive`, did you mean `storage_driver`?\n"
    ));
    root.ros_stdin(&["config", "validate"], "users: []\nhostname: x\n")
        .success()
        .stderr("<stdin>:1:1: warning: unknown top-level key `users` is ignored\n");
    root.ros_stdin(&["config", "validate"], "#cloud-config\nhostname: x\n")
        .success()
        .stderr("");
    root.ros(&["config", "validate", "-i", "/no/such/file.yml"])
        .failure()
        .stderr("ros: /no/such/file.yml: no such file\n");
}

#[test]
fn images_lists_service_images_sorted_and_unique() {
    let root = Root::new();
    root.write(
        "services.yml",
        "rancher:\n  services:\n    b: {image: os-b}\n    a: {image: os-a}\n    c: {image: os-b}\n  bootstrap:\n    boot: {image: os-boot}\n",
    );
    let input = root.file("services.yml").display().to_string();
    root.ros(&["config", "images", "-i", &input])
        .success()
        .stdout("os-a os-b os-boot\n");
}

#[test]
fn generate_renders_environment_variables() {
    let root = Root::new();
    Command::cargo_bin("ros")
        .unwrap()
        .env("ROS_ROOT", root.dir.path())
        .env("VERSION", "v9")
        .args(["config", "generate"])
        .write_stdin("image: os:{{.VERSION}}{{.NOT_SET}}\n")
        .assert()
        .success()
        .stdout("image: os:v9\n");
    root.ros_stdin(&["config", "generate"], "{{range .X}}\n")
        .failure()
        .stderr(predicate::str::contains("template:1:1: unsupported action"));
}

#[test]
fn kernel_cmdline_and_extra_cmdline_reach_get() {
    let root = Root::new();
    root.write(
        "proc/cmdline",
        "BOOT_IMAGE=/vmlinuz rancher.state.autoformat=[/dev/sda,/dev/vda] cc.hostname=one -- cc.hostname=nope",
    );
    root.ros(&["config", "get", "rancher.state.autoformat"])
        .success()
        .stdout("- /dev/sda\n- /dev/vda\n");
    root.ros(&["config", "get", "hostname"])
        .success()
        .stdout("nope\n");
}

#[test]
fn version_names_the_upgrade_image() {
    let root = Root::new();
    let v = concat!("v", env!("CARGO_PKG_VERSION"));
    root.ros(&["-v"])
        .success()
        .stdout(format!("version {v} from os image rancher/os:{v}\n"));
}

#[test]
fn the_root_flag_overrides_the_environment() {
    let root = Root::new();
    let other = Root::new();
    other.write(&format!("{CONF}/cloud-config.yml"), "hostname: other\n");
    root.ros(&[
        "--root",
        other.dir.path().to_str().unwrap(),
        "config",
        "get",
        "hostname",
    ])
    .success()
    .stdout("other\n");
}

#[test]
fn usage_errors_exit_2() {
    let root = Root::new();
    root.ros(&[]).failure().code(2);
    root.ros(&["config", "frobnicate"]).failure().code(2);
    root.ros(&["config", "set", "only-a-key"]).failure().code(2);
}

#[test]
fn unknown_applet_names_exit_127() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("not-an-applet");
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("ros"), &link).unwrap();
    Command::new(&link)
        .assert()
        .code(127)
        .stderr(predicate::str::contains("`not-an-applet` is not an applet"));
}

#[test]
fn applets_lists_the_table() {
    Command::cargo_bin("ros")
        .unwrap()
        .arg("applets")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("ros\t"));
}

#[test]
fn os_boot_time_prints_the_markers_in_time_order() {
    let root = Root::new();
    root.ros(&["os", "boot-time"])
        .failure()
        .code(1)
        .stderr(predicate::str::contains("run/ros/boot-markers"));
    root.write(
        "run/ros/boot-markers",
        "ros: system engine ready uptime=4.50\n\
         ros: boot ok uptime=3.25 modules=58/58 images=1/1\n\
         ros: sysinit: service x: no such image\n\
         ros: services up ok=11 failed=0 uptime=40.21\n",
    );
    root.ros(&["os", "boot-time"]).success().stdout(
        "    3.25s  boot ok  (modules=58/58 images=1/1)\n\
         \x20   4.50s  system engine ready\n\
         \x20  40.21s  services up  (ok=11 failed=0)\n",
    );
}
