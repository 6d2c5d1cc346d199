//! Case 15: a cluster member (`[cluster]`, static control and EVPN). `start` from nothing
//! of case 2's 64-network config as a member of a three-member cluster against the same
//! config without `[cluster]`; migration convergence (a VM's vif online on another member →
//! the first datagram of a peer's stream delivered there), static and EVPN; TCP throughput
//! between VMs on two members (through VXLAN) against two VMs on one member's bridge.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use brouter_integration::cluster_lab::{announce, dmz_host, dmz_vm, member_address, ClusterLab};
use brouter_integration::Netns;

use crate::configs::{self, Size};
use crate::report::{Report, Table};
use crate::run::{brouter, ms};
use crate::stats::Samples;

const SIZE: Size = Size::new(64, 10, 10);

/// Case 2's config, as member m0 of `members` on the underlay `under` (10.99.0.0/24).
fn cluster_text(members: usize, control: &str) -> String {
    let mut s = configs::toml(SIZE);
    s.push_str(&format!(
        "[cluster]\nlocal = \"m0\"\nunderlay = \"under\"\ncontrol = \"{control}\"\n"
    ));
    for m in 0..members {
        s.push_str(&format!(
            "\n[[cluster.member]]\nname = \"m{m}\"\naddress = \"{}\"\n",
            member_address(m)
        ));
    }
    s
}

/// A dom0 with `eth0` and an underlay `under` (a veth whose peer stays in dom0) carrying m0's address.
fn member_ns(tag: &str) -> Netns {
    let ns = super::dom0(tag);
    ns.ip_batch(&[
        "link add under type veth peer name under0".into(),
        format!("addr add {}/24 dev under", member_address(0)),
        "link set under up".into(),
    ]);
    ns
}

pub fn run(report: &mut Report, n: usize, moves: usize) {
    start_case(report, n);
    migration_case(report, moves, "static");
    migration_case(report, moves, "evpn");
    throughput_case(report, n.min(5));
}

