//! The ISP fixture against the kernel, the full matrix: `brouter start` (the built binary,
//! the real engine and NetlinkBackend) on a dom0 namespace, veth domUs in every zone
//! attached with `brouter vif online` (anti-spoofing bindings on the dmz), an "internet"
//! behind the uplink. Every flow of a generated matrix — each ordered zone pair × services,
//! each forward, hairpin from the same and from other networks, spoofed IP, MAC and ARP —
//! is explained and then sent for real; the kernel must do what `explain` says: the same
//! verdict, landing where it predicts, seen from the source it predicts.
//!
//! Also here: an open connection survives a re-`start` that rewrites the tables, a UDP
//! forward added while the flow is running applies to its next datagrams, and another
//! tool's table and bridge come out of `start`/`stop` bit for bit.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use brouter_backends::firewall;
use brouter_engine::config::{from_toml, Action, Proto as FwdProto};
use brouter_engine::firewall::{compile, explain, Address, ExplainContext, Flow, FlowProto, Ruleset, Trace};
use brouter_integration::arp::{self, ArpRequest};
use brouter_integration::binary::brouter_bin;
use brouter_integration::drop_proof::{self, ProbeMatch};
use brouter_integration::probe::{self, DEADLINE, DROP_DEADLINE};
use brouter_integration::topology::INTERNET_HOST;
use brouter_integration::{root_or_skip, DomU, Netns, Outcome, Snapshot, Topology};

// ---------------------------------------------------------------------------------------
// The lab: the ISP fixture started by the binary, six domUs online.

/// The domUs: two per network, so every zone also talks to itself over its bridge.
/// app2 and db2 are not declared in the fixture (their networks do no anti-spoofing).
const VMS: &[(&str, &str, &str, &str)] = &[
    // name, address, MAC, network
    ("web1", "10.1.0.10", "aa:cc:00:00:01:01", "dmz"),
    ("web2", "10.1.0.11", "aa:cc:00:00:01:02", "dmz"),
    ("app1", "10.2.0.10", "aa:cc:00:00:02:01", "hosting"),
    ("app2", "10.2.0.11", "aa:cc:00:00:02:02", "hosting"),
    ("db1", "10.3.0.10", "aa:cc:00:00:03:01", "data"),
    ("db2", "10.3.0.11", "aa:cc:00:00:03:02", "data"),
];
const WEB1: usize = 0;
const APP1: usize = 2;
const DB1: usize = 4;

/// A MAC nobody is bound to.
const STRANGER_MAC: &str = "aa:cc:00:00:01:99";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/isp.toml")
}

/// The fixture's IPv4 side without DHCP (no `dhcp`, `dhcp_range`, `address6`, host
/// IPv6 addresses), written to `dir`: the matrix's own servers must own the dom0's udp/53
/// (a policy service), which brouter's dnsmasq holds on a `dhcp` or `address6` network.
/// DHCP and DNS have their own kernel tests (dhcp_dnsmasq.rs, dualstack_fixture.rs), IPv6
/// flows theirs (explain_v6_traffic.rs); the IPv4 zone policies are the same.
fn fixture_without_dhcp(dir: &TempDir) -> PathBuf {
    let text = std::fs::read_to_string(fixture()).unwrap();
    let kept: Vec<String> = text
        .lines()
        .filter(|l| {
            !["dhcp = ", "dhcp_range = ", "address6 = "]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(|l| match l.strip_prefix("addresses = [") {
            Some(list) => {
                let v4: Vec<&str> = list
                    .trim_end_matches(']')
                    .split(',')
                    .map(str::trim)
                    .filter(|a| !a.contains(':'))
                    .collect();
                format!("addresses = [{}]", v4.join(", "))
            }
            None => l.to_string(),
        })
        .collect();
    assert!(kept.len() < text.lines().count(), "isp.toml serves DHCP");
    let p = dir.0.join("isp-no-dhcp.toml");
    std::fs::write(&p, kept.join("\n")).unwrap();
    p
}

fn ruleset_of(path: &Path) -> Ruleset {
    let text = std::fs::read_to_string(path).unwrap();
    compile(&from_toml(&text, &path.display().to_string()).unwrap())
}

/// A temp dir that removes itself: brouter's memory and locks, edited configs.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("brouter-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Lab {
    t: Topology,
    state: TempDir,
}

/// A restart with the whole fixture (DHCP and router advertisements on) starts brouter's
/// dnsmasq; it ends with the lab, also when a test fails.
impl Drop for Lab {
    fn drop(&mut self) {
        brouter_integration::dnsmasq_procs::kill_processes_naming(&self.state.0);
    }
}

impl Lab {
    /// The topology with the internet routing the VM networks back to the dom0 (so that
    /// `external` → network flows can be tried at all; masquerade stays observable in the
    /// source the receiver sees).
    fn new(tag: &str) -> Lab {
        let mut b = Topology::new(tag);
        for (name, addr, mac, _) in VMS {
            let gw = format!("{}.1", addr.rsplit_once('.').unwrap().0);
            b = b.domu(DomU::new(name, &format!("{addr}/24"), &gw).mac(mac));
        }
        let t = b.build();
        t.internet()
            .ip(&["route", "add", "10.0.0.0/8", "via", "192.0.2.2"]);
        Lab {
            t,
            state: TempDir::new(tag),
        }
    }

    /// `brouter --config CONFIG --netns dom0 ARGS…`.
    fn brouter(&self, config: &Path, args: &[&str]) -> Output {
        Command::new(brouter_bin())
            .arg("--config")
            .arg(config)
            .args(["--netns", self.t.dom0().name()])
            .args(args)
            .env("BROUTER_STATE_DIR", &self.state.0)
            .output()
            .expect("run brouter")
    }

    fn ok(&self, config: &Path, args: &[&str]) -> String {
        let out = self.brouter(config, args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "brouter {args:?} failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// `start`, then every domU's vif online as the hotplug hook would bring it.
    fn start_all(&self, config: &Path) {
        self.ok(config, &["start"]);
        for (i, (_, addr, mac, net)) in VMS.iter().enumerate() {
            let bridge = format!("br-{net}");
            let vif = self.t.vif(i);
            self.ok(
                config,
                &[
                    "vif", "online", "--vif", vif, "--bridge", &bridge, "--mac", mac, "--ip", addr,
                ],
            );
        }
    }

    fn vm(&self, i: usize) -> &Netns {
        self.t.domu(i)
    }

    fn node_ns(&self, n: Node) -> &Netns {
        match n {
            Node::Internet => self.t.internet(),
            Node::Dom0 => self.t.dom0(),
            Node::Vm(i) => self.vm(i),
        }
    }

    fn ctx(&self) -> ExplainContext {
        ExplainContext {
            uplink_address: Some(self.t.uplink_ip()),
            uplink_address6: None,
            bindings: firewall::read_bindings(&self.t.dom0().target()).unwrap(),
            disabled_ports: vec![],
        }
    }
}

fn vm_ip(i: usize) -> Ipv4Addr {
    VMS[i].1.parse().unwrap()
}

/// The internet's address on the uplink: the source of everything it sends the dom0.
fn internet_src() -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 1)
}

// ---------------------------------------------------------------------------------------
// Flows.

/// Where a probe runs: its client or its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Node {
    Internet,
    Dom0,
    Vm(usize),
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Node::Internet => f.write_str("internet"),
            Node::Dom0 => f.write_str("dom0"),
            Node::Vm(i) => f.write_str(VMS[*i].0),
        }
    }
}

