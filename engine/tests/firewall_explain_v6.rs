//! `brouter explain` of IPv6 flows on a small dual-stack setup: zones by IPv6 address,
//! unique-local prefixes masqueraded and global ones routed, IPv6 forwards to a host's
//! IPv6 address, `icmp` covering ICMPv6, anti-spoofing of IPv6 sources, and the same
//! policy verdict as IPv4 for every zone pair.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use brouter_engine::config::{from_toml, Action};
use brouter_engine::firewall::{
    binding_for, compile, explain, slaac_address, Address, ExplainContext, ExplainError, Flow, FlowProto,
    Ruleset, StepKind, Trace,
};

/// Three dual-stack networks: dmz (unique-local, masqueraded, anti-spoofing), lan (a
/// global prefix: routed even though masquerade is on), data (unique-local, masquerade
/// off). web1 has an IPv6 address, app1 none (its forward is IPv4 only).
const CONFIG: &str = r#"
[uplink]
interface = "eth0"

[[network]]
name = "dmz"
bridge = "br-dmz"
address = "10.1.0.1/24"
address6 = "fd00:1::1/64"
antispoof = true

[[network]]
name = "lan"
bridge = "br-lan"
address = "10.2.0.1/24"
address6 = "2001:db8:2::1/64"

[[network]]
name = "data"
bridge = "br-data"
address = "10.3.0.1/24"
address6 = "fd00:3::1/64"
masquerade = false

[[host]]
name = "web1"
network = "dmz"
mac = "aa:cc:00:00:01:01"
addresses = ["10.1.0.10", "fd00:1::10"]

[[host]]
name = "app1"
network = "lan"
mac = "aa:cc:00:00:02:01"
addresses = ["10.2.0.10"]

[[forward]]
proto = "tcp"
port = 80
to = "web1"

[[forward]]
proto = "tcp"
port = 2222
to = "web1:22"

[[forward]]
proto = "tcp"
port = 8080
to = "app1"

[[policy]]
from = "dmz"
to = "external"
action = "accept"
services = ["tcp/80", "tcp/443", "udp/53", "icmp"]

[[policy]]
from = "lan"
to = "external"
action = "accept"

[[policy]]
from = "data"
to = "external"
action = "accept"

[[policy]]
from = "lan"
to = "dmz"
action = "accept"
services = ["tcp/80", "icmp"]

[[policy]]
from = "data"
to = "dmz"
action = "reject"

[[policy]]
from = "dmz"
to = "dom0"
action = "accept"
services = ["icmp"]

[[policy]]
from = "dom0"
to = "lan"
action = "accept"

[[policy]]
from = "external"
to = "lan"
action = "accept"
services = ["tcp/22"]
"#;

const WEB1_MAC: &str = "aa:cc:00:00:01:01";
const UPLINK: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const UPLINK6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xfe, 0, 0, 0, 0, 2);
const OUTSIDE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const OUTSIDE6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xbeef, 0, 0, 0, 0, 7);

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn ruleset() -> Ruleset {
    compile(&from_toml(CONFIG, "dualstack-explain.toml").expect("the config validates"))
}

/// The live system knows both uplink addresses.
fn ctx() -> ExplainContext {
    ExplainContext {
        uplink_address: Some(UPLINK),
        uplink_address6: Some(UPLINK6),
        ..ExplainContext::default()
    }
}

fn walk(rs: &Ruleset, flow: Flow) -> Trace {
    explain(rs, &ctx(), &flow).unwrap_or_else(|e| panic!("{flow}: {e}"))
}

fn step(t: &Trace, kind: StepKind) -> String {
    t.step(kind)
        .map(|s| s.detail.clone())
        .unwrap_or_else(|| panic!("no {kind} step in\n{t}"))
}

