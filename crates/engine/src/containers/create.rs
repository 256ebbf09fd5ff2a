//! `POST /containers/create`: a record from the client's config and the image's defaults.

use std::sync::Arc;

use bollard_stubs::models::{ContainerConfig, ContainerCreateBody, HostConfig};

use super::policy;
use super::record::{ContainerRecord, State};
use crate::engine::{Container, Engine};
use crate::error::ApiError;
use crate::ids::{name_for, random_id, valid_name};

fn config_from(body: &ContainerCreateBody) -> ContainerConfig {
    // The create body is a container config plus host and networking configs; carry the
    // shared fields across through JSON so none is forgotten.
    let mut value = serde_json::to_value(body).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.remove("HostConfig");
        map.remove("NetworkingConfig");
    }
    serde_json::from_value(value).unwrap_or_default()
}

/// Creates a container; returns its id.
pub fn create(
    engine: &Engine,
    name: Option<&str>,
    body: &ContainerCreateBody,
) -> Result<Arc<Container>, ApiError> {
    let image_name = body
        .image
        .clone()
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ApiError::bad_request("config error: no image specified"))?;
    let (image_id, image_config) = {
        let images = engine.images();
        let image = images.resolve(&image_name)?;
        (
            image.id.clone(),
            images.config(image)?.config.unwrap_or_default(),
        )
    };
    let host: HostConfig = body.host_config.clone().unwrap_or_default();
    policy::validate(
        host.restart_policy.as_ref(),
        host.auto_remove.unwrap_or(false),
    )
    .map_err(ApiError::bad_request)?;
    if let Some(mode) = host.network_mode.as_deref()
        && !matches!(mode, "" | "default" | "host" | "bridge" | "none")
        && !mode.starts_with("container:")
    {
        return Err(ApiError::bad_request(format!(
            "network mode {mode:?} is not supported: use host, none or container:<name>"
        )));
    }
    let mut config = config_from(body);
    // Image defaults for what the client left out.
    let mut env = image_config.env.clone().unwrap_or_default();
    for var in config.env.iter().flatten() {
        let key = var.split('=').next().unwrap_or(var);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(var.clone());
    }
    config.env = Some(env);
    let entrypoint_given = config.entrypoint.is_some();
    let entrypoint = config
        .entrypoint
        .clone()
        .or_else(|| image_config.entrypoint.clone())
        .unwrap_or_default()
        .into_iter()
        .collect::<Vec<_>>();
    // A new entrypoint drops the image's command, as in Docker.
    let cmd = config
        .cmd
        .clone()
        .or_else(|| {
            if entrypoint_given {
                None
            } else {
                image_config.cmd.clone()
            }
        })
        .unwrap_or_default();
    let mut argv: Vec<String> = entrypoint.iter().chain(cmd.iter()).cloned().collect();
    if argv.is_empty() {
        return Err(ApiError::bad_request(
            "no command specified: the image has none and the request gave none",
        ));
    }
    let path = argv.remove(0);
    if config.working_dir.as_deref().is_none_or(str::is_empty) {
        config.working_dir = image_config.working_dir.clone();
    }
    if config.user.as_deref().is_none_or(str::is_empty) {
        config.user = image_config.user.clone();
    }
    if config.stop_signal.is_none() {
        config.stop_signal = image_config.stop_signal.clone();
    }
    let mut labels = image_config.labels.clone().unwrap_or_default();
    labels.extend(config.labels.take().unwrap_or_default());
    config.labels = Some(labels);
    config.image = Some(image_name.clone());
    config.entrypoint = (!entrypoint.is_empty()).then_some(entrypoint);
    config.cmd = Some(cmd);

    let id = random_id();
    let name = match name.filter(|n| !n.is_empty()) {
        Some(requested) => {
            let bare = requested.strip_prefix('/').unwrap_or(requested);
            if !valid_name(bare) {
                return Err(ApiError::bad_request(format!(
                    "Invalid container name ({bare}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
            if let Some(owner) = engine.name_owner(bare) {
                return Err(ApiError::conflict(format!(
                    "Conflict. The container name \"/{bare}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
            bare.to_owned()
        }
        None => (0..)
            .map(|attempt| name_for(&id, attempt))
            .find(|n| engine.name_owner(n).is_none())
            .unwrap_or_else(|| id.clone()),
    };
    let record = ContainerRecord {
        id: id.clone(),
        name,
        created: crate::time::now(),
        image_id,
        image_name,
        path,
        args: argv,
        config,
        host_config: host,
        state: State::default(),
    };
    std::fs::create_dir_all(engine.container_dir(&id))?;
    let container = Arc::new(Container::new(record));
    engine.persist(&container)?;
    engine.add(container.clone());
    tracing::debug!(id = %id, "created");
    Ok(container)
}
