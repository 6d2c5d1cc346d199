//! The firewall IR and the evaluator behind `brouter explain`, on the ISP fixture and the
//! seed (Xen) setup: every zone pair, services, forwards, hairpin, masquerade, spoofing.

use std::net::Ipv4Addr;

use brouter_engine::config::{from_toml, from_xen_words, Action, Config};
use brouter_engine::firewall::{
    binding_for, bindings_to_keep, compile, explain, Address, Binding, ExplainContext, External, Flow,
    FlowProto, Ruleset, StepKind,
};
use brouter_engine::model::{Link, LinkKind, Observed};
use brouter_engine::{plan_start, Op};

const UPLINK: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const OUTSIDE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// A bound entry (an address or a prefix).
fn net(s: &str) -> ipnet::IpNet {
    brouter_engine::firewall::parse_entry(s).unwrap()
}

fn isp_config() -> Config {
    from_toml(include_str!("../../fixtures/isp.toml"), "fixtures/isp.toml").expect("isp.toml validates")
}

fn isp() -> Ruleset {
    compile(&isp_config())
}

fn ctx() -> ExplainContext {
    ExplainContext {
        uplink_address: Some(UPLINK),
        uplink_address6: None,
        disabled_ports: vec![],
        bindings: vec![],
    }
}

fn verdict(rs: &Ruleset, flow: Flow) -> Action {
    explain(rs, &ctx(), &flow).unwrap().verdict
}

#[test]
fn isp_fixture_compiles_to_three_zones_behind_the_uplink() {
    let rs = isp();
    assert_eq!(rs.external, External::Uplink("eth0".into()));
    let names: Vec<&str> = rs.networks.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["dmz", "hosting", "data"]);
    assert!(rs.network("dmz").unwrap().antispoof);
    assert!(!rs.network("data").unwrap().masquerade);
    assert_eq!(rs.forwards.len(), 5);
    assert!(rs.forwards.iter().any(|f| !f.ports.is_single()), "a range");
    assert!(
        rs.forwards.iter().any(|f| f.to_port.is_some()),
        "a port translation"
    );
}

#[test]
fn fingerprint_is_stable_and_follows_the_policy() {
    let a = isp();
    assert_eq!(a.fingerprint(), isp().fingerprint());
    let mut b = a.clone();
    b.policies[0].services.clear();
    assert_ne!(a.fingerprint(), b.fingerprint());
}

#[test]
fn every_zone_pair_of_the_isp_fixture() {
    let rs = isp();
    use Action::*;
    // (from, to, expected) for a plain icmp echo to a host of each zone.
    let dmz = ip("10.1.0.10");
    let hosting = ip("10.2.0.10");
    let data = ip("10.3.0.10");
    let bridge_dmz = ip("10.1.0.1");
    let cases: Vec<(&str, Ipv4Addr, Action)> = vec![
        ("dmz", OUTSIDE, Accept),        // icmp listed
        ("dmz", hosting, Drop),          // unlisted
        ("dmz", data, Reject),           // reject, all services
        ("dmz", bridge_dmz, Accept),     // dmz -> dom0: icmp listed
        ("hosting", OUTSIDE, Accept),    // all
        ("hosting", dmz, Drop),          // only tcp/80, tcp/443
        ("hosting", data, Drop),         // only tcp/5432
        ("hosting", bridge_dmz, Accept), // icmp to a dom0 address
        ("data", OUTSIDE, Drop),
        ("data", dmz, Drop),
        ("data", hosting, Drop),
        ("data", ip("10.3.0.1"), Drop), // data -> dom0 unlisted
        ("external", dmz, Drop),
        ("external", hosting, Drop), // reject only tcp/25; the rest drops
        ("external", data, Drop),
        ("dom0", dmz, Accept),
        ("dom0", hosting, Accept),
        ("dom0", data, Accept),
    ];
    for (from, to, want) in cases {
        let t = explain(&rs, &ctx(), &Flow::icmp(from, to)).unwrap();
        assert_eq!(t.verdict, want, "icmp {from} -> {to}:\n{t}");
    }
}

