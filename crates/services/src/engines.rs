//! The engines services run in, behind a trait so the runner is tested without one: the
//! System engine for `scope: system` services, the user's Docker for the rest.

use std::future::Future;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;
use tokio::sync::OnceCell;

use crate::model::labels;

/// An existing container of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    /// Whether it runs.
    pub running: bool,
    /// The definition hash it was created from.
    pub hash: Option<String>,
}

/// The calls the runner makes; `system` picks the engine. Errors are the engine's messages.
pub trait Engines: Sync {
    /// The container called `name`, if any.
    fn inspect(
        &self,
        system: bool,
        name: &str,
    ) -> impl Future<Output = Result<Option<Existing>, String>> + Send;
    /// Creates container `name`.
    fn create(
        &self,
        system: bool,
        name: &str,
        body: ContainerCreateBody,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// Starts it.
    fn start(&self, system: bool, name: &str) -> impl Future<Output = Result<(), String>> + Send;
    /// Removes it, stopping it first.
    fn remove(&self, system: bool, name: &str) -> impl Future<Output = Result<(), String>> + Send;
    /// Waits until it is not running; its exit code.
    fn wait(&self, system: bool, name: &str) -> impl Future<Output = Result<i64, String>> + Send;
    /// Returns once the `network` service has applied the configuration
    /// ([`ros_config::NETWORK_READY_FILE`]), or after [`NETWORK_WAIT`]: `after: network`
    /// means after the network is configured, not only started. (libcompose waited for a
    /// default route instead, which a network without a gateway never gets.)
    fn network_settled(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// The longest a service ordered after `network` waits for it to be configured.
pub const NETWORK_WAIT: Duration = Duration::from_secs(20);

/// How long a client waits for an engine's socket to answer (RancherOS: 5 minutes).
pub const ENGINE_WAIT: Duration = Duration::from_secs(300);

/// Connects to the socket at `path` and waits until `_ping` answers, backing off from 100 ms
/// to 2 s.
pub async fn connect(path: &str, limit: Duration) -> Result<Docker, String> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        let attempt = match Docker::connect_with_unix(path, 120, bollard::API_DEFAULT_VERSION) {
            Ok(docker) => docker
                .ping()
                .await
                .map(|_| docker)
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match attempt {
            Ok(docker) => return Ok(docker),
            Err(e) if start.elapsed() >= limit => {
                return Err(format!("no engine answers on {path}: {e}"));
            }
            Err(_) => {}
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// The real engines, over their unix sockets. The user engine is connected on first use,
/// once the `docker` service has started it.
#[derive(Debug)]
pub struct ApiEngines {
    system: Docker,
    user_socket: String,
    user: OnceCell<Docker>,
}

impl ApiEngines {
    /// Clients of the System engine (connected) and of the user's Docker at `user_socket`.
    pub fn new(system: Docker, user_socket: impl Into<String>) -> Self {
        Self {
            system,
            user_socket: user_socket.into(),
            user: OnceCell::new(),
        }
    }

    /// The System engine client.
    pub fn system(&self) -> &Docker {
        &self.system
    }

    async fn client(&self, system: bool) -> Result<&Docker, String> {
        if system {
            return Ok(&self.system);
        }
        self.user
            .get_or_try_init(|| connect(&self.user_socket, ENGINE_WAIT))
            .await
    }
}

fn not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

impl Engines for ApiEngines {
    async fn inspect(&self, system: bool, name: &str) -> Result<Option<Existing>, String> {
        let docker = self.client(system).await?;
        match docker.inspect_container(name, None).await {
            Ok(found) => Ok(Some(Existing {
                running: found.state.and_then(|s| s.running).unwrap_or(false),
                hash: found
                    .config
                    .and_then(|c| c.labels)
                    .and_then(|mut l| l.remove(labels::CONFIG_HASH)),
            })),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn create(
        &self,
        system: bool,
        name: &str,
        body: ContainerCreateBody,
    ) -> Result<(), String> {
        let docker = self.client(system).await?;
        let options = CreateContainerOptions {
            name: Some(name.to_string()),
            ..Default::default()
        };
        docker
            .create_container(Some(options), body)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    async fn start(&self, system: bool, name: &str) -> Result<(), String> {
        let docker = self.client(system).await?;
        docker
            .start_container(name, None)
            .await
            .map_err(|e| e.to_string())
    }

    async fn remove(&self, system: bool, name: &str) -> Result<(), String> {
        let docker = self.client(system).await?;
        let options = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        match docker.remove_container(name, Some(options)).await {
            Err(e) if !not_found(&e) => Err(e.to_string()),
            _ => Ok(()),
        }
    }

    async fn wait(&self, system: bool, name: &str) -> Result<i64, String> {
        let docker = self.client(system).await?;
        let options = WaitContainerOptions {
            condition: "not-running".into(),
        };
        match docker.wait_container(name, Some(options)).next().await {
            Some(Ok(r)) => Ok(r.status_code),
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(e.to_string()),
            None => Err("the engine closed the wait".into()),
        }
    }

    async fn network_settled(&self) {
        let start = Instant::now();
        while start.elapsed() < NETWORK_WAIT {
            if tokio::fs::metadata(ros_config::NETWORK_READY_FILE)
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tracing::warn!("the network is not configured after {NETWORK_WAIT:?}; going on");
    }
}
