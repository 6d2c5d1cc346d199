//! The conntrack pass after a firewall change covers IPv6: a UDP forward to a host with
//! an IPv6 address also forgets IPv6 flows to the uplink's IPv6 addresses, still in one
//! op; a forward without an IPv6 target leaves IPv6 flows alone.

use std::net::{Ipv4Addr, Ipv6Addr};

use brouter_engine::config::{from_toml, PortRange, Proto};
use brouter_engine::model::{Address, Address6};
use brouter_engine::plan::StaleFlow;
use brouter_engine::{compile, plan_start, Desired, Observed, Op};

const NETWORK: &str = r#"
[uplink]
interface = "eth0"

[[network]]
name = "dmz"
bridge = "br0"
address = "10.98.98.1/24"
address6 = "fd98:98::1/64"

[[host]]
name = "web1"
network = "dmz"
mac = "aa:cc:00:00:00:01"
addresses = ["10.98.98.10", "fd98:98::10"]

[[host]]
name = "old"
network = "dmz"
mac = "aa:cc:00:00:00:02"
addresses = ["10.98.98.20"]
"#;

fn desired(forwards: &str) -> Desired {
    let text = format!("{NETWORK}{forwards}");
    compile(&from_toml(&text, "test.toml").unwrap())
}

/// The dom0 with an uplink in both families, and br0's own addresses (which forwards
/// never apply to), with brouter's tables from an older ruleset.
fn observed() -> Observed {
    let v4 = |link: &str, a: &str| Address {
        link: link.into(),
        addr: a.parse().unwrap(),
        owned: false,
    };
    let v6 = |link: &str, a: &str| Address6 {
        link: link.into(),
        addr: a.parse().unwrap(),
        owned: false,
    };
    Observed {
        addresses: vec![v4("eth0", "192.0.2.2/24"), v4("br0", "10.98.98.1/24")],
        addresses6: vec![
            v6("eth0", "2001:db8:1::2/64"),
            v6("eth0", "2001:db8:1::3/64"),
            v6("br0", "fd98:98::1/64"),
        ],
        firewall: Some("an older ruleset".into()),
        ..Observed::default()
    }
}

fn flushes(d: &Desired, o: &Observed) -> Vec<Op> {
    plan_start(d, o)
        .unwrap()
        .ops
        .into_iter()
        .filter(|op| matches!(op, Op::FlushConntrack { .. }))
        .collect()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

#[test]
fn a_udp_forward_to_a_dual_stack_host_forgets_ipv6_flows_to_the_uplink_in_the_same_op() {
    let d = desired("[[forward]]\nproto = \"udp\"\nport = 27015\nto = \"web1\"\n");
    let ops = flushes(&d, &observed());
    assert_eq!(
        ops,
        vec![Op::FlushConntrack {
            to: vec![Ipv4Addr::new(192, 0, 2, 2)],
            to6: vec![v6("2001:db8:1::2"), v6("2001:db8:1::3")],
            flows: vec![StaleFlow {
                proto: Proto::Udp,
                ports: PortRange {
                    first: 27015,
                    last: 27015
                },
                addr: Ipv4Addr::new(10, 98, 98, 10),
                addr6: Some(v6("fd98:98::10")),
                to_port: None,
            }],
        }],
        "one op, both families, never the bridge's own addresses"
    );
    assert_eq!(
        ops[0].to_string(),
        "forget tracked udp flows to the dom0 on port 27015 not yet forwarded to 10.98.98.10 or fd98:98::10"
    );
}

#[test]
fn a_udp_forward_to_an_ipv4_only_host_leaves_ipv6_flows_alone() {
    let d = desired("[[forward]]\nproto = \"udp\"\nport = 27015\nto = \"old:2000\"\n");
    let ops = flushes(&d, &observed());
    let [Op::FlushConntrack { to, to6, flows }] = ops.as_slice() else {
        panic!("one flush: {ops:?}");
    };
    assert_eq!(to, &[Ipv4Addr::new(192, 0, 2, 2)]);
    assert!(to6.is_empty(), "no IPv6 rule catches them: {to6:?}");
    assert_eq!(flows[0].addr6, None);
    assert_eq!(
        ops[0].to_string(),
        "forget tracked udp flows to the dom0 on port 27015 not yet forwarded to 10.98.98.20:2000"
    );
}

#[test]
fn an_uplink_with_only_ipv6_still_flushes() {
    let d = desired("[[forward]]\nproto = \"udp\"\nport = 27015\nto = \"web1\"\n");
    let o = Observed {
        addresses: vec![],
        ..observed()
    };
    let ops = flushes(&d, &o);
    let [Op::FlushConntrack { to, to6, .. }] = ops.as_slice() else {
        panic!("one flush: {ops:?}");
    };
    assert!(to.is_empty());
    assert_eq!(to6.len(), 2);
}

#[test]
fn a_translated_port_reads_in_both_families() {
    let d = desired("[[forward]]\nproto = \"udp\"\nport = 27015\nto = \"web1:2000\"\n");
    let ops = flushes(&d, &observed());
    assert_eq!(
        ops[0].to_string(),
        "forget tracked udp flows to the dom0 on port 27015 not yet forwarded to 10.98.98.10:2000 or [fd98:98::10]:2000"
    );
}

#[test]
fn many_forwards_say_both_families_and_still_take_one_op() {
    let d = desired(
        "[[forward]]\nproto = \"udp\"\nport = 27015\nto = \"web1\"\n\
         [[forward]]\nproto = \"udp\"\nport = 27016\nto = \"old\"\n",
    );
    let ops = flushes(&d, &observed());
    assert_eq!(ops.len(), 1, "{ops:?}");
    assert_eq!(
        ops[0].to_string(),
        "forget tracked flows to the dom0 (IPv4 and IPv6) on the ports of 2 forward(s) not yet forwarded (one pass)"
    );
}

#[test]
fn the_op_reads_back_from_json_as_it_was_written() {
    let d = desired("[[forward]]\nproto = \"udp\"\nport = 27015\nto = \"web1\"\n");
    let op = flushes(&d, &observed()).remove(0);
    let json = serde_json::to_value(&op).unwrap();
    assert_eq!(json["to6"][0], "2001:db8:1::2");
    assert_eq!(json["flows"][0]["addr6"], "fd98:98::10");
    let back: Op = serde_json::from_value(json).unwrap();
    assert_eq!(back, op);
}