#[test]
fn services_limit_a_policy_and_the_rest_drops() {
    let rs = isp();
    let out = OUTSIDE;
    assert_eq!(verdict(&rs, Flow::tcp("dmz", out, 443)), Action::Accept);
    assert_eq!(verdict(&rs, Flow::udp("dmz", out, 53)), Action::Accept);
    assert_eq!(verdict(&rs, Flow::tcp("dmz", out, 22)), Action::Drop);
    assert_eq!(verdict(&rs, Flow::udp("dmz", out, 54)), Action::Drop);
    assert_eq!(
        verdict(&rs, Flow::tcp("hosting", ip("10.3.0.10"), 5432)),
        Action::Accept
    );
    assert_eq!(
        verdict(&rs, Flow::tcp("hosting", ip("10.3.0.10"), 5433)),
        Action::Drop
    );
    assert_eq!(
        verdict(&rs, Flow::tcp("external", ip("10.2.0.10"), 25)),
        Action::Reject
    );
    assert_eq!(
        verdict(&rs, Flow::tcp("external", ip("10.2.0.10"), 26)),
        Action::Drop
    );
    let t = explain(&rs, &ctx(), &Flow::tcp("dmz", out, 22)).unwrap();
    assert!(t.to_string().contains("not among its services"), "{t}");
}

#[test]
fn masquerade_shows_the_uplink_address_to_the_outside() {
    let rs = isp();
    let t = explain(&rs, &ctx(), &Flow::tcp("hosting", OUTSIDE, 443)).unwrap();
    assert_eq!(t.verdict, Action::Accept);
    assert_eq!(t.seen_source(), Some(Address::from(UPLINK)));
    // Without a known uplink address the trace says so symbolically.
    let t = explain(
        &rs,
        &ExplainContext::default(),
        &Flow::tcp("hosting", OUTSIDE, 443),
    )
    .unwrap();
    assert_eq!(t.seen_source(), Some(Address::Uplink));
}

#[test]
fn a_network_without_masquerade_keeps_its_source() {
    let mut rs = isp();
    rs.policies.retain(|p| !(p.from == "data" && p.to == "external"));
    rs.policies.push(brouter_engine::firewall::PairPolicy {
        from: "data".into(),
        to: "external".into(),
        action: Action::Accept,
        services: vec![],
        log: false,
    });
    let t = explain(&rs, &ctx(), &Flow::tcp("data", OUTSIDE, 80)).unwrap();
    assert_eq!(t.verdict, Action::Accept);
    assert_eq!(t.seen_source(), Some(Address::from(ip("10.3.0.10"))));
}

#[test]
fn routed_traffic_between_zones_keeps_its_source() {
    let rs = isp();
    let t = explain(&rs, &ctx(), &Flow::tcp("hosting", ip("10.1.0.10"), 80)).unwrap();
    assert_eq!(t.verdict, Action::Accept);
    assert_eq!(t.seen_source(), Some(Address::from(ip("10.2.0.10"))));
}

#[test]
fn a_forward_reaches_its_vm_and_keeps_the_client_address() {
    let rs = isp();
    let t = explain(
        &rs,
        &ctx(),
        &Flow::tcp("external", Address::Uplink, 80).with_src(OUTSIDE),
    )
    .unwrap();
    assert_eq!(t.verdict, Action::Accept, "{t}");
    let d = t.delivered.clone().unwrap();
    assert_eq!(
        (d.zone.as_str(), d.addr, d.port),
        ("dmz", Address::from(ip("10.1.0.10")), Some(80))
    );
    assert_eq!(d.source, Address::from(OUTSIDE));
    assert!(t.to_string().contains("a forward implies its accept"), "{t}");
}

#[test]
fn a_forward_given_the_literal_uplink_address_is_the_same_forward() {
    let rs = isp();
    let t = explain(&rs, &ctx(), &Flow::tcp("external", UPLINK, 443)).unwrap();
    assert_eq!(t.delivered.unwrap().addr, Address::from(ip("10.1.0.10")));
}

#[test]
fn a_forward_translates_its_port() {
    let rs = isp();
    let t = explain(&rs, &ctx(), &Flow::tcp("external", Address::Uplink, 2222)).unwrap();
    let d = t.delivered.unwrap();
    assert_eq!((d.addr, d.port), (Address::from(ip("10.1.0.11")), Some(22)));
}