#[test]
fn a_unique_local_source_leaving_is_masqueraded_to_the_uplinks_ipv6_address() {
    let t = walk(&ruleset(), Flow::tcp("dmz", OUTSIDE6, 443).with_host("web1"));
    assert_eq!(t.verdict, Action::Accept, "{t}");
    assert_eq!(t.seen_source(), Some(Address::from(UPLINK6)), "{t}");
    assert!(step(&t, StepKind::Snat).contains("unique-local"), "{t}");
}

#[test]
fn without_the_live_uplink_address_the_trace_names_the_uplinks_ipv6_address() {
    let t = explain(
        &ruleset(),
        &ExplainContext::default(),
        &Flow::icmp("dmz", OUTSIDE6),
    )
    .unwrap();
    assert_eq!(t.seen_source(), Some(Address::Uplink6), "{t}");
    assert!(
        t.to_string().contains("seen from the uplink's IPv6 address"),
        "{t}"
    );
}

#[test]
fn a_global_prefix_is_routed_as_is_even_on_a_masquerading_network() {
    let rs = ruleset();
    assert!(rs.network("lan").unwrap().masquerade);
    let vm = v6("2001:db8:2::10");
    let t = walk(&rs, Flow::tcp("lan", OUTSIDE6, 80).with_src(vm));
    assert_eq!(t.seen_source(), Some(Address::from(vm)), "{t}");
    assert!(step(&t, StepKind::Snat).contains("global"), "{t}");
    // Its IPv4 twin is masqueraded.
    let t4 = walk(&rs, Flow::tcp("lan", OUTSIDE, 80));
    assert_eq!(t4.seen_source(), Some(Address::from(UPLINK)), "{t4}");
}

#[test]
fn a_unique_local_prefix_of_a_network_without_masquerade_is_routed_as_is() {
    let vm = v6("fd00:3::10");
    let t = walk(&ruleset(), Flow::tcp("data", OUTSIDE6, 80).with_src(vm));
    assert_eq!(t.seen_source(), Some(Address::from(vm)), "{t}");
}

#[test]
fn an_ipv6_connection_to_the_uplink_on_a_forwarded_port_goes_to_the_hosts_ipv6_address() {
    let rs = ruleset();
    for to in [Address::Uplink6, Address::from(UPLINK6)] {
        let t = walk(&rs, Flow::tcp("external", to, 80).with_src(OUTSIDE6));
        assert_eq!(t.verdict, Action::Accept, "{t}");
        let d = t.delivered.clone().unwrap();
        assert_eq!(
            (d.zone.as_str(), d.addr, d.port, d.source),
            (
                "dmz",
                Address::from(v6("fd00:1::10")),
                Some(80),
                Address::from(OUTSIDE6)
            ),
            "{t}"
        );
        assert!(step(&t, StepKind::Filter).contains("ct status dnat"), "{t}");
    }
    let t = walk(&rs, Flow::tcp("external", Address::Uplink6, 2222));
    let d = t.delivered.clone().unwrap();
    assert_eq!(
        (d.addr, d.port),
        (Address::from(v6("fd00:1::10")), Some(22)),
        "{t}"
    );
    assert!(t.to_string().contains("at [fd00:1::10]:22"), "{t}");
}

#[test]
fn an_ipv6_connection_to_a_forward_whose_host_has_no_ipv6_address_stays_with_the_dom0() {
    let rs = ruleset();
    let t = walk(&rs, Flow::tcp("external", Address::Uplink6, 8080));
    assert!(step(&t, StepKind::Dnat).contains("no IPv6 address"), "{t}");
    assert_eq!(t.delivered.unwrap().zone, "dom0");
    // Over IPv4 the same forward reaches app1.
    let t4 = walk(&rs, Flow::tcp("external", Address::Uplink, 8080));
    assert_eq!(t4.delivered.unwrap().zone, "lan");
}

