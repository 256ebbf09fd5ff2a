//! The System engine driven by bollard, a Docker SDK nobody here wrote. Privileged: root.

mod common;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, LogsOptions, RemoveContainerOptions,
    WaitContainerOptions,
};
use common::TestEngine;
use futures_util::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bollard_creates_runs_and_removes() {
    let engine = TestEngine::start();
    engine.load_busybox("busybox:latest");
    let docker =
        Docker::connect_with_unix(&engine.host(), 30, bollard::API_DEFAULT_VERSION).unwrap();
    let version = docker.version().await.unwrap();
    assert_eq!(version.os.as_deref(), Some("linux"));

    let body = ContainerCreateBody {
        image: Some("busybox".into()),
        cmd: Some(vec![
            "sh".into(),
            "-c".into(),
            "echo sdk; echo oops >&2; exit 4".into(),
        ]),
        labels: Some([("via".to_owned(), "bollard".to_owned())].into()),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = CreateContainerOptions {
        name: Some("sdk".into()),
        ..Default::default()
    };
    let created = docker.create_container(Some(options), body).await.unwrap();
    let mut wait = docker.wait_container(
        &created.id,
        Some(WaitContainerOptions {
            condition: "next-exit".into(),
        }),
    );
    docker.start_container(&created.id, None).await.unwrap();
    // A non-zero exit arrives as an error carrying the code.
    match wait.next().await.unwrap() {
        Err(bollard::errors::Error::DockerContainerWaitError { code, .. }) => assert_eq!(code, 4),
        other => panic!("unexpected wait result {other:?}"),
    }
    let logs: Vec<String> = docker
        .logs(
            "sdk",
            Some(LogsOptions {
                stdout: true,
                stderr: true,
                tail: "all".into(),
                ..Default::default()
            }),
        )
        .map(|l| l.unwrap().to_string())
        .collect()
        .await;
    assert_eq!(logs, ["sdk\n", "oops\n"]);
    let listed = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some([("label".to_owned(), vec!["via=bollard".to_owned()])].into()),
            ..Default::default()
        }))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].names.as_deref(), Some(&["/sdk".to_owned()][..]));
    docker
        .remove_container(
            "sdk",
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    let missing = docker.inspect_container("sdk", None).await.unwrap_err();
    assert!(
        matches!(
            missing,
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                ..
            }
        ),
        "{missing:?}"
    );
}