#[test]
fn a_forwarded_range_keeps_each_port() {
    let rs = isp();
    for port in [8000, 8005, 8009] {
        let t = explain(&rs, &ctx(), &Flow::tcp("external", Address::Uplink, port)).unwrap();
        let d = t.delivered.unwrap();
        assert_eq!((d.addr, d.port), (Address::from(ip("10.1.0.11")), Some(port)));
    }
    let t = explain(&rs, &ctx(), &Flow::udp("external", Address::Uplink, 5061)).unwrap();
    assert_eq!(t.delivered.unwrap().addr, Address::from(ip("10.2.0.10")));
    // Just outside the range, and the wrong protocol: the dom0 itself, not judged.
    let t = explain(&rs, &ctx(), &Flow::tcp("external", Address::Uplink, 8010)).unwrap();
    assert_eq!(t.delivered.unwrap().zone, "dom0");
    let t = explain(&rs, &ctx(), &Flow::udp("external", Address::Uplink, 8000)).unwrap();
    assert_eq!(t.delivered.unwrap().zone, "dom0");
}

#[test]
fn the_hosts_own_services_on_the_uplink_are_not_judged_unless_listed() {
    let rs = isp();
    let t = explain(&rs, &ctx(), &Flow::tcp("external", Address::Uplink, 22)).unwrap();
    assert_eq!(t.verdict, Action::Accept);
    assert!(t.to_string().contains("left to the host firewall"), "{t}");
    let mut listed = rs.clone();
    listed.policies.push(brouter_engine::firewall::PairPolicy {
        from: "external".into(),
        to: "dom0".into(),
        action: Action::Drop,
        services: vec![],
        log: false,
    });
    assert_eq!(
        verdict(&listed, Flow::tcp("external", Address::Uplink, 22)),
        Action::Drop
    );
    // A bridge address is a dom0 address too, and never forwarded.
    assert_eq!(
        verdict(&rs, Flow::tcp("external", ip("10.1.0.1"), 80)),
        Action::Accept
    );
}

#[test]
fn hairpin_from_another_network_reaches_the_vm_through_the_dom0() {
    let rs = isp();
    // data may not reach dmz directly, but a forward implies its accept.
    assert_eq!(verdict(&rs, Flow::tcp("data", ip("10.1.0.10"), 80)), Action::Drop);
    let t = explain(&rs, &ctx(), &Flow::tcp("data", Address::Uplink, 80)).unwrap();
    assert_eq!(t.verdict, Action::Accept, "{t}");
    let d = t.delivered.unwrap();
    assert_eq!(d.addr, Address::from(ip("10.1.0.10")));
    assert_eq!(
        d.source,
        Address::from(ip("10.1.0.1")),
        "masqueraded to the server's bridge address"
    );
}

#[test]
fn hairpin_inside_the_same_network_is_masqueraded_to_the_bridge() {
    let rs = isp();
    let t = explain(&rs, &ctx(), &Flow::tcp("dmz", UPLINK, 8003).with_host("web1")).unwrap();
    assert_eq!(t.verdict, Action::Accept, "{t}");
    let d = t.delivered.unwrap();
    assert_eq!((d.addr, d.port), (Address::from(ip("10.1.0.11")), Some(8003)));
    assert_eq!(d.source, Address::from(ip("10.1.0.1")));
}

#[test]
fn vms_of_one_network_are_bridged_not_routed() {
    let rs = isp();
    let t = explain(
        &rs,
        &ctx(),
        &Flow::tcp("dmz", ip("10.1.0.11"), 5555).with_host("web1"),
    )
    .unwrap();
    assert_eq!(t.verdict, Action::Accept);
    assert!(t.step(StepKind::Bridged).is_some(), "{t}");
    assert_eq!(t.seen_source(), Some(Address::from(ip("10.1.0.10"))));
}

