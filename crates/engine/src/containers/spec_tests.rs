use bollard_stubs::models::{ContainerConfig, HostConfig};

use super::*;
use crate::containers::record::State;

fn record(host: HostConfig) -> ContainerRecord {
    ContainerRecord {
        id: "0123456789abcdef".repeat(4),
        name: "t".into(),
        created: String::new(),
        image_id: String::new(),
        image_name: "busybox".into(),
        path: "sh".into(),
        args: vec!["-c".into(), "true".into()],
        config: ContainerConfig {
            env: Some(vec!["A=1".into()]),
            ..Default::default()
        },
        host_config: host,
        state: State::default(),
    }
}

/// An input for `record` with every other choice at its simplest.
fn input(record: &ContainerRecord, network: Namespace) -> SpecInput<'_> {
    SpecInput {
        record,
        rootfs: Path::new("/r"),
        files: Path::new("/f"),
        user: (1100, 1100, vec![10]),
        network,
        ipc: Namespace::New,
        host_pid: false,
        host_uts: false,
        devices: Vec::new(),
        extra_binds: Vec::new(),
        bounding: u64::MAX,
    }
}

fn spec(host: HostConfig, network: Namespace) -> Value {
    let record = record(host);
    oci_spec(&input(&record, network)).unwrap()
}

fn types(spec: &Value) -> Vec<String> {
    spec["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn defaults_isolate_everything_but_the_network_when_host() {
    let s = spec(HostConfig::default(), Namespace::Host);
    assert_eq!(types(&s), ["mount", "ipc", "pid", "uts"]);
    assert_eq!(s["process"]["args"], json!(["sh", "-c", "true"]));
    assert_eq!(s["process"]["user"]["uid"], 1100);
    assert_eq!(s["hostname"], "0123456789ab");
    assert_eq!(
        s["linux"]["cgroupsPath"],
        format!("/system-docker/{}", "0123456789abcdef".repeat(4))
    );
    let env = s["process"]["env"].as_array().unwrap();
    assert!(env[0].as_str().unwrap().starts_with("PATH="));
    assert!(env.contains(&json!("HOSTNAME=0123456789ab")));
    assert!(s["linux"]["maskedPaths"].is_array());
    let caps = s["process"]["capabilities"]["bounding"].as_array().unwrap();
    assert_eq!(caps.len(), DEFAULT_CAPS.len());
}

#[test]
fn joining_another_network_uses_its_namespace_path() {
    let s = spec(
        HostConfig::default(),
        Namespace::Join("/proc/7/ns/net".into()),
    );
    let ns = &s["linux"]["namespaces"][1];
    assert_eq!(ns, &json!({"type": "network", "path": "/proc/7/ns/net"}));
}

#[test]
fn privileged_gets_every_capability_and_every_device() {
    let s = spec(
        HostConfig {
            privileged: Some(true),
            ..Default::default()
        },
        Namespace::New,
    );
    let caps = s["process"]["capabilities"]["bounding"].as_array().unwrap();
    assert_eq!(caps.len(), ALL_CAPS.len());
    assert!(s["linux"]["maskedPaths"].is_null());
    assert_eq!(s["linux"]["resources"]["devices"][0]["allow"], true);
}

#[test]
fn cap_add_and_drop_adjust_the_default_set() {
    let s = spec(
        HostConfig {
            cap_add: Some(vec!["NET_ADMIN".into()]),
            cap_drop: Some(vec!["cap_chown".into()]),
            ..Default::default()
        },
        Namespace::New,
    );
    let caps = s["process"]["capabilities"]["bounding"].as_array().unwrap();
    assert!(caps.contains(&json!("CAP_NET_ADMIN")));
    assert!(!caps.contains(&json!("CAP_CHOWN")));
}

#[test]
fn binds_carry_their_options_and_shared_propagation() {
    let s = spec(
        HostConfig {
            binds: Some(vec!["/host:/in:ro,rshared".into(), "/a:/b".into()]),
            tmpfs: Some([("/run".to_owned(), "size=1m".to_owned())].into()),
            readonly_rootfs: Some(true),
            ..Default::default()
        },
        Namespace::New,
    );
    let mounts = s["mounts"].as_array().unwrap();
    let bind = mounts.iter().find(|m| m["destination"] == "/in").unwrap();
    assert_eq!(bind["options"], json!(["rbind", "ro", "rshared"]));
    assert_eq!(s["linux"]["rootfsPropagation"], "shared");
    assert!(
        mounts
            .iter()
            .any(|m| m["destination"] == "/run" && m["type"] == "tmpfs")
    );
    assert_eq!(s["root"]["readonly"], true);
}

#[test]
fn bad_binds_are_refused_with_the_bind_named() {
    for (bind, why) in [
        ("relative:/x", "named volumes"),
        ("/x", "expected host-path"),
        ("/x:y", "must be absolute"),
        ("/x:/y:bogus", "invalid bind option"),
    ] {
        let record = record(HostConfig {
            binds: Some(vec![bind.into()]),
            ..Default::default()
        });
        let err = oci_spec(&input(&record, Namespace::Host)).unwrap_err();
        assert!(err.message.contains(why), "{bind}: {}", err.message);
    }
}

#[test]
fn capabilities_outside_the_engines_bounding_set_are_left_out() {
    let record = record(HostConfig {
        privileged: Some(true),
        ..Default::default()
    });
    let input = SpecInput {
        // Everything but CAP_SYS_RESOURCE (24), as on a host whose root lacks it.
        bounding: !(1 << 24),
        ..input(&record, Namespace::Host)
    };
    let s = oci_spec(&input).unwrap();
    let caps = s["process"]["capabilities"]["permitted"]
        .as_array()
        .unwrap();
    assert_eq!(caps.len(), ALL_CAPS.len() - 1);
    assert!(!caps.contains(&json!("CAP_SYS_RESOURCE")));
}
