//! A first check of `explain` against real packets: the ISP fixture's tables in a dom0
//! namespace (bridges set up by hand here; `brouter start` does it in the scenario
//! tests), veth domUs, an "internet" with no route back. For each flow the kernel's
//! outcome must be `explain`'s verdict, and an accepted flow's receiver must see the
//! source `explain` predicts.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use brouter_backends::firewall;
use brouter_engine::config::{from_toml, Action};
use brouter_engine::firewall::{compile, explain, Address, Binding, ExplainContext, Flow, Ruleset};
use brouter_integration::drop_proof::{self, ProbeMatch};
use brouter_integration::probe::{self, DEADLINE, DROP_DEADLINE};
use brouter_integration::topology::INTERNET_HOST;
use brouter_integration::{root_or_skip, DomU, Netns, Outcome, Topology};

fn isp() -> Ruleset {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/isp.toml");
    compile(&from_toml(&std::fs::read_to_string(path).unwrap(), "fixtures/isp.toml").unwrap())
}

const WEB1: usize = 0;
const WEB2: usize = 1;
const APP1: usize = 2;
const DB1: usize = 3;

/// The ISP fixture's networks on a hand-built dom0, its firewall applied, web1 and web2 bound.
fn isp_dom0(tag: &str) -> (Topology, Ruleset) {
    let t = Topology::new(tag)
        .domu(DomU::new("web1", "10.1.0.10/24", "10.1.0.1").mac("aa:cc:00:00:01:01"))
        .domu(DomU::new("web2", "10.1.0.11/24", "10.1.0.1").mac("aa:cc:00:00:01:02"))
        .domu(DomU::new("app1", "10.2.0.10/24", "10.2.0.1").mac("aa:cc:00:00:02:01"))
        .domu(DomU::new("db1", "10.3.0.10/24", "10.3.0.1").mac("aa:cc:00:00:03:01"))
        .build();
    let rs = isp();
    let d0 = t.dom0();
    let mut lines = vec![];
    for n in &rs.networks {
        lines.push(format!("link add {} type bridge", n.bridge));
        lines.push(format!("addr add {} dev {}", n.address, n.bridge));
        lines.push(format!("link set {} up", n.bridge));
    }
    for (i, bridge) in [
        (WEB1, "br-dmz"),
        (WEB2, "br-dmz"),
        (APP1, "br-hosting"),
        (DB1, "br-data"),
    ] {
        lines.push(format!("link set {} master {bridge}", t.vif(i)));
        lines.push(format!("link set {} up", t.vif(i)));
    }
    d0.ip_batch(&lines);
    d0.set_sysctl("net.ipv4.ip_forward", "1");
    firewall::replace(&d0.target(), &rs).unwrap();
    for i in [WEB1, WEB2] {
        let b = brouter_engine::firewall::binding_for(
            &rs,
            "br-dmz",
            t.vif(i),
            t.domu_spec(i).mac.as_deref().unwrap(),
        )
        .expect("dmz does anti-spoofing");
        firewall::add_binding(&d0.target(), &b).unwrap();
    }
    (t, rs)
}

/// One flow, sent for real and explained.
struct Case<'a> {
    flow: Flow,
    client: &'a Netns,
    server: &'a Netns,
    dst: Ipv4Addr,
    port: u16,
    listen: u16,
}

