use serde_json::json;

use super::*;

#[test]
fn compose_keys_are_typed_and_scalars_stringified() {
    let value = json!({
        "image": "os-base:v1",
        "command": "sh -c 'echo \"hi there\"'",
        "environment": {"A": 1, "B": true, "C": null},
        "labels": ["io.rancher.os.scope=system", "io.rancher.os.detach=false"],
        "net": "host",
        "privileged": true,
        "volumes_from": ["system-volumes"],
        "log_opt": {"max-file": 2},
        "tmpfs": "/run",
        "container_name": "ignored"
    });
    let s = Service::parse("one", &value).unwrap();
    assert_eq!(s.name, "one");
    assert_eq!(
        s.command.as_deref().unwrap(),
        ["sh", "-c", "echo \"hi there\""]
    );
    assert_eq!(s.environment, ["A=1", "B=true", "C"]);
    assert!(s.is_system() && s.waits_for_exit() && !s.create_only());
    assert_eq!(s.network_mode, "host");
    assert_eq!(s.log_opt["max-file"], "2");
    assert_eq!(s.tmpfs, ["/run"]);
}

#[test]
fn unknown_keys_and_wrong_types_name_the_service_and_key() {
    let err = Service::parse("web", &json!({"image": "x", "mem_limt": "1g"})).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("service web: "), "{text}");
    assert!(text.contains("mem_limt"), "{text}");
    let err = Service::parse("web", &json!({"image": "x", "volumes": "/a"})).unwrap_err();
    assert!(err.to_string().contains("volumes"), "{err}");
    let err = Service::parse("web", &json!({"command": "x"})).unwrap_err();
    assert!(err.to_string().contains("image: required"), "{err}");
}

#[test]
fn words_split_like_a_shell_without_expansion() {
    assert_eq!(split_words("  a  b\tc ").unwrap(), ["a", "b", "c"]);
    assert_eq!(
        split_words(r#"a 'b c' "d \"e\"" f\ g"#).unwrap(),
        ["a", "b c", "d \"e\"", "f g"]
    );
    assert_eq!(split_words("''").unwrap(), [""]);
    assert!(split_words("'open").is_err());
    assert!(split_words("\"open").is_err());
    assert!(split_words("end\\").is_err());
}