#[derive(Debug, Clone)]
enum Kind {
    Tcp,
    Udp,
    Icmp,
    /// A raw ARP request from the client VM's eth0, listened for on this bridge.
    Arp {
        req: ArpRequest,
        bridge: String,
    },
}

/// One flow of the matrix: what `explain` is asked, and how the probe sends it.
#[derive(Debug, Clone)]
struct Case {
    label: String,
    flow: Flow,
    kind: Kind,
    client: Node,
    /// Send from this address (a secondary address the client holds: spoofing).
    bind: Option<Ipv4Addr>,
    dst: Ipv4Addr,
    port: u16,
}

/// The node that holds an address.
fn node_of(lab: &Lab, rs: &Ruleset, a: Ipv4Addr) -> Node {
    if let Some(i) = (0..VMS.len()).find(|i| vm_ip(*i) == a) {
        return Node::Vm(i);
    }
    if a == lab.t.uplink_ip() || rs.networks.iter().any(|n| n.address.addr() == a) {
        return Node::Dom0;
    }
    Node::Internet
}

/// Where the probe's server listens: where `explain` says the flow lands when it is
/// accepted; otherwise where it would land without a firewall (so a kernel that lets it
/// through is caught).
fn landing(lab: &Lab, rs: &Ruleset, c: &Case, trace: &Trace) -> (Node, u16) {
    if let Some(d) = &trace.delivered {
        let addr = match d.addr {
            Address::Ip(IpAddr::V4(ip)) => ip,
            Address::Ip(IpAddr::V6(_)) | Address::Uplink6 => panic!("the matrix is IPv4"),
            Address::Uplink => lab.t.uplink_ip(),
        };
        return (node_of(lab, rs, addr), d.port.unwrap_or(c.port));
    }
    let local =
        node_of(lab, rs, c.dst) == Node::Dom0 && rs.networks.iter().all(|n| n.address.addr() != c.dst);
    let l4 = match c.kind {
        Kind::Tcp => Some(FwdProto::Tcp),
        Kind::Udp => Some(FwdProto::Udp),
        _ => None,
    };
    if let (true, Some(p), false) = (local, l4, c.client == Node::Dom0) {
        if let Some(f) = rs.forward_for(p, c.port) {
            return (node_of(lab, rs, f.addr), f.to_port.unwrap_or(c.port));
        }
    }
    (node_of(lab, rs, c.dst), c.port)
}

/// The representative client of a zone and the destination a flow into zone `to` aims at.
fn client_of(zone: &str) -> Node {
    match zone {
        "external" => Node::Internet,
        "dom0" => Node::Dom0,
        net => Node::Vm(VMS.iter().position(|v| v.3 == net).expect("a VM per network")),
    }
}

fn explain_flow(
    client: Node,
    zone: &str,
    lab: &Lab,
    to: Ipv4Addr,
    proto: FlowProto,
    port: Option<u16>,
) -> Flow {
    let f = Flow::new(zone, Address::from(to), proto, port);
    match client {
        Node::Internet => f.with_src(internet_src()),
        Node::Dom0 => f,
        Node::Vm(i) => f.with_src(vm_ip(i)).with_vif(lab.t.vif(i)),
    }
}