#[test]
fn a_spoofed_source_address_is_dropped_at_the_bridge() {
    let rs = isp();
    let ok = Flow::tcp("dmz", OUTSIDE, 80).with_host("web1");
    assert_eq!(verdict(&rs, ok.clone()), Action::Accept);
    let spoofed = ok.clone().with_src(ip("10.1.0.99"));
    let t = explain(&rs, &ctx(), &spoofed).unwrap();
    assert_eq!(t.verdict, Action::Drop);
    assert!(t.to_string().contains("spoofed IP source 10.1.0.99"), "{t}");
    // Another VM's address is spoofing too.
    assert_eq!(verdict(&rs, ok.clone().with_src(ip("10.1.0.11"))), Action::Drop);
    // Both of web2's addresses are its own.
    assert_eq!(
        verdict(
            &rs,
            Flow::tcp("dmz", OUTSIDE, 80)
                .with_host("web2")
                .with_src(ip("10.1.0.12"))
        ),
        Action::Accept
    );
}

#[test]
fn a_spoofed_mac_is_dropped_at_the_bridge() {
    let rs = isp();
    let t = explain(
        &rs,
        &ctx(),
        &Flow::tcp("dmz", OUTSIDE, 80)
            .with_host("web1")
            .with_mac("aa:cc:00:00:01:02"),
    )
    .unwrap();
    assert_eq!(t.verdict, Action::Drop);
    assert!(t.to_string().contains("spoofed MAC"), "{t}");
}

#[test]
fn a_spoofed_arp_sender_is_dropped_and_an_honest_one_passes() {
    let rs = isp();
    let arp = |src: &str| Flow {
        from: Some("dmz".into()),
        src: Some(ip(src).into()),
        host: Some("web1".into()),
        vif: None,
        src_mac: None,
        to: Address::from(ip("10.1.0.1")),
        port: None,
        proto: FlowProto::Arp,
    };
    assert_eq!(verdict(&rs, arp("10.1.0.10")), Action::Accept);
    let t = explain(&rs, &ctx(), &arp("10.1.0.1")).unwrap();
    assert_eq!(t.verdict, Action::Drop);
    assert!(t.to_string().contains("spoofed ARP sender"), "{t}");
}

#[test]
fn live_bindings_decide_for_a_named_vif() {
    let rs = isp();
    let b = Binding {
        vif: "vif3.0".into(),
        mac: "aa:cc:00:00:01:01".into(),
        addrs: vec![net("10.1.0.10")],
    };
    let c = ExplainContext {
        uplink_address: Some(UPLINK),
        uplink_address6: None,
        disabled_ports: vec![],
        bindings: vec![b],
    };
    let f = Flow::tcp("dmz", OUTSIDE, 80)
        .with_vif("vif3.0")
        .with_src(ip("10.1.0.10"));
    assert_eq!(explain(&rs, &c, &f).unwrap().verdict, Action::Accept);
    let spoof = f.clone().with_src(ip("10.1.0.50"));
    assert_eq!(explain(&rs, &c, &spoof).unwrap().verdict, Action::Drop);
    // A vif without a binding is not guarded.
    let unbound = Flow::tcp("dmz", OUTSIDE, 80)
        .with_vif("vif9.0")
        .with_src(ip("10.1.0.50"));
    let t = explain(&rs, &c, &unbound).unwrap();
    assert_eq!(t.verdict, Action::Accept);
    assert!(t.to_string().contains("not guarded"), "{t}");
}

#[test]
fn an_unbound_vif_whose_port_start_disabled_reaches_nothing_not_even_the_dom0() {
    let rs = isp();
    let mut c = ctx();
    c.disabled_ports = vec!["vif9.0".into()];
    for to in [OUTSIDE, ip("10.1.0.1")] {
        let f = Flow::tcp("dmz", to, 80)
            .with_vif("vif9.0")
            .with_src(ip("10.1.0.50"));
        let t = explain(&rs, &c, &f).unwrap();
        assert_eq!(t.verdict, Action::Drop, "{t}");
        assert!(t.to_string().contains("state disabled"), "{t}");
        assert!(t.to_string().contains("brouter start` disabled it"), "{t}");
    }
}