#[test]
fn a_vm_reaching_a_forward_over_ipv6_is_hairpinned_through_its_bridges_ipv6_address() {
    let t = walk(
        &ruleset(),
        Flow::tcp("dmz", Address::Uplink6, 80).with_src(v6("fd00:1::10")),
    );
    let d = t.delivered.clone().unwrap();
    assert_eq!(d.addr, Address::from(v6("fd00:1::10")), "{t}");
    assert_eq!(d.source, Address::from(v6("fd00:1::1")), "{t}");
}

#[test]
fn zones_are_found_by_ipv6_address() {
    let rs = ruleset();
    let from = |src: Ipv6Addr, to: Address| {
        let f = Flow {
            from: None,
            ..Flow::icmp("", to)
        }
        .with_src(src);
        walk(&rs, f)
    };
    assert!(step(&from(v6("fd00:1::10"), OUTSIDE6.into()), StepKind::Enter).starts_with("from zone dmz"));
    assert!(step(&from(v6("2001:db8:2::99"), OUTSIDE6.into()), StepKind::Enter).starts_with("from zone lan"));
    assert!(step(&from(OUTSIDE6, v6("fd00:1::10").into()), StepKind::Enter).starts_with("from zone external"));
    for dom0 in [UPLINK6, v6("fd00:3::1")] {
        let t = from(dom0, v6("2001:db8:2::10").into());
        assert!(step(&t, StepKind::Enter).starts_with("from zone dom0"), "{t}");
    }
    // The bridge's IPv6 address is the dom0's: input, never DNAT'd.
    let t = walk(&rs, Flow::tcp("external", v6("fd00:1::1"), 80));
    assert!(t.step(StepKind::Dnat).is_none(), "{t}");
    assert_eq!(t.delivered.map(|d| d.zone), Some("dom0".into()));
    // Inside one network's /64: switched by its bridge.
    let t = walk(&rs, Flow::tcp("dmz", v6("fd00:1::11"), 80).with_host("web1"));
    assert!(step(&t, StepKind::Bridged).contains("br-dmz"), "{t}");
}

#[test]
fn icmp_in_services_covers_icmpv6() {
    let rs = ruleset();
    for (from, to) in [
        ("dmz", Address::from(OUTSIDE6)),
        ("lan", Address::from(v6("fd00:1::10"))),
        ("dmz", Address::from(v6("fd00:1::1"))),
    ] {
        let t = walk(&rs, Flow::icmp(from, to));
        assert_eq!(t.verdict, Action::Accept, "{t}");
        assert!(step(&t, StepKind::Filter).contains("service icmp"), "{t}");
    }
    // A port the services leave out still drops over IPv6.
    let t = walk(&rs, Flow::tcp("dmz", OUTSIDE6, 22));
    assert_eq!(t.verdict, Action::Drop, "{t}");
}