fn start_case(report: &mut Report, n: usize) {
    let plain = configs::write_named("cluster-plain", &configs::toml(SIZE));
    let member = configs::write_named("cluster-member", &cluster_text(3, "static"));
    let joined = configs::write_named("cluster-joined", &cluster_text(4, "static"));
    let evpn = configs::write_named("cluster-evpn", &cluster_text(3, "evpn"));
    let evpn_joined = configs::write_named("cluster-evpn-joined", &cluster_text(4, "evpn"));
    let (mut e, mut eratio, mut ec, mut ecratio, mut ejoin) = (
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
    );
    let (mut p, mut c, mut ratio) = (Samples::default(), Samples::default(), Samples::default());
    let (mut pc, mut cc, mut cratio, mut join) = (
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
    );
    for round in 0..n {
        super::settle();
        let (ns_p, ns_c) = (member_ns("bclp"), member_ns("bclc"));
        let time = |ns: &Netns, file: &str| ms(brouter(ns, &["--config", file, "start"], &[]).0);
        let (tp, tc) = if round % 2 == 0 {
            let tp = time(&ns_p, &plain);
            (tp, time(&ns_c, &member))
        } else {
            let tc = time(&ns_c, &member);
            (time(&ns_p, &plain), tc)
        };
        p.push(tp);
        c.push(tc);
        ratio.push(tc / tp);
        // Converged, both; then a fourth member joins (one flood entry per network).
        let (tpc, tcc) = (time(&ns_p, &plain), time(&ns_c, &member));
        pc.push(tpc);
        cc.push(tcc);
        cratio.push(tcc / tpc);
        join.push(time(&ns_c, &joined));
        // The same as an EVPN member (FRR started: zebra and bgpd; the peers never answer).
        let ns_e = member_ns("bcle");
        let te = time(&ns_e, &evpn);
        e.push(te);
        eratio.push(te / tp);
        let tec = time(&ns_e, &evpn);
        ec.push(tec);
        ecratio.push(tec / tpc);
        ejoin.push(time(&ns_e, &evpn_joined));
        brouter(&ns_e, &["--config", &evpn_joined, "stop"], &[]);
    }
    let mut t = Table::new(
        "15. A cluster member: `start` from nothing, migration, throughput over VXLAN",
        &format!(
            "`start` from nothing of case 2's config ({}) in a fresh namespace with `eth0` and an \
             underlay `under` (a veth with 10.99.0.1/24), as member m0 of a three-member static \
             cluster (64 VXLAN devices, 128 flood entries, 64 gateway MACs, 10 neighbour \
             entries, br_netfilter's switches) and without `[cluster]`; the two alternate which \
             goes first, and the ratio is taken within each round. Then in the same namespaces a \
             converged `start` of each, and the member's `start` after a fourth member is added \
             to its file. The EVPN rows: a third namespace like the member's, the same \
             config with control = \"evpn\" (no flood entries; FRR's zebra and bgpd started \
             and stopped by brouter), ratio against the plain config's time in the same round.",
            SIZE.label()
        ),
        &["variant", "ms median (min–max)", "N", "ratio (within rounds)"],
    );
    t.row(vec![
        "without [cluster]".into(),
        p.show(2),
        p.n().to_string(),
        "1".into(),
    ]);
    t.row(vec![
        "member of a 3-member cluster".into(),
        c.show(2),
        c.n().to_string(),
        ratio.show(2),
    ]);
    t.row(vec![
        "converged `start`, without [cluster]".into(),
        pc.show(2),
        pc.n().to_string(),
        "1".into(),
    ]);
    t.row(vec![
        "converged `start`, member".into(),
        cc.show(2),
        cc.n().to_string(),
        cratio.show(2),
    ]);
    t.row(vec![
        "`start` after a fourth member joins (64 flood entries added)".into(),
        join.show(2),
        join.n().to_string(),
        "—".into(),
    ]);
    t.row(vec![
        "EVPN member of a 3-member cluster (brouter starts zebra and bgpd)".into(),
        e.show(2),
        e.n().to_string(),
        eratio.show(2),
    ]);
    t.row(vec![
        "converged `start`, EVPN member (reads FRR's pid files and config)".into(),
        ec.show(2),
        ec.n().to_string(),
        ecratio.show(2),
    ]);
    t.row(vec![
        "`start` after a fourth member joins, EVPN (one session added in place by vtysh)".into(),
        ejoin.show(2),
        ejoin.n().to_string(),
        "—".into(),
    ]);
    report.tables.push(t);
    report.target(
        "start of a 3-member static cluster member, 64 networks, vs without cluster",
        format!(
            "{:.2}× ({:.1} vs {:.1} ms)",
            ratio.median(),
            c.median(),
            p.median()
        ),
        "≤ 1.5×",
        ratio.median() <= 1.5,
    );
    report.target(
        "converged start of a cluster member vs without cluster (64 networks)",
        format!(
            "{:.2}× ({:.2} vs {:.2} ms)",
            cratio.median(),
            cc.median(),
            pc.median()
        ),
        "≤ 1.2× (as for DHCP)",
        cratio.median() <= 1.2,
    );
}

