//! `ros-sysinit`: started by init just before it becomes the System engine. It waits for the
//! engine, loads the preloaded images once per OS version, then brings `rancher.services` up
//! and reports the boot's progress on the console.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bollard::Docker;
use bollard::query_parameters::ImportImageOptions;
use bytes::Bytes;
use futures_util::StreamExt;
use ros_config::{CloudConfig, ConfigPaths, Scope};
use tokio::io::AsyncReadExt;

use crate::engines::{ApiEngines, ENGINE_WAIT, connect};
use crate::project::{Outcome, Project};

/// Markers on the console, each followed by `uptime=<seconds>`.
pub const CONSOLE_READY: &str = "ros: console ready";
/// The user's Docker answers on its socket.
pub const DOCKER_READY: &str = "ros: docker ready";
/// Every service returned from Up.
pub const SERVICES_UP: &str = "ros: services up";

/// The images the OS ships, below the root.
pub const IMAGES_DIR: &str = "usr/share/ros/images";
/// Archives dropped here are loaded once into the System engine (`<file>.done` marks them).
pub const PRELOAD_SYSTEM: &str = "var/lib/rancher/preload/system-docker";

use ros_sys::uptime;

fn say(line: &str) {
    ros_sys::announce(Path::new("/"), &mut std::io::stdout().lock(), line);
}

/// The stamp that says this version's images are loaded.
pub fn images_stamp(root: &Path, version: &str) -> PathBuf {
    root.join(format!(
        "var/lib/rancher/.sysimages_{}_loaded.done",
        version.replace('.', "_")
    ))
}

/// Streams one archive into the engine (`docker load`).
pub async fn load_archive(docker: &Docker, path: &Path) -> Result<Vec<String>, String> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let chunks = futures_util::stream::unfold(file, |mut file| async move {
        let mut buf = vec![0u8; 1 << 20];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    let options = ImportImageOptions {
        quiet: true,
        ..Default::default()
    };
    let mut answers = docker.import_image_stream(options, chunks, None);
    let mut loaded = Vec::new();
    while let Some(answer) = answers.next().await {
        let info = answer.map_err(|e| format!("loading {}: {e}", path.display()))?;
        if let Some(error) = info.error_detail.and_then(|d| d.message) {
            return Err(format!("loading {}: {error}", path.display()));
        }
        if let Some(stream) = info.stream {
            loaded.push(stream.trim().to_string());
        }
    }
    Ok(loaded)
}

fn archives(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.file_name().unwrap_or_default().to_string_lossy();
                    !name.starts_with('.') && !name.ends_with(".done") && p.is_file()
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// Loads the OS images unless this version's stamp exists, then every undone archive of the
/// preload directory. Problems are returned, not fatal: services whose image is there still
/// come up.
pub async fn load_images(docker: &Docker, root: &Path, version: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let stamp = images_stamp(root, version);
    if !stamp.exists() {
        let mut ok = true;
        for archive in archives(&root.join(IMAGES_DIR)) {
            match load_archive(docker, &archive).await {
                Ok(lines) => tracing::info!(archive = %archive.display(), ?lines, "loaded"),
                Err(e) => {
                    ok = false;
                    problems.push(e);
                }
            }
        }
        if ok && let Err(e) = ros_sys::write_atomic(&stamp, b"", 0o644) {
            problems.push(format!("{}: {e}", stamp.display()));
        }
    }
    for archive in archives(&root.join(PRELOAD_SYSTEM)) {
        let mut done = archive.clone().into_os_string();
        done.push(".done");
        let done = PathBuf::from(done);
        if done.exists() {
            continue;
        }
        match load_archive(docker, &archive).await {
            Ok(_) => drop(ros_sys::write_atomic(&done, b"", 0o644)),
            Err(e) => problems.push(e),
        }
    }
    problems
}

fn load_config(root: &Path) -> (CloudConfig, Vec<String>) {
    let loaded = ros_config::load(&ConfigPaths::new(root), Scope::Full);
    let mut problems: Vec<String> = loaded.diagnostics.iter().map(ToString::to_string).collect();
    let config = loaded.typed().unwrap_or_else(|d| {
        problems.push(d.to_string());
        CloudConfig::default()
    });
    (config, problems)
}

fn socket_path(hosts: &[String], fallback: &str) -> String {
    hosts
        .iter()
        .find_map(|h| h.strip_prefix("unix://"))
        .unwrap_or(fallback)
        .to_string()
}

/// The whole of sysinit against `root`.
pub async fn run(root: &Path, version: &str) -> Result<(), String> {
    let (config, problems) = load_config(root);
    for p in &problems {
        say(&format!("ros: sysinit: config: {p}"));
    }
    let system_socket = socket_path(
        &config.rancher.system_docker.host,
        "/var/run/system-docker.sock",
    );
    let docker = connect(&system_socket, ENGINE_WAIT).await?;
    for p in load_images(&docker, root, version).await {
        say(&format!("ros: sysinit: {p}"));
    }
    let project = Project::new(&config.rancher.services, &config.rancher.environment);
    for e in &project.errors {
        say(&format!("ros: sysinit: {e}"));
    }
    let user_socket = socket_path(&config.rancher.docker.host, "/var/run/docker.sock");
    let engines = ApiEngines::new(docker, &user_socket);
    let report = |name: &str, result: &Result<Outcome, String>| match result {
        Ok(_) if name == "console" => say(&format!("{CONSOLE_READY} uptime={}", uptime())),
        Ok(outcome) => tracing::info!(service = name, ?outcome, "up"),
        Err(e) => say(&format!("ros: sysinit: service {name}: {e}")),
    };
    let results: BTreeMap<String, Result<Outcome, String>> =
        project.up(&engines, None, &report).await;
    let failed = results.values().filter(|r| r.is_err()).count();
    if project
        .services
        .iter()
        .any(|s| s.name == crate::graph::USER_DOCKER)
        && results
            .get(crate::graph::USER_DOCKER)
            .is_some_and(Result::is_ok)
    {
        match connect(&user_socket, ENGINE_WAIT).await {
            Ok(_) => say(&format!("{DOCKER_READY} uptime={}", uptime())),
            Err(e) => say(&format!("ros: sysinit: user docker: {e}")),
        }
    }
    rustix_sync();
    say(&format!(
        "{SERVICES_UP} ok={} failed={failed} uptime={}",
        results.len() - failed,
        uptime()
    ));
    Ok(())
}

fn rustix_sync() {
    use ros_sys::Kernel;
    ros_sys::LinuxKernel.sync();
}

/// Entry point of the `ros-sysinit` applet.
pub fn main(_args: Vec<OsString>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            say(&format!("ros: sysinit: starting the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let version = concat!("v", env!("CARGO_PKG_VERSION"));
    match runtime.block_on(run(Path::new("/"), version)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say(&format!("ros: sysinit: {e}"));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stamp_names_the_version_without_dots() {
        assert_eq!(
            images_stamp(Path::new("/"), "v1.5.8"),
            Path::new("/var/lib/rancher/.sysimages_v1_5_8_loaded.done")
        );
    }

    #[test]
    fn archives_skip_stamps_and_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.tar", "a.tar.gz", "a.tar.gz.done", ".partial", "c"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let names: Vec<String> = archives(dir.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.tar.gz", "b.tar", "c"]);
    }

    #[test]
    fn sockets_come_from_unix_hosts() {
        assert_eq!(
            socket_path(
                &["tcp://0.0.0.0:2376".into(), "unix:///x.sock".into()],
                "/d"
            ),
            "/x.sock"
        );
        assert_eq!(socket_path(&[], "/d"), "/d");
    }
}
