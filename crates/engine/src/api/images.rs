//! Image endpoints: list, inspect, tag, remove, load, save.

use std::io::{self, Read, Write};
use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bollard_stubs::models::{
    ImageDeleteResponseItem, ImageInspect, ImageInspectRootFs, ImageSummary,
};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::engine::Engine;
use crate::error::{ApiError, ApiResult};
use crate::images::{self, ImageRecord, Reference};
use crate::query::Query;

fn summary(image: &ImageRecord, config: &images::ImageConfigFile, containers: i64) -> ImageSummary {
    let size = i64::try_from(image.size()).unwrap_or(i64::MAX);
    ImageSummary {
        id: image.id.clone(),
        parent_id: String::new(),
        repo_tags: image.repo_tags.clone(),
        repo_digests: Vec::new(),
        created: config
            .created
            .as_deref()
            .map_or(image.loaded, crate::time::unix),
        size,
        shared_size: -1,
        labels: config
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default(),
        containers,
        ..Default::default()
    }
}

/// `GET /images/json?all=&filters=`.
pub async fn list(
    State(engine): State<Arc<Engine>>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Vec<ImageSummary>>> {
    let query = Query::parse(raw.as_deref());
    let filters = query.filters()?;
    filters.only(&["reference", "label", "dangling"])?;
    let in_use: Vec<String> = engine.all().iter().map(|c| c.snapshot().image_id).collect();
    let images = engine.images();
    let mut out = Vec::new();
    for image in images.list() {
        let config = images.config(image).unwrap_or_default();
        let labels = config
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        let dangling = image.repo_tags.is_empty();
        let keep = filters.labels_match(&labels)
            && filters
                .values("dangling")
                .iter()
                .all(|d| (d == "true" || d == "1") == dangling)
            && filters.values("reference").iter().all(|pattern| {
                image
                    .repo_tags
                    .iter()
                    .any(|tag| reference_matches(pattern, tag))
            });
        if keep {
            let users = in_use.iter().filter(|id| **id == image.id).count() as i64;
            let mut item = summary(image, &config, users);
            let patterns = filters.values("reference");
            if !patterns.is_empty() {
                // As Docker: only the names that matched are listed.
                item.repo_tags
                    .retain(|tag| patterns.iter().any(|p| reference_matches(p, tag)));
            }
            out.push(item);
        }
    }
    out.sort_by_key(|i| std::cmp::Reverse(i.created));
    Ok(Json(out))
}

/// `reference` filter: `name` or `name:tag`, `*` matching within a path segment.
fn reference_matches(pattern: &str, tag: &str) -> bool {
    let (repo, _) = tag.rsplit_once(':').unwrap_or((tag, ""));
    glob(pattern, tag) || glob(pattern, repo)
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len()).any(|i| {
                tail.is_char_boundary(i) && !tail[..i].contains('/') && glob(rest, &tail[i..])
            })
        }
    }
}

/// `GET /images/{name}/json` and `GET /images/{name}/get`, `name` possibly with slashes.
pub async fn get_by_name(
    state: State<Arc<Engine>>,
    Path(rest): Path<String>,
) -> ApiResult<Response> {
    if let Some(name) = rest.strip_suffix("/json") {
        return inspect(state, name).await.map(IntoResponse::into_response);
    }
    if let Some(name) = rest.strip_suffix("/get") {
        return save_names(state.0, &[name.to_owned()]);
    }
    Err(ApiError::not_found(format!(
        "page not found: /images/{rest}"
    )))
}

/// `POST /images/{name}/tag`.
pub async fn post_by_name(
    state: State<Arc<Engine>>,
    Path(rest): Path<String>,
    query: RawQuery,
) -> ApiResult<StatusCode> {
    match rest.strip_suffix("/tag") {
        Some(name) => tag(state, name, query).await,
        None => Err(ApiError::not_found(format!(
            "page not found: /images/{rest}"
        ))),
    }
}

async fn inspect(State(engine): State<Arc<Engine>>, name: &str) -> ApiResult<Json<ImageInspect>> {
    let images = engine.images();
    let image = images.resolve(name)?;
    let config = images.config(image)?;
    Ok(Json(ImageInspect {
        id: Some(image.id.clone()),
        repo_tags: Some(image.repo_tags.clone()),
        repo_digests: Some(Vec::new()),
        created: config.created.clone(),
        architecture: config.architecture.clone(),
        os: config.os.clone(),
        size: Some(i64::try_from(image.size()).unwrap_or(i64::MAX)),
        config: config.config.clone(),
        root_fs: Some(ImageInspectRootFs {
            typ: "layers".into(),
            layers: Some(image.layers.iter().map(|l| l.diff_id.clone()).collect()),
        }),
        ..Default::default()
    }))
}

