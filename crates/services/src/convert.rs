//! A typed service as the engine API's create request, and the hash that tells whether an
//! existing container still matches its definition.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    ContainerCreateBody, DeviceMapping, HostConfig, HostConfigLogConfig, RestartPolicy,
    RestartPolicyNameEnum,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ServiceError;
use crate::interpolate::lookup_environment;
use crate::model::{Service, labels};

fn some<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn some_str(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The sha256 of a definition with its map keys sorted, so key order does not matter.
pub fn config_hash(value: &Value) -> String {
    fn canonical(v: &Value) -> Value {
        match v {
            Value::Object(map) => {
                let sorted: BTreeMap<&String, Value> =
                    map.iter().map(|(k, v)| (k, canonical(v))).collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
            other => other.clone(),
        }
    }
    let bytes = serde_json::to_vec(&canonical(value)).unwrap_or_default();
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `no`, `always`, `unless-stopped`, `on-failure[:N]`.
fn restart_policy(service: &Service) -> Result<Option<RestartPolicy>, ServiceError> {
    let text = service.restart.as_str();
    let (name, count) = match text.split_once(':') {
        Some((n, c)) => (n, Some(c)),
        None => (text, None),
    };
    let name = match name {
        "" => return Ok(None),
        "no" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => {
            return Err(ServiceError::Invalid {
                service: service.name.clone(),
                message: format!(
                    "restart: `{text}` is not no, always, unless-stopped or on-failure[:N]"
                ),
            });
        }
    };
    let maximum_retry_count = count
        .map(|c| {
            c.parse().map_err(|_| ServiceError::Invalid {
                service: service.name.clone(),
                message: format!("restart: `{c}` is not a count"),
            })
        })
        .transpose()?;
    Ok(Some(RestartPolicy {
        name: Some(name),
        maximum_retry_count,
    }))
}

/// `host[:container[:permissions]]`.
fn device(spec: &str) -> DeviceMapping {
    let mut parts = spec.splitn(3, ':');
    let host = parts.next().unwrap_or_default().to_string();
    let container = parts.next().map_or_else(|| host.clone(), str::to_string);
    DeviceMapping {
        path_on_host: Some(host),
        path_in_container: Some(container),
        cgroup_permissions: Some(parts.next().unwrap_or("rwm").to_string()),
    }
}

/// The create request for `service`; `hash` goes into a label for later comparisons.
pub fn create_body(
    service: &Service,
    env: &BTreeMap<String, String>,
    hash: &str,
) -> Result<ContainerCreateBody, ServiceError> {
    let (binds, anonymous): (Vec<String>, Vec<String>) = service
        .volumes
        .iter()
        .cloned()
        .partition(|v| v.contains(':'));
    let mut labels: HashMap<String, String> = service.labels.clone().into_iter().collect();
    labels.insert(labels::SERVICE.into(), service.name.clone());
    labels.insert(labels::CONFIG_HASH.into(), hash.to_string());
    let tmpfs: HashMap<String, String> = service
        .tmpfs
        .iter()
        .map(|t| match t.split_once(':') {
            Some((path, opts)) => (path.to_string(), opts.to_string()),
            None => (t.clone(), String::new()),
        })
        .collect();
    let log_config = some_str(&service.log_driver).map(|driver| HostConfigLogConfig {
        typ: Some(driver),
        config: Some(service.log_opt.clone().into_iter().collect()),
    });
    Ok(ContainerCreateBody {
        image: Some(service.image.clone()),
        cmd: service.command.clone(),
        entrypoint: service.entrypoint.clone(),
        env: some(lookup_environment(&service.environment, env)),
        labels: Some(labels),
        hostname: some_str(&service.hostname),
        domainname: some_str(&service.domainname),
        user: some_str(&service.user),
        working_dir: some_str(&service.working_dir),
        stop_signal: some_str(&service.stop_signal),
        tty: Some(service.tty),
        open_stdin: Some(service.stdin_open),
        volumes: some(anonymous),
        host_config: Some(HostConfig {
            binds: some(binds),
            volumes_from: some(service.volumes_from.clone()),
            network_mode: some_str(&service.network_mode),
            pid_mode: some_str(&service.pid),
            ipc_mode: some_str(&service.ipc),
            uts_mode: some_str(&service.uts),
            privileged: Some(service.privileged),
            readonly_rootfs: Some(service.read_only),
            restart_policy: restart_policy(service)?,
            devices: some(service.devices.iter().map(|d| device(d)).collect()),
            cap_add: some(service.cap_add.clone()),
            cap_drop: some(service.cap_drop.clone()),
            log_config,
            tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
            dns: some(service.dns.clone()),
            dns_search: some(service.dns_search.clone()),
            extra_hosts: some(service.extra_hosts.clone()),
            security_opt: some(service.security_opt.clone()),
            oom_score_adj: service.oom_score_adj,
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_hash_ignores_key_order_but_not_values() {
        let a = config_hash(&json!({"image": "x", "labels": {"a": "1", "b": "2"}}));
        let b = config_hash(&json!({"labels": {"b": "2", "a": "1"}, "image": "x"}));
        let c = config_hash(&json!({"labels": {"b": "2", "a": "1"}, "image": "y"}));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn a_service_becomes_a_create_request() {
        let service = Service::parse(
            "ntp",
            &json!({
                "image": "os-base:v1",
                "command": "ntpd -n",
                "environment": ["VERSION", "A=b"],
                "volumes": ["/usr/bin/ros:/usr/bin/ros:ro", "/data"],
                "devices": ["/dev/rtc", "/dev/kmsg:/dev/kmsg:r"],
                "restart": "on-failure:3",
                "net": "host",
                "tmpfs": ["/run:size=1m", "/tmp"],
                "log_driver": "json-file",
                "log_opt": {"max-size": "25m"}
            }),
        )
        .unwrap();
        let env = [("VERSION".to_string(), "v1".to_string())].into();
        let body = create_body(&service, &env, "h").unwrap();
        assert_eq!(body.cmd.as_deref().unwrap(), ["ntpd", "-n"]);
        assert_eq!(body.env.as_deref().unwrap(), ["VERSION=v1", "A=b"]);
        assert_eq!(body.volumes.as_deref().unwrap(), ["/data"]);
        let labels = body.labels.unwrap();
        assert_eq!(labels[labels::SERVICE], "ntp");
        assert_eq!(labels[labels::CONFIG_HASH], "h");
        let host = body.host_config.unwrap();
        assert_eq!(
            host.binds.as_deref().unwrap(),
            ["/usr/bin/ros:/usr/bin/ros:ro"]
        );
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        let restart = host.restart_policy.unwrap();
        assert_eq!(restart.name, Some(RestartPolicyNameEnum::ON_FAILURE));
        assert_eq!(restart.maximum_retry_count, Some(3));
        let devices = host.devices.unwrap();
        assert_eq!(devices[0].path_in_container.as_deref(), Some("/dev/rtc"));
        assert_eq!(devices[1].cgroup_permissions.as_deref(), Some("r"));
        assert_eq!(host.tmpfs.unwrap()["/run"], "size=1m");
        assert_eq!(host.log_config.unwrap().typ.as_deref(), Some("json-file"));
    }

    #[test]
    fn a_bad_restart_policy_names_the_service() {
        let mut service = Service {
            name: "x".into(),
            image: "i".into(),
            restart: "sometimes".into(),
            ..Service::default()
        };
        let err = create_body(&service, &BTreeMap::new(), "h").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("service x: restart: `sometimes`"),
            "{err}"
        );
        service.restart = "on-failure:many".into();
        assert!(create_body(&service, &BTreeMap::new(), "h").is_err());
    }
}