#[test]
fn an_unbound_vif_reaches_no_vm_of_its_antispoof_network_as_bridge_forward_drops_it() {
    let rs = isp();
    let c = ExplainContext {
        uplink_address: Some(UPLINK),
        uplink_address6: None,
        disabled_ports: vec![],
        bindings: vec![Binding {
            vif: "vif3.0".into(),
            mac: "aa:cc:00:00:01:01".into(),
            addrs: vec![net("10.1.0.10")],
        }],
    };
    let to_vm = |vif: &str, src: &str, proto: FlowProto| Flow {
        from: Some("dmz".into()),
        src: Some(ip(src).into()),
        host: None,
        vif: Some(vif.into()),
        src_mac: None,
        to: Address::from(ip("10.1.0.11")),
        port: Some(22),
        proto,
    };
    for proto in [FlowProto::Tcp, FlowProto::Arp] {
        let t = explain(&rs, &c, &to_vm("vif9.0", "10.1.0.50", proto)).unwrap();
        assert_eq!(t.verdict, Action::Drop, "{t}");
        assert!(t.to_string().contains("forward chain"), "{t}");
    }
    // The bound vif's same flow is switched; the unbound one's to the outside is not fenced.
    let bound = explain(&rs, &c, &to_vm("vif3.0", "10.1.0.10", FlowProto::Tcp)).unwrap();
    assert!(!bound.to_string().contains("forward chain"), "{bound}");
    let out = Flow::tcp("dmz", OUTSIDE, 80)
        .with_vif("vif9.0")
        .with_src(ip("10.1.0.50"));
    assert_eq!(explain(&rs, &c, &out).unwrap().verdict, Action::Accept);
}

#[test]
fn an_undeclared_vm_on_an_antispoof_network_may_not_send_ip() {
    let rs = isp();
    let t = explain(
        &rs,
        &ctx(),
        &Flow::tcp("dmz", OUTSIDE, 80).with_src(ip("10.1.0.77")),
    )
    .unwrap();
    assert_eq!(t.verdict, Action::Drop);
    // On a network without anti-spoofing any source is taken as it is.
    assert_eq!(
        verdict(&rs, Flow::tcp("hosting", OUTSIDE, 80).with_src(ip("10.2.0.77"))),
        Action::Accept
    );
}

#[test]
fn a_flow_given_only_by_its_source_address_finds_its_zone() {
    let rs = isp();
    let f = Flow {
        from: None,
        ..Flow::tcp("x", OUTSIDE, 443).with_src(ip("10.2.0.10"))
    };
    let t = explain(&rs, &ctx(), &f).unwrap();
    assert!(t.steps[0].detail.contains("from zone hosting"), "{t}");
    let f = Flow {
        from: None,
        ..Flow::tcp("x", ip("10.1.0.10"), 80).with_src(OUTSIDE)
    };
    assert_eq!(
        explain(&rs, &ctx(), &f).unwrap().verdict,
        Action::Drop,
        "external -> dmz unlisted"
    );
}

#[test]
fn an_unknown_zone_is_an_error_naming_the_zones() {
    let rs = isp();
    let e = explain(&rs, &ctx(), &Flow::icmp("dmx", OUTSIDE)).unwrap_err();
    assert!(
        e.to_string().contains("external, dom0, dmz, hosting, data"),
        "{e}"
    );
}

#[test]
fn traces_serialise_to_json_and_back() {
    let rs = isp();
    let t = explain(&rs, &ctx(), &Flow::tcp("external", Address::Uplink, 2222)).unwrap();
    let json = serde_json::to_string_pretty(&t).unwrap();
    assert!(json.contains("\"verdict\": \"accept\""), "{json}");
    assert!(json.contains("\"kind\": \"dnat\""), "{json}");
    let back: brouter_engine::firewall::Trace = serde_json::from_str(&json).unwrap();
    assert_eq!(back, t);
}

