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
    /// Returns once the host has a default route, or after [`NETWORK_WAIT`]: `after: network`
    /// means after the network is configured (as libcompose made it), not only started.
    fn network_settled(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// The longest a service ordered after `network` waits for a default route.
pub const NETWORK_WAIT: Duration = Duration::from_secs(20);

/// Whether `/proc/net/route` (or `ipv6_route`) text holds a default route.
pub fn has_default_route(route: &str, ipv6_route: &str) -> bool {
    let v4 = route.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 7 && f[1] == "00000000" && f[7] == "00000000"
    });
    let v6 = ipv6_route.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 9 && f[0] == "00000000000000000000000000000000" && f[1] == "00" && f[9] != "lo"
    });
    v4 || v6
}

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
            let v4 = tokio::fs::read_to_string("/proc/net/route").await;
            let v6 = tokio::fs::read_to_string("/proc/net/ipv6_route").await;
            if has_default_route(&v4.unwrap_or_default(), &v6.unwrap_or_default()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tracing::warn!("no default route after {NETWORK_WAIT:?}; going on");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_routes_are_found_in_proc_net_route_and_ipv6_route() {
        let header =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";
        let link = "eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let default = "eth0\t00000000\t0202000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert!(!has_default_route(&format!("{header}{link}"), ""));
        assert!(has_default_route(&format!("{header}{link}{default}"), ""));
        let v6_lo = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
        let v6_default = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000002 00000400 00000001 00000000 00000003     eth0\n";
        assert!(!has_default_route(header, v6_lo));
        assert!(has_default_route(header, v6_default));
    }
}