/// Every ordered zone pair × (a tcp port the policy allows, one it does not, udp, icmp);
/// every forwarded port (ranges: first, middle, last) from outside and as hairpin from
/// the target's own network and from the others; spoofed ARP.
fn matrix(lab: &Lab, rs: &Ruleset) -> Vec<Case> {
    let mut zones = vec!["external".to_string(), "dom0".to_string()];
    zones.extend(rs.networks.iter().map(|n| n.name.clone()));
    let uplink = lab.t.uplink_ip();
    let mut cases = vec![];
    let mut idx = 0u16;
    for from in &zones {
        for to in &zones {
            if from == to && (from == "external" || from == "dom0") {
                continue;
            }
            idx += 1;
            let client = client_of(from);
            let dst = match (from.as_str(), to.as_str()) {
                (_, "external") => INTERNET_HOST,
                ("external", "dom0") => uplink,
                (net, "dom0") => rs.network(net).unwrap().address.addr(),
                (_, net) => {
                    let mut vms = (0..VMS.len()).filter(|i| VMS[*i].3 == net);
                    let first = vms.next().unwrap();
                    vm_ip(if Node::Vm(first) == client {
                        vms.next().unwrap()
                    } else {
                        first
                    })
                }
            };
            let policy = rs.policy(from, to);
            let svc_port = |want: FlowProto| {
                policy.and_then(|p| {
                    p.services.iter().find_map(|s| match (s, want) {
                        (brouter_engine::config::Service::Tcp(r), FlowProto::Tcp)
                        | (brouter_engine::config::Service::Udp(r), FlowProto::Udp) => Some(r.first),
                        _ => None,
                    })
                })
            };
            let tcp_ok = svc_port(FlowProto::Tcp).unwrap_or(10000 + idx);
            let udp = svc_port(FlowProto::Udp).unwrap_or(30000 + idx);
            let pair = format!("{from}→{to}");
            for (what, kind, proto, port) in [
                ("tcp (a service)", Kind::Tcp, FlowProto::Tcp, tcp_ok),
                ("tcp (not a service)", Kind::Tcp, FlowProto::Tcp, 20000 + idx),
                ("udp", Kind::Udp, FlowProto::Udp, udp),
                ("icmp", Kind::Icmp, FlowProto::Icmp, 0),
            ] {
                let port_opt = (proto != FlowProto::Icmp).then_some(port);
                cases.push(Case {
                    label: format!("{pair} {what} {client}→{dst}{}", fmt_port(port_opt)),
                    flow: explain_flow(client, from, lab, dst, proto, port_opt),
                    kind,
                    client,
                    bind: None,
                    dst,
                    port,
                });
            }
        }
    }

    // Forwards: from outside, and hairpin.
    for f in &rs.forwards {
        let r = f.ports;
        let mut ports = vec![r.first, r.first + (r.last - r.first) / 2, r.last];
        ports.dedup();
        let target = rs.network_of(f.addr).expect("forwards go to VM networks");
        let (kind, proto) = match f.proto {
            FwdProto::Tcp => (Kind::Tcp, FlowProto::Tcp),
            FwdProto::Udp => (Kind::Udp, FlowProto::Udp),
        };
        // The hairpin clients: another VM of the target's network, the first VM of each other one.
        let mut hairpin: Vec<usize> = vec![];
        for n in &rs.networks {
            let pick = (0..VMS.len())
                .filter(|i| VMS[*i].3 == n.name)
                .find(|i| n.name != target.name || vm_ip(*i) != f.addr);
            hairpin.extend(pick);
        }
        for port in ports {
            let p = Some(port);
            cases.push(Case {
                label: format!("forward {}/{} from outside: internet→uplink:{port}", f.proto, r),
                flow: explain_flow(Node::Internet, "external", lab, uplink, proto, p),
                kind: kind.clone(),
                client: Node::Internet,
                bind: None,
                dst: uplink,
                port,
            });
            for &i in &hairpin {
                let zone = VMS[i].3;
                let same = if zone == target.name {
                    "same network"
                } else {
                    "other network"
                };
                cases.push(Case {
                    label: format!("hairpin {}/{} ({same}): {}→uplink:{port}", f.proto, r, VMS[i].0),
                    flow: explain_flow(Node::Vm(i), zone, lab, uplink, proto, p),
                    kind: kind.clone(),
                    client: Node::Vm(i),
                    bind: None,
                    dst: uplink,
                    port,
                });
            }
        }
    }
    // The dom0's other addresses: each network's VM to another network's bridge address
    // and to the uplink address (no forward on these ports: input, judged as `→ dom0`).
    for n in &rs.networks {
        let client = client_of(&n.name);
        let other = rs.networks.iter().find(|o| o.name != n.name).unwrap();
        for (what, dst) in [
            (format!("{}'s bridge address", other.name), other.address.addr()),
            ("the uplink address".to_string(), uplink),
        ] {
            idx += 1;
            let svc = rs.policy(&n.name, "dom0").and_then(|p| {
                p.services.iter().find_map(|s| match s {
                    brouter_engine::config::Service::Udp(r) => Some(r.first),
                    _ => None,
                })
            });
            for (proto, kind, port) in [
                (FlowProto::Tcp, Kind::Tcp, 40000 + idx),
                (FlowProto::Udp, Kind::Udp, svc.unwrap_or(40000 + idx)),
                (FlowProto::Icmp, Kind::Icmp, 0),
            ] {
                let p = (proto != FlowProto::Icmp).then_some(port);
                cases.push(Case {
                    label: format!(
                        "{}→dom0 via {what}: {proto} {client}→{dst}{}",
                        n.name,
                        fmt_port(p)
                    ),
                    flow: explain_flow(client, &n.name, lab, dst, proto, p),
                    kind,
                    client,
                    bind: None,
                    dst,
                    port,
                });
            }
        }
    }
    // Near misses of the forwards from outside: the ports around a range, the other
    // protocol, a forwarded port on a bridge address (never DNAT'd).
    let dmz_gw = rs.network("dmz").unwrap().address.addr();
    for (what, kind, proto, dst, port) in [
        (
            "just below a forwarded range",
            Kind::Tcp,
            FlowProto::Tcp,
            uplink,
            7999,
        ),
        (
            "just above a forwarded range",
            Kind::Tcp,
            FlowProto::Tcp,
            uplink,
            8010,
        ),
        (
            "a forwarded tcp port, as udp",
            Kind::Udp,
            FlowProto::Udp,
            uplink,
            80,
        ),
        (
            "just above a forwarded udp range",
            Kind::Udp,
            FlowProto::Udp,
            uplink,
            5062,
        ),
        (
            "a forwarded port on a bridge address",
            Kind::Tcp,
            FlowProto::Tcp,
            dmz_gw,
            443,
        ),
    ] {
        cases.push(Case {
            label: format!("external→dom0 {what}: internet→{dst}:{port}"),
            flow: explain_flow(Node::Internet, "external", lab, dst, proto, Some(port)),
            kind,
            client: Node::Internet,
            bind: None,
            dst,
            port,
        });
    }
    // The dom0 itself on a forwarded port of its own address: output has no DNAT.
    cases.push(Case {
        label: "dom0→uplink:80 (its own forwarded port)".into(),
        flow: explain_flow(Node::Dom0, "dom0", lab, uplink, FlowProto::Tcp, Some(80)),
        kind: Kind::Tcp,
        client: Node::Dom0,
        bind: None,
        dst: uplink,
        port: 80,
    });

    // ARP, honest and spoofed, on a guarded and an unguarded network.
    let web1_mac = VMS[WEB1].2;
    let app1_mac = VMS[APP1].2;
    let gw_dmz = rs.network("dmz").unwrap().address.addr();
    let gw_hosting = rs.network("hosting").unwrap().address.addr();
    let arp_cases = [
        ("arp dmz honest", WEB1, web1_mac, vm_ip(WEB1), gw_dmz),
        (
            "arp dmz spoofed sender IP",
            WEB1,
            web1_mac,
            Ipv4Addr::new(10, 1, 0, 78),
            gw_dmz,
        ),
        ("arp dmz spoofed MAC", WEB1, STRANGER_MAC, vm_ip(WEB1), gw_dmz),
        (
            "arp hosting spoofed sender IP (unguarded)",
            APP1,
            app1_mac,
            Ipv4Addr::new(10, 2, 0, 78),
            gw_hosting,
        ),
    ];
    for (label, i, mac, sender, target) in arp_cases {
        let zone = VMS[i].3;
        let flow = Flow::new(zone, Address::from(target), FlowProto::Arp, None)
            .with_src(sender)
            .with_vif(lab.t.vif(i))
            .with_mac(mac);
        cases.push(Case {
            label: format!("{label}: {} says {sender} is at {mac}", VMS[i].0),
            flow,
            kind: Kind::Arp {
                req: ArpRequest::new(mac, sender, target),
                bridge: format!("br-{zone}"),
            },
            client: Node::Vm(i),
            bind: None,
            dst: target,
            port: 0,
        });
    }
    cases
}

