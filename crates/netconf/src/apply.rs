//! Carries out the link plans: every link at once, each one's problems kept to itself, so a
//! link without a DHCP server costs at most the DHCP timeout and never stops the others.

use std::net::IpAddr;
use std::time::Duration;

use futures_util::future::join_all;

use crate::dhcp::{Dhcp, Lease};
use crate::netlink::Net;
use crate::plan::{Cidr, LeasedDns, LinkPlan};

/// What applying the plans did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `iface address` for every address configured or leased.
    pub addresses: Vec<(String, Cidr)>,
    /// Resolvers and domains from the leases.
    pub leased: LeasedDns,
    /// The first host name a server offered.
    pub hostname: Option<String>,
    /// `iface: what failed`.
    pub problems: Vec<String>,
}

/// Runs shell commands (`pre_up`, `post_up`); errors say why one failed.
pub type Runner<'a> = &'a (dyn Fn(&str) -> Result<(), String> + Sync);

/// Applies every plan concurrently.
pub async fn apply<N: Net, D: Dhcp>(
    net: &N,
    dhcp: &D,
    plans: &[LinkPlan],
    timeout: Duration,
    run: Runner<'_>,
) -> Outcome {
    let results = join_all(plans.iter().map(|p| apply_link(net, dhcp, p, timeout, run))).await;
    let mut outcome = Outcome::default();
    for (plan, result) in plans.iter().zip(results) {
        let iface = &plan.link.name;
        outcome
            .problems
            .extend(result.problems.into_iter().map(|p| format!("{iface}: {p}")));
        outcome
            .addresses
            .extend(result.addresses.into_iter().map(|a| (iface.clone(), a)));
        if let Some(lease) = result.lease {
            for ns in &lease.nameservers {
                outcome.leased.nameservers.push(ns.to_string());
            }
            if let Some(domain) = lease.domain.filter(|d| !d.is_empty())
                && !outcome.leased.search.contains(&domain)
            {
                outcome.leased.search.push(domain);
            }
            if outcome.hostname.is_none() {
                outcome.hostname = lease.hostname.filter(|h| !h.is_empty());
            }
        }
    }
    outcome
}

#[derive(Debug, Default)]
struct LinkResult {
    addresses: Vec<Cidr>,
    lease: Option<Lease>,
    problems: Vec<String>,
}

async fn apply_link<N: Net, D: Dhcp>(
    net: &N,
    dhcp: &D,
    plan: &LinkPlan,
    timeout: Duration,
    run: Runner<'_>,
) -> LinkResult {
    let mut r = LinkResult::default();
    let index = plan.link.index;
    for cmd in &plan.pre_up {
        if let Err(e) = run(cmd) {
            r.problems.push(format!("pre_up `{cmd}`: {e}"));
        }
    }
    if let Err(e) = net.up(index, plan.mtu).await {
        r.problems.push(format!("link up: {e}"));
    }
    if !plan.dhcp {
        // A static link holds exactly its listed addresses (IPv6 link-local ones aside).
        match net.addresses(index).await {
            Ok(current) => {
                for cidr in current {
                    if !plan.addresses.contains(&cidr)
                        && !is_link_local(cidr.addr)
                        && let Err(e) = net.del_address(index, cidr).await
                    {
                        r.problems.push(format!("removing {cidr}: {e}"));
                    }
                }
            }
            Err(e) => r.problems.push(format!("listing addresses: {e}")),
        }
    }
    for cidr in &plan.addresses {
        match net.add_address(index, *cidr).await {
            Ok(()) => r.addresses.push(*cidr),
            Err(e) => r.problems.push(format!("adding {cidr}: {e}")),
        }
    }
    if plan.dhcp {
        match dhcp.lease(&plan.link, timeout).await {
            Ok(lease) => {
                apply_lease(net, index, plan.mtu, &lease, &mut r).await;
                r.lease = Some(lease);
            }
            Err(e) => r.problems.push(format!("dhcp: {e}")),
        }
    }
    // After the lease: a gateway is only reachable once the link has its address.
    let gateways = plan
        .gateway
        .map(IpAddr::V4)
        .into_iter()
        .chain(plan.gateway_ipv6.map(IpAddr::V6));
    for gw in gateways {
        if let Err(e) = net.add_default_route(index, gw).await {
            r.problems.push(format!("default route via {gw}: {e}"));
        }
    }
    for cmd in &plan.post_up {
        if let Err(e) = run(cmd) {
            r.problems.push(format!("post_up `{cmd}`: {e}"));
        }
    }
    r
}

async fn apply_lease<N: Net>(net: &N, index: u32, mtu: u32, lease: &Lease, r: &mut LinkResult) {
    if mtu == 0
        && let Some(leased) = lease.mtu.filter(|m| *m >= 576)
        && let Err(e) = net.up(index, u32::from(leased)).await
    {
        r.problems.push(format!("leased mtu {leased}: {e}"));
    }
    match net.add_address(index, lease.address).await {
        Ok(()) => r.addresses.push(lease.address),
        Err(e) => r
            .problems
            .push(format!("adding leased {}: {e}", lease.address)),
    }
    if let Some(gw) = lease.gateways.first()
        && let Err(e) = net.add_default_route(index, IpAddr::V4(*gw)).await
    {
        r.problems.push(format!("default route via {gw}: {e}"));
    }
}

fn is_link_local(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
        IpAddr::V4(_) => false,
    }
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
