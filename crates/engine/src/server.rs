//! The unix-socket listener: strips the `/v1.NN` prefix, checks the version, serves the
//! router until SIGTERM or SIGINT.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use axum::ServiceExt;
use axum::extract::Request;
use axum::response::IntoResponse;
use tokio::net::UnixListener;
use tower::Layer;

use crate::api::system::{API_VERSION, MIN_API_VERSION};
use crate::error::ApiError;

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Splits `/v1.45/containers/json` into the version and the rest.
pub fn strip_version(path: &str) -> (Option<&str>, &str) {
    if let Some(rest) = path.strip_prefix("/v")
        && let Some(slash) = rest.find('/')
        && parse_version(&rest[..slash]).is_some()
    {
        return (Some(&rest[..slash]), &rest[slash..]);
    }
    (None, path)
}

/// Binds `socket`, mode 0600 (0660 with `group`), replacing a stale socket file.
pub fn bind(socket: &Path, group: Option<u32>) -> std::io::Result<UnixListener> {
    if let Some(parent) = socket.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::remove_file(socket) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(socket)?;
    let mode = if group.is_some() { 0o660 } else { 0o600 };
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(mode))?;
    if let Some(gid) = group {
        std::os::unix::fs::chown(socket, Some(0), Some(gid))?;
    }
    Ok(listener)
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: UnixListener,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let too_old = parse_version(MIN_API_VERSION);
    let too_new = parse_version(API_VERSION);
    let rewrite = tower::util::MapRequestLayer::new(move |mut request: Request| {
        let path = request.uri().path().to_owned();
        let (version, rest) = strip_version(&path);
        if let Some(version) = version {
            let parsed = parse_version(version);
            if parsed < too_old || parsed > too_new {
                request
                    .extensions_mut()
                    .insert(BadVersion(version.to_owned()));
            }
            let mut parts = request.uri().clone().into_parts();
            let query = request
                .uri()
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            parts.path_and_query = format!("{rest}{query}").parse().ok();
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
        }
        request
    });
    let router = router.layer(axum::middleware::from_fn(check_version));
    let app = rewrite.layer(router);
    axum::serve(listener, app.into_make_service())
        .with_graceful_shutdown(shutdown)
        .await
}

#[derive(Debug, Clone)]
struct BadVersion(String);

async fn check_version(request: Request, next: axum::middleware::Next) -> axum::response::Response {
    if let Some(BadVersion(version)) = request.extensions().get::<BadVersion>() {
        return ApiError::bad_request(format!(
            "client version {version} is not supported: this engine serves API {MIN_API_VERSION} to {API_VERSION}"
        ))
        .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefixes_are_split_off() {
        assert_eq!(
            strip_version("/v1.47/containers/json"),
            (Some("1.47"), "/containers/json")
        );
        assert_eq!(strip_version("/_ping"), (None, "/_ping"));
        assert_eq!(strip_version("/volumes/x"), (None, "/volumes/x"));
        assert_eq!(strip_version("/vx.y/a"), (None, "/vx.y/a"));
    }
}
