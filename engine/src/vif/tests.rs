//! `vif online`'s anti-spoofing binding with Xen's meaning of `ip`, and the IPv6 flush.

use super::*;
use crate::config::{from_toml, from_xen_words};
use crate::model::{Link, LinkKind};

fn link(name: &str, kind: LinkKind, master: Option<&str>, up: bool) -> Link {
    let mut l: Link = serde_json::from_value(serde_json::json!({
        "name": name, "kind": kind, "up": up
    }))
    .unwrap();
    l.master = master.map(str::to_string);
    l
}

/// A host with `br-dmz` (and `br-data`) and a fresh, detached `vif3.0`.
fn host() -> Observed {
    Observed {
        links: vec![
            link("br-dmz", LinkKind::Bridge, None, true),
            link("br-data", LinkKind::Bridge, None, true),
            link("vif3.0", LinkKind::Other("vif".into()), None, false),
        ],
        ..Observed::default()
    }
}

/// `dmz` does anti-spoofing; `hosts` are extra `[[host]]` sections.
fn config(hosts: &str) -> Config {
    let text = format!(
        r#"
[uplink]
interface = "eth0"
[[network]]
name = "dmz"
bridge = "br-dmz"
address = "10.1.0.1/24"
antispoof = true
[[network]]
name = "data"
bridge = "br-data"
address = "10.2.0.1/24"
antispoof = true
{hosts}
"#
    );
    from_toml(&text, "test.toml").unwrap()
}

fn req(mac: &str, ip: &[&str]) -> VifRequest {
    let mut r = VifRequest {
        device: "vif3.0".into(),
        bridge: Some("br-dmz".into()),
        mac: Some(mac.into()),
        ..VifRequest::default()
    };
    for w in ip {
        match crate::firewall::parse_entry(w).unwrap() {
            ipnet::IpNet::V4(n) if n.prefix_len() == 32 => r.ips.push(n.addr()),
            other => r.prefixes.push(other),
        }
    }
    r
}

fn bound(p: &VifPlan) -> Binding {
    p.plan
        .ops
        .iter()
        .find_map(|o| match o {
            Op::AddBinding { binding } => Some(binding.clone()),
            _ => None,
        })
        .expect("a binding")
}

fn net(s: &str) -> ipnet::IpNet {
    crate::firewall::parse_entry(s).unwrap()
}

#[test]
fn an_undeclared_mac_without_ip_is_bound_to_its_mac_alone_with_a_warning() {
    let p = plan_vif_online(Some(&config("")), &host(), &req("aa:cc:00:00:09:09", &[])).unwrap();
    let b = bound(&p);
    assert_eq!(b.mac, "aa:cc:00:00:09:09");
    assert!(b.mac_only(), "{b:?}");
    assert_eq!(p.warnings.len(), 1);
    assert!(p.warnings[0].contains("any address"), "{}", p.warnings[0]);
}

#[test]
fn xen_mode_without_ip_binds_the_mac_alone_too() {
    let c = from_xen_words(&["bridgeip=10.98.98.1/24", "bridge=br-dmz", "antispoof=yes"]).unwrap();
    let p = plan_vif_online(Some(&c), &host(), &req("aa:cc:00:00:09:09", &[])).unwrap();
    assert!(bound(&p).mac_only());
}

#[test]
fn ip_binds_addresses_and_prefixes_of_both_families() {
    let r = req(
        "aa:cc:00:00:09:09",
        &["10.1.0.7", "10.1.0.20/28", "2001:db8::7", "fd00:1::/64"],
    );
    let p = plan_vif_online(Some(&config("")), &host(), &r).unwrap();
    assert_eq!(
        bound(&p).addrs,
        vec![
            net("10.1.0.7"),
            net("10.1.0.16/28"),
            net("2001:db8::7"),
            net("fd00:1::/64")
        ]
    );
    assert!(p.warnings.is_empty());
}

#[test]
fn a_declared_host_is_bound_to_its_addresses_whatever_ip_says() {
    let c = config(
        r#"[[host]]
name = "web1"
network = "dmz"
mac = "aa:cc:00:00:01:01"
addresses = ["10.1.0.10"]"#,
    );
    let p = plan_vif_online(Some(&c), &host(), &req("AA:CC:00:00:01:01", &["10.1.0.99"])).unwrap();
    assert_eq!(bound(&p).addrs, vec![net("10.1.0.10")]);
}

#[test]
fn a_network_that_declares_its_hosts_refuses_a_stranger_and_a_misplaced_mac() {
    let c = config(
        r#"[[host]]
name = "web1"
network = "dmz"
mac = "aa:cc:00:00:01:01"
addresses = ["10.1.0.10"]
[[host]]
name = "db1"
network = "data"
mac = "aa:cc:00:00:02:01"
addresses = ["10.2.0.10"]"#,
    );
    let stranger = plan_vif_online(Some(&c), &host(), &req("aa:cc:00:00:09:09", &["10.1.0.7"]));
    assert!(
        matches!(stranger, Err(VifError::UnknownMac { .. })),
        "{stranger:?}"
    );
    let misplaced = plan_vif_online(Some(&c), &host(), &req("aa:cc:00:00:02:01", &[]));
    assert!(
        matches!(misplaced, Err(VifError::MisplacedMac { .. })),
        "{misplaced:?}"
    );
}

#[test]
fn a_mac_declared_elsewhere_is_refused_on_an_open_network_too() {
    // dmz declares no MAC (Xen's meaning of ip applies there), data declares this one.
    let c = config(
        r#"[[host]]
name = "db1"
network = "data"
mac = "aa:cc:00:00:02:01"
addresses = ["10.2.0.10"]"#,
    );
    let p = plan_vif_online(Some(&c), &host(), &req("aa:cc:00:00:02:01", &[]));
    assert!(matches!(p, Err(VifError::MisplacedMac { .. })), "{p:?}");
}

#[test]
fn ipv6_is_flushed_and_the_vif_bound_before_it_joins_its_bridge_and_not_again() {
    let c = config("");
    let r = req("aa:cc:00:00:09:09", &["10.1.0.7"]);
    let ops = plan_vif_online(Some(&c), &host(), &r).unwrap().plan.ops;
    let flush = ops
        .iter()
        .position(|o| matches!(o, Op::FlushIpv6 { link } if link == "vif3.0"));
    let bind = ops.iter().position(|o| matches!(o, Op::AddBinding { .. }));
    let attach = ops.iter().position(|o| matches!(o, Op::SetMaster { .. }));
    let up = ops.iter().position(|o| matches!(o, Op::SetUp { up: true, .. }));
    assert!(
        flush.is_some() && flush < bind && bind < attach && attach < up,
        "{ops:?}"
    );

    let mut attached = host();
    attached.links[2] = link("vif3.0", LinkKind::Other("vif".into()), Some("br-dmz"), true);
    let again = plan_vif_online(Some(&c), &attached, &r).unwrap().plan.ops;
    assert!(
        !again.iter().any(|o| matches!(o, Op::FlushIpv6 { .. })),
        "{again:?}"
    );
}