/// One move: the mover leaves m0 (link down, `vif offline`), its twin's vif comes online
/// on m1 and the guest sends a gratuitous ARP (Xen's netfront does on resume), while a
/// peer on m2 sends a datagram every millisecond. Returns (vif online → first datagram
/// delivered, of which `vif online` itself).
fn one_move(control: &str) -> (Duration, Duration) {
    let hosts = format!("{}{}", dmz_host("mover", 10), dmz_host("peer", 30));
    let lab = ClusterLab::with_control(
        "bmig",
        vec![
            vec![dmz_vm("mover", 10)],
            vec![dmz_vm("moved", 10)],
            vec![dmz_vm("peer", 30)],
        ],
        true,
        &hosts,
        control,
    );
    for m in &lab.members {
        m.ok(&["start"]);
    }
    if control == "evpn" {
        // The sessions come up in ~1.2 s; the move is measured on an established cluster.
        let end = Instant::now() + Duration::from_secs(30);
        for m in &lab.members {
            while !m.ok(&["status"]).contains("2 of 2 BGP session(s) established") {
                assert!(Instant::now() < end, "{}: EVPN sessions never came up", m.name);
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    lab.member(0).online(0);
    lab.member(2).online(0);
    let peer = lab.member(2).t.domu(0);
    let dst = SocketAddr::new(Ipv4Addr::new(10, 1, 0, 10).into(), 9999);
    // The receiver on the twin, listening before the move.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let receiver = lab.member(1).t.domu(0).spawn(move || {
        let s = UdpSocket::bind(("0.0.0.0", 9999)).expect("bind");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        ready_tx.send(()).unwrap();
        let mut buf = [0u8; 16];
        s.recv(&mut buf).ok().map(|_| Instant::now())
    });
    ready_rx.recv().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_tx = stop.clone();
    let sender = peer.spawn(move || {
        let s = UdpSocket::bind(("0.0.0.0", 0)).expect("bind");
        while !stop_tx.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = s.send_to(b"where are you", dst);
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    // The peer learns where the mover is before it moves.
    let pinged = brouter_integration::probe::ping(peer, dst.ip(), Duration::from_secs(5));
    assert!(pinged.is_connected(), "peer → mover before the move: {pinged:?}");
    let m0 = lab.member(0);
    m0.t.domu(0).ip(&["link", "set", "eth0", "down"]);
    m0.ok(&["vif", "offline", "--vif", m0.t.vif(0)]);
    let t0 = Instant::now();
    lab.member(1).online(0);
    let online = t0.elapsed();
    announce(lab.member(1).t.domu(0), "10.1.0.10");
    let first = receiver
        .join()
        .unwrap()
        .expect("a datagram reached the moved VM within 5 s");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sender.join().unwrap();
    (first.duration_since(t0), online)
}

fn migration_case(report: &mut Report, moves: usize, control: &str) {
    let (mut conv, mut online) = (Samples::default(), Samples::default());
    for _ in 0..moves {
        super::settle();
        let (c, o) = one_move(control);
        conv.push(ms(c));
        online.push(ms(o));
    }
    let evpn = control == "evpn";
    let mut t = Table::new(
        if evpn {
            "15c. Migration convergence, EVPN (FRR)"
        } else {
            "15b. Migration convergence, static control"
        },
        "Three members (integration's cluster lab: each a dom0 namespace with its uplink and \
         internet, joined by an underlay bridge namespace, MTU 1500), network dmz with \
         anti-spoofing. A peer VM on m2 sends a UDP datagram to the mover every millisecond; \
         the mover leaves m0 (its link down, `vif offline`); the clock starts as `vif online` \
         of its twin (same MAC and address) is launched on m1, which then sends one gratuitous \
         ARP once its link is up (`busybox arping -U`, as Xen's netfront does on resume); the clock stops when the \
         first datagram arrives on m1. A fresh lab per move. Under EVPN (brouter's FRR on \
         each member, sessions established before the move) the new member's zebra must learn \
         the MAC on the VM's port and announce it, and the peer's member move its FDB entry.",
        &["step", "ms median (min–max)", "N"],
    );
    t.row(vec![
        "vif online on the new member → first datagram delivered".into(),
        conv.show(1),
        conv.n().to_string(),
    ]);
    t.row(vec![
        "of which `vif online` itself".into(),
        online.show(1),
        online.n().to_string(),
    ]);
    report.tables.push(t);
    let bound = if evpn { 1000.0 } else { 100.0 };
    report.target(
        &format!("migration convergence, {control} (vif online → first packet on the new member), p50"),
        format!("{:.1} ms", conv.median()),
        if evpn { "≤ 1 s" } else { "≤ 100 ms" },
        conv.median() <= bound,
    );
}

/// The routed baseline: the same three-namespace lab without `[cluster]`, m0's `dmz`
/// (VM a, 10.1.0.10) and m1's own `dmz` (10.5.0.0/24, VM c at 10.5.0.30) joined by
/// routing over the underlay instead of VXLAN: each member's uplink is its `under`, a goes
/// out of m0 masqueraded, and m1 forwards tcp/5001 and udp/5002 on its underlay address to
/// c. Both members run brouter's firewall (conntrack, NAT, anti-spoofing), as on the
/// overlay path.
fn routed_lab() -> ClusterLab {
    let c = brouter_integration::DomU::new("c", "10.5.0.30/24", "10.5.0.1").mac("02:00:00:00:05:1e");
    let lab = ClusterLab::new("brtd", vec![vec![dmz_vm("a", 10)], vec![c], vec![]], true, "");
    let net = |addr: &str| {
        format!(
            "[uplink]\ninterface = \"under\"\n\n[[network]]\nname = \"dmz\"\nbridge = \"br-dmz\"\naddress = \"{addr}\"\nantispoof = true\n\n"
        )
    };
    let m0 = format!(
        "{}{}[[policy]]\nfrom = \"dmz\"\nto = \"external\"\naction = \"accept\"\n",
        net("10.1.0.1/24"),
        dmz_host("a", 10)
    );
    let m1 = format!(
        "{}[[host]]\nname = \"c\"\nnetwork = \"dmz\"\nmac = \"02:00:00:00:05:1e\"\naddresses = [\"10.5.0.30\"]\n\n\
         [[forward]]\nproto = \"tcp\"\nport = 5001\nto = \"c:5001\"\n\n[[forward]]\nproto = \"udp\"\nport = 5002\nto = \"c:5002\"\n",
        net("10.5.0.1/24")
    );
    std::fs::write(&lab.member(0).config, m0).unwrap();
    std::fs::write(&lab.member(1).config, m1).unwrap();
    for m in 0..2 {
        lab.member(m).ok(&["start"]);
        lab.member(m).online(0);
    }
    lab
}

/// Bulk UDP from `client` to `dst` (1,400-byte datagrams, no fragments over VXLAN either)
/// for [`SEND_FOR`], received on `port` in `server`; Gbit/s of payload delivered, first to
/// last datagram.
fn udp_gbits(server: &Netns, client: &Netns, dst: SocketAddr, port: u16) -> f64 {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let rx = server.spawn(move || {
        let s = UdpSocket::bind(("0.0.0.0", port)).expect("bind");
        s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        ready_tx.send(()).unwrap();
        let mut buf = [0u8; 2048];
        let (mut total, mut first, mut last) = (0u64, None, None);
        while let Ok(n) = s.recv(&mut buf) {
            first.get_or_insert_with(Instant::now);
            last = Some(Instant::now());
            total += n as u64;
        }
        (total, first.zip(last).map(|(f, l)| l.duration_since(f)))
    });
    ready_rx.recv().unwrap();
    client.run(move || {
        let s = UdpSocket::bind(("0.0.0.0", 0)).expect("bind");
        let buf = [0x5au8; 1400];
        let t = Instant::now();
        while t.elapsed() < SEND_FOR {
            let _ = s.send_to(&buf, dst);
        }
    });
    let (bytes, took) = rx.join().expect("receiver");
    let took = took.filter(|d| !d.is_zero()).expect("no UDP datagram arrived");
    bytes as f64 * 8.0 / took.as_secs_f64() / 1e9
}

/// How long each stream runs (as the datapath case's TCP stream).
const SEND_FOR: Duration = Duration::from_millis(800);

/// TCP goodput per byte on the wire over the overlay against the underlay: payload per
/// full-size segment with the VXLAN device's MTU (1450: 1450 − 52 bytes of IP and TCP with
/// timestamps) over the payload with the underlay's (1500 − 52).
const TCP_OVERHEAD: f64 = (1450.0 - 52.0) / (1500.0 - 52.0);

fn throughput_case(report: &mut Report, rounds: usize) {
    // a and b on m0 (one bridge), c on m1: a → b is bridged locally, a → c crosses VXLAN.
    let hosts = format!("{}{}{}", dmz_host("a", 10), dmz_host("b", 20), dmz_host("c", 30));
    let lab = ClusterLab::new(
        "bthr",
        vec![
            vec![dmz_vm("a", 10), dmz_vm("b", 20)],
            vec![dmz_vm("c", 30)],
            vec![],
        ],
        true,
        &hosts,
    );
    for m in &lab.members {
        m.ok(&["start"]);
    }
    lab.member(0).online(0);
    lab.member(0).online(1);
    lab.member(1).online(0);
    let routed = routed_lab();
    let (a, b, c) = (
        lab.member(0).t.domu(0),
        lab.member(0).t.domu(1),
        lab.member(1).t.domu(0),
    );
    let (ra, rc) = (routed.member(0).t.domu(0), routed.member(1).t.domu(0));
    let m1_under = SocketAddr::new(member_address(1).into(), 0);
    let mut s: [Samples; 6] = Default::default();
    let (mut tcp_ratio, mut tcp_adjusted, mut udp_ratio) =
        (Samples::default(), Samples::default(), Samples::default());
    for round in 0..rounds {
        let to = |last: u8, port: u16| SocketAddr::new(Ipv4Addr::new(10, 1, 0, last).into(), port);
        let port = 5101 + round as u16;
        let local = super::datapath::gbits(b, a, to(20, port), port);
        let overlay = super::datapath::gbits(c, a, to(30, port), port);
        let base = super::datapath::gbits(rc, ra, SocketAddr::new(m1_under.ip(), 5001), 5001);
        let uover = udp_gbits(c, a, to(30, port + 100), port + 100);
        let ubase = udp_gbits(rc, ra, SocketAddr::new(m1_under.ip(), 5002), 5002);
        let ulocal = udp_gbits(b, a, to(20, port + 100), port + 100);
        for (k, v) in [local, overlay, base, ulocal, uover, ubase]
            .into_iter()
            .enumerate()
        {
            s[k].push(v);
        }
        tcp_ratio.push(overlay / base);
        tcp_adjusted.push(overlay / (base * TCP_OVERHEAD));
        udp_ratio.push(uover / ubase);
    }
    let mut t = Table::new(
        "15d. Throughput between VMs on two members: over VXLAN, and routed over the same underlay without it",
        "VM a on m0 sends one stream for 0.8 s to: VM b on the same bridge (bridged locally); VM c \
         on m1 across the static cluster's VXLAN (bridged into the VXLAN device on m0, over a veth \
         into the underlay bridge namespace and a veth out of it, decapsulated on m1, anti-spoofing \
         and br_netfilter conntrack on both members); and, the routed baseline, a second lab of the \
         same shape without `[cluster]`: a in m0's 10.1.0.0/24, c in m1's own 10.5.0.0/24, each \
         member's uplink its underlay veth, a's stream masqueraded out of m0 and forwarded by m1 \
         (DNAT on its underlay address) to c — the same veths, bridge namespace and two brouter \
         firewalls, without encapsulation. TCP with 128 KiB writes; UDP 1,400-byte datagrams \
         sent as fast as the sender can, goodput counted at the receiver. The VXLAN device's MTU is \
         1450, so a full TCP segment carries 1398 bytes of payload instead of 1448 (×0.966): the \
         'overhead accounted for' ratio divides the routed figure by that. Ratios within each round.",
        &["path", "TCP Gbit/s median (min–max)", "UDP Gbit/s median (min–max)", "N"],
    );
    let row = |t: &mut Table, name: &str, tcp: &Samples, udp: &Samples| {
        t.row(vec![name.into(), tcp.show(2), udp.show(2), tcp.n().to_string()]);
    };
    row(&mut t, "a → b, one member, one bridge", &s[0], &s[3]);
    row(&mut t, "a → c, across VXLAN (static cluster)", &s[1], &s[4]);
    row(
        &mut t,
        "a → c, routed over the underlay (no VXLAN; masquerade + DNAT)",
        &s[2],
        &s[5],
    );
    report.tables.push(t);
    report.target(
        "TCP throughput across the overlay vs the same path routed without VXLAN, encapsulation overhead accounted for",
        format!(
            "{:.0} % ({:.0} % raw; {:.2} vs {:.2} Gbit/s; {:.0} % of two VMs on one bridge)",
            tcp_adjusted.median() * 100.0,
            tcp_ratio.median() * 100.0,
            s[1].median(),
            s[2].median(),
            s[1].median() / s[0].median() * 100.0
        ),
        "≥ 90 %",
        tcp_adjusted.median() >= 0.9,
    );
    report.target(
        "UDP throughput across the overlay vs the same path routed without VXLAN (1,400-byte datagrams)",
        format!(
            "{:.0} % ({:.2} vs {:.2} Gbit/s)",
            udp_ratio.median() * 100.0,
            s[4].median(),
            s[5].median()
        ),
        "≥ 90 %",
        udp_ratio.median() >= 0.9,
    );
}