/// Each flow explained and sent; a timeout agrees with a predicted drop only when the
/// probe tables prove brouter's chains dropped it (`brouter_integration::drop_proof`).
/// The IPv4 address, for the IPv4 probes here.
fn v4(a: IpAddr) -> Option<Ipv4Addr> {
    match a {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

fn check(dom0: &Netns, rs: &Ruleset, ctx: &ExplainContext, cases: &[Case<'_>]) -> Vec<String> {
    let mut disagreements = vec![];
    for (id, c) in cases.iter().enumerate() {
        let m = ProbeMatch::l4(
            "tcp",
            c.flow.src.and_then(v4),
            c.dst,
            Some(c.port),
            c.flow.src_mac.as_deref(),
        );
        drop_proof::install(dom0, &[(id, &m)]);
        let trace = explain(rs, ctx, &c.flow).unwrap();
        let deadline = if trace.verdict == Action::Accept {
            DEADLINE
        } else {
            DROP_DEADLINE
        };
        let listen = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), c.listen);
        let outcome = probe::tcp(
            c.server,
            listen,
            c.client,
            SocketAddr::new(c.dst.into(), c.port),
            deadline,
        );
        let agrees = match (&outcome, trace.verdict) {
            (Outcome::Connected { .. }, Action::Accept) => {
                let seen = trace.seen_source().map(|a| match a {
                    Address::Ip(ip) => ip,
                    Address::Uplink | Address::Uplink6 => panic!("the context knows the uplink address"),
                });
                outcome.peer_ip() == seen
            }
            (Outcome::Refused, Action::Reject) => true,
            (Outcome::TimedOut, Action::Drop) => {
                drop_proof::dropped_at(dom0, id, &c.flow.to_string()).is_some()
            }
            _ => false,
        };
        drop_proof::remove(dom0, &[id]);
        if !agrees {
            disagreements.push(format!("{}: kernel {outcome:?}, explain:\n{trace}", c.flow));
        }
    }
    disagreements
}

#[test]
fn explain_agrees_with_the_kernel_on_the_isp_fixture() {
    if !root_or_skip("explain_agrees_with_the_kernel_on_the_isp_fixture") {
        return;
    }
    let (t, rs) = isp_dom0("fwtraffic");
    let ctx = ExplainContext {
        uplink_address: Some(t.uplink_ip()),
        uplink_address6: None,
        bindings: firewall::read_bindings(&t.dom0().target()).unwrap(),
        disabled_ports: vec![],
    };
    let up = t.uplink_ip();
    let internet_src: Ipv4Addr = t.uplink().gw.parse().unwrap();
    let (web1, web2, app1, db1) = (t.domu(WEB1), t.domu(WEB2), t.domu(APP1), t.domu(DB1));
    let ip = |i: usize| t.domu_spec(i).ip();
    let from = |zone: &str, i: usize, to: Address, port: u16| Flow::tcp(zone, to, port).with_src(ip(i));
    let inet = t.internet();
    let c = |flow, client, server, dst, port, listen| Case {
        flow,
        client,
        server,
        dst,
        port,
        listen,
    };
    let cases = vec![
        // To the outside: masquerade, services, a zone that may not.
        c(
            from("hosting", APP1, INTERNET_HOST.into(), 443),
            app1,
            inet,
            INTERNET_HOST,
            443,
            443,
        ),
        c(
            from("dmz", WEB1, INTERNET_HOST.into(), 80),
            web1,
            inet,
            INTERNET_HOST,
            80,
            80,
        ),
        c(
            from("dmz", WEB1, INTERNET_HOST.into(), 22),
            web1,
            inet,
            INTERNET_HOST,
            22,
            22,
        ),
        c(
            from("data", DB1, INTERNET_HOST.into(), 80),
            db1,
            inet,
            INTERNET_HOST,
            80,
            80,
        ),
        // Between zones: services, reject, unlisted.
        c(
            from("hosting", APP1, ip(WEB1).into(), 80),
            app1,
            web1,
            ip(WEB1),
            80,
            80,
        ),
        c(
            from("hosting", APP1, ip(DB1).into(), 5432),
            app1,
            db1,
            ip(DB1),
            5432,
            5432,
        ),
        c(
            from("hosting", APP1, ip(DB1).into(), 5433),
            app1,
            db1,
            ip(DB1),
            5433,
            5433,
        ),
        c(
            from("dmz", WEB1, ip(DB1).into(), 5432),
            web1,
            db1,
            ip(DB1),
            5432,
            5432,
        ),
        c(
            from("data", DB1, ip(APP1).into(), 22),
            db1,
            app1,
            ip(APP1),
            22,
            22,
        ),
        // Forwards from the outside: the client's address is kept; translation; a range.
        c(
            Flow::tcp("external", up, 80).with_src(internet_src),
            inet,
            web1,
            up,
            80,
            80,
        ),
        c(
            Flow::tcp("external", up, 2222).with_src(internet_src),
            inet,
            web2,
            up,
            2222,
            22,
        ),
        c(
            Flow::tcp("external", up, 8007).with_src(internet_src),
            inet,
            web2,
            up,
            8007,
            8007,
        ),
        // Hairpin, from another network and from inside the same one.
        c(from("data", DB1, up.into(), 443), db1, web1, up, 443, 443),
        c(from("dmz", WEB1, up.into(), 8001), web1, web2, up, 8001, 8001),
        // Within one network: bridged.
        c(
            from("dmz", WEB1, ip(WEB2).into(), 9000),
            web1,
            web2,
            ip(WEB2),
            9000,
            9000,
        ),
    ];
    let bad = check(t.dom0(), &rs, &ctx, &cases);
    assert!(
        bad.is_empty(),
        "{} of {} flows disagree:\n{}",
        bad.len(),
        cases.len(),
        bad.join("\n\n")
    );
}

#[test]
fn a_vif_bound_to_other_addresses_or_another_mac_is_cut_off() {
    if !root_or_skip("a_vif_bound_to_other_addresses_or_another_mac_is_cut_off") {
        return;
    }
    let (t, rs) = isp_dom0("fwspoof");
    let d0 = t.dom0().target();
    let web1 = t.domu(WEB1);
    let src = t.domu_spec(WEB1).ip();
    let vif = t.vif(WEB1).to_string();
    let flow = Flow::tcp("dmz", Address::from(INTERNET_HOST), 80)
        .with_src(src)
        .with_vif(&vif);
    let case = |flow: Flow| Case {
        flow,
        client: web1,
        server: t.internet(),
        dst: INTERNET_HOST,
        port: 80,
        listen: 80,
    };

    // web1 knows the gateway's MAC already: its ARP (which the binding would drop too)
    // stays out of the way, so the TCP packet itself meets the anti-spoofing rules.
    let link = t.dom0().ip(&["-o", "link", "show", "br-dmz"]);
    let gw_mac = link
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .expect("br-dmz has a MAC")
        .to_string();
    web1.ip(&[
        "neigh",
        "replace",
        "10.1.0.1",
        "lladdr",
        &gw_mac,
        "dev",
        "eth0",
        "nud",
        "permanent",
    ]);

    // web1 now sends from an address its binding does not allow: a spoofed IP.
    let other_ip = Binding {
        vif: vif.clone(),
        mac: "aa:cc:00:00:01:01".into(),
        addrs: vec!["10.1.0.50/32".parse().unwrap()],
    };
    firewall::add_binding(&d0, &other_ip).unwrap();
    let ctx = ExplainContext {
        uplink_address: Some(t.uplink_ip()),
        uplink_address6: None,
        bindings: firewall::read_bindings(&d0).unwrap(),
        disabled_ports: vec![],
    };
    assert_eq!(explain(&rs, &ctx, &flow).unwrap().verdict, Action::Drop);
    let bad = check(t.dom0(), &rs, &ctx, &[case(flow.clone())]);
    assert!(bad.is_empty(), "{}", bad.join("\n"));

    // ... or from a MAC its binding does not allow: a spoofed MAC.
    let other_mac = Binding {
        vif: vif.clone(),
        mac: "aa:cc:00:00:01:99".into(),
        addrs: vec![std::net::IpAddr::V4(src).into()],
    };
    firewall::add_binding(&d0, &other_mac).unwrap();
    let ctx = ExplainContext {
        uplink_address: Some(t.uplink_ip()),
        uplink_address6: None,
        bindings: firewall::read_bindings(&d0).unwrap(),
        disabled_ports: vec![],
    };
    let spoofed_mac = flow.clone().with_mac("aa:cc:00:00:01:01");
    assert_eq!(explain(&rs, &ctx, &spoofed_mac).unwrap().verdict, Action::Drop);
    let bad = check(t.dom0(), &rs, &ctx, &[case(spoofed_mac)]);
    assert!(bad.is_empty(), "{}", bad.join("\n"));

    // Its true binding back: it gets out again, masqueraded.
    let honest = Binding {
        vif: vif.clone(),
        mac: "aa:cc:00:00:01:01".into(),
        addrs: vec![std::net::IpAddr::V4(src).into()],
    };
    firewall::add_binding(&d0, &honest).unwrap();
    let ctx = ExplainContext {
        uplink_address: Some(t.uplink_ip()),
        uplink_address6: None,
        bindings: firewall::read_bindings(&d0).unwrap(),
        disabled_ports: vec![],
    };
    let bad = check(t.dom0(), &rs, &ctx, &[case(flow)]);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
