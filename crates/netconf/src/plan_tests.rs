use super::*;

fn link(name: &str, index: u32, mac: &str) -> Link {
    Link {
        name: name.into(),
        index,
        mac: mac.into(),
    }
}

fn entry(yaml_like: impl FnOnce(&mut InterfaceConfig)) -> InterfaceConfig {
    let mut e = InterfaceConfig::default();
    yaml_like(&mut e);
    e
}

#[test]
fn globs_match_like_a_shell() {
    assert!(glob("eth*", "eth0"));
    assert!(glob("eth*", "eth"));
    assert!(glob("e?h1", "eth1"));
    assert!(glob("*", "anything"));
    assert!(glob("a*b*c", "aXXbYc"));
    assert!(!glob("eth*", "ens3"));
    assert!(!glob("eth?", "eth10"));
    assert!(glob("52:54:*", "52:54:00:12:34:56"));
}

#[test]
fn cidrs_parse_and_errors_name_the_field() {
    let c = parse_cidr("10.0.2.15/24", "f").unwrap();
    assert_eq!(c.to_string(), "10.0.2.15/24");
    assert_eq!(parse_cidr("fd00::1/64", "f").unwrap().prefix, 64);
    for bad in [
        "10.0.2.15",
        "10.0.2/24",
        "10.0.2.15/33",
        "x/1",
        "fd00::1/129",
    ] {
        let e = parse_cidr(bad, "rancher.network.interfaces.eth0.address").unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("rancher.network.interfaces.eth0.address: `"),
            "{text}"
        );
    }
}

#[test]
fn an_empty_interface_map_means_dhcp_on_every_eth() {
    let plans = plan(
        &NetworkConfig::default(),
        &[
            link("lo", 1, ""),
            link("eth0", 2, "52:54:00:00:00:01"),
            link("eth1", 3, "52:54:00:00:00:02"),
            link("docker0", 4, "02:42:00:00:00:01"),
            link("wlan0", 5, "aa:00:00:00:00:01"),
        ],
    )
    .unwrap();
    let names: Vec<_> = plans
        .iter()
        .map(|p| (p.link.name.as_str(), p.dhcp))
        .collect();
    assert_eq!(names, [("eth0", true), ("eth1", true)]);
}

#[test]
fn mac_beats_exact_name_which_beats_glob() {
    let mut config = NetworkConfig::default();
    config
        .interfaces
        .insert("eth*".into(), entry(|e| e.dhcp = true));
    config.interfaces.insert(
        "eth1".into(),
        entry(|e| e.address = "192.168.1.2/24".into()),
    );
    config.interfaces.insert(
        "uplink".into(),
        entry(|e| {
            e.match_ = "mac=52:54:00:AB:*".into();
            e.address = "10.1.1.1/8".into();
        }),
    );
    let plans = plan(
        &config,
        &[
            link("eth0", 2, "52:54:00:00:00:01"),
            link("eth1", 3, "52:54:00:00:00:02"),
            link("eth2", 4, "52:54:00:ab:00:03"),
        ],
    )
    .unwrap();
    let got: Vec<_> = plans
        .iter()
        .map(|p| (p.link.name.as_str(), p.key.as_str(), p.dhcp))
        .collect();
    assert_eq!(
        got,
        [
            ("eth0", "eth*", true),
            ("eth1", "eth1", false),
            ("eth2", "uplink", false)
        ]
    );
    assert_eq!(plans[1].addresses[0].to_string(), "192.168.1.2/24");
}

#[test]
fn static_entries_carry_addresses_gateways_mtu_and_commands() {
    let mut config = NetworkConfig::default();
    config.interfaces.insert(
        "eth0".into(),
        entry(|e| {
            e.address = "10.0.2.15/24".into();
            e.addresses = vec!["fd00::15/64".into()];
            e.gateway = "10.0.2.2".into();
            e.gateway_ipv6 = "fd00::2".into();
            e.mtu = 1400;
            e.post_up = vec!["echo up $iface".into()];
        }),
    );
    let plans = plan(&config, &[link("eth0", 2, "")]).unwrap();
    let p = &plans[0];
    assert_eq!(p.addresses.len(), 2);
    assert_eq!(p.gateway, Some(Ipv4Addr::new(10, 0, 2, 2)));
    assert_eq!(p.gateway_ipv6, Some("fd00::2".parse().unwrap()));
    assert_eq!(p.mtu, 1400);
    assert_eq!(p.post_up, ["echo up eth0"]);
}

#[test]
fn a_gateway_of_the_wrong_family_is_an_error_naming_the_key() {
    let mut config = NetworkConfig::default();
    config
        .interfaces
        .insert("eth0".into(), entry(|e| e.gateway = "fd00::1".into()));
    let e = plan(&config, &[link("eth0", 2, "")]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("rancher.network.interfaces.eth0.gateway:"),
        "{e}"
    );
}

#[test]
fn resolv_conf_prefers_configured_then_leased_then_defaults() {
    let defaults = DnsConfig {
        nameservers: vec!["8.8.8.8".into(), "8.8.4.4".into()],
        search: vec![],
    };
    let leased = LeasedDns {
        nameservers: vec!["10.0.2.3".into(), "10.0.2.3".into()],
        search: vec!["example.test".into()],
    };
    let configured = DnsConfig {
        nameservers: vec!["1.1.1.1".into()],
        search: vec!["corp".into()],
    };
    let none = DnsConfig::default();
    assert!(
        resolv_conf(&configured, &leased, &defaults).ends_with("search corp\nnameserver 1.1.1.1\n")
    );
    assert!(
        resolv_conf(&none, &leased, &defaults)
            .ends_with("search example.test\nnameserver 10.0.2.3\n")
    );
    assert!(
        resolv_conf(&none, &LeasedDns::default(), &defaults)
            .ends_with("nameserver 8.8.8.8\nnameserver 8.8.4.4\n")
    );
}
