//! `netconf`, the `network` system service: applies `rancher.network` (static addresses,
//! gateways, MTU, DHCP through mozim, resolvers, `pre_cmds`/`post_cmds`) with rtnetlink, then
//! stays up to keep the leases renewed, as RancherOS's network container kept dhcpcd.

pub mod apply;
pub mod dhcp;
pub mod netlink;
pub mod plan;

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

use ros_config::CloudConfig;

use crate::dhcp::Mozim;
use crate::netlink::{Net, Netlink};

/// What can go wrong before any link is touched.
#[derive(Debug, thiserror::Error)]
pub enum NetconfError {
    /// A `rancher.network` value that cannot be used.
    #[error("{field}: {message}")]
    Config {
        /// The key, `rancher.network.interfaces.eth0.address`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// Netlink could not be reached.
    #[error("netlink: {0}")]
    Netlink(String),
}

/// Where the resolver file is. It is bind-mounted into the services, so it is rewritten in
/// place (a rename would leave them the old file).
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The DHCP wait: `rancher.network.dhcp_timeout`, else the default, else 10 s.
pub fn dhcp_timeout(config: &CloudConfig) -> Duration {
    let secs = [
        config.rancher.network.dhcp_timeout,
        config.rancher.defaults.network.dhcp_timeout,
        10,
    ]
    .into_iter()
    .find(|s| *s > 0)
    .unwrap_or(10);
    Duration::from_secs(u64::from(secs))
}

fn shell(cmd: &str) -> Result<(), String> {
    match Command::new("/bin/sh").arg("-c").arg(cmd).status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(s.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Applies the configuration once; returns the lines to report.
pub async fn configure(config: &CloudConfig, root: &Path) -> Result<Vec<String>, NetconfError> {
    let network = &config.rancher.network;
    let mut report = Vec::new();
    for cmd in &network.pre_cmds {
        if let Err(e) = shell(cmd) {
            report.push(format!("pre_cmds `{cmd}`: {e}"));
        }
    }
    let net = Netlink::connect().map_err(|e| NetconfError::Netlink(e.to_string()))?;
    let links = net.links().await.map_err(NetconfError::Netlink)?;
    if let Some(lo) = links.iter().find(|l| l.name == "lo")
        && let Err(e) = net.up(lo.index, 0).await
    {
        report.push(format!("lo: {e}"));
    }
    let plans = plan::plan(network, &links)?;
    let outcome = apply::apply(&net, &Mozim, &plans, dhcp_timeout(config), &shell).await;
    report.extend(outcome.problems);
    for cmd in &network.post_cmds {
        if let Err(e) = shell(cmd) {
            report.push(format!("post_cmds `{cmd}`: {e}"));
        }
    }
    let resolv = plan::resolv_conf(
        &network.dns,
        &outcome.leased,
        &config.rancher.defaults.network.dns,
    );
    let path = root.join(RESOLV_CONF.trim_start_matches('/'));
    if let Err(e) = std::fs::write(&path, &resolv) {
        report.push(format!("{}: {e}", path.display()));
    }
    if config.hostname.is_empty()
        && let Some(name) = &outcome.hostname
        && let Err(e) = ros_sys::set_hostname(name)
    {
        report.push(format!("hostname {name}: {e}"));
    }
    let addresses: Vec<String> = outcome
        .addresses
        .iter()
        .map(|(iface, cidr)| format!("{iface}={cidr}"))
        .collect();
    let line = format!(
        "ros: network ready addresses={} dns={}",
        addresses.join(","),
        resolv_servers(&resolv)
    );
    let ready = root.join(ros_config::NETWORK_READY_FILE.trim_start_matches('/'));
    if let Err(e) = ready
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&ready, format!("{line}\n")))
    {
        report.push(format!("{}: {e}", ready.display()));
    }
    report.push(line);
    Ok(report)
}

/// The `nameserver` addresses of a resolv.conf text, comma-separated.
fn resolv_servers(resolv: &str) -> String {
    resolv
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver "))
        .collect::<Vec<_>>()
        .join(",")
}

/// Entry point of the `netconf` applet.
pub fn main(_args: Vec<OsString>) -> ExitCode {
    let loaded = ros_config::load(
        &ros_config::ConfigPaths::new(Path::new("/")),
        ros_config::Scope::Full,
    );
    let config = loaded.typed().unwrap_or_default();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            drop(writeln!(std::io::stderr(), "netconf: runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match configure(&config, Path::new("/")).await {
            Ok(report) => {
                for line in report {
                    drop(writeln!(std::io::stderr(), "netconf: {line}"));
                }
            }
            Err(e) => {
                drop(writeln!(std::io::stderr(), "netconf: {e}"));
                return ExitCode::FAILURE;
            }
        }
        // Stay up while the renewal tasks keep the leases, until the service is stopped.
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => drop(tokio::signal::ctrl_c().await),
        }
        ExitCode::SUCCESS
    })
}