fn fmt_port(p: Option<u16>) -> String {
    p.map(|p| format!(":{p}")).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Running and judging.

/// One checked flow.
struct Row {
    label: String,
    predicted: String,
    observed: String,
    agrees: bool,
    trace: Trace,
}

fn predicted(trace: &Trace, land: (Node, u16)) -> String {
    match (&trace.delivered, trace.verdict) {
        (Some(d), Action::Accept) => format!(
            "accept → {}{} (at {}), seen from {}",
            land.0,
            if land.1 == 0 {
                String::new()
            } else {
                format!(":{}", land.1)
            },
            d.addr,
            d.source
        ),
        (_, v) => v.to_string(),
    }
}

fn observed(o: &Outcome, land: (Node, u16)) -> String {
    match o {
        Outcome::Connected { peer_seen } => format!(
            "accept → {}{}, seen from {}",
            land.0,
            if land.1 == 0 {
                String::new()
            } else {
                format!(":{}", land.1)
            },
            peer_seen.ip()
        ),
        Outcome::Refused => "reject".into(),
        Outcome::TimedOut => "timeout".into(),
        Outcome::Failed(e) => format!("probe failed: {e}"),
    }
}

/// Send one case's flow for real and say what came back.
fn probe_case(lab: &Lab, c: &Case, land: (Node, u16), deadline: Duration) -> Outcome {
    let client = lab.node_ns(c.client);
    let server = lab.node_ns(land.0);
    let listen = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), land.1);
    let dst = SocketAddr::new(c.dst.into(), c.port);
    match (&c.kind, c.bind) {
        (Kind::Tcp, None) => probe::tcp(server, listen, client, dst, deadline),
        (Kind::Tcp, Some(src)) => probe::tcp_from(server, listen, client, src.into(), dst, deadline),
        (Kind::Udp, _) => probe::udp(server, listen, client, dst, deadline),
        (Kind::Icmp, _) => probe::icmp(server, client, c.dst.into(), deadline),
        (Kind::Arp { req, bridge }, _) => arp::arp(lab.t.dom0(), bridge, client, "eth0", req, deadline),
    }
}

