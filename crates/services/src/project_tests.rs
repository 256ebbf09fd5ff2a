use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bollard::models::ContainerCreateBody;
use serde_json::json;

use super::*;
use crate::engines::Existing;

/// An engine in memory: containers by name, a log of calls, exit codes per name.
#[derive(Debug, Default)]
struct FakeEngines {
    containers: Mutex<HashMap<String, (bool, Option<String>)>>,
    log: Mutex<Vec<String>>,
    exit_codes: HashMap<String, i64>,
    fail_start: Vec<String>,
    /// `a` may only start once `b` started: proves they run at once.
    start_after: Option<(String, String)>,
}

impl FakeEngines {
    fn log(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }
    fn events(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
    fn position(&self, line: &str) -> usize {
        self.events()
            .iter()
            .position(|l| l == line)
            .unwrap_or_else(|| panic!("no `{line}` in {:?}", self.events()))
    }
}

impl Engines for FakeEngines {
    async fn inspect(&self, _system: bool, name: &str) -> Result<Option<Existing>, String> {
        Ok(self
            .containers
            .lock()
            .unwrap()
            .get(name)
            .map(|(running, hash)| Existing {
                running: *running,
                hash: hash.clone(),
            }))
    }
    async fn create(
        &self,
        system: bool,
        name: &str,
        body: ContainerCreateBody,
    ) -> Result<(), String> {
        let hash = body.labels.unwrap_or_default().remove(labels::CONFIG_HASH);
        self.containers
            .lock()
            .unwrap()
            .insert(name.into(), (false, hash));
        self.log(format!(
            "create {name}{}",
            if system { "" } else { " (user)" }
        ));
        Ok(())
    }
    async fn start(&self, _system: bool, name: &str) -> Result<(), String> {
        if let Some((a, b)) = &self.start_after
            && a == name
        {
            let started = || self.events().contains(&format!("start {b}"));
            let waited = tokio::time::timeout(Duration::from_secs(5), async {
                while !started() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await;
            if waited.is_err() {
                return Err(format!("{b} never started while {a} waited"));
            }
        }
        if self.fail_start.iter().any(|f| f == name) {
            return Err("no such image".into());
        }
        self.containers.lock().unwrap().get_mut(name).unwrap().0 = true;
        self.log(format!("start {name}"));
        Ok(())
    }
    async fn remove(&self, _system: bool, name: &str) -> Result<(), String> {
        self.containers.lock().unwrap().remove(name);
        self.log(format!("remove {name}"));
        Ok(())
    }
    async fn wait(&self, _system: bool, name: &str) -> Result<i64, String> {
        self.log(format!("exit {name}"));
        self.containers.lock().unwrap().get_mut(name).unwrap().0 = false;
        Ok(self.exit_codes.get(name).copied().unwrap_or(0))
    }
    async fn network_settled(&self) {
        self.log("network settled".into());
    }
}

fn system(extra: Value) -> Value {
    let mut v = json!({"image": "os-base", "labels": {"io.rancher.os.scope": "system"}});
    if let (Value::Object(base), Value::Object(extra)) = (&mut v, extra) {
        for (k, val) in extra {
            if k == "labels" {
                let labels = base["labels"].as_object_mut().unwrap();
                labels.extend(val.as_object().unwrap().clone());
            } else {
                base.insert(k, val);
            }
        }
    }
    v
}

fn project(services: &Value) -> Project {
    Project::new(services.as_object().unwrap(), &BTreeMap::new())
}

async fn up(p: &Project, e: &FakeEngines) -> BTreeMap<String, Result<Outcome, String>> {
    p.up(e, None, &|_, _| {}).await
}

#[tokio::test]
async fn dependants_start_after_their_dependencies_returned() {
    let p = project(&json!({
        "volumes": system(json!({"labels": {"io.rancher.os.createonly": "true"}})),
        "cold": system(json!({"labels": {"io.rancher.os.detach": "false"}})),
        "udev": system(json!({"labels": {"io.rancher.os.after": "cold"}, "volumes_from": ["volumes"]})),
        "console": system(json!({"labels": {"io.rancher.os.after": "udev"}})),
    }));
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let e = FakeEngines::default();
    let results = up(&p, &e).await;
    assert_eq!(results["volumes"], Ok(Outcome::Created));
    assert_eq!(results["cold"], Ok(Outcome::Completed));
    assert_eq!(results["udev"], Ok(Outcome::Started));
    assert!(e.position("exit cold") < e.position("create udev"));
    assert!(e.position("create volumes") < e.position("create udev"));
    assert!(e.position("start udev") < e.position("create console"));
    assert!(!e.events().contains(&"start volumes".to_string()));
}

#[tokio::test]
async fn services_after_the_network_wait_for_it_to_settle_and_others_do_not() {
    let p = project(&json!({
        "network": system(json!({})),
        "ntp": system(json!({"labels": {"io.rancher.os.after": "network"}})),
        "syslog": system(json!({})),
    }));
    let e = FakeEngines::default();
    up(&p, &e).await;
    let settled = e.position("network settled");
    assert!(e.position("start network") < settled);
    assert!(settled < e.position("create ntp"));
    let waits = e
        .events()
        .iter()
        .filter(|l| *l == "network settled")
        .count();
    assert_eq!(waits, 1, "{:?}", e.events());
}

#[tokio::test]
async fn independent_services_come_up_at_the_same_time() {
    let p = project(&json!({"a": system(json!({})), "b": system(json!({}))}));
    let e = FakeEngines {
        start_after: Some(("a".into(), "b".into())),
        ..FakeEngines::default()
    };
    let results = up(&p, &e).await;
    assert_eq!(results["a"], Ok(Outcome::Started));
}

#[tokio::test]
async fn one_failure_does_not_stop_the_rest() {
    let p = project(&json!({
        "broken": system(json!({})),
        "oneshot": system(json!({"labels": {"io.rancher.os.detach": "false"}})),
        "after": system(json!({"labels": {"io.rancher.os.after": "broken,oneshot"}})),
        "invalid": system(json!({"mem_limt": 1})),
    }));
    assert_eq!(p.errors.len(), 1);
    assert!(p.errors[0].to_string().starts_with("service invalid: "));
    let e = FakeEngines {
        fail_start: vec!["broken".into()],
        exit_codes: [("oneshot".to_string(), 3)].into(),
        ..FakeEngines::default()
    };
    let results = up(&p, &e).await;
    assert_eq!(results["broken"], Err("no such image".into()));
    assert_eq!(results["oneshot"], Err("exited with code 3".into()));
    assert_eq!(results["after"], Ok(Outcome::Started));
}

#[tokio::test]
async fn rebuild_rules_decide_recreation() {
    let defs = json!({
        "same": system(json!({})),
        "always": system(json!({"labels": {"io.docker.compose.rebuild": "always"}})),
        "never": system(json!({"labels": {"io.docker.compose.rebuild": "false"}})),
        "changed": system(json!({})),
    });
    let p = project(&defs);
    let e = FakeEngines::default();
    {
        let mut c = e.containers.lock().unwrap();
        for name in ["same", "always", "never"] {
            c.insert(name.into(), (true, Some(p.hashes[name].clone())));
        }
        c.insert("changed".into(), (true, Some("old".into())));
    }
    let results = up(&p, &e).await;
    assert_eq!(results["same"], Ok(Outcome::AlreadyRunning));
    assert_eq!(results["never"], Ok(Outcome::AlreadyRunning));
    assert_eq!(results["always"], Ok(Outcome::Started));
    assert_eq!(results["changed"], Ok(Outcome::Started));
    let removed: Vec<String> = e
        .events()
        .into_iter()
        .filter(|l| l.starts_with("remove"))
        .collect();
    assert_eq!(removed.len(), 2, "{removed:?}");
}

#[tokio::test]
async fn cycles_are_left_out_and_named_while_the_rest_runs() {
    let p = project(&json!({
        "a": system(json!({"labels": {"io.rancher.os.after": "b"}})),
        "b": system(json!({"labels": {"io.rancher.os.after": "a"}})),
        "c": system(json!({})),
    }));
    assert_eq!(p.errors.len(), 1);
    assert_eq!(
        p.errors[0].to_string(),
        "rancher.services: dependency cycle a -> b -> a"
    );
    let results = up(&p, &FakeEngines::default()).await;
    assert_eq!(results.keys().collect::<Vec<_>>(), ["c"]);
}

#[tokio::test]
async fn user_services_wait_for_docker_and_use_the_user_engine() {
    let p = project(&json!({
        "docker": system(json!({})),
        "app": {"image": "nginx"},
        "disabled": null,
    }));
    let e = FakeEngines::default();
    let results = p.up(&e, Some(&["app".to_string()]), &|_, _| {}).await;
    assert_eq!(results.len(), 2);
    assert!(e.position("start docker") < e.position("create app (user)"));
}

#[tokio::test]
async fn environment_is_interpolated_before_typing() {
    let env: BTreeMap<String, String> = [("VERSION".to_string(), "v9".to_string())].into();
    let defs = json!({"x": system(json!({"image": "os-base:${VERSION}"}))});
    let p = Project::new(defs.as_object().unwrap(), &env);
    assert_eq!(p.services[0].image, "os-base:v9");
}

#[test]
fn the_built_in_services_form_a_valid_project() {
    let mut loaded = ros_config::Loaded::empty();
    loaded.add_yaml(ros_config::OS_CONFIG, ros_config::OS_CONFIG_SOURCE);
    let config = loaded.typed().unwrap();
    let p = Project::new(&config.rancher.services, &config.rancher.environment);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let deps = |n: &str| p.deps[n].iter().cloned().collect::<Vec<_>>();
    assert_eq!(deps("console"), ["all-volumes", "network"]);
    assert_eq!(
        deps("network"),
        ["command-volumes", "syslog", "system-volumes"]
    );
    assert_eq!(deps("docker"), ["all-volumes", "console"]);
    assert!(deps("all-volumes").contains(&"system-volumes".to_string()));
    let console = p.services.iter().find(|s| s.name == "console").unwrap();
    assert!(
        console.image.starts_with("rancher/os-console:v"),
        "{}",
        console.image
    );
    assert!(p.services.iter().all(Service::is_system));
}