#[test]
fn the_seed_setup_masquerades_and_keeps_the_outside_out() {
    let c = from_xen_words(&["bridgeip=10.98.98.1/24", "brnet=10.98.98.0/24"]).unwrap();
    let rs = compile(&c);
    assert_eq!(rs.external, External::AnyOther);
    let vm = ip("10.98.98.10");
    let t = explain(&rs, &ctx(), &Flow::tcp("xenbr0", OUTSIDE, 80).with_src(vm)).unwrap();
    assert_eq!(t.verdict, Action::Accept, "{t}");
    assert_eq!(t.seen_source(), Some(Address::from(UPLINK)));
    assert_eq!(
        verdict(&rs, Flow::icmp("xenbr0", ip("10.98.98.1")).with_src(vm)),
        Action::Accept
    );
    assert_eq!(verdict(&rs, Flow::tcp("external", vm, 22)), Action::Drop);
}

#[test]
fn a_vif_is_bound_only_on_an_antispoof_network() {
    let rs = isp();
    let b = binding_for(&rs, "br-dmz", "vif4.0", "AA:CC:00:00:01:02").unwrap();
    // Its declared addresses, and the SLAAC address its MAC makes in dmz's /64.
    assert_eq!(
        b.addrs,
        vec![
            net("10.1.0.11"),
            net("10.1.0.12"),
            net("2001:db8:10::11"),
            net("2001:db8:10::a8cc:ff:fe00:102")
        ]
    );
    assert_eq!(b.mac, "aa:cc:00:00:01:02");
    let stranger = binding_for(&rs, "br-dmz", "vif5.0", "aa:cc:00:00:09:09").unwrap();
    assert_eq!(
        stranger.addrs,
        vec![net("2001:db8:10::a8cc:ff:fe00:909")],
        "an undeclared MAC gets no declared address, only its SLAAC one"
    );
    assert_eq!(
        binding_for(&rs, "br-hosting", "vif6.0", "aa:cc:00:00:02:01"),
        None
    );
}

/// A vif attached to `master` (built from JSON so new optional link fields keep defaults).
fn vif(name: &str, master: &str) -> Link {
    let link: Link = serde_json::from_value(serde_json::json!({
        "name": name, "kind": {"other": "vif"}, "master": master, "up": true
    }))
    .unwrap();
    assert_eq!(link.kind, LinkKind::Other("vif".into()));
    link
}

#[test]
fn start_keeps_the_bindings_of_attached_vifs() {
    let config = isp_config();
    let desired = brouter_engine::compile(&config);
    let fw = desired
        .firewall
        .clone()
        .expect("the firewall is part of the desired state");
    let observed = Observed {
        links: vec![vif("vif1.0", "br-dmz")],
        bindings: vec![
            Binding {
                vif: "vif1.0".into(),
                mac: "aa:cc:00:00:01:01".into(),
                addrs: vec![net("10.1.0.200")],
            },
            Binding {
                vif: "vif2.0".into(),
                mac: "aa:cc:00:00:01:02".into(),
                addrs: vec![net("10.1.0.11")],
            },
        ],
        ..Observed::default()
    };
    // Gone vifs are dropped; kept ones are refreshed from the declarations.
    let kept = bindings_to_keep(&fw, &observed);
    assert_eq!(
        kept,
        vec![Binding {
            vif: "vif1.0".into(),
            mac: "aa:cc:00:00:01:01".into(),
            addrs: vec![
                net("10.1.0.10"),
                net("2001:db8:10::10"),
                net("2001:db8:10::a8cc:ff:fe00:101")
            ]
        }]
    );
    let plan = plan_start(&desired, &observed).unwrap();
    let op = plan
        .ops
        .iter()
        .find(|o| matches!(o, Op::ReplaceFirewall { .. }))
        .expect("replaces the firewall");
    let Op::ReplaceFirewall {
        bindings,
        fingerprint,
        ..
    } = op
    else {
        unreachable!()
    };
    assert_eq!(bindings, &kept);
    assert_eq!(fingerprint, &fw.fingerprint());
    // Converged: the same fingerprint plans no firewall op.
    let converged = Observed {
        firewall: Some(fw.fingerprint()),
        ..observed
    };
    let plan = plan_start(&desired, &converged).unwrap();
    assert!(!plan.ops.iter().any(|o| matches!(o, Op::ReplaceFirewall { .. })));
}