/// `?repo=&tag=`.
async fn tag(
    State(engine): State<Arc<Engine>>,
    name: &str,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let query = Query::parse(raw.as_deref());
    let repo = query.get("repo").unwrap_or_default();
    let reference = match query.get("tag").filter(|t| !t.is_empty()) {
        Some(tag) => Reference::parse(&format!("{repo}:{tag}"))?,
        None => Reference::parse(repo)?,
    };
    let mut images = engine.images();
    let id = images.resolve(name)?.id.clone();
    images.tag(&id, &reference)?;
    Ok(StatusCode::CREATED)
}

/// `DELETE /images/{name}?force=`.
pub async fn remove(
    State(engine): State<Arc<Engine>>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Vec<ImageDeleteResponseItem>>> {
    let query = Query::parse(raw.as_deref());
    let in_use = engine.images_in_use();
    let report = engine
        .images()
        .remove(&name, query.flag("force", false)?, &in_use)?;
    Ok(Json(
        report
            .into_iter()
            .map(|(what, value)| match what.as_str() {
                "Untagged" => ImageDeleteResponseItem {
                    untagged: Some(value),
                    deleted: None,
                },
                _ => ImageDeleteResponseItem {
                    untagged: None,
                    deleted: Some(value),
                },
            })
            .collect(),
    ))
}

/// Adapts a channel of body chunks into a blocking reader.
struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes, io::Error>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// `POST /images/load?quiet=`: the body is the archive, streamed into the store.
pub async fn load(State(engine): State<Arc<Engine>>, request: Request) -> ApiResult<Response> {
    let (tx, rx) = mpsc::channel(16);
    let mut body = request.into_body().into_data_stream();
    let feeder = tokio::spawn(async move {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| io::Error::other(e.to_string()));
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
    });
    let engine2 = engine.clone();
    let result = tokio::task::spawn_blocking(move || {
        let scratch = engine2.scratch()?;
        let reader = ChannelReader {
            rx,
            current: Bytes::new(),
        };
        let mut images = engine2.images();
        let lines = images::load(&mut images, reader, scratch.path());
        // The archive may end before the body does: drain so the client sees the answer.
        lines
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    feeder.abort();
    let lines = result?;
    let mut out = Vec::new();
    for line in lines {
        let message = serde_json::json!({ "stream": format!("{line}\n") });
        out.extend(serde_json::to_vec(&message).unwrap_or_default());
        out.push(b'\n');
    }
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        out,
    )
        .into_response())
}

/// A writer that sends what it gets through a channel, for streaming a body from a
/// blocking task.
struct ChannelWriter(mpsc::Sender<Result<Bytes, io::Error>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `GET /images/get?names=a&names=b`.
pub async fn save_many(
    State(engine): State<Arc<Engine>>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let query = Query::parse(raw.as_deref());
    let names: Vec<String> = query.all("names").into_iter().map(str::to_owned).collect();
    if names.is_empty() {
        return Err(ApiError::bad_request("no image names given"));
    }
    save_names(engine, &names)
}

fn save_names(engine: Arc<Engine>, names: &[String]) -> ApiResult<Response> {
    let mut selected: Vec<(ImageRecord, Vec<String>)> = Vec::new();
    {
        let images = engine.images();
        for name in names {
            let image = images.resolve(name)?.clone();
            let tag = Reference::parse(name)
                .ok()
                .map(|r| r.to_string())
                .filter(|t| image.repo_tags.contains(t));
            // A name saves that name; an id saves every name of the image.
            let tags = tag.map_or_else(|| image.repo_tags.clone(), |t| vec![t]);
            match selected.iter_mut().find(|(i, _)| i.id == image.id) {
                Some((_, existing)) => existing.extend(tags),
                None => selected.push((image, tags)),
            }
        }
    }
    let (tx, mut rx) = mpsc::channel(8);
    tokio::task::spawn_blocking(move || {
        let images = engine.images();
        let mut writer = ChannelWriter(tx.clone());
        if let Err(e) = images::save(&images, &selected, &mut writer) {
            drop(tx.blocking_send(Err(io::Error::other(e.message))));
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-tar")],
        Body::from_stream(stream),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filters_match_names_tags_and_globs() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busybox:latest", "busybox:latest"));
        assert!(reference_matches("busy*", "busybox:1"));
        assert!(reference_matches("rancher/*", "rancher/os-base:v1"));
        assert!(!reference_matches("rancher*", "rancher/os-base:v1"));
        assert!(!reference_matches("alpine", "busybox:latest"));
    }
}