/// Run one case: explain it, send it, compare. A timeout agrees with a predicted drop
/// only when the drop is proven by the case's probe tables ([`drop_proven`], installed
/// with [`install_probes`] before the case runs under id `probe`): silence alone could be
/// a lost packet, a missing route or a broken probe.
fn run_case(lab: &Lab, rs: &Ruleset, ctx: &ExplainContext, c: &Case, probe: usize) -> Row {
    let trace = explain(rs, ctx, &c.flow).unwrap_or_else(|e| panic!("explain {}: {e}", c.flow));
    let land = landing(lab, rs, c, &trace);
    let deadline = if trace.verdict == Action::Drop {
        DROP_DEADLINE
    } else {
        DEADLINE
    };
    let outcome = probe_case(lab, c, land, deadline);
    let seen = trace.seen_source().map(|a| match a {
        Address::Ip(ip) => ip,
        Address::Uplink => IpAddr::V4(lab.t.uplink_ip()),
        Address::Uplink6 => panic!("the matrix is IPv4"),
    });
    let dropped_at = match (&outcome, trace.verdict) {
        (Outcome::TimedOut, Action::Drop) => drop_proven(lab, c, probe),
        _ => None,
    };
    let agrees = match (&outcome, trace.verdict) {
        (Outcome::Connected { .. }, Action::Accept) => outcome.peer_ip() == seen,
        (Outcome::Refused, Action::Reject) => true,
        (Outcome::TimedOut, Action::Drop) => dropped_at.is_some(),
        _ => false,
    };
    let observed = match (&outcome, dropped_at) {
        (Outcome::TimedOut, Some(hooks)) => format!("drop (counted at {hooks})"),
        (Outcome::TimedOut, None) => "timeout, but no drop counted".into(),
        _ => observed(&outcome, land),
    };
    Row {
        label: c.label.clone(),
        predicted: predicted(&trace, land),
        observed,
        agrees,
        trace,
    }
}

// ---------------------------------------------------------------------------------------
// Proving a drop.

/// The packets of case `c`, for its probe tables (see `brouter_integration::drop_proof`).
fn probe_match(c: &Case) -> ProbeMatch {
    let src = match c.client {
        Node::Internet => Some(internet_src()),
        // The dom0's routing picks the source of its own flows.
        Node::Dom0 => None,
        Node::Vm(i) => Some(c.bind.unwrap_or(vm_ip(i))),
    };
    let port = Some(c.port);
    match &c.kind {
        Kind::Tcp => ProbeMatch::l4("tcp", src, c.dst, port, c.flow.src_mac.as_deref()),
        Kind::Udp => ProbeMatch::l4("udp", src, c.dst, port, c.flow.src_mac.as_deref()),
        Kind::Icmp => ProbeMatch::l4("icmp", src, c.dst, None, c.flow.src_mac.as_deref()),
        Kind::Arp { req, .. } => ProbeMatch::arp(req.sender_ip, req.target_ip, req.sender_mac),
    }
}

/// Install the probe tables of `cases` (id, case) in the dom0, in one transaction.
fn install_probes(lab: &Lab, cases: &[(usize, &Case)]) {
    let matches: Vec<(usize, ProbeMatch)> = cases.iter().map(|(id, c)| (*id, probe_match(c))).collect();
    let refs: Vec<(usize, &ProbeMatch)> = matches.iter().map(|(id, m)| (*id, m)).collect();
    drop_proof::install(lab.t.dom0(), &refs);
}

fn remove_probes(lab: &Lab, ids: &[usize]) {
    drop_proof::remove(lab.t.dom0(), ids);
}

/// Where the kernel dropped the case's packets in brouter's chains (`None`: no drop
/// proven — the packets never reached the dom0, or passed every hook).
fn drop_proven(lab: &Lab, c: &Case, probe: usize) -> Option<String> {
    drop_proof::dropped_at(lab.t.dom0(), probe, &c.label)
}

/// [`run_case`] alone, with its probe tables (id `probe`) around it.
fn run_probed(lab: &Lab, rs: &Ruleset, ctx: &ExplainContext, c: &Case, probe: usize) -> Row {
    install_probes(lab, &[(probe, c)]);
    let row = run_case(lab, rs, ctx, c, probe);
    remove_probes(lab, &[probe]);
    row
}

/// A probe server's socket: namespace, IP protocol number, port.
type ServerKey = (Node, u8, u16);

