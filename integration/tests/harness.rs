//! The harness itself, proven on a real kernel: topologies build and always vanish, the
//! probes see what a receiver sees and tell accept, drop and reject apart, and snapshots
//! notice exactly the changes that matter. Root only; every namespace is the test's own.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;

use brouter_integration::probe::{self, DEADLINE, DROP_DEADLINE};
use brouter_integration::topology::INTERNET_HOST;
use brouter_integration::{assert_same, root_or_skip, DomU, Flow, Netns, Outcome, Proto, Snapshot, Topology};

const GW: Ipv4Addr = Ipv4Addr::new(10, 98, 98, 1);

fn listed_netns() -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[track_caller]
fn assert_gone(names: &[String]) {
    let left: Vec<String> = listed_netns().into_iter().filter(|n| names.contains(n)).collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
}

/// Two domUs on 10.98.98.0/24, as most tests want them.
fn two_domus(tag: &str) -> Topology {
    Topology::new(tag)
        .domu(DomU::new("web1", "10.98.98.10/24", "10.98.98.1").mac("aa:cc:00:00:00:01"))
        .domu(DomU::new("web2", "10.98.98.11/24", "10.98.98.1").mac("aa:cc:00:00:00:02"))
        .build()
}

/// What brouter plus `vif online` would do, by hand: a bridge with the gateway address and
/// both vifs attached, so domUs reach dom0 and each other.
fn wire_by_hand(t: &Topology) {
    let mut lines = vec![
        "link add xenbr0 type bridge".to_string(),
        format!("addr add {GW}/24 dev xenbr0"),
        "link set xenbr0 up".to_string(),
    ];
    for i in 0..t.domu_count() {
        lines.push(format!("link set {} master xenbr0 up", t.vif(i)));
    }
    t.dom0().ip_batch(&lines);
}

