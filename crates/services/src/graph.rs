//! Start order. Edges come from RancherOS's labels (`after`, `before`), from compose's own
//! references (`volumes_from`, `links`, `net`/`pid`/`ipc: container:…`) and from scope: a user
//! service needs the `docker` service. Edges to services the project lacks are dropped, as
//! RancherOS did; a cycle is an error that names it.

use std::collections::{BTreeMap, BTreeSet};

use crate::ServiceError;
use crate::model::{Service, labels};

/// The name of the user's Docker service.
pub const USER_DOCKER: &str = "docker";

/// For each service, the services whose Up must return before its own starts.
pub type Dependencies = BTreeMap<String, BTreeSet<String>>;

fn split_list(value: Option<&str>) -> impl Iterator<Item = String> + '_ {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s {
            // RancherOS's alias.
            "cloud-init" => "cloud-init-execute".to_string(),
            s => s.to_string(),
        })
}

fn container_ref(mode: &str) -> Option<String> {
    mode.strip_prefix("container:").map(str::to_string)
}

/// What `service` refers to by itself (its own labels and keys).
fn direct(service: &Service) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = split_list(service.label(labels::AFTER)).collect();
    for from in &service.volumes_from {
        let from = from.strip_prefix("container:").unwrap_or(from);
        let name = from.split(':').next().unwrap_or(from);
        out.insert(name.to_string());
    }
    for link in &service.links {
        out.insert(link.split(':').next().unwrap_or(link).to_string());
    }
    for mode in [&service.network_mode, &service.pid, &service.ipc] {
        out.extend(container_ref(mode));
    }
    if !service.is_system() {
        out.insert(USER_DOCKER.to_string());
    }
    out
}

/// The dependencies of every service; an error if they form a cycle.
pub fn dependencies(services: &[Service]) -> Result<Dependencies, ServiceError> {
    let names: BTreeSet<&str> = services.iter().map(|s| s.name.as_str()).collect();
    let mut deps: Dependencies = services
        .iter()
        .map(|s| (s.name.clone(), BTreeSet::new()))
        .collect();
    for service in services {
        for dep in direct(service) {
            if dep != service.name && names.contains(dep.as_str()) {
                deps.entry(service.name.clone()).or_default().insert(dep);
            }
        }
        for later in split_list(service.label(labels::BEFORE)) {
            if later != service.name && names.contains(later.as_str()) {
                deps.entry(later).or_default().insert(service.name.clone());
            }
        }
    }
    if let Some(cycle) = find_cycle(&deps) {
        return Err(ServiceError::Cycle(cycle));
    }
    Ok(deps)
}

/// A cycle as the list of names from its first service back to it, if there is one.
fn find_cycle(deps: &Dependencies) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit(
        name: &str,
        deps: &Dependencies,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(name) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = path.iter().position(|p| p == name).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(name.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(name.to_string(), Mark::Visiting);
        path.push(name.to_string());
        for dep in deps.get(name).into_iter().flatten() {
            if let Some(cycle) = visit(dep, deps, marks, path) {
                return Some(cycle);
            }
        }
        path.pop();
        marks.insert(name.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for name in deps.keys() {
        if let Some(cycle) = visit(name, deps, &mut marks, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, labels: &[(&str, &str)]) -> Service {
        let mut s = Service {
            name: name.into(),
            image: "img".into(),
            ..Service::default()
        };
        s.labels.insert(labels::SCOPE.into(), "system".into());
        for (k, v) in labels {
            s.labels.insert((*k).into(), (*v).into());
        }
        s
    }

    #[test]
    fn labels_references_and_scope_make_edges() {
        let mut console = service("console", &[(labels::AFTER, "cloud-init, network ,ghost")]);
        console.volumes_from = vec!["all-volumes".into(), "container:extra:ro".into()];
        let mut user = service("app", &[]);
        user.labels.remove(labels::SCOPE);
        user.network_mode = "container:console".into();
        let services = vec![
            console,
            service("cloud-init-execute", &[]),
            service("network", &[(labels::BEFORE, "cloud-init-execute")]),
            service("all-volumes", &[]),
            service("extra", &[]),
            service("docker", &[(labels::AFTER, "console")]),
            user,
        ];
        let deps = dependencies(&services).unwrap();
        let of = |n: &str| deps[n].iter().cloned().collect::<Vec<_>>();
        assert_eq!(
            of("console"),
            ["all-volumes", "cloud-init-execute", "extra", "network"]
        );
        assert_eq!(of("cloud-init-execute"), ["network"]);
        assert_eq!(of("app"), ["console", "docker"]);
        assert!(of("network").is_empty());
    }

    #[test]
    fn a_cycle_is_an_error_naming_it() {
        let services = vec![
            service("a", &[(labels::AFTER, "b")]),
            service("b", &[(labels::AFTER, "c")]),
            service("c", &[(labels::AFTER, "a")]),
            service("d", &[(labels::AFTER, "a")]),
        ];
        let err = dependencies(&services).unwrap_err();
        assert_eq!(
            err.to_string(),
            "rancher.services: dependency cycle a -> b -> c -> a"
        );
    }

    #[test]
    fn self_references_do_not_count() {
        let services = vec![service("a", &[(labels::AFTER, "a"), (labels::BEFORE, "a")])];
        assert!(dependencies(&services).unwrap()["a"].is_empty());
    }
}