/// Run cases concurrently in waves: within a wave no two tcp/udp servers share a
/// namespace, protocol and port (ICMP and ARP probes tell theirs apart by a token).
fn run_all(lab: &Lab, rs: &Ruleset, ctx: &ExplainContext, cases: &[Case]) -> Vec<Row> {
    const WAVE: usize = 40;
    let mut waves: Vec<(HashSet<ServerKey>, Vec<usize>)> = vec![];
    let mut drops = HashSet::new();
    for (i, c) in cases.iter().enumerate() {
        let trace = explain(rs, ctx, &c.flow).unwrap_or_else(|e| panic!("explain {}: {e}", c.flow));
        if trace.verdict == Action::Drop {
            drops.insert(i);
        }
        let (node, port) = landing(lab, rs, c, &trace);
        let key = match c.kind {
            Kind::Tcp => Some((node, 6, port)),
            Kind::Udp => Some((node, 17, port)),
            _ => None,
        };
        let slot = waves
            .iter()
            .position(|(keys, members)| members.len() < WAVE && key.is_none_or(|k| !keys.contains(&k)));
        let slot = slot.unwrap_or_else(|| {
            waves.push((HashSet::new(), vec![]));
            waves.len() - 1
        });
        waves[slot].0.extend(key);
        waves[slot].1.push(i);
    }
    let mut rows: Vec<Option<Row>> = (0..cases.len()).map(|_| None).collect();
    for (_, members) in waves {
        // The predicted drops of this wave are counted from their first packet.
        let probed: Vec<usize> = members.iter().copied().filter(|i| drops.contains(i)).collect();
        let with_case: Vec<(usize, &Case)> = probed.iter().map(|&i| (i, &cases[i])).collect();
        install_probes(lab, &with_case);
        let done: Vec<(usize, Row)> = std::thread::scope(|s| {
            let handles: Vec<_> = members
                .iter()
                .map(|&i| s.spawn(move || (i, run_case(lab, rs, ctx, &cases[i], i))))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("probe thread"))
                .collect()
        });
        remove_probes(lab, &probed);
        for (i, r) in done {
            rows[i] = Some(r);
        }
    }
    rows.into_iter().map(|r| r.expect("every case ran")).collect()
}

fn table(rows: &[&Row]) -> String {
    let w = rows.iter().map(|r| r.label.chars().count()).max().unwrap_or(0);
    let p = rows
        .iter()
        .map(|r| r.predicted.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(out, "{:<w$} | {:<p$} | kernel", "flow", "explain");
    for r in rows {
        let _ = writeln!(
            out,
            "{:<w$} | {:<p$} | {}{}",
            r.label,
            r.predicted,
            r.observed,
            if r.agrees { "" } else { "   <-- DISAGREES" }
        );
    }
    out
}

/// Print the whole matrix, and fail listing every disagreement with its trace.
fn report(what: &str, rows: &[Row]) {
    let all: Vec<&Row> = rows.iter().collect();
    println!("{}", table(&all));
    let bad: Vec<&Row> = rows.iter().filter(|r| !r.agrees).collect();
    println!(
        "{what}: checked {} flows, {} disagreements",
        rows.len(),
        bad.len()
    );
    if !bad.is_empty() {
        let traces: Vec<String> = bad.iter().map(|r| r.trace.to_string()).collect();
        panic!(
            "{what}: {} of {} flows disagree:\n{}\ntraces:\n{}",
            bad.len(),
            rows.len(),
            table(&bad),
            traces.join("\n\n")
        );
    }
}

#[test]
fn every_flow_of_the_isp_matrix_does_what_explain_says() {
    if !root_or_skip("every_flow_of_the_isp_matrix_does_what_explain_says") {
        return;
    }
    let t0 = Instant::now();
    let lab = Lab::new("pmatrix");
    let config = fixture_without_dhcp(&lab.state);
    lab.start_all(&config);
    let rs = ruleset_of(&config);
    let ctx = lab.ctx();
    assert_eq!(
        ctx.bindings.len(),
        2,
        "web1 and web2 are bound: {:?}",
        ctx.bindings
    );
    let setup = t0.elapsed();

    let cases = matrix(&lab, &rs);
    let mut rows = run_all(&lab, &rs, &ctx, &cases);
    let matrix_time = t0.elapsed() - setup;

    // Spoofing with real sockets, one at a time: each changes a domU for a moment.
    rows.extend(spoofing(&lab, &rs, &ctx));
    println!(
        "setup {:.1?}, matrix {:.1?}, spoofing {:.1?}",
        setup,
        matrix_time,
        t0.elapsed() - setup - matrix_time
    );
    report("ISP policy matrix", &rows);
}

/// A VM sending from an address it does not own (dmz: bound, dropped; hosting: not
/// guarded, masqueraded like any other) and from a MAC it was not bound to.
fn spoofing(lab: &Lab, rs: &Ruleset, ctx: &ExplainContext) -> Vec<Row> {
    let mut rows = vec![];
    let web1 = lab.vm(WEB1);
    let app1 = lab.vm(APP1);
    // ARP for the gateway keeps using the VM's own address, so only the IP check is tried.
    for ns in [web1, app1] {
        ns.set_sysctl("net/ipv4/conf/all/arp_announce", "2");
    }
    let web2 = vm_ip(WEB1 + 1);
    for (i, spoofed, dst, port) in [
        (WEB1, Ipv4Addr::new(10, 1, 0, 77), INTERNET_HOST, 80),
        (WEB1, Ipv4Addr::new(10, 1, 0, 77), web2, 9000),
        (APP1, Ipv4Addr::new(10, 2, 0, 77), INTERNET_HOST, 443),
    ] {
        let zone = VMS[i].3;
        lab.vm(i)
            .ip(&["addr", "add", &format!("{spoofed}/32"), "dev", "eth0"]);
        let flow = Flow::tcp(zone, dst, port)
            .with_src(spoofed)
            .with_vif(lab.t.vif(i));
        let c = Case {
            label: format!(
                "spoofed IP from {zone}: {} sends as {spoofed} → {}:{port}",
                VMS[i].0,
                node_of(lab, rs, dst)
            ),
            flow,
            kind: Kind::Tcp,
            client: Node::Vm(i),
            bind: Some(spoofed),
            dst,
            port,
        };
        rows.push(run_probed(lab, rs, ctx, &c, 10_000 + rows.len()));
        lab.vm(i)
            .ip(&["addr", "del", &format!("{spoofed}/32"), "dev", "eth0"]);
    }

    web1.ip(&["link", "set", "eth0", "address", STRANGER_MAC]);
    let flow = Flow::tcp("dmz", INTERNET_HOST, 80)
        .with_src(vm_ip(WEB1))
        .with_vif(lab.t.vif(WEB1))
        .with_mac(STRANGER_MAC);
    let c = Case {
        label: format!("spoofed MAC from dmz: web1 sends from {STRANGER_MAC} → internet:80"),
        flow,
        kind: Kind::Tcp,
        client: Node::Vm(WEB1),
        bind: None,
        dst: INTERNET_HOST,
        port: 80,
    };
    rows.push(run_probed(lab, rs, ctx, &c, 10_000 + rows.len()));
    web1.ip(&["link", "set", "eth0", "address", VMS[WEB1].2]);
    rows
}

// ---------------------------------------------------------------------------------------
// Open connections and a re-`start`.

/// The fixture plus one more forward, written to `dir`: a re-`start` with it rewrites
/// the tables.
fn with_extra(dir: &TempDir, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(fixture()).unwrap();
    let p = dir.0.join("isp-changed.toml");
    std::fs::write(&p, format!("{text}\n{extra}\n")).unwrap();
    p
}

/// A TCP listener in `ns` on `port`; the accepted stream comes back through the channel.
fn listen(ns: &Netns, port: u16) -> std::sync::mpsc::Receiver<TcpStream> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (tx, rx) = std::sync::mpsc::channel();
    let _ = ns.spawn(move || {
        let l = TcpListener::bind(("0.0.0.0", port)).expect("listen");
        ready_tx.send(()).unwrap();
        if let Ok((s, _)) = l.accept() {
            let _ = tx.send(s);
        }
    });
    ready_rx.recv().expect("listener ready");
    rx
}

