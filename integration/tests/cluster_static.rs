//! `[cluster]` with `control = "static"` across three dom0 namespaces joined by an
//! underlay bridge: one network stretched over all three by VXLAN, VMs on different
//! members on one segment behind one anycast gateway, anti-spoofing on every member, a VM
//! that moves keeps its address, and `stop` on one member leaves the others working.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use brouter_engine::config::cluster::{gateway_mac, vni, vxlan_name};
use brouter_integration::cluster_lab::{
    announce, dmz_host, dmz_vm, member_address, ClusterLab, GATEWAY, HOSTING_GATEWAY,
};
use brouter_integration::probe::{self, Outcome};
use brouter_integration::topology::INTERNET_HOST;
use brouter_integration::{root_or_skip, tool_or_skip, DomU, Netns};

const DEADLINE: Duration = Duration::from_secs(5);

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 1, 0, last))
}

fn ping(from: &Netns, to: IpAddr) -> Outcome {
    probe::ping(from, to, DEADLINE)
}

/// The MAC `ns` has for `addr` in its neighbour table.
fn neighbour_mac(ns: &Netns, addr: Ipv4Addr) -> Option<String> {
    let out = ns.ip(&["-j", "neigh", "show", &addr.to_string()]);
    let v: serde_json::Value = serde_json::from_str(&out).ok()?;
    v.as_array()?
        .iter()
        .find_map(|n| n["lladdr"].as_str().map(str::to_string))
}

