//! A set of services and bringing it up. Each service's Up waits for its dependencies' Up to
//! *return* — creation for create-only services, the container's exit for `detach: "false"`,
//! the start otherwise — and services without pending dependencies go in parallel. One
//! failing service is reported and the rest go on: a dependant still starts, as RancherOS's
//! did.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::future::join_all;
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::ServiceError;
use crate::convert::{config_hash, create_body};
use crate::engines::Engines;
use crate::graph::{Dependencies, dependencies};
use crate::interpolate::interpolate;
use crate::model::{Service, labels};

/// What Up did to one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Created, not started (`createonly`).
    Created,
    /// Started (created or recreated first when needed).
    Started,
    /// Was running with the same definition.
    AlreadyRunning,
    /// Ran to completion (`detach: "false"`) with exit code 0.
    Completed,
}

/// Services ready to come up.
#[derive(Debug, Default)]
pub struct Project {
    /// Valid services, in name order.
    pub services: Vec<Service>,
    /// Each service's definition hash.
    pub hashes: BTreeMap<String, String>,
    /// Dependencies among `services`.
    pub deps: Dependencies,
    /// `rancher.environment`, for environment lookups.
    pub env: BTreeMap<String, String>,
    /// Definitions left out, and why: invalid ones and members of cycles.
    pub errors: Vec<ServiceError>,
}

impl Project {
    /// Types `definitions` (`rancher.services`) after interpolating `${VAR}` from `env`.
    /// Invalid services and the members of dependency cycles are left out, with an error each.
    pub fn new(definitions: &Map<String, Value>, env: &BTreeMap<String, String>) -> Self {
        let mut project = Self {
            env: env.clone(),
            ..Self::default()
        };
        for (name, definition) in definitions {
            // `name: null` or `false` disables a default service.
            if definition.is_null() || definition == &Value::Bool(false) {
                continue;
            }
            let mut value = definition.clone();
            let missing = interpolate(&mut value, env);
            if !missing.is_empty() {
                tracing::warn!(service = %name, ?missing, "unset variables interpolated as empty");
            }
            match Service::parse(name, &value) {
                Ok(service) => {
                    project.hashes.insert(name.clone(), config_hash(&value));
                    project.services.push(service);
                }
                Err(e) => project.errors.push(e),
            }
        }
        loop {
            match dependencies(&project.services) {
                Ok(deps) => {
                    project.deps = deps;
                    break;
                }
                Err(ServiceError::Cycle(cycle)) => {
                    let members: BTreeSet<&String> = cycle.iter().collect();
                    project.services.retain(|s| !members.contains(&s.name));
                    project.errors.push(ServiceError::Cycle(cycle));
                }
                Err(other) => {
                    project.errors.push(other);
                    break;
                }
            }
        }
        project
    }

    /// Brings every service up (or only `only` and what they depend on), calling `done` as
    /// each returns. Returns each service's result.
    pub async fn up<E: Engines>(
        &self,
        engines: &E,
        only: Option<&[String]>,
        done: &(dyn Fn(&str, &Result<Outcome, String>) + Sync),
    ) -> BTreeMap<String, Result<Outcome, String>> {
        let wanted = self.closure(only);
        let channels: BTreeMap<&str, (watch::Sender<bool>, watch::Receiver<bool>)> = self
            .services
            .iter()
            .map(|s| (s.name.as_str(), watch::channel(false)))
            .collect();
        let runs = self
            .services
            .iter()
            .filter(|s| wanted.contains(s.name.as_str()))
            .map(|service| {
                let channels = &channels;
                async move {
                    for dep in self.deps.get(&service.name).into_iter().flatten() {
                        if let Some((_, rx)) = channels.get(dep.as_str()) {
                            let mut rx = rx.clone();
                            drop(rx.wait_for(|up| *up).await);
                        }
                    }
                    if self
                        .deps
                        .get(&service.name)
                        .is_some_and(|d| d.contains("network"))
                    {
                        engines.network_settled().await;
                    }
                    let result = self.up_one(engines, service).await;
                    done(&service.name, &result);
                    if let Some((tx, _)) = channels.get(service.name.as_str()) {
                        tx.send_replace(true);
                    }
                    (service.name.clone(), result)
                }
            });
        join_all(runs).await.into_iter().collect()
    }

    /// The services in `only` with everything they depend on; all services without `only`.
    fn closure(&self, only: Option<&[String]>) -> BTreeSet<&str> {
        let Some(only) = only else {
            return self.services.iter().map(|s| s.name.as_str()).collect();
        };
        let mut out = BTreeSet::new();
        let mut todo: Vec<&str> = only.iter().map(String::as_str).collect();
        while let Some(name) = todo.pop() {
            if let Some((key, _)) = self.deps.get_key_value(name)
                && out.insert(key.as_str())
            {
                todo.extend(self.deps[name].iter().map(String::as_str));
            }
        }
        out
    }

    async fn up_one<E: Engines>(&self, engines: &E, service: &Service) -> Result<Outcome, String> {
        let system = service.is_system();
        let name = service.name.as_str();
        let hash = self.hashes.get(name).cloned().unwrap_or_default();
        let mut existing = engines.inspect(system, name).await?;
        if let Some(found) = &existing
            && needs_recreate(service, found, &hash)
        {
            tracing::info!(service = name, "recreating");
            engines.remove(system, name).await?;
            existing = None;
        }
        let running = match existing {
            Some(found) => found.running,
            None => {
                let body = create_body(service, &self.env, &hash).map_err(|e| e.to_string())?;
                engines.create(system, name, body).await?;
                false
            }
        };
        if service.create_only() {
            return Ok(Outcome::Created);
        }
        if running && !service.waits_for_exit() {
            return Ok(Outcome::AlreadyRunning);
        }
        if !running {
            engines.start(system, name).await?;
        }
        if !service.waits_for_exit() {
            return Ok(Outcome::Started);
        }
        match engines.wait(system, name).await? {
            0 => Ok(Outcome::Completed),
            code => Err(format!("exited with code {code}")),
        }
    }
}

/// `io.docker.compose.rebuild`: `always` recreates every time, `"false"` never, otherwise a
/// changed definition does.
fn needs_recreate(service: &Service, existing: &crate::Existing, hash: &str) -> bool {
    match service.label(labels::REBUILD) {
        Some("always") => true,
        Some("false") => false,
        _ => existing.hash.as_deref() != Some(hash),
    }
}

#[cfg(test)]
#[path = "project_tests.rs"]
mod tests;