fn connect(ns: &Netns, dst: SocketAddr) -> TcpStream {
    ns.run(move || TcpStream::connect_timeout(&dst, DEADLINE).expect("connect"))
}

/// Both directions of an established connection still carry data.
fn exchange(a: &mut TcpStream, b: &mut TcpStream, token: &[u8]) -> Result<(), String> {
    for s in [&*a, &*b] {
        s.set_read_timeout(Some(DEADLINE)).unwrap();
    }
    let mut buf = vec![0u8; token.len()];
    a.write_all(token).map_err(|e| format!("write: {e}"))?;
    b.read_exact(&mut buf).map_err(|e| format!("read: {e}"))?;
    if buf != token {
        return Err("garbled".into());
    }
    b.write_all(token).map_err(|e| format!("write back: {e}"))?;
    a.read_exact(&mut buf).map_err(|e| format!("read back: {e}"))?;
    Ok(())
}

#[test]
fn open_connections_survive_a_restart_that_rewrites_the_tables() {
    if !root_or_skip("open_connections_survive_a_restart_that_rewrites_the_tables") {
        return;
    }
    let lab = Lab::new("pmsurvive");
    lab.start_all(&fixture());

    // app1 → internet, masqueraded; internet → web1 through the forward of tcp/80.
    let out_srv = listen(lab.t.internet(), 7001);
    let mut out_client = connect(lab.vm(APP1), SocketAddr::new(INTERNET_HOST.into(), 7001));
    let mut out_server = out_srv.recv_timeout(DEADLINE).expect("internet accepted");
    assert_eq!(
        out_server.peer_addr().unwrap().ip(),
        IpAddr::from(lab.t.uplink_ip())
    );
    let in_srv = listen(lab.vm(WEB1), 80);
    let mut in_client = connect(lab.t.internet(), SocketAddr::new(lab.t.uplink_ip().into(), 80));
    let mut in_server = in_srv.recv_timeout(DEADLINE).expect("web1 accepted");
    assert_eq!(in_server.peer_addr().unwrap().ip(), IpAddr::from(internet_src()));
    exchange(&mut out_client, &mut out_server, b"before").unwrap();
    exchange(&mut in_client, &mut in_server, b"before").unwrap();

    let dir = TempDir::new("pmsurvive-cfg");
    let changed = with_extra(
        &dir,
        "[[forward]]\nproto = \"tcp\"\nport = 9090\nto = \"app1:80\"\n",
    );
    let before = firewall::read_fingerprint(&lab.t.dom0().target()).unwrap();
    lab.ok(&changed, &["start"]);
    let after = firewall::read_fingerprint(&lab.t.dom0().target()).unwrap();
    assert_ne!(before, after, "the re-start rewrote the tables");
    assert_eq!(
        firewall::read_bindings(&lab.t.dom0().target()).unwrap().len(),
        2,
        "the bindings of web1 and web2 are kept"
    );

    let mut failures = vec![];
    if let Err(e) = exchange(&mut out_client, &mut out_server, b"after-restart") {
        failures.push(format!("app1 → internet (masqueraded): {e}"));
    }
    if let Err(e) = exchange(&mut in_client, &mut in_server, b"after-restart") {
        failures.push(format!("internet → web1 (forwarded): {e}"));
    }
    assert!(
        failures.is_empty(),
        "connections broken by the re-start: {failures:?}"
    );
}