fn vxlans(ns: &Netns) -> Vec<String> {
    let out = ns.ip(&["-j", "link", "show", "type", "vxlan"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["ifname"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn vms_on_three_members_share_one_segment_behind_one_gateway() {
    if !root_or_skip("vms_on_three_members_share_one_segment_behind_one_gateway") {
        return;
    }
    let hosts = format!("{}{}{}", dmz_host("a", 10), dmz_host("b", 20), dmz_host("c", 30));
    let lab = ClusterLab::new(
        "clu",
        vec![
            vec![dmz_vm("a", 10)],
            vec![dmz_vm("b", 20)],
            vec![dmz_vm("c", 30)],
        ],
        true,
        &hosts,
    );
    for m in &lab.members {
        m.ok(&["start"]);
        m.online(0);
    }
    let (a, b, c) = (
        lab.member(0).t.domu(0),
        lab.member(1).t.domu(0),
        lab.member(2).t.domu(0),
    );

    // One segment: VM to VM across members, both ways, and a TCP connection that keeps its
    // source (bridged, not routed).
    assert!(ping(a, ip(20)).is_connected(), "a on m0 → b on m1");
    assert!(ping(b, ip(30)).is_connected(), "b on m1 → c on m2");
    assert!(ping(c, ip(10)).is_connected(), "c on m2 → a on m0");
    let listen = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 8080);
    let out = probe::tcp(c, listen, a, SocketAddr::new(ip(30), 8080), DEADLINE);
    assert_eq!(out.peer_ip(), Some(ip(10)), "a → c over TCP: {out:?}");

    // One gateway: every VM reaches 10.1.0.1 with the same MAC, its own member's.
    let gw = gateway_mac("dmz");
    for (m, vm) in [a, b, c].into_iter().enumerate() {
        assert!(
            ping(vm, GATEWAY.into()).is_connected(),
            "VM on m{m} → its gateway"
        );
        assert_eq!(neighbour_mac(vm, GATEWAY).as_deref(), Some(gw.as_str()), "m{m}");
    }

    // Egress through each member's own uplink, masqueraded there.
    for (m, vm) in [a, b, c].into_iter().enumerate() {
        let t = &lab.member(m).t;
        let listen = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 80);
        let out = probe::tcp(
            t.internet(),
            listen,
            vm,
            SocketAddr::new(INTERNET_HOST.into(), 80),
            DEADLINE,
        );
        assert_eq!(
            out.peer_ip(),
            Some(t.uplink_ip().into()),
            "m{m}'s VM to the internet: {out:?}"
        );
    }

    // Anti-spoofing holds on each member: b may not send as 10.1.0.99, toward a VM on
    // another member either.
    b.ip(&["addr", "add", "10.1.0.99/32", "dev", "eth0"]);
    let listen = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 8081);
    let spoofed = probe::tcp_from(
        a,
        listen,
        b,
        ip(99),
        SocketAddr::new(ip(10), 8081),
        Duration::from_millis(800),
    );
    assert!(
        !spoofed.is_connected(),
        "a spoofed source crossed the overlay: {spoofed:?}"
    );

    // The VXLAN devices have no IPv6 address of their own (nothing of theirs in the overlay).
    let vx = vxlan_name(vni("dmz"));
    let own6 = lab.member(0).t.dom0().ip(&["-6", "addr", "show", "dev", &vx]);
    assert!(!own6.contains("inet6"), "{own6}");
    let detail = lab.member(0).t.dom0().ip(&["-d", "link", "show", "dev", &vx]);
    assert!(detail.contains("addrgenmode none"), "{detail}");

    // The underlay's 1500 bytes leave the VMs 1450: start says so, and what to do.
    let plan = lab.member(0).brouter(&["plan"]);
    let warned = String::from_utf8_lossy(&plan.stderr);
    assert!(warned.contains("raise under's MTU to 1550"), "{warned}");

    // Each member converged, and a second start changes nothing.
    for m in &lab.members {
        let out = m.brouter(&["status"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            m.name,
            String::from_utf8_lossy(&out.stdout)
        );
        let plan = m.ok(&["plan"]);
        assert!(
            !plan.contains("vxlan") && !plan.contains("flood"),
            "{}: {plan}",
            m.name
        );
    }

    // A flood entry deleted behind brouter's back: status says so, start puts it back.
    let m0 = lab.member(0);
    let dropped = m0.t.dom0().exec(
        "bridge",
        &["fdb", "del", "00:00:00:00:00:00", "dev", &vx, "dst", "10.99.0.2"],
    );
    assert!(
        dropped.status.success(),
        "{}",
        String::from_utf8_lossy(&dropped.stderr)
    );
    let status = m0.brouter(&["status"]);
    let said = String::from_utf8_lossy(&status.stdout);
    assert_ne!(
        status.status.code(),
        Some(0),
        "status after a lost flood entry: {said}"
    );
    assert!(said.contains("flood"), "{said}");
    m0.ok(&["start"]);
    assert_eq!(m0.brouter(&["status"]).status.code(), Some(0));
    assert!(ping(a, ip(20)).is_connected(), "m0 → m1 after the repair");

    // stop on m2 removes its VXLAN device and bridge; m0 and m1 still talk.
    lab.member(2).ok(&["stop"]);
    let dom0 = lab.member(2).t.dom0();
    assert!(vxlans(dom0).is_empty(), "{:?}", vxlans(dom0));
    assert!(!dom0.ip(&["link"]).contains("br-dmz"));
    assert!(ping(a, ip(20)).is_connected(), "m0 ↔ m1 after m2 stopped");
    let mut names = vxlans(lab.member(0).t.dom0());
    names.sort();
    let mut want = vec![vxlan_name(vni("dmz")), vxlan_name(vni("hosting"))];
    want.sort();
    assert_eq!(names, want);
}

#[test]
fn a_vm_that_moves_to_another_member_is_reached_there_at_once() {
    if !root_or_skip("a_vm_that_moves_to_another_member_is_reached_there_at_once")
        || !tool_or_skip(
            "a_vm_that_moves_to_another_member_is_reached_there_at_once",
            "busybox",
            "busybox",
        )
    {
        return;
    }
    // The mover runs on m0; its twin on m1 (same MAC and address) plays it after the
    // move, with its vif still down and detached, as Xen hands over a migrated domain.
    let hosts = format!("{}{}", dmz_host("mover", 10), dmz_host("peer", 30));
    let lab = ClusterLab::new(
        "clm",
        vec![
            vec![dmz_vm("mover", 10)],
            vec![dmz_vm("moved", 10)],
            vec![dmz_vm("peer", 30)],
        ],
        true,
        &hosts,
    );
    for m in &lab.members {
        m.ok(&["start"]);
    }
    lab.member(0).online(0);
    lab.member(2).online(0);
    let peer = lab.member(2).t.domu(0);
    assert!(ping(peer, ip(10)).is_connected(), "before the move");

    // The move: paused on m0 (vif offline, its link gone), resumed on m1 (vif online),
    // where the guest announces itself with a gratuitous ARP, as Xen's netfront does.
    let m0 = lab.member(0);
    m0.t.domu(0).ip(&["link", "set", "eth0", "down"]);
    m0.ok(&["vif", "offline", "--vif", m0.t.vif(0)]);
    let m1 = lab.member(1);
    m1.online(0);
    let moved = m1.t.domu(0);
    announce(moved, "10.1.0.10");

    assert!(
        ping(peer, ip(10)).is_connected(),
        "the peer on m2 reaches the moved VM on m1"
    );
    assert!(
        ping(moved, GATEWAY.into()).is_connected(),
        "the moved VM reaches its gateway"
    );
    assert_eq!(
        neighbour_mac(moved, GATEWAY).as_deref(),
        Some(gateway_mac("dmz").as_str())
    );
    let listen = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 80);
    let out = probe::tcp(
        m1.t.internet(),
        listen,
        moved,
        SocketAddr::new(INTERNET_HOST.into(), 80),
        DEADLINE,
    );
    assert_eq!(
        out.peer_ip(),
        Some(m1.t.uplink_ip().into()),
        "egress now through m1: {out:?}"
    );
}

fn hosting_vm(name: &str, last: u8) -> DomU {
    DomU::new(name, &format!("10.2.0.{last}/24"), &HOSTING_GATEWAY.to_string())
        .mac(&format!("02:00:00:00:02:{last:02x}"))
}

/// An accepted connection between two zones whose VMs sit on two members is routed on the
/// client's member one way and on the server's member back: the server's member must know
/// the flow (its conntrack sees the bridged first half through `bridge-nf-call-iptables`,
/// which brouter keeps on for a cluster), and a refused one stays refused.
#[test]
fn an_accepted_connection_between_zones_on_two_members_works_both_ways_and_a_refused_one_does_not() {
    let test =
        "an_accepted_connection_between_zones_on_two_members_works_both_ways_and_a_refused_one_does_not";
    if !root_or_skip(test) {
        return;
    }
    let hosts = format!(
        "{}[[host]]\nname = \"h\"\nnetwork = \"hosting\"\nmac = \"02:00:00:00:02:14\"\naddresses = [\"10.2.0.20\"]\n\n\
         [[policy]]\nfrom = \"dmz\"\nto = \"hosting\"\naction = \"accept\"\nservices = [\"tcp/8080\", \"udp/8080\"]\n\n",
        dmz_host("a", 10)
    );
    let lab = ClusterLab::new(
        "clz",
        vec![vec![dmz_vm("a", 10)], vec![hosting_vm("h", 20)], vec![]],
        true,
        &hosts,
    );
    // m1's host had br_netfilter's switch off: start turns it on, stop puts it back.
    const NF_CALL: &str = "net.bridge.bridge-nf-call-iptables";
    lab.member(1).t.dom0().set_sysctl(NF_CALL, "0");
    for m in &lab.members {
        m.ok(&["start"]);
    }
    assert_eq!(lab.member(1).t.dom0().sysctl(NF_CALL), "1");
    lab.member(0).online(0);
    lab.member(1).online(0);
    let (a, h) = (lab.member(0).t.domu(0), lab.member(1).t.domu(0));
    let h_ip = IpAddr::V4(Ipv4Addr::new(10, 2, 0, 20));
    let listen = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 8080);
    let tcp = probe::tcp(h, listen, a, SocketAddr::new(h_ip, 8080), DEADLINE);
    assert_eq!(
        tcp.peer_ip(),
        Some(ip(10)),
        "dmz on m0 → hosting on m1, tcp/8080: {tcp:?}"
    );
    let udp = probe::udp(h, listen, a, SocketAddr::new(h_ip, 8080), DEADLINE);
    assert_eq!(
        udp.peer_ip(),
        Some(ip(10)),
        "dmz on m0 → hosting on m1, udp/8080: {udp:?}"
    );
    let short = Duration::from_millis(800);
    let other = probe::tcp(
        h,
        SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 8081),
        a,
        SocketAddr::new(h_ip, 8081),
        short,
    );
    assert!(!other.is_connected(), "tcp/8081 is not accepted: {other:?}");
    let back = probe::tcp(a, listen, h, SocketAddr::new(ip(10), 8080), short);
    assert!(!back.is_connected(), "hosting → dmz is not accepted: {back:?}");
    lab.member(1).ok(&["stop"]);
    assert_eq!(lab.member(1).t.dom0().sysctl(NF_CALL), "0", "restored by stop");
}

