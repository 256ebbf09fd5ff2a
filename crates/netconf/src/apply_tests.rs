use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use super::*;
use crate::plan::{Link, parse_cidr};

#[derive(Default)]
struct FakeNet {
    calls: Mutex<Vec<String>>,
    existing: BTreeMap<u32, Vec<Cidr>>,
    failing_up: Option<u32>,
}

impl FakeNet {
    fn log(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl Net for FakeNet {
    async fn links(&self) -> Result<Vec<Link>, String> {
        Ok(Vec::new())
    }
    async fn up(&self, index: u32, mtu: u32) -> Result<(), String> {
        self.log(format!("up {index} mtu {mtu}"));
        if self.failing_up == Some(index) {
            return Err("no such device".into());
        }
        Ok(())
    }
    async fn addresses(&self, index: u32) -> Result<Vec<Cidr>, String> {
        Ok(self.existing.get(&index).cloned().unwrap_or_default())
    }
    async fn add_address(&self, index: u32, cidr: Cidr) -> Result<(), String> {
        self.log(format!("add {index} {cidr}"));
        Ok(())
    }
    async fn del_address(&self, index: u32, cidr: Cidr) -> Result<(), String> {
        self.log(format!("del {index} {cidr}"));
        Ok(())
    }
    async fn add_default_route(&self, index: u32, gateway: IpAddr) -> Result<(), String> {
        self.log(format!("route {index} {gateway}"));
        Ok(())
    }
}

struct FakeDhcp(BTreeMap<String, Result<Lease, String>>);

impl Dhcp for FakeDhcp {
    async fn lease(&self, link: &Link, _timeout: Duration) -> Result<Lease, String> {
        self.0
            .get(&link.name)
            .cloned()
            .unwrap_or_else(|| Err("timed out".into()))
    }
}

fn plan_for(name: &str, index: u32, dhcp: bool, addrs: &[&str]) -> LinkPlan {
    LinkPlan {
        link: Link {
            name: name.into(),
            index,
            mac: String::new(),
        },
        key: name.into(),
        dhcp,
        addresses: addrs.iter().map(|a| parse_cidr(a, "t").unwrap()).collect(),
        gateway: None,
        gateway_ipv6: None,
        mtu: 0,
        pre_up: Vec::new(),
        post_up: Vec::new(),
    }
}

fn lease() -> Lease {
    Lease {
        address: parse_cidr("10.0.2.15/24", "t").unwrap(),
        gateways: vec![Ipv4Addr::new(10, 0, 2, 2)],
        nameservers: vec![Ipv4Addr::new(10, 0, 2, 3)],
        domain: Some("example.test".into()),
        hostname: Some("leased".into()),
        mtu: Some(1450),
    }
}

fn no_commands(_: &str) -> Result<(), String> {
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn a_static_link_gets_exactly_its_addresses_gateway_and_commands() {
    let net = FakeNet {
        existing: BTreeMap::from([(
            2,
            vec![
                parse_cidr("192.168.9.9/24", "t").unwrap(),
                parse_cidr("fe80::1/64", "t").unwrap(),
                parse_cidr("10.1.0.5/16", "t").unwrap(),
            ],
        )]),
        ..FakeNet::default()
    };
    let mut plan = plan_for("eth0", 2, false, &["10.1.0.5/16"]);
    plan.gateway = Some(Ipv4Addr::new(10, 1, 0, 1));
    plan.mtu = 1400;
    plan.pre_up = vec!["pre eth0".into()];
    plan.post_up = vec!["post eth0".into()];
    let ran = Mutex::new(Vec::new());
    let run = |c: &str| {
        ran.lock().unwrap().push(c.to_string());
        Ok(())
    };
    let out = apply(
        &net,
        &FakeDhcp(BTreeMap::new()),
        &[plan],
        Duration::from_secs(1),
        &run,
    )
    .await;
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    assert_eq!(
        net.calls(),
        [
            "up 2 mtu 1400",
            "del 2 192.168.9.9/24",
            "add 2 10.1.0.5/16",
            "route 2 10.1.0.1"
        ]
    );
    assert_eq!(*ran.lock().unwrap(), ["pre eth0", "post eth0"]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_lease_sets_address_route_mtu_and_dns_and_a_missing_one_is_only_a_problem() {
    let net = FakeNet::default();
    let dhcp = FakeDhcp(BTreeMap::from([("eth0".to_string(), Ok(lease()))]));
    let plans = [
        plan_for("eth0", 2, true, &[]),
        plan_for("eth1", 3, true, &[]),
    ];
    let out = apply(&net, &dhcp, &plans, Duration::from_secs(1), &no_commands).await;
    let calls = net.calls();
    for expected in [
        "up 2 mtu 0",
        "up 2 mtu 1450",
        "add 2 10.0.2.15/24",
        "route 2 10.0.2.2",
        "up 3 mtu 0",
    ] {
        assert!(
            calls.contains(&expected.to_string()),
            "{expected} not in {calls:?}"
        );
    }
    assert_eq!(out.addresses, [("eth0".to_string(), lease().address)]);
    assert_eq!(out.leased.nameservers, ["10.0.2.3"]);
    assert_eq!(out.leased.search, ["example.test"]);
    assert_eq!(out.hostname.as_deref(), Some("leased"));
    assert_eq!(out.problems, ["eth1: dhcp: timed out"]);
}

#[tokio::test(flavor = "current_thread")]
async fn one_failing_link_does_not_stop_the_others() {
    let net = FakeNet {
        failing_up: Some(2),
        ..FakeNet::default()
    };
    let plans = [
        plan_for("eth0", 2, false, &["10.0.0.1/24"]),
        plan_for("eth1", 3, false, &["10.0.1.1/24"]),
    ];
    let out = apply(
        &net,
        &FakeDhcp(BTreeMap::new()),
        &plans,
        Duration::from_secs(1),
        &no_commands,
    )
    .await;
    assert_eq!(out.problems, ["eth0: link up: no such device"]);
    assert!(net.calls().contains(&"add 3 10.0.1.1/24".to_string()));
}