// ---------------------------------------------------------------------------------------
// A UDP forward added while its flow is running.

#[test]
fn a_udp_forward_added_during_a_running_flow_applies_to_its_next_datagrams() {
    if !root_or_skip("a_udp_forward_added_during_a_running_flow_applies_to_its_next_datagrams") {
        return;
    }
    let lab = Lab::new("pmudpfwd");
    lab.start_all(&fixture());
    const PORT: u16 = 27015;

    // A game server on db1, and a client on the internet sending to the uplink before
    // any forward exists: the dom0 has no such port; a conntrack entry for the flow exists.
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let (got_tx, got_rx) = std::sync::mpsc::channel::<SocketAddr>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let server = lab.vm(DB1).spawn(move || {
        let s = UdpSocket::bind(("0.0.0.0", PORT)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        ready_tx.send(()).unwrap();
        let mut buf = [0u8; 64];
        loop {
            if let Ok((_, from)) = s.recv_from(&mut buf) {
                let _ = got_tx.send(from);
            }
            if !matches!(stop_rx.try_recv(), Err(std::sync::mpsc::TryRecvError::Empty)) {
                return;
            }
        }
    });
    ready_rx.recv().unwrap();
    let uplink = lab.t.uplink_ip();
    let (cstop_tx, cstop_rx) = std::sync::mpsc::channel::<()>();
    let client = lab.t.internet().spawn(move || {
        let s = UdpSocket::bind(("0.0.0.0", 0)).unwrap();
        s.connect((uplink, PORT)).unwrap();
        loop {
            let _ = s.send(b"ping");
            match cstop_rx.recv_timeout(Duration::from_millis(20)) {
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                _ => return,
            }
        }
    });
    // The flow runs unforwarded for a while: nothing reaches db1.
    assert!(
        got_rx.recv_timeout(DROP_DEADLINE).is_err(),
        "nothing is forwarded yet"
    );

    let dir = TempDir::new("pmudpfwd-cfg");
    let changed = with_extra(
        &dir,
        &format!("[[forward]]\nproto = \"udp\"\nport = {PORT}\nto = \"db1\"\n"),
    );
    lab.ok(&changed, &["start"]);
    let deadline = Instant::now() + DEADLINE;
    let mut seen = None;
    while Instant::now() < deadline && seen.is_none() {
        seen = got_rx.recv_timeout(Duration::from_millis(50)).ok();
    }
    drop(cstop_tx);
    drop(stop_tx);
    let _ = client.join();
    let _ = server.join();
    let from = seen.expect("after the forward is added, the running flow's next datagrams reach db1");
    assert_eq!(
        from.ip(),
        IpAddr::from(internet_src()),
        "the client's address is kept"
    );
}

// ---------------------------------------------------------------------------------------
// Other tools' tables and bridges.

#[test]
fn a_foreign_table_and_bridge_survive_start_and_stop_bit_for_bit() {
    if !root_or_skip("a_foreign_table_and_bridge_survive_start_and_stop_bit_for_bit") {
        return;
    }
    let lab = Lab::new("pmforeign");
    let d0 = lab.t.dom0();
    let nft = |args: &[&str]| {
        let out = d0.exec("nft", args);
        assert!(
            out.status.success(),
            "nft {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    nft(&["add", "table", "inet", "filter"]);
    nft(&[
        "add",
        "chain",
        "inet",
        "filter",
        "forward",
        "{ type filter hook forward priority 0; policy accept; }",
    ]);
    nft(&[
        "add", "rule", "inet", "filter", "forward", "ct", "state", "invalid", "counter", "drop",
    ]);
    nft(&[
        "add", "rule", "inet", "filter", "forward", "iifname", "eth9", "counter", "accept",
    ]);
    d0.ip(&["link", "add", "br-foreign", "type", "bridge"]);
    d0.ip(&["addr", "add", "172.16.5.1/24", "dev", "br-foreign"]);
    d0.ip(&["link", "set", "br-foreign", "up"]);
    let table_before = nft(&["-a", "list", "table", "inet", "filter"]);
    let before = Snapshot::of(d0);

    lab.start_all(&fixture());
    let started = Snapshot::of(d0);
    assert!(
        started.nft.iter().any(|l| l.contains("table inet brouter")),
        "brouter's tables are there"
    );
    assert_eq!(
        nft(&["-a", "list", "table", "inet", "filter"]),
        table_before,
        "start leaves the foreign table alone"
    );
    lab.ok(&fixture(), &["stop"]);
    for i in 0..VMS.len() {
        lab.ok(&fixture(), &["vif", "offline", "--vif", lab.t.vif(i)]);
    }

    assert_eq!(
        nft(&["-a", "list", "table", "inet", "filter"]),
        table_before,
        "the foreign table, handles and counters included"
    );
    brouter_integration::assert_same(&before, &Snapshot::of(d0));
}
