//! `rancher.network`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::de::one_or_many;

/// `rancher.network`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Seconds to wait for DHCP; 0 means `rancher.defaults.network.dhcp_timeout`.
    pub dhcp_timeout: u32,
    /// Resolvers; when set they win over DHCP-supplied ones.
    pub dns: DnsConfig,
    /// Commands run before any interface is configured.
    pub pre_cmds: Vec<String>,
    /// Commands run after all interfaces are configured.
    pub post_cmds: Vec<String>,
    /// Proxy for HTTP, exported to services asking for `HTTP_PROXY`.
    pub http_proxy: String,
    /// Proxy for HTTPS.
    pub https_proxy: String,
    /// Hosts that bypass the proxy.
    pub no_proxy: String,
    /// Per-interface settings keyed by name, glob (`eth*`) or `mac=…`.
    pub interfaces: BTreeMap<String, InterfaceConfig>,
    /// Wi-Fi networks by name.
    pub wifi_networks: BTreeMap<String, WifiNetworkConfig>,
    /// Mobile broadband networks by interface.
    pub modem_networks: BTreeMap<String, ModemNetworkConfig>,
}

/// Resolver settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsConfig {
    /// Name server addresses.
    pub nameservers: Vec<String>,
    /// Search domains.
    pub search: Vec<String>,
}

/// One `rancher.network.interfaces` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InterfaceConfig {
    /// Selector that overrides the map key.
    #[serde(rename = "match")]
    pub match_: String,
    /// Configure by DHCP.
    pub dhcp: bool,
    /// DHCP client arguments (RancherOS passed these to dhcpcd).
    pub dhcp_args: String,
    /// One address in CIDR form.
    pub address: String,
    /// More addresses in CIDR form.
    pub addresses: Vec<String>,
    /// IPv4 default gateway.
    pub gateway: String,
    /// IPv6 default gateway.
    pub gateway_ipv6: String,
    /// Assign a 169.254/16 link-local address.
    pub ipv4ll: bool,
    /// MTU; 0 leaves it alone.
    pub mtu: u32,
    /// `"true"`: this is a bridge; a name: enslave to that bridge.
    pub bridge: String,
    /// Bond to enslave this link to.
    pub bond: String,
    /// Bond options written to sysfs (`mode` first).
    pub bond_opts: BTreeMap<String, String>,
    /// VLANs to create on this link: `"100,200:name"`.
    pub vlans: String,
    /// Commands run before the link is configured (`$iface` substituted).
    #[serde(deserialize_with = "one_or_many")]
    pub pre_up: Vec<String>,
    /// Commands run after the link is configured.
    #[serde(deserialize_with = "one_or_many")]
    pub post_up: Vec<String>,
    /// Name of a `wifi_networks` entry.
    pub wifi_network: String,
}

/// One `rancher.network.wifi_networks` entry (wpa_supplicant network block).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct WifiNetworkConfig {
    pub ssid: String,
    pub psk: String,
    pub scan_ssid: Option<u32>,
    pub priority: Option<i32>,
    pub pairwise: String,
    pub group: String,
    pub eap: String,
    pub identity: String,
    pub anonymous_identity: String,
    pub ca_certs: Vec<String>,
    pub client_certs: Vec<String>,
    pub private_keys: Vec<String>,
    pub private_key_passwds: Vec<String>,
    pub phases: Vec<String>,
    pub eapol_flags: Option<u32>,
    pub key_mgmt: String,
    pub password: String,
    /// Static address instead of DHCP.
    pub address: String,
    /// Gateway with a static address.
    pub gateway: String,
}

/// One `rancher.network.modem_networks` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModemNetworkConfig {
    /// Access point name.
    pub apn: String,
    /// Extra modem-manager arguments.
    pub extra_args: String,
}
