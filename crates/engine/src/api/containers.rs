//! Container endpoints: create, start, stop, kill, restart, remove, wait, rename.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bollard_stubs::models::{ContainerCreateBody, ContainerCreateResponse};
use serde_json::json;

use crate::containers::record::Status;
use crate::containers::{create, lifecycle};
use crate::engine::{Engine, Lifecycle};
use crate::error::{ApiError, ApiResult};
use crate::query::Query;

/// `POST /containers/create`.
pub async fn create(
    State(engine): State<Arc<Engine>>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let query = Query::parse(raw.as_deref());
    let body: ContainerCreateBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid container config: {e}")))?;
    let name = query.get("name").map(str::to_owned);
    let engine2 = engine.clone();
    let container =
        tokio::task::spawn_blocking(move || create::create(&engine2, name.as_deref(), &body))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??;
    let response = ContainerCreateResponse {
        id: container.id.clone(),
        warnings: Vec::new(),
    };
    Ok((StatusCode::CREATED, Json(response)).into_response())
}

/// 204 for a change, 304 when the container already was in the asked state.
fn status_of(change: lifecycle::Change) -> StatusCode {
    match change {
        lifecycle::Change::Done => StatusCode::NO_CONTENT,
        lifecycle::Change::Already => StatusCode::NOT_MODIFIED,
    }
}

/// Seconds to wait before SIGKILL: `t`, or `timeout` as newer clients name it.
fn stop_timeout(query: &Query) -> ApiResult<Option<i64>> {
    Ok(query.int("t")?.or(query.int("timeout")?))
}

/// `POST /containers/{id}/start`.
pub async fn start(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let container = engine.find(&id)?;
    lifecycle::start(&engine, &container).await.map(status_of)
}

/// `POST /containers/{id}/stop?t=&signal=`.
pub async fn stop(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let query = Query::parse(raw.as_deref());
    let container = engine.find(&id)?;
    lifecycle::stop(
        &engine,
        &container,
        stop_timeout(&query)?,
        query.get("signal"),
    )
    .await
    .map(status_of)
}

/// `POST /containers/{id}/restart?t=`.
pub async fn restart(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let query = Query::parse(raw.as_deref());
    let container = engine.find(&id)?;
    lifecycle::restart(&engine, &container, stop_timeout(&query)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/kill?signal=`.
pub async fn kill(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let query = Query::parse(raw.as_deref());
    let container = engine.find(&id)?;
    let signal = lifecycle::parse_signal(
        query
            .get("signal")
            .filter(|s| !s.is_empty())
            .unwrap_or("SIGKILL"),
    )?;
    lifecycle::kill(&engine, &container, signal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /containers/{id}?force=&v=`.
pub async fn remove(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let query = Query::parse(raw.as_deref());
    let container = engine.find(&id)?;
    lifecycle::remove(&engine, &container, query.flag("force", false)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/rename?name=`.
pub async fn rename(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let query = Query::parse(raw.as_deref());
    let container = engine.find(&id)?;
    let name = query.get("name").unwrap_or_default();
    let name = name.strip_prefix('/').unwrap_or(name);
    if !crate::ids::valid_name(name) {
        return Err(ApiError::bad_request(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    if let Some(owner) = engine.name_owner(name) {
        if owner == container.id {
            return Err(ApiError::conflict(
                "Renaming a container with the same name as its current name",
            ));
        }
        return Err(ApiError::conflict(format!(
            "Conflict. The container name \"/{name}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name."
        )));
    }
    container.update(|r| r.name = name.to_owned());
    engine.persist(&container)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/wait?condition=not-running|next-exit|removed`.
///
/// The status line goes out at once (the CLI waits before it starts the container); the body
/// follows when the condition is met.
pub async fn wait(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let query = Query::parse(raw.as_deref());
    let condition = query.get("condition").unwrap_or("not-running").to_owned();
    if !matches!(
        condition.as_str(),
        "" | "not-running" | "next-exit" | "removed"
    ) {
        return Err(ApiError::bad_request(format!(
            "invalid condition: {condition:?}"
        )));
    }
    let container = engine.find(&id)?;
    let mut rx = container.lifecycle.subscribe();
    let start: Lifecycle = *rx.borrow();
    let status = container.snapshot().state.status;
    let body = async_stream_once(async move {
        let done = rx
            .wait_for(|l| match condition.as_str() {
                "next-exit" => l.exits > start.exits || l.removed,
                "removed" => l.removed,
                _ => {
                    !l.running && (status != Status::Running || l.exits > start.exits) || l.removed
                }
            })
            .await
            .map(|l| *l)
            .unwrap_or(Lifecycle {
                removed: true,
                ..start
            });
        let mut out = serde_json::to_vec(&json!({ "StatusCode": done.exit_code, "Error": null }))
            .unwrap_or_default();
        out.push(b'\n');
        Bytes::from(out)
    });
    Ok((StatusCode::OK, [("Content-Type", "application/json")], body).into_response())
}

/// A body that sends one chunk when `future` resolves.
fn async_stream_once(future: impl std::future::Future<Output = Bytes> + Send + 'static) -> Body {
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(future.await) });
    Body::from_stream(stream)
}
