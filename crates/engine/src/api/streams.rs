//! `logs` and `attach`: container output as a (multiplexed) stream, attach through a hijacked
//! connection (`101 Upgrade: tcp`) or, for old clients, a plain streamed body.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::containers::logs::{self, LogOptions};
use crate::containers::record::Status;
use crate::engine::Engine;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;

const MULTIPLEXED: &str = "application/vnd.docker.multiplexed-stream";
const RAW: &str = "application/vnd.docker.raw-stream";

fn body_of(mut rx: mpsc::Receiver<Bytes>) -> Body {
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|o| o.map(Ok::<_, std::io::Error>))
    });
    Body::from_stream(stream)
}

/// `GET /containers/{id}/logs`.
pub async fn logs(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let query = Query::parse(raw.as_deref());
    let container = engine.find(&id)?;
    let tty = container.snapshot().config.tty.unwrap_or(false);
    let options = LogOptions {
        stdout: query.flag("stdout", false)?,
        stderr: query.flag("stderr", false)?,
        follow: query.flag("follow", false)?,
        timestamps: query.flag("timestamps", false)?,
        tail: match query.get("tail") {
            None | Some("" | "all") => None,
            Some(n) => Some(
                n.parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid tail: {n:?}")))?,
            ),
        },
        since: parse_time(&query, "since")?,
        until: parse_time(&query, "until")?,
        from_offset: None,
        multiplexed: !tty,
    };
    if !options.stdout && !options.stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let rx = logs::stream(&container, engine.log_path(&container.id), options);
    let content_type = if tty { RAW } else { MULTIPLEXED };
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        body_of(rx),
    )
        .into_response())
}

fn parse_time(query: &Query, key: &str) -> ApiResult<Option<f64>> {
    match query.get(key) {
        None | Some("" | "0") => Ok(None),
        Some(text) => crate::time::parse_instant(text)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("invalid {key}: {text:?}"))),
    }
}

/// `POST /containers/{id}/attach?stream=&stdout=&stderr=&logs=`.
pub async fn attach(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    mut request: Request,
) -> ApiResult<Response> {
    let query = Query::parse(raw.as_deref());
    let container = engine.find(&id)?;
    let record = container.snapshot();
    if matches!(
        record.state.status,
        Status::Exited | Status::Dead | Status::Removing
    ) && !query.flag("logs", false)?
    {
        return Err(ApiError::conflict(
            "You cannot attach to a stopped container, start it first",
        ));
    }
    let tty = record.config.tty.unwrap_or(false);
    let log = engine.log_path(&record.id);
    let offset = std::fs::metadata(&log).map_or(0, |m| m.len());
    let options = LogOptions {
        stdout: query.flag("stdout", false)?,
        stderr: query.flag("stderr", false)?,
        follow: query.flag("stream", false)?,
        from_offset: (!query.flag("logs", false)?).then_some(offset),
        multiplexed: !tty,
        ..LogOptions::default()
    };
    let rx = logs::stream(&container, log, options);
    let content_type = if tty { RAW } else { MULTIPLEXED };
    let upgrade = request.headers().get(header::UPGRADE).cloned();
    if upgrade.is_none() {
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, content_type)],
            body_of(rx),
        )
            .into_response());
    }
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut io = TokioIo::new(upgraded);
        let mut rx = rx;
        while let Some(chunk) = rx.recv().await {
            if io.write_all(&chunk).await.is_err() {
                return;
            }
            drop(io.flush().await);
        }
        drop(io.shutdown().await);
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(
        header::UPGRADE,
        upgrade.unwrap_or(HeaderValue::from_static("tcp")),
    );
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}