/// nft commands inside a namespace (never the root one).
fn nft(ns: &Netns, script: &str) {
    let script = script.to_string();
    let out = ns.run(move || {
        use std::io::Write;
        let mut c = Command::new("nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run nft");
        c.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
        c.wait_with_output().unwrap()
    });
    assert!(
        out.status.success(),
        "nft failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sa(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

#[test]
fn topology_builds_as_xen_hands_it_over_and_vanishes_on_drop() {
    if !root_or_skip("topology_builds_as_xen_hands_it_over_and_vanishes_on_drop") {
        return;
    }
    let t = two_domus("build");
    let names = t.netns_names();
    let listed = listed_netns();
    assert!(
        names.iter().all(|n| listed.contains(n)),
        "{names:?} not all in {listed:?}"
    );

    let dom0 = Snapshot::of(t.dom0());
    assert_eq!(
        dom0.links["vif1.0"],
        "kind=veth master=- up=false alias=- mtu=1500"
    );
    assert_eq!(
        dom0.links["vif2.0"],
        "kind=veth master=- up=false alias=- mtu=1500"
    );
    assert_eq!(dom0.links["eth0"], "kind=veth master=- up=true alias=- mtu=1500");
    assert!(dom0
        .routes
        .iter()
        .any(|r| r.contains("dst=default") && r.contains("gateway=192.0.2.1")));
    assert_eq!(t.uplink_ip(), Ipv4Addr::new(192, 0, 2, 2));

    let domu = Snapshot::of(t.domu(0));
    assert_eq!(domu.links["eth0"], "kind=veth master=- up=true alias=- mtu=1500");
    assert!(
        domu.addresses
            .iter()
            .any(|a| a.starts_with("eth0 10.98.98.10/24 ")),
        "{:?}",
        domu.addresses
    );
    let mac = t.domu(0).ip(&["-j", "link", "show", "eth0"]);
    assert!(mac.contains("aa:cc:00:00:00:01"), "{mac}");

    let internet = Snapshot::of(t.internet());
    assert!(
        internet.routes.iter().all(|r| !r.contains("10.98.98"))
            && !internet.routes.iter().any(|r| r.contains("default")),
        "the internet must have no route back: {:?}",
        internet.routes
    );
    drop(t);
    assert_gone(&names);
}

#[test]
fn namespaces_vanish_when_a_test_body_panics() {
    if !root_or_skip("namespaces_vanish_when_a_test_body_panics") {
        return;
    }
    let names = std::sync::Mutex::new(Vec::new());
    let result = std::panic::catch_unwind(|| {
        let t = two_domus("panic");
        names.lock().unwrap().extend(t.netns_names());
        panic!("a failing assertion in the middle of a scenario");
    });
    assert!(result.is_err());
    let names = names.into_inner().unwrap();
    assert_eq!(names.len(), 4);
    assert_gone(&names);
}

#[test]
fn a_taken_namespace_name_is_refused_and_the_namespace_left_alone() {
    if !root_or_skip("a_taken_namespace_name_is_refused_and_the_namespace_left_alone") {
        return;
    }
    let ns = Netns::new("taken");
    ns.set_sysctl("net.ipv4.ip_forward", "1");
    let err = brouter_lab::LabNetns::create(ns.name()).expect_err("the name is taken");
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists, "{err}");
    assert!(listed_netns().contains(&ns.name().to_string()));
    assert_eq!(ns.sysctl("net.ipv4.ip_forward"), "1", "still the same namespace");
}

#[test]
fn names_a_dead_process_left_are_swept_and_live_ones_kept() {
    if !root_or_skip("names_a_dead_process_left_are_swept_and_live_ones_kept") {
        return;
    }
    let mut child = Command::new("true").spawn().expect("run true");
    let dead = child.id();
    child.wait().expect("reap true");
    let live = Netns::new("live");
    let stale = format!("brt-stale-{dead}-0");
    // What a SIGKILLed test run leaves: a name nobody will drop. (Any test starting in
    // parallel may sweep it first; either way it must be gone after a sweep.)
    std::mem::forget(brouter_lab::LabNetns::create(&stale).expect("create the stale name"));
    brouter_integration::netns::sweep_stale();
    assert_gone(&[stale]);
    assert!(listed_netns().contains(&live.name().to_string()));
}

#[test]
fn a_build_that_fails_half_way_leaves_no_namespace() {
    if !root_or_skip("a_build_that_fails_half_way_leaves_no_namespace") {
        return;
    }
    let result = std::panic::catch_unwind(|| {
        Topology::new("badbuild")
            .domu(DomU::new("ok", "10.98.98.10/24", "10.98.98.1"))
            .domu(DomU::new("bad", "10.98.98.300/24", "10.98.98.1"))
            .build()
    });
    let err = result.expect_err("an invalid address must fail the build");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("10.98.98.300"),
        "the failure names the bad input: {msg}"
    );
    let left: Vec<String> = listed_netns()
        .into_iter()
        .filter(|n| n.starts_with("brt-badbuild"))
        .collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
}

#[test]
fn sixty_four_domus_each_get_a_vif_in_dom0() {
    if !root_or_skip("sixty_four_domus_each_get_a_vif_in_dom0") {
        return;
    }
    let started = std::time::Instant::now();
    let mut b = Topology::new("many");
    for i in 0..64u32 {
        b = b.domu(DomU::new(
            &format!("d{i}"),
            &format!("10.98.{}.{}/16", i / 200, 10 + i % 200),
            "10.98.0.1",
        ));
    }
    let t = b.build();
    eprintln!("built 64 domUs in {:?}", started.elapsed());
    let names = t.netns_names();
    let dom0 = Snapshot::of(t.dom0());
    for i in 0..64 {
        assert_eq!(
            dom0.links[t.vif(i)],
            "kind=veth master=- up=false alias=- mtu=1500"
        );
    }
    assert_eq!(t.vif(63), "vif64.0");
    drop(t);
    assert_gone(&names);
}

#[test]
fn domu_pings_its_gateway_once_dom0_wires_the_vif() {
    if !root_or_skip("domu_pings_its_gateway_once_dom0_wires_the_vif") {
        return;
    }
    let t = two_domus("ping");
    // Before wiring, the vif is down: the gateway does not answer.
    assert_eq!(
        probe::ping(t.domu(0), GW.into(), DROP_DEADLINE),
        Outcome::TimedOut
    );

    t.dom0().ip_batch(&[
        format!("addr add {GW}/24 dev vif1.0"),
        "link set vif1.0 up".into(),
    ]);
    let out = probe::ping(t.domu(0), GW.into(), DEADLINE);
    assert_eq!(out.peer_ip(), Some(GW.into()), "{out:?}");
    // The dom0 side sees the domU's own address as the source.
    let out = probe::icmp(t.dom0(), t.domu(0), GW.into(), DEADLINE);
    assert_eq!(
        out.peer_ip(),
        Some(Ipv4Addr::new(10, 98, 98, 10).into()),
        "{out:?}"
    );
}