#[test]
fn a_changed_firewall_forgets_udp_flows_the_forwards_now_cover() {
    let config = isp_config();
    let desired = brouter_engine::compile(&config);
    let fw = desired.firewall.clone().unwrap();
    let addr = |link: &str, a: &str, owned: bool| brouter_engine::model::Address {
        link: link.into(),
        addr: a.parse().unwrap(),
        owned,
    };
    let observed = Observed {
        addresses: vec![
            addr("eth0", "192.0.2.2/24", false),
            addr("br-dmz", "10.1.0.1/24", true),
        ],
        firewall: Some("an older ruleset".into()),
        ..Observed::default()
    };
    let plan = plan_start(&desired, &observed).unwrap();
    let replace = plan
        .ops
        .iter()
        .position(|o| matches!(o, Op::ReplaceFirewall { .. }))
        .expect("replaces the firewall");
    let flushes: Vec<(usize, &Op)> = plan
        .ops
        .iter()
        .enumerate()
        .filter(|(_, o)| matches!(o, Op::FlushConntrack { .. }))
        .collect();
    // isp.toml forwards one udp range (5060-5061 to app1); its flows to the uplink go,
    // never those to a bridge address, and only after the new rules are in.
    assert_eq!(flushes.len(), 1, "{plan:#?}");
    let (at, op) = flushes[0];
    assert!(at > replace);
    assert_eq!(
        op,
        &Op::FlushConntrack {
            to: vec![ip("192.0.2.2")],
            to6: vec![],
            flows: vec![brouter_engine::plan::StaleFlow {
                proto: brouter_engine::config::Proto::Udp,
                ports: brouter_engine::config::PortRange {
                    first: 5060,
                    last: 5061
                },
                addr: ip("10.2.0.10"),
                addr6: Some("fd00:2::10".parse().unwrap()),
                to_port: None,
            }],
        }
    );
    // Converged: nothing to forget.
    let converged = Observed {
        firewall: Some(fw.fingerprint()),
        ..observed
    };
    let plan = plan_start(&desired, &converged).unwrap();
    assert!(!plan.ops.iter().any(|o| matches!(o, Op::FlushConntrack { .. })));
}

/// The filter step of a flow's trace, as `explain` prints it.
fn filter_step(rs: &Ruleset, flow: Flow) -> String {
    let t = explain(rs, &ctx(), &flow).unwrap();
    t.step(StepKind::Filter).expect("a filter step").detail.clone()
}

#[test]
fn a_logged_policy_names_the_log_line_of_what_it_refuses() {
    let rs = isp();
    // dmz -> data rejects everything, with log = true.
    let step = filter_step(&rs, Flow::tcp("dmz", ip("10.3.0.10"), 5432));
    assert!(
        step.ends_with("reject, logged as 'brouter reject dmz->data'"),
        "{step}"
    );
    // data -> external drops, without log: nothing is logged.
    let step = filter_step(&rs, Flow::tcp("data", OUTSIDE, 80));
    assert!(!step.contains("logged"), "{step}");
    // Unlisted pairs are not logged unless [log] drops says so.
    let step = filter_step(&rs, Flow::tcp("dmz", ip("10.2.0.10"), 80));
    assert!(!step.contains("logged"), "{step}");
}

#[test]
fn log_drops_by_default_logs_unlisted_pairs_and_the_rest_of_a_service_list() {
    let text = include_str!("../../fixtures/isp.toml").replacen(
        "[uplink]",
        "[log]\ndrops = true\nrate = \"2/second\"\n\n[uplink]",
        1,
    );
    let rs = compile(&from_toml(&text, "isp-logged.toml").unwrap());
    assert_eq!(rs.log.rate.to_string(), "2/second");
    let step = filter_step(&rs, Flow::tcp("dmz", ip("10.2.0.10"), 80));
    assert!(
        step.ends_with("no policy for dmz → hosting: drop, logged as 'brouter drop dmz->hosting'"),
        "{step}"
    );
    // hosting -> dmz accepts tcp/80 and tcp/443: the rest is dropped and logged.
    let step = filter_step(&rs, Flow::tcp("hosting", ip("10.1.0.10"), 22));
    assert!(
        step.ends_with("drop, logged as 'brouter drop hosting->dmz'"),
        "{step}"
    );
    let step = filter_step(&rs, Flow::tcp("hosting", ip("10.1.0.10"), 80));
    assert!(!step.contains("logged"), "an accept is not logged: {step}");
    // A zone to itself is accepted, so nothing to log.
    assert_eq!(rs.log_prefix("dmz", "dmz", Action::Drop), None);
}

