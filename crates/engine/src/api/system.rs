//! `_ping`, `version`, `info`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use bollard_stubs::models::{SystemInfo, SystemVersion, SystemVersionPlatform};

use crate::containers::record::Status;
use crate::engine::Engine;

/// Newest API version served.
pub const API_VERSION: &str = "1.47";
/// Oldest API version served (Debian's 20.10 client speaks 1.41).
pub const MIN_API_VERSION: &str = "1.24";

fn headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("API-Version", HeaderValue::from_static(API_VERSION));
    headers.insert("OSType", HeaderValue::from_static("linux"));
    headers.insert("Docker-Experimental", HeaderValue::from_static("false"));
    headers.insert(
        "Cache-Control",
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    headers
}

/// `GET|HEAD /_ping`.
pub async fn ping() -> Response {
    (headers(), "OK").into_response()
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// `GET /version`.
pub async fn version() -> Response {
    let version = SystemVersion {
        platform: Some(SystemVersionPlatform {
            name: "RancherOS System Docker".into(),
        }),
        version: Some(env!("CARGO_PKG_VERSION").into()),
        api_version: Some(API_VERSION.into()),
        min_api_version: Some(MIN_API_VERSION.into()),
        os: Some("linux".into()),
        arch: Some("amd64".into()),
        kernel_version: Some(kernel_version()),
        go_version: Some("none (Rust)".into()),
        git_commit: Some("ros".into()),
        ..Default::default()
    };
    (headers(), Json(version)).into_response()
}

/// `GET /info`.
pub async fn info(State(engine): State<Arc<Engine>>) -> Response {
    let containers = engine.all();
    let count = |status: Status| {
        containers
            .iter()
            .filter(|c| c.snapshot().state.status == status)
            .count() as i64
    };
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let cgroup_v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let info = SystemInfo {
        id: Some("ros-system-docker".into()),
        containers: Some(containers.len() as i64),
        containers_running: Some(count(Status::Running)),
        containers_paused: Some(0),
        containers_stopped: Some(count(Status::Exited) + count(Status::Created)),
        images: Some(engine.images().list().len() as i64),
        driver: Some("overlay2".into()),
        docker_root_dir: Some(engine.config.data_root.display().to_string()),
        logging_driver: Some("json-file".into()),
        cgroup_driver: Some(bollard_stubs::models::SystemInfoCgroupDriverEnum::CGROUPFS),
        cgroup_version: Some(if cgroup_v2 {
            bollard_stubs::models::SystemInfoCgroupVersionEnum::_2
        } else {
            bollard_stubs::models::SystemInfoCgroupVersionEnum::_1
        }),
        kernel_version: Some(kernel_version()),
        operating_system: Some("RancherOS".into()),
        os_type: Some("linux".into()),
        architecture: Some("x86_64".into()),
        name: Some(hostname.trim().to_owned()),
        server_version: Some(env!("CARGO_PKG_VERSION").into()),
        default_runtime: Some("ros-shim".into()),
        ncpu: Some(std::thread::available_parallelism().map_or(1, |n| n.get() as i64)),
        security_options: Some(Vec::new()),
        ..Default::default()
    };
    (headers(), Json(info)).into_response()
}