#[test]
fn probes_report_the_source_the_receiver_saw() {
    if !root_or_skip("probes_report_the_source_the_receiver_saw") {
        return;
    }
    let t = two_domus("seen");
    wire_by_hand(&t);
    let web2 = Ipv4Addr::new(10, 98, 98, 11);
    for proto in [Proto::Tcp, Proto::Udp, Proto::Icmp] {
        // domU → domU across the bridge.
        let flow = Flow {
            proto,
            client: t.domu(0),
            dst: sa(web2, 80),
            server: t.domu(1),
            listen_port: 80,
        };
        let out = flow.run(DEADLINE);
        assert_eq!(
            out.peer_ip(),
            Some(Ipv4Addr::new(10, 98, 98, 10).into()),
            "{proto:?}: {out:?}"
        );
        // dom0 → domU: the source is the bridge address.
        let flow = Flow {
            proto,
            client: t.dom0(),
            dst: sa(web2, 81),
            server: t.domu(1),
            listen_port: 81,
        };
        let out = flow.run(DEADLINE);
        assert_eq!(out.peer_ip(), Some(GW.into()), "{proto:?}: {out:?}");
    }
}

#[test]
fn the_internet_sees_dom0s_uplink_address_only_through_masquerade() {
    if !root_or_skip("the_internet_sees_dom0s_uplink_address_only_through_masquerade") {
        return;
    }
    let t = two_domus("masq");
    wire_by_hand(&t);
    t.dom0().set_sysctl("net.ipv4.ip_forward", "1");
    let flow = Flow {
        proto: Proto::Tcp,
        client: t.domu(0),
        dst: sa(INTERNET_HOST, 443),
        server: t.internet(),
        listen_port: 443,
    };
    // No route back from the internet: without masquerade the handshake never completes.
    assert_eq!(flow.run(DROP_DEADLINE), Outcome::TimedOut);

    nft(
        t.dom0(),
        "table ip masq {
            chain post {
                type nat hook postrouting priority srcnat
                oifname \"eth0\" masquerade
            }
        }",
    );
    for proto in [Proto::Tcp, Proto::Udp, Proto::Icmp] {
        let out = Flow { proto, ..flow }.run(DEADLINE);
        assert_eq!(out.peer_ip(), Some(t.uplink_ip().into()), "{proto:?}: {out:?}");
    }
}

#[test]
fn a_drop_rule_times_out_and_a_reject_rule_is_refused() {
    if !root_or_skip("a_drop_rule_times_out_and_a_reject_rule_is_refused") {
        return;
    }
    let t = two_domus("verdict");
    wire_by_hand(&t);
    let web2 = Ipv4Addr::new(10, 98, 98, 11);
    // web2 drops traffic to port 1000 and pings from web1's address; rejects port 2000
    // and pings from dom0's.
    nft(
        t.domu(1),
        "table inet f {
            chain in {
                type filter hook input priority filter
                th dport 1000 drop
                th dport 2000 reject
                ip saddr 10.98.98.10 icmp type echo-request drop
                ip saddr 10.98.98.1 icmp type echo-request reject
            }
        }",
    );
    for proto in [Proto::Tcp, Proto::Udp] {
        let dropped = Flow {
            proto,
            client: t.domu(0),
            dst: sa(web2, 1000),
            server: t.domu(1),
            listen_port: 1000,
        };
        assert_eq!(dropped.run(DROP_DEADLINE), Outcome::TimedOut, "{proto:?}");
        let rejected = Flow {
            dst: sa(web2, 2000),
            listen_port: 2000,
            ..dropped
        };
        assert_eq!(rejected.run(DEADLINE), Outcome::Refused, "{proto:?}");
        let allowed = Flow {
            dst: sa(web2, 3000),
            listen_port: 3000,
            ..dropped
        };
        assert!(allowed.run(DEADLINE).is_connected(), "{proto:?}");
    }
    assert_eq!(
        probe::icmp(t.domu(1), t.domu(0), web2.into(), DROP_DEADLINE),
        Outcome::TimedOut
    );
    assert_eq!(
        probe::icmp(t.domu(1), t.dom0(), web2.into(), DEADLINE),
        Outcome::Refused
    );
    // Nobody listening is a refusal too (RST / port unreachable), not a drop.
    assert_eq!(
        probe::tcp_connect(t.domu(0), sa(web2, 4000), DEADLINE),
        Outcome::Refused
    );
}