/// Every zone pair, protocol and port of the table gets the same verdict and arrives in
/// the same zone over IPv4 and IPv6 (forwards included: web1 has both families).
#[test]
fn every_zone_pair_gets_the_same_verdict_in_both_families() {
    let rs = ruleset();
    let targets: [(&str, Address, Address); 5] = [
        ("external", OUTSIDE.into(), OUTSIDE6.into()),
        ("dom0", Address::Uplink, Address::Uplink6),
        ("dmz", Ipv4Addr::new(10, 1, 0, 10).into(), v6("fd00:1::10").into()),
        (
            "lan",
            Ipv4Addr::new(10, 2, 0, 10).into(),
            v6("2001:db8:2::10").into(),
        ),
        (
            "data",
            Ipv4Addr::new(10, 3, 0, 10).into(),
            v6("fd00:3::10").into(),
        ),
    ];
    let bridges: [(Address, Address); 3] = [
        (Ipv4Addr::new(10, 1, 0, 1).into(), v6("fd00:1::1").into()),
        (Ipv4Addr::new(10, 2, 0, 1).into(), v6("2001:db8:2::1").into()),
        (Ipv4Addr::new(10, 3, 0, 1).into(), v6("fd00:3::1").into()),
    ];
    let protos = [
        (FlowProto::Tcp, Some(80)),
        (FlowProto::Tcp, Some(22)),
        (FlowProto::Tcp, Some(2222)),
        (FlowProto::Udp, Some(53)),
        (FlowProto::Icmp, None),
    ];
    let dests = targets
        .iter()
        .map(|(_, a, b)| (*a, *b))
        .chain(bridges)
        .collect::<Vec<_>>();
    let mut compared = 0;
    for (from, _, _) in &targets {
        for (to4, to6) in &dests {
            for (proto, port) in protos {
                let t4 = walk(&rs, Flow::new(from, *to4, proto, port));
                let t6 = walk(&rs, Flow::new(from, *to6, proto, port));
                let arrival = |t: &Trace| t.delivered.as_ref().map(|d| (d.zone.clone(), d.port));
                assert_eq!(
                    (t4.verdict, arrival(&t4)),
                    (t6.verdict, arrival(&t6)),
                    "IPv4 and IPv6 disagree:\n{t4}\n{t6}"
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 5 * 8 * 5);
}

#[test]
fn anti_spoofing_accepts_declared_slaac_and_link_local_sources() {
    let rs = ruleset();
    let p = rs.network("dmz").unwrap().address6.unwrap();
    let slaac = slaac_address(p, WEB1_MAC).unwrap();
    let link_local = v6("fe80::a8cc:ff:fe00:101");
    for src in [v6("fd00:1::10"), slaac, link_local] {
        let t = walk(&rs, Flow::icmp("dmz", OUTSIDE6).with_host("web1").with_src(src));
        assert_eq!(t.verdict, Action::Accept, "{t}");
        assert!(!step(&t, StepKind::AntiSpoof).contains("dropped"), "{t}");
    }
    // Duplicate address detection: ICMPv6 from ::.
    let dad = walk(
        &rs,
        Flow::icmp("dmz", v6("fd00:1::1"))
            .with_host("web1")
            .with_src(Ipv6Addr::UNSPECIFIED),
    );
    assert!(
        step(&dad, StepKind::AntiSpoof).contains("duplicate address detection"),
        "{dad}"
    );
}

#[test]
fn anti_spoofing_drops_a_link_local_source_that_is_not_the_macs_own() {
    let rs = ruleset();
    // The gateway's kind of link-local address, and another MAC's EUI-64 one: a VM
    // sending from either would take its neighbours' router or neighbour.
    for src in [v6("fe80::1"), v6("fe80::a8cc:ff:fe00:102")] {
        let t = walk(&rs, Flow::icmp("dmz", OUTSIDE6).with_host("web1").with_src(src));
        assert_eq!(t.verdict, Action::Drop, "{t}");
        let s = step(&t, StepKind::AntiSpoof);
        assert!(
            s.contains("spoofed IPv6 link-local source") && s.contains("fe80::a8cc:ff:fe00:101"),
            "the step names the only link-local address that passes: {t}"
        );
    }
}

#[test]
fn anti_spoofing_drops_a_spoofed_ipv6_source() {
    let rs = ruleset();
    let flows = [
        Flow::icmp("dmz", OUTSIDE6)
            .with_host("web1")
            .with_src(v6("fd00:1::99")),
        // Another network's address, sent from web1's MAC.
        Flow::tcp("dmz", OUTSIDE6, 80)
            .with_mac(WEB1_MAC)
            .with_src(v6("2001:db8:2::10")),
        // :: is only for ICMPv6 (duplicate address detection).
        Flow::tcp("dmz", OUTSIDE6, 80)
            .with_host("web1")
            .with_src(Ipv6Addr::UNSPECIFIED),
    ];
    for f in flows {
        let t = walk(&rs, f);
        assert_eq!(t.verdict, Action::Drop, "{t}");
        assert!(
            step(&t, StepKind::AntiSpoof).contains("spoofed IPv6 source"),
            "{t}"
        );
    }
}

#[test]
fn a_live_binding_holds_the_slaac_address_and_nothing_else_of_the_prefix() {
    let rs = ruleset();
    let b = binding_for(&rs, "br-dmz", "vif3.0", WEB1_MAC).unwrap();
    let ctx = ExplainContext {
        bindings: vec![b],
        ..ctx()
    };
    let p = rs.network("dmz").unwrap().address6.unwrap();
    let from = |src: Ipv6Addr| Flow::tcp("dmz", OUTSIDE6, 80).with_vif("vif3.0").with_src(src);
    let ok = explain(&rs, &ctx, &from(slaac_address(p, WEB1_MAC).unwrap())).unwrap();
    assert_eq!(ok.verdict, Action::Accept, "{ok}");
    let spoofed = explain(&rs, &ctx, &from(v6("fd00:1::abcd"))).unwrap();
    assert_eq!(spoofed.verdict, Action::Drop, "{spoofed}");
    // With no source named, the vif sends from an address of its binding.
    let t = explain(&rs, &ctx, &Flow::tcp("dmz", OUTSIDE6, 80).with_vif("vif3.0")).unwrap();
    assert_eq!(t.verdict, Action::Accept, "{t}");
}

#[test]
fn a_flow_mixing_families_or_arp_over_ipv6_is_refused() {
    let rs = ruleset();
    let mixed = Flow::tcp("dmz", OUTSIDE6, 80).with_src(Ipv4Addr::new(10, 1, 0, 10));
    assert!(matches!(
        explain(&rs, &ctx(), &mixed),
        Err(ExplainError::MixedFamilies { .. })
    ));
    let arp = Flow::new("dmz", v6("fd00:1::1").into(), FlowProto::Arp, None);
    assert_eq!(explain(&rs, &ctx(), &arp), Err(ExplainError::ArpIsIpv4));
    // "uplink" with an IPv6 source is the uplink's IPv6 address.
    let t = walk(&rs, Flow::tcp("external", Address::Uplink, 80).with_src(OUTSIDE6));
    assert_eq!(t.delivered.unwrap().addr, Address::from(v6("fd00:1::10")));
}

#[test]
fn a_network_without_ipv6_cannot_send_ipv6() {
    let c = from_toml(
        "[uplink]\ninterface = \"eth0\"\n[[network]]\nname = \"v4only\"\naddress = \"10.9.0.1/24\"\n",
        "t.toml",
    )
    .unwrap();
    let e = explain(&compile(&c), &ctx(), &Flow::icmp("v4only", OUTSIDE6)).unwrap_err();
    assert_eq!(e, ExplainError::NoIpv6("v4only".into()));
}

#[test]
fn ipv4_traces_keep_their_json_shape_and_ipv6_ones_use_the_same() {
    let json = |a: Address| serde_json::to_value(a).unwrap();
    assert_eq!(
        json(Ipv4Addr::new(10, 1, 0, 10).into()),
        serde_json::json!({"ip": "10.1.0.10"})
    );
    assert_eq!(json(Address::Uplink), serde_json::json!("uplink"));
    assert_eq!(
        json(v6("fd00:1::10").into()),
        serde_json::json!({"ip": "fd00:1::10"})
    );
    assert_eq!(json(Address::Uplink6), serde_json::json!("uplink6"));
    let ctx4 = ExplainContext {
        uplink_address: Some(UPLINK),
        ..ExplainContext::default()
    };
    assert_eq!(
        serde_json::to_value(&ctx4).unwrap(),
        serde_json::json!({"uplink_address": "192.0.2.2", "bindings": []})
    );
    let t = walk(&ruleset(), Flow::tcp("external", Address::Uplink6, 80));
    let back: Trace = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
    assert_eq!(back, t);
    assert_eq!(
        t.flow.src.map(|s: IpAddr| s.is_ipv6()),
        None,
        "the flow as asked names no source"
    );
}
