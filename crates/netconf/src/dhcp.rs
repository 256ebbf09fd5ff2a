//! DHCPv4 leases, behind [`Dhcp`] so the applier is tested without a server; [`Mozim`] asks
//! a real one over a raw socket and keeps the lease renewed afterwards.

use std::net::Ipv4Addr;
use std::time::Duration;

use mozim::{DhcpV4Client, DhcpV4Config, DhcpV4State};

use crate::plan::{Cidr, Link};

/// What a lease gives the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The address with its prefix.
    pub address: Cidr,
    /// Routers, first preferred.
    pub gateways: Vec<Ipv4Addr>,
    /// Name servers.
    pub nameservers: Vec<Ipv4Addr>,
    /// Domain name, for the resolver's search list.
    pub domain: Option<String>,
    /// Host name offered by the server.
    pub hostname: Option<String>,
    /// Interface MTU.
    pub mtu: Option<u16>,
}

/// Gets a lease for a link.
#[allow(async_fn_in_trait)] // only used with static dispatch on one thread
pub trait Dhcp {
    /// A lease for `link` within `timeout`; errors say why there is none.
    async fn lease(&self, link: &Link, timeout: Duration) -> Result<Lease, String>;
}

/// [`Dhcp`] through mozim. Each acquired client is handed to a task that renews its lease
/// for as long as the process lives.
#[derive(Debug, Default)]
pub struct Mozim;

fn lease_of(l: &mozim::DhcpV4Lease) -> Lease {
    Lease {
        address: Cidr {
            addr: l.yiaddr.into(),
            prefix: l.prefix_length(),
        },
        gateways: l.gateways.clone().unwrap_or_default(),
        nameservers: l.dns_srvs.clone().unwrap_or_default(),
        domain: l.domain_name.clone(),
        hostname: l.host_name.clone(),
        mtu: l.mtu,
    }
}

impl Dhcp for Mozim {
    async fn lease(&self, link: &Link, timeout: Duration) -> Result<Lease, String> {
        let mut config = DhcpV4Config::new(&link.name);
        config.set_iface_index(link.index);
        config.set_timeout_sec(u32::try_from(timeout.as_secs()).unwrap_or(u32::MAX).max(1));
        let mut client = DhcpV4Client::init(config, None)
            .await
            .map_err(|e| e.to_string())?;
        loop {
            match client.run().await.map_err(|e| e.to_string())? {
                DhcpV4State::Done(lease) => {
                    let found = lease_of(&lease);
                    tokio::spawn(renew(client, link.name.clone()));
                    return Ok(found);
                }
                state => tracing::debug!(iface = %link.name, %state, "dhcp"),
            }
        }
    }
}

/// Keeps the lease: mozim renews at T1 and rebinds at T2 from `run`. A lost lease is
/// logged; the address stays until the operator restarts the service.
async fn renew(mut client: DhcpV4Client, iface: String) {
    loop {
        match client.run().await {
            Ok(DhcpV4State::Done(lease)) => {
                tracing::info!(%iface, address = %lease.yiaddr, "dhcp lease renewed");
            }
            Ok(state) => tracing::debug!(%iface, %state, "dhcp"),
            Err(e) => {
                tracing::warn!(%iface, error = %e, "dhcp renewal failed; starting over");
                client.clean_up();
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}