/// A port forward taken on one member for a VM attached to another: the member that
/// translated the connection must see the reply, so it leaves toward the VM from its
/// underlay address (the VM sees that address, not the client's). It keeps working when
/// the VM moves to a third member, and the VM's own member serves it too.
#[test]
fn a_forward_on_one_member_reaches_its_vm_on_another_and_follows_it_when_it_moves() {
    let test = "a_forward_on_one_member_reaches_its_vm_on_another_and_follows_it_when_it_moves";
    if !root_or_skip(test) || !tool_or_skip(test, "busybox", "busybox") {
        return;
    }
    let extra = format!(
        "{}[[forward]]\nproto = \"tcp\"\nport = 8080\nto = \"w:80\"\n\n",
        dmz_host("w", 20)
    );
    let lab = ClusterLab::new(
        "clf",
        vec![vec![], vec![dmz_vm("w", 20)], vec![dmz_vm("moved", 20)]],
        true,
        &extra,
    );
    for m in &lab.members {
        m.ok(&["start"]);
    }
    lab.member(1).online(0);
    let listen = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 80);
    let via = |m: usize, server: &Netns| {
        let t = &lab.member(m).t;
        probe::tcp(
            server,
            listen,
            t.internet(),
            SocketAddr::new(t.uplink_ip().into(), 8080),
            DEADLINE,
        )
    };
    let member = |m: usize| Some(IpAddr::V4(member_address(m)));
    let w = lab.member(1).t.domu(0);
    assert_eq!(via(0, w).peer_ip(), member(0), "m0's uplink → w on m1");
    assert_eq!(via(1, w).peer_ip(), member(1), "w's own member serves it too");

    // w moves from m1 to m2; m0 still serves its forward, and now m2 does.
    let m1 = lab.member(1);
    w.ip(&["link", "set", "eth0", "down"]);
    m1.ok(&["vif", "offline", "--vif", m1.t.vif(0)]);
    let m2 = lab.member(2);
    m2.online(0);
    let moved = m2.t.domu(0);
    announce(moved, "10.1.0.20");
    assert_eq!(via(0, moved).peer_ip(), member(0), "m0's uplink → w, now on m2");
    assert_eq!(via(2, moved).peer_ip(), member(2), "m2's uplink → w on m2");
}