#[test]
fn snapshot_is_unchanged_by_a_no_op_and_by_traffic_but_sees_a_new_address() {
    if !root_or_skip("snapshot_is_unchanged_by_a_no_op_and_by_traffic_but_sees_a_new_address") {
        return;
    }
    let t = two_domus("snap");
    wire_by_hand(&t);
    nft(
        t.dom0(),
        "table inet count {
            chain in {
                type filter hook input priority filter
                counter
            }
        }",
    );
    let before = Snapshot::of(t.dom0());
    assert_eq!(
        before.links["xenbr0"],
        "kind=bridge master=- up=true alias=- mtu=1500 stp=0 fd=1500"
    );
    assert_eq!(
        before.links["vif1.0"],
        "kind=veth master=xenbr0 up=true alias=- mtu=1500"
    );

    // A no-op, then traffic that bumps counters, neighbour entries and carrier state.
    t.dom0().ip(&["link", "set", "xenbr0", "up"]);
    assert!(probe::ping(t.domu(0), GW.into(), DEADLINE).is_connected());
    assert_same(&before, &Snapshot::of(t.dom0()));

    t.dom0().ip(&["addr", "add", "10.99.0.1/24", "dev", "xenbr0"]);
    let after = Snapshot::of(t.dom0());
    let diff = before.diff(&after);
    assert!(
        diff.iter()
            .any(|l| l.starts_with("+ address xenbr0 10.99.0.1/24")),
        "{diff:#?}"
    );
    assert!(
        diff.iter()
            .any(|l| l.starts_with("+ route ") && l.contains("dst=10.99.0.0/24")),
        "{diff:#?}"
    );
    assert_eq!(diff.len(), 2, "{diff:#?}");
    let msg = std::panic::catch_unwind(|| assert_same(&before, &after)).expect_err("must differ");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("+ address xenbr0 10.99.0.1/24"), "{msg}");
}

#[test]
fn snapshot_sees_sysctl_link_and_ruleset_changes() {
    if !root_or_skip("snapshot_sees_sysctl_link_and_ruleset_changes") {
        return;
    }
    let ns = Netns::new("snapchg");
    let before = Snapshot::of(&ns);
    ns.set_sysctl("net.ipv4.ip_forward", "1");
    ns.ip(&["link", "add", "br9", "type", "bridge"]);
    nft(
        &ns,
        "table inet other {
            chain forward_filter {
                type filter hook forward priority filter; policy drop
            }
        }",
    );
    let diff = before.diff(&Snapshot::of(&ns));
    assert!(
        diff.contains(&"sysctl net.ipv4.ip_forward: 0  →  1".to_string()),
        "{diff:#?}"
    );
    assert!(
        diff.iter().any(|l| l.starts_with("+ link br9 kind=bridge")),
        "{diff:#?}"
    );
    assert!(
        diff.iter()
            .any(|l| l.starts_with("+ nft ") && l.contains("policy drop")),
        "{diff:#?}"
    );
}

#[test]
fn the_built_binary_runs_against_dom0_and_plan_changes_nothing() {
    if !root_or_skip("the_built_binary_runs_against_dom0_and_plan_changes_nothing") {
        return;
    }
    let t = two_domus("binary");
    let before = Snapshot::of(t.dom0());
    let out = brouter_integration::binary::brouter(
        t.dom0(),
        &["plan", "bridgeip=10.98.98.1/24", "brnet=10.98.98.0/24"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("xenbr0"),
        "the plan names the bridge"
    );
    assert_same(&before, &Snapshot::of(t.dom0()));
}
