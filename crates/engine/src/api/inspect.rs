//! `GET /containers/json` and `GET /containers/{id}/json`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use bollard_stubs::models::{
    ContainerInspectResponse, ContainerState, ContainerStateStatusEnum, ContainerSummary,
    ContainerSummaryHostConfig, ContainerSummaryStateEnum, MountPoint,
};

use crate::containers::record::{ContainerRecord, Status};
use crate::engine::Engine;
use crate::error::ApiResult;
use crate::query::Query;

fn state_enum(status: Status) -> ContainerStateStatusEnum {
    match status {
        Status::Created => ContainerStateStatusEnum::CREATED,
        Status::Running => ContainerStateStatusEnum::RUNNING,
        Status::Restarting => ContainerStateStatusEnum::RESTARTING,
        Status::Exited => ContainerStateStatusEnum::EXITED,
        Status::Removing => ContainerStateStatusEnum::REMOVING,
        Status::Dead => ContainerStateStatusEnum::DEAD,
    }
}

fn summary_state(status: Status) -> ContainerSummaryStateEnum {
    match status {
        Status::Created => ContainerSummaryStateEnum::CREATED,
        Status::Running => ContainerSummaryStateEnum::RUNNING,
        Status::Restarting => ContainerSummaryStateEnum::RESTARTING,
        Status::Exited => ContainerSummaryStateEnum::EXITED,
        Status::Removing => ContainerSummaryStateEnum::REMOVING,
        Status::Dead => ContainerSummaryStateEnum::DEAD,
    }
}

/// Human status as `docker ps` shows it ("Up 3 seconds", "Exited (0) 2 minutes ago").
fn human_status(record: &ContainerRecord) -> String {
    let ago = |since: &str| {
        let seconds = chrono::Utc::now().timestamp() - crate::time::unix(since);
        match seconds {
            s if s < 1 => "Less than a second".to_owned(),
            s if s < 60 => format!("{s} seconds"),
            s if s < 3600 => format!("{} minutes", s / 60),
            s if s < 86400 => format!("{} hours", s / 3600),
            s => format!("{} days", s / 86400),
        }
    };
    match record.state.status {
        Status::Created => "Created".into(),
        Status::Running => format!("Up {}", ago(&record.state.started_at)),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            record.state.exit_code,
            ago(&record.state.finished_at)
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            record.state.exit_code,
            ago(&record.state.finished_at)
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    }
}

fn mounts(record: &ContainerRecord) -> Vec<MountPoint> {
    record
        .host_config
        .binds
        .iter()
        .flatten()
        .filter_map(|b| crate::containers::spec::parse_bind(b).ok())
        .map(|(source, destination, options)| MountPoint {
            typ: Some("bind".into()),
            source: Some(source),
            destination: Some(destination),
            rw: Some(!options.iter().any(|o| o == "ro")),
            propagation: options
                .iter()
                .find(|o| o.contains("shared") || o.contains("slave") || o.contains("private"))
                .cloned()
                .or(Some("rprivate".into())),
            mode: Some(options.join(",")),
            ..Default::default()
        })
        .collect()
}

fn command_line(record: &ContainerRecord) -> String {
    std::iter::once(record.path.as_str())
        .chain(record.args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `GET /containers/json?all=&filters=&limit=`.
pub async fn list(
    State(engine): State<Arc<Engine>>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Vec<ContainerSummary>>> {
    let query = Query::parse(raw.as_deref());
    let filters = query.filters()?;
    filters.only(&["id", "name", "label", "status", "ancestor", "exited"])?;
    let all = query.flag("all", false)? || !filters.values("status").is_empty();
    let mut records: Vec<ContainerRecord> = engine.all().iter().map(|c| c.snapshot()).collect();
    records.sort_by(|a, b| b.created.cmp(&a.created));
    let mut out = Vec::new();
    for record in records {
        let status = record.state.status;
        let labels = record.config.labels.clone().unwrap_or_default();
        let keep = (all || status == Status::Running)
            && filters
                .values("id")
                .iter()
                .all(|id| record.id.starts_with(id.as_str()))
            && filters
                .values("name")
                .iter()
                .all(|n| record.name.contains(n.trim_start_matches('/')))
            && filters
                .values("status")
                .iter()
                .all(|s| s == status.as_str())
            && filters
                .values("exited")
                .iter()
                .all(|e| status == Status::Exited && e.parse() == Ok(record.state.exit_code))
            && filters
                .values("ancestor")
                .iter()
                .all(|a| record.image_name == *a || record.image_id.contains(a.as_str()))
            && filters.labels_match(&labels);
        if !keep {
            continue;
        }
        out.push(ContainerSummary {
            id: Some(record.id.clone()),
            names: Some(vec![format!("/{}", record.name)]),
            image: Some(record.image_name.clone()),
            image_id: Some(record.image_id.clone()),
            command: Some(command_line(&record)),
            created: Some(crate::time::unix(&record.created)),
            state: Some(summary_state(status)),
            status: Some(human_status(&record)),
            labels: Some(labels),
            mounts: Some(mounts(&record)),
            host_config: Some(ContainerSummaryHostConfig {
                network_mode: record
                    .host_config
                    .network_mode
                    .clone()
                    .or(Some("host".into())),
                ..Default::default()
            }),
            ports: Some(Vec::new()),
            ..Default::default()
        });
    }
    if let Some(limit) = query.int("limit")?.filter(|l| *l > 0) {
        out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    Ok(Json(out))
}

/// `GET /containers/{id}/json`.
pub async fn inspect(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
) -> ApiResult<Json<ContainerInspectResponse>> {
    let container = engine.find(&id)?;
    let record = container.snapshot();
    let state = &record.state;
    let dir = engine.container_dir(&record.id);
    let zero = "0001-01-01T00:00:00Z".to_owned();
    Ok(Json(ContainerInspectResponse {
        id: Some(record.id.clone()),
        created: Some(record.created.clone()),
        path: Some(record.path.clone()),
        args: Some(record.args.clone()),
        state: Some(ContainerState {
            status: Some(state_enum(state.status)),
            running: Some(state.status == Status::Running),
            paused: Some(false),
            restarting: Some(state.status == Status::Restarting),
            oom_killed: Some(false),
            dead: Some(state.status == Status::Dead),
            pid: Some(state.pid),
            exit_code: Some(state.exit_code),
            error: Some(state.error.clone()),
            started_at: Some(if state.started_at.is_empty() {
                zero.clone()
            } else {
                state.started_at.clone()
            }),
            finished_at: Some(if state.finished_at.is_empty() {
                zero
            } else {
                state.finished_at.clone()
            }),
            ..Default::default()
        }),
        image: Some(record.image_id.clone()),
        name: Some(format!("/{}", record.name)),
        restart_count: Some(state.restart_count),
        driver: Some("overlay2".into()),
        platform: Some("linux".into()),
        log_path: Some(engine.log_path(&record.id).display().to_string()),
        resolv_conf_path: Some(dir.join("etc/resolv.conf").display().to_string()),
        hostname_path: Some(dir.join("etc/hostname").display().to_string()),
        hosts_path: Some(dir.join("etc/hosts").display().to_string()),
        mounts: Some(mounts(&record)),
        config: Some(record.config.clone()),
        host_config: Some(record.host_config.clone()),
        ..Default::default()
    }))
}
