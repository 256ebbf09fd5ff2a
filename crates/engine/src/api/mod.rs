//! The Docker Engine API routes.

mod containers;
mod images;
mod inspect;
mod streams;
pub mod system;

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post};

use crate::engine::Engine;

/// Every route, without the `/v1.NN` prefix (stripped before routing).
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/containers/create", post(containers::create))
        .route("/containers/json", get(inspect::list))
        .route("/containers/{id}/json", get(inspect::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/logs", get(streams::logs))
        .route("/containers/{id}/attach", post(streams::attach))
        .route("/containers/{id}", delete(containers::remove))
        .route("/images/json", get(images::list))
        .route("/images/load", post(images::load))
        .route("/images/get", get(images::save_many))
        // Image names contain slashes: one wildcard route per method, split by the suffix.
        .route(
            "/images/{*rest}",
            get(images::get_by_name)
                .post(images::post_by_name)
                .delete(images::remove),
        )
        .fallback(not_found)
        .with_state(engine)
}

async fn not_found(uri: axum::http::Uri) -> crate::error::ApiError {
    crate::error::ApiError::not_found(format!("page not found: {}", uri.path()))
}