#[test]
fn a_bound_prefix_a_mac_only_binding_and_a_dhcp_discover_are_judged_as_the_bridge_does() {
    let rs = isp();
    let c = ExplainContext {
        uplink_address: Some(UPLINK),
        uplink_address6: None,
        disabled_ports: vec![],
        bindings: vec![
            Binding {
                vif: "vif3.0".into(),
                mac: "aa:cc:00:00:01:01".into(),
                addrs: vec![net("10.1.0.16/28"), net("fd00::/64")],
            },
            Binding {
                vif: "vif4.0".into(),
                mac: "aa:cc:00:00:09:09".into(),
                addrs: Binding::any(),
            },
        ],
    };
    let from = |vif: &str, src: &str| Flow::tcp("dmz", OUTSIDE, 80).with_vif(vif).with_src(ip(src));
    assert_eq!(
        explain(&rs, &c, &from("vif3.0", "10.1.0.20")).unwrap().verdict,
        Action::Accept
    );
    let t = explain(&rs, &c, &from("vif3.0", "10.1.0.50")).unwrap();
    assert_eq!(t.verdict, Action::Drop);
    assert!(t.to_string().contains("10.1.0.16/28"), "{t}");
    // Bound to its MAC alone: any address passes, another MAC does not.
    assert_eq!(
        explain(&rs, &c, &from("vif4.0", "10.1.0.99")).unwrap().verdict,
        Action::Accept
    );
    let other_mac = from("vif4.0", "10.1.0.99").with_mac("aa:cc:00:00:09:0a");
    assert_eq!(explain(&rs, &c, &other_mac).unwrap().verdict, Action::Drop);
    // A DHCP discover from the bound MAC passes the bridge whatever is bound.
    let discover = Flow {
        from: Some("dmz".into()),
        src: Some(Ipv4Addr::UNSPECIFIED.into()),
        host: None,
        vif: Some("vif3.0".into()),
        src_mac: None,
        to: Address::from(Ipv4Addr::BROADCAST),
        port: Some(67),
        proto: FlowProto::Udp,
    };
    let t = explain(&rs, &c, &discover).unwrap();
    let antispoof: Vec<String> = t
        .steps
        .iter()
        .filter(|s| s.kind == StepKind::AntiSpoof)
        .map(|s| s.detail.clone())
        .collect();
    assert!(
        antispoof.len() == 1 && antispoof[0].contains("DHCP always passes"),
        "{t}"
    );
}

#[test]
fn dhcp_and_dns_to_the_dom0_pass_on_a_dhcp_network_whatever_the_policies() {
    let text = include_str!("../../fixtures/isp.toml");
    let plain = isp();
    let bridge = ip(&plain.network("data").unwrap().address.addr().to_string());
    // Without dhcp = true, data → dom0 is judged by its policy (unlisted: dropped).
    assert_eq!(verdict(&plain, Flow::udp("data", bridge, 67)), Action::Drop);
    let served = text.replacen("name = \"data\"", "name = \"data\"\ndhcp = true", 1);
    let rs = compile(&from_toml(&served, "isp.toml").unwrap());
    assert!(rs.network("data").unwrap().dhcp);
    assert_eq!(verdict(&rs, Flow::udp("data", bridge, 67)), Action::Accept);
    assert_eq!(verdict(&rs, Flow::udp("data", bridge, 53)), Action::Accept);
    assert_eq!(verdict(&rs, Flow::tcp("data", bridge, 53)), Action::Accept);
    assert_eq!(
        verdict(&rs, Flow::tcp("data", bridge, 22)),
        Action::Drop,
        "only DHCP and DNS"
    );
    assert_eq!(
        verdict(&rs, Flow::udp("dmz", bridge, 67)),
        verdict(&plain, Flow::udp("dmz", bridge, 67))
    );
}
