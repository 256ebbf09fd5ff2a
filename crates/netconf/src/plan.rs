//! What `rancher.network` asks of each link, worked out without touching the system: which
//! entry matches a link, its addresses, gateways and MTU, and the resolver file.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ros_config::model::{DnsConfig, InterfaceConfig, NetworkConfig};

use crate::NetconfError;

/// A network link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface name (`eth0`).
    pub name: String,
    /// Interface index.
    pub index: u32,
    /// Hardware address, lower-case `aa:bb:…`; empty when the link has none.
    pub mac: String,
}

/// An address with its prefix length (`10.0.0.5/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cidr {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Parses `a.b.c.d/n` or `x::y/n`; `field` names the key in errors.
pub fn parse_cidr(text: &str, field: &str) -> Result<Cidr, NetconfError> {
    let bad = |why: &str| NetconfError::Config {
        field: field.to_string(),
        message: format!("`{text}` {why}"),
    };
    let (addr, prefix) = text
        .trim()
        .split_once('/')
        .ok_or_else(|| bad("is not in address/prefix form"))?;
    let addr: IpAddr = addr.parse().map_err(|_| bad("is not an IP address"))?;
    let prefix: u8 = prefix
        .parse()
        .map_err(|_| bad("has no valid prefix length"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(bad(&format!("has a prefix longer than {max}")));
    }
    Ok(Cidr { addr, prefix })
}

/// Shell-style `*` and `?` matching, as RancherOS matched interface keys.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The interface entries in effect: the configured ones, or `eth*` by DHCP when none is.
pub fn interfaces(config: &NetworkConfig) -> BTreeMap<String, InterfaceConfig> {
    if config.interfaces.is_empty() {
        let dhcp = InterfaceConfig {
            dhcp: true,
            ..InterfaceConfig::default()
        };
        BTreeMap::from([("eth*".to_string(), dhcp)])
    } else {
        config.interfaces.clone()
    }
}

/// The entry for `link`: a MAC selector wins at once, then an exact name, then a glob.
pub fn select<'a>(
    entries: &'a BTreeMap<String, InterfaceConfig>,
    link: &Link,
) -> Option<(&'a str, &'a InterfaceConfig)> {
    let mut by_glob = None;
    for (key, entry) in entries {
        let selector = if entry.match_.is_empty() {
            key.as_str()
        } else {
            entry.match_.as_str()
        };
        if let Some(mac) = selector.strip_prefix("mac=") {
            if !link.mac.is_empty() && glob(&mac.to_ascii_lowercase(), &link.mac) {
                return Some((key, entry));
            }
        } else if selector == link.name {
            by_glob = Some((key.as_str(), entry, true));
        } else if glob(selector, &link.name) && !by_glob.is_some_and(|(_, _, exact)| exact) {
            by_glob = Some((key.as_str(), entry, false));
        }
    }
    by_glob.map(|(key, entry, _)| (key, entry))
}

/// What to do to one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPlan {
    /// The link.
    pub link: Link,
    /// The `interfaces` key that matched (for messages).
    pub key: String,
    /// Ask DHCP for an address.
    pub dhcp: bool,
    /// Static addresses.
    pub addresses: Vec<Cidr>,
    /// IPv4 default gateway.
    pub gateway: Option<Ipv4Addr>,
    /// IPv6 default gateway.
    pub gateway_ipv6: Option<Ipv6Addr>,
    /// MTU; 0 leaves it alone.
    pub mtu: u32,
    /// Commands before and after, `$iface` already substituted.
    pub pre_up: Vec<String>,
    /// See `pre_up`.
    pub post_up: Vec<String>,
}

/// Links the applier never touches (RancherOS skipped these names too).
const SKIPPED: &[&str] = &["lo", "docker-sys", "docker0"];

/// One plan per link that an entry matches, in link order. Bad addresses are errors naming
/// `rancher.network.interfaces.<key>.<field>`.
pub fn plan(config: &NetworkConfig, links: &[Link]) -> Result<Vec<LinkPlan>, NetconfError> {
    let entries = interfaces(config);
    let mut plans = Vec::new();
    for link in links.iter().filter(|l| !SKIPPED.contains(&l.name.as_str())) {
        let Some((key, entry)) = select(&entries, link) else {
            continue;
        };
        let field = |f: &str| format!("rancher.network.interfaces.{key}.{f}");
        let mut addresses = Vec::new();
        if !entry.address.is_empty() {
            addresses.push(parse_cidr(&entry.address, &field("address"))?);
        }
        for a in &entry.addresses {
            addresses.push(parse_cidr(a, &field("addresses"))?);
        }
        let gateway = parse_gateway(&entry.gateway, &field("gateway"))?;
        let gateway_ipv6 = parse_gateway(&entry.gateway_ipv6, &field("gateway_ipv6"))?;
        let subst = |cmds: &[String]| -> Vec<String> {
            cmds.iter()
                .map(|c| c.replace("$iface", &link.name))
                .collect()
        };
        plans.push(LinkPlan {
            link: link.clone(),
            key: key.to_string(),
            dhcp: entry.dhcp,
            addresses,
            gateway,
            gateway_ipv6,
            mtu: entry.mtu,
            pre_up: subst(&entry.pre_up),
            post_up: subst(&entry.post_up),
        });
    }
    Ok(plans)
}

fn parse_gateway<T: std::str::FromStr>(text: &str, field: &str) -> Result<Option<T>, NetconfError> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| NetconfError::Config {
        field: field.to_string(),
        message: format!("`{text}` is not an address of the right family"),
    })
}

/// What DHCP handed out for the resolver file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeasedDns {
    /// Name servers from the leases, in link order.
    pub nameservers: Vec<String>,
    /// Domain names from the leases.
    pub search: Vec<String>,
}

/// `/etc/resolv.conf`: configured resolvers win; else what DHCP gave; else the defaults.
pub fn resolv_conf(configured: &DnsConfig, leased: &LeasedDns, defaults: &DnsConfig) -> String {
    let (servers, search) = if !configured.nameservers.is_empty() || !configured.search.is_empty() {
        (&configured.nameservers, &configured.search)
    } else if !leased.nameservers.is_empty() {
        (&leased.nameservers, &leased.search)
    } else {
        (&defaults.nameservers, &defaults.search)
    };
    let mut out = String::from("# written by netconf from rancher.network\n");
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    let mut seen = Vec::new();
    for s in servers {
        if !seen.contains(s) {
            out.push_str(&format!("nameserver {s}\n"));
            seen.push(s.clone());
        }
    }
    out
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
