//! Differential tests: the simulator held to the kernel.
//!
//! Random sequences of backend operations (`brouter_engine::Op`, each through the same
//! `NetBackend` call via `apply_op`) run on a `SimBackend` and on a `NetlinkBackend` in a
//! fresh namespace, both starting from the same small dom0 (see `differential/world.rs`).
//! After every operation both must give the same answer (Ok, or the same `ErrorKind`) and
//! the same observed state. Names and addresses come from small pools so duplicates,
//! missing objects and foreign objects come up often.
//!
//! Every disagreement found is fixed in the sim or the backend and kept below as a named
//! case with a fixed sequence — the durable record, since proptest's failure seeds (in
//! `differential.proptest-regressions`, replayed first) only reproduce a case while the
//! generator stays as it was. Root only; `PROPTEST_CASES` changes the case count (200).
//!
//! Both families: IPv4 and IPv6 addresses (ULA and documentation prefixes, a link-local
//! one), `ip -6 address flush`, IPv4 and IPv6 sysctls (`ip_forward`, IPv6 forwarding, a
//! link's `accept_ra`, read back on both sides through `read_sysctls`), MTUs on both sides
//! of IPv6's minimum (1280), bindings with IPv6 addresses.
//!
//! Cluster objects too: VXLAN devices (on the uplink or a missing underlay), their flood
//! entries, and brouter's neighbour entries of both families on bridges and the uplink.
//!
//! Besides link, address, route and sysctl operations the sequences replace and delete
//! brouter's tables, bind and unbind vifs, and edit the tables behind brouter's back
//! (`nft` in the namespace, `brouter_sim::FirewallDrift` in the sim): after every step
//! both sides must agree on the fingerprint, the bindings, and the read-back's lines
//! (`status`'s drift report, line for line) — until a `ReplaceFirewall` repairs them.

#[path = "differential/ipv6.rs"]
mod ipv6;
#[path = "differential/world.rs"]
mod world;

use std::sync::OnceLock;

use brouter_engine::config::from_xen_words;
use brouter_engine::firewall::{Binding, Ruleset};
use brouter_engine::{accept_ra_key, compile, BridgeOptions, Op, PortState, IPV6_FORWARD, IP_FORWARD};
use brouter_integration::root_or_skip;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use world::{net, Drift, Initial, Worlds};

/// Links: two bridge names (`xenbr1` exists as a foreign bridge), the vif, the uplink, and
/// a name that does not exist (until an op creates or renames something to it).
const LINKS: [&str; 5] = ["xenbr0", "xenbr1", "vif1.0", "eth0", "nope0"];
/// Two addresses of one subnet (primary/secondary), one address under two prefixes, and
/// the foreign addresses of `xenbr1` and `eth0`.
const ADDRESSES: [&str; 5] = [
    "10.98.98.1/24",
    "10.98.98.2/24",
    "10.98.98.1/16",
    "10.1.1.1/24",
    "192.0.2.2/24",
];
/// Route destinations: brouter's networks, the foreign prefix and default routes, and a
/// prefix with host bits set (which the kernel refuses).
const ROUTES: [&str; 5] = [
    "10.98.98.0/24",
    "10.98.0.0/16",
    "10.1.1.0/24",
    "0.0.0.0/0",
    "10.98.98.1/24",
];
/// vif-bridge's MAC, a plain unicast one, a multicast one, zero, and not a MAC at all.
const MACS: [&str; 5] = [
    "fe:ff:ff:ff:ff:ff",
    "aa:cc:00:00:00:01",
    "01:00:5e:00:00:01",
    "00:00:00:00:00:00",
    "fe:ff:ff",
];
/// IPv6: two hosts of a ULA /64, one of them again under a /48 (the same address: EEXIST),
/// the documentation prefix's subnet-router address, `eth0`'s foreign address, and a
/// link-local address (kept by both, reported by neither: see `world::normalise`).
const ADDRESSES6: [&str; 6] = [
    "fd00:1::1/64",
    "fd00:1::2/64",
    "fd00:1::1/48",
    "2001:db8::/64",
    "2001:db8::2/64",
    "fe80::1/64",
];
/// Out of range (67, 65536), IPv4's smallest, either side of IPv6's smallest (below 1280
/// the kernel takes IPv6 off the link), common and jumbo ones.
const MTUS: [u32; 8] = [67, 68, 1279, 1280, 1400, 1500, 9000, 65536];
/// STP off/on with forward delays inside and outside the kernel's STP range (2–30 s).
const BRIDGE_OPTIONS: [(bool, u32); 4] = [(false, 0), (true, 15), (true, 0), (false, 45)];

/// What brouter remembers: a sysctl's old value (IPv4, IPv6 forwarding, a link's
/// `accept_ra` in sysctl(8)'s notation), a foreign bridge it brought up. A remembered
/// sysctl is reported by `observe` while it exists.
const MEMORY: [(&str, &str); 4] = [
    ("sysctl:net.ipv4.ip_forward", "0"),
    ("sysctl:net.ipv6.conf.all.forwarding", "0"),
    ("sysctl:net.ipv6.conf.vif1/0.accept_ra", "1"),
    ("link-up:xenbr1", "down"),
];

/// Cluster objects: two VXLAN devices (distinct VNIs) on the uplink, a missing link or a
/// bridge as underlay; flood destinations of one family; neighbour entries of both
/// families on bridges, the uplink and a missing link.
const VXLANS: [(&str, u32); 2] = [("vx100", 100), ("vx200", 200)];
const UNDERLAYS: [&str; 3] = ["eth0", "eth0", "nope0"];
const FLOOD_LINKS: [&str; 3] = ["vx100", "vx200", "vx200"];
const MEMBERS: [&str; 2] = ["192.0.2.3", "192.0.2.4"];
const NEIGH_LINKS: [&str; 4] = ["xenbr0", "xenbr1", "eth0", "nope0"];
const NEIGH_IPS: [&str; 3] = ["10.98.98.10", "10.98.98.11", "fd00:1::10"];

fn cluster_op() -> impl Strategy<Value = Op> {
    let sel = |xs: &'static [&'static str]| prop::sample::select(xs).prop_map(str::to_string);
    prop_oneof![
        (prop::sample::select(&VXLANS[..]), sel(&UNDERLAYS), any::<bool>()).prop_map(
            |((name, vni), underlay, learning)| {
                Op::CreateVxlan {
                    name: name.into(),
                    network: "dmz".into(),
                    vni,
                    local: "192.0.2.2".parse().unwrap(),
                    underlay,
                    port: 4789,
                    learning,
                }
            }
        ),
        (sel(&FLOOD_LINKS), sel(&MEMBERS)).prop_map(|(link, dst)| Op::AddFlood {
            link,
            dst: dst.parse().unwrap()
        }),
        (sel(&FLOOD_LINKS), sel(&MEMBERS)).prop_map(|(link, dst)| Op::DeleteFlood {
            link,
            dst: dst.parse().unwrap()
        }),
        (sel(&NEIGH_LINKS), sel(&NEIGH_IPS), sel(&MACS)).prop_map(|(link, ip, mac)| Op::SetNeighbour {
            link,
            ip: ip.parse().unwrap(),
            mac
        }),
        (sel(&NEIGH_LINKS), sel(&NEIGH_IPS)).prop_map(|(link, ip)| Op::DeleteNeighbour {
            link,
            ip: ip.parse().unwrap()
        }),
    ]
}

fn link() -> impl Strategy<Value = String> {
    prop::sample::select(&LINKS[..]).prop_map(str::to_string)
}

/// Address operations favour the links that exist and carry addresses, so primaries,
/// secondaries and last addresses meet often.
fn addr_link() -> impl Strategy<Value = String> {
    prop::sample::select(
        &[
            "xenbr1", "xenbr1", "xenbr1", "xenbr0", "xenbr0", "eth0", "eth0", "vif1.0", "nope0",
        ][..],
    )
    .prop_map(str::to_string)
}

fn addr() -> impl Strategy<Value = ipnet::Ipv4Net> {
    prop::sample::select(&ADDRESSES[..]).prop_map(net)
}

fn addr6() -> impl Strategy<Value = ipnet::Ipv6Net> {
    prop::sample::select(&ADDRESSES6[..]).prop_map(|a| a.parse().unwrap())
}

fn dst() -> impl Strategy<Value = ipnet::Ipv4Net> {
    prop::sample::select(&ROUTES[..]).prop_map(net)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (link(), prop::sample::select(&["dmz", "data"][..]), prop::sample::select(&BRIDGE_OPTIONS[..]))
            .prop_map(|(name, network, (stp, forward_delay))| Op::CreateBridge {
                name,
                network: network.into(),
                options: BridgeOptions { stp, forward_delay },
            }),
        1 => link().prop_map(|name| Op::DeleteLink { name }),
        3 => (link(), prop::option::weighted(0.8, link())).prop_map(|(link, master)| Op::SetMaster { link, master }),
        3 => (link(), any::<bool>()).prop_map(|(link, up)| Op::SetUp { link, up }),
        4 => (addr_link(), addr()).prop_map(|(link, addr)| Op::AddAddress { link, addr }),
        3 => (addr_link(), addr()).prop_map(|(link, addr)| Op::DeleteAddress { link, addr }),
        3 => (dst(), link()).prop_map(|(dst, dev)| Op::AddRoute { dst, dev }),
        2 => (dst(), link()).prop_map(|(dst, dev)| Op::DeleteRoute { dst, dev }),
        1 => prop::sample::select(&["0", "1"][..]).prop_map(|v| Op::SetSysctl {
            key: IP_FORWARD.into(),
            value: v.into(),
        }),
        3 => (addr_link(), addr6()).prop_map(|(link, addr)| Op::AddAddress6 { link, addr }),
        2 => (addr_link(), addr6()).prop_map(|(link, addr)| Op::DeleteAddress6 { link, addr }),
        1 => link().prop_map(|link| Op::FlushIpv6 { link }),
        1 => prop::sample::select(&["0", "1"][..]).prop_map(|v| Op::SetSysctl {
            key: IPV6_FORWARD.into(),
            value: v.into(),
        }),
        1 => (link(), prop::sample::select(&["0", "1", "2"][..])).prop_map(|(link, v)| Op::SetSysctl {
            key: accept_ra_key(&link),
            value: v.into(),
        }),
        2 => (link(), prop::sample::select(&MTUS[..])).prop_map(|(link, mtu)| Op::SetMtu { link, mtu }),
        1 => (link(), prop::sample::select(&MACS[..])).prop_map(|(link, mac)| Op::SetMac {
            link,
            mac: mac.into(),
        }),
        1 => (link(), link()).prop_map(|(link, new_name)| Op::RenameLink { link, new_name }),
        1 => prop::sample::select(&MEMORY[..]).prop_map(|(key, value)| Op::Remember {
            key: key.into(),
            value: value.into(),
        }),
        1 => prop::sample::select(&MEMORY[..]).prop_map(|(key, _)| Op::Forget { key: key.into() }),
        4 => cluster_op(),
        2 => (link(), any::<bool>()).prop_map(|(port, off)| Op::SetPortState {
            port,
            bridge: String::new(),
            state: if off { PortState::Disabled } else { PortState::Forwarding },
        }),
    ]
}

/// Two rulesets brouter could install: the seed network with anti-spoofing, and without.
fn rulesets() -> &'static [Ruleset] {
    static RS: OnceLock<Vec<Ruleset>> = OnceLock::new();
    RS.get_or_init(|| {
        [
            &["bridgeip=10.98.98.1/24", "antispoof=yes"][..],
            &["bridgeip=10.98.98.1/24"][..],
        ]
        .iter()
        .map(|w| compile(&from_xen_words(w).unwrap()).firewall.expect("a firewall"))
        .collect()
    })
}

/// Bindings of the vif (two MACs) and of a vif that does not exist (the sets take any
/// name): IPv4 only, both families, IPv6 only (a host and a prefix), MAC only (any address).
fn binding() -> impl Strategy<Value = Binding> {
    const BINDINGS: [(&str, &str, &[&str]); 5] = [
        ("vif1.0", "aa:cc:00:00:00:01", &["10.98.98.10/32"]),
        (
            "vif1.0",
            "aa:cc:00:00:00:02",
            &["10.98.98.11/32", "fd00:1::11/128"],
        ),
        (
            "vif1.0",
            "aa:cc:00:00:00:01",
            &["fd00:1::10/128", "2001:db8:0:1::/64"],
        ),
        ("vif9.0", "aa:cc:00:00:00:09", &["10.98.98.19/32"]),
        ("vif9.0", "aa:cc:00:00:00:09", &["0.0.0.0/0", "::/0"]),
    ];
    prop::sample::select(&BINDINGS[..]).prop_map(|(vif, mac, addrs)| {
        let mut addrs: Vec<ipnet::IpNet> = addrs.iter().map(|a| a.parse().unwrap()).collect();
        Binding::normalise(&mut addrs);
        Binding {
            vif: vif.into(),
            mac: mac.into(),
            addrs,
        }
    })
}

/// Firewall operations: replace (with or without bindings re-inserted), delete, bind, unbind.
fn firewall_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..rulesets().len(), prop::collection::vec(binding(), 0..2)).prop_map(|(i, bindings)| {
            let rs = rulesets()[i].clone();
            Op::ReplaceFirewall {
                fingerprint: rs.fingerprint(),
                ruleset: Box::new(rs),
                bindings,
            }
        }),
        1 => Just(Op::DeleteFirewall),
        3 => binding().prop_map(|binding| Op::AddBinding { binding }),
        1 => prop::sample::select(&["vif1.0", "vif9.0"][..]).prop_map(|v| Op::RemoveBinding { vif: v.into() }),
    ]
}

fn drift() -> impl Strategy<Value = Drift> {
    prop::sample::select(
        &[
            Drift::InsertAccept,
            Drift::AddChain,
            Drift::DeleteSubnet,
            Drift::AddElement,
            Drift::ForwardPolicyDrop,
            Drift::FlushBindings,
            Drift::DeleteBridgeTable,
            Drift::DeleteInetTable,
            Drift::FlushRuleset,
        ][..],
    )
}

/// One step of a differential case: an operation through the backend seam, or an edit of
/// brouter's tables behind its back (which a later `ReplaceFirewall` repairs).
#[derive(Debug, Clone)]
enum Step {
    Op(Op),
    Drift(Drift),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => op().prop_map(Step::Op),
        4 => firewall_op().prop_map(Step::Op),
        2 => drift().prop_map(Step::Drift),
    ]
}

fn initial() -> impl Strategy<Value = Initial> {
    any::<bool>().prop_map(|promote_secondaries| Initial { promote_secondaries })
}

/// Run `ops` on both worlds from `initial`, comparing after every op.
fn run(initial: Initial, ops: &[Op]) -> Result<(), String> {
    let steps: Vec<Step> = ops.iter().cloned().map(Step::Op).collect();
    run_steps(initial, &steps)
}

/// Run `steps` on both worlds from `initial`, comparing the answers, the observed states
/// and the read-back's lines, after every step.
fn run_steps(initial: Initial, ops: &[Step]) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut worlds = Worlds::new(initial).await;
        worlds
            .compare()
            .await
            .map_err(|d| format!("the initial states differ:\n{d}"))?;
        for (i, op) in ops.iter().enumerate() {
            let context = || format!("{initial:?}, after op {} of {ops:#?}", i + 1);
            match op {
                Step::Op(op) => {
                    let _answer = worlds
                        .apply(op)
                        .await
                        .map_err(|d| format!("{d}\n{}", context()))?;
                }
                Step::Drift(d) => worlds.drift(*d),
            }
            worlds
                .compare()
                .await
                .map_err(|d| format!("{d}\n{}", context()))?;
            worlds
                .compare_drift(rulesets())
                .await
                .map_err(|d| format!("{d}\n{}", context()))?;
        }
        Ok(())
    })
}

fn run_fixed_steps(test: &str, initial: Initial, steps: &[Step]) {
    if !root_or_skip(test) {
        return;
    }
    if let Err(e) = run_steps(initial, steps) {
        panic!("{test}: the sim and the kernel disagree: {e}");
    }
}

fn run_fixed(test: &str, initial: Initial, ops: &[Op]) {
    if !root_or_skip(test) {
        return;
    }
    if let Err(e) = run(initial, ops) {
        panic!("{test}: the sim and the kernel disagree: {e}");
    }
}

#[test]
fn random_operation_sequences_leave_sim_and_kernel_in_the_same_state() {
    if !root_or_skip("random_operation_sequences_leave_sim_and_kernel_in_the_same_state") {
        return;
    }
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(200);
    let config = Config {
        cases,
        max_shrink_iters: 256,
        // Seeds of failures go to `differential.proptest-regressions`, next to this file.
        source_file: Some(file!()),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = (initial(), prop::collection::vec(step(), 1..=12));
    let started = std::time::Instant::now();
    let result = runner.run(&strategy, |(initial, steps): (Initial, Vec<Step>)| {
        run_steps(initial, &steps).map_err(TestCaseError::fail)
    });
    println!("{cases} differential cases in {:.1?}", started.elapsed());
    if let Err(e) = result {
        panic!("{e}");
    }
}

fn add(link: &str, addr: &str) -> Op {
    Op::AddAddress {
        link: link.into(),
        addr: net(addr),
    }
}

fn del(link: &str, addr: &str) -> Op {
    Op::DeleteAddress {
        link: link.into(),
        addr: net(addr),
    }
}

/// Found: the sim kept a secondary address whose primary was deleted. The kernel deletes a
/// primary's secondaries with it unless `promote_secondaries` is on, and a link's last
/// address takes every route through it.
#[test]
fn deleting_a_primary_address_takes_its_secondaries_unless_promoted() {
    for promote_secondaries in [false, true] {
        run_fixed(
            "deleting_a_primary_address_takes_its_secondaries_unless_promoted",
            Initial { promote_secondaries },
            &[
                add("xenbr1", "10.98.98.1/24"),
                add("xenbr1", "10.98.98.2/24"),
                del("xenbr1", "10.98.98.1/24"),
                add("eth0", "192.0.2.3/24"),
                del("eth0", "192.0.2.2/24"),
            ],
        );
    }
}

fn s(x: &str) -> String {
    x.to_string()
}

fn create(name: &str, stp: bool, forward_delay: u32) -> Op {
    Op::CreateBridge {
        name: s(name),
        network: s("dmz"),
        options: BridgeOptions { stp, forward_delay },
    }
}

fn master(link: &str, master: Option<&str>) -> Op {
    Op::SetMaster {
        link: s(link),
        master: master.map(s),
    }
}

fn up(link: &str, up: bool) -> Op {
    Op::SetUp { link: s(link), up }
}

fn mtu(link: &str, mtu: u32) -> Op {
    Op::SetMtu { link: s(link), mtu }
}

fn mac(link: &str, mac: &str) -> Op {
    Op::SetMac {
        link: s(link),
        mac: s(mac),
    }
}

fn route(dst: &str, dev: &str) -> Op {
    Op::AddRoute {
        dst: net(dst),
        dev: s(dev),
    }
}

fn unroute(dst: &str, dev: &str) -> Op {
    Op::DeleteRoute {
        dst: net(dst),
        dev: s(dev),
    }
}

fn rename(link: &str, new_name: &str) -> Op {
    Op::RenameLink {
        link: s(link),
        new_name: s(new_name),
    }
}

const OFF: Initial = Initial {
    promote_secondaries: false,
};

/// Found: the sim kept forward delay 0 on an STP bridge; the kernel clamps it to 2–30 s.
#[test]
fn turning_stp_on_pulls_the_forward_delay_into_stps_range() {
    run_fixed(
        "turning_stp_on_pulls_the_forward_delay_into_stps_range",
        OFF,
        &[
            create("xenbr0", true, 0),
            create("nope0", true, 45),
            create("vif9.0", false, 45),
        ],
    );
}

fn port_state(port: &str, state: PortState) -> Op {
    Op::SetPortState {
        port: port.into(),
        bridge: String::new(),
        state,
    }
}

/// The port states `start` and `vif online` set: disabled sticks (attaching another port
/// does not re-open it), an up event re-enables it, a down port or a bridge running STP
/// refuses (ENETDOWN, EBUSY), a link that is no port refuses (EOPNOTSUPP), a bridge
/// going down and up re-enables its ports.
#[test]
fn port_states_follow_the_kernels_rules() {
    use PortState::{Disabled, Forwarding};
    run_fixed(
        "port_states_follow_the_kernels_rules",
        OFF,
        &[
            port_state("vif1.0", Disabled),
            master("vif1.0", Some("xenbr1")),
            port_state("vif1.0", Disabled),
            up("vif1.0", true),
            port_state("vif1.0", Disabled),
            master("eth0", Some("xenbr1")),
            port_state("xenbr1", Disabled),
            port_state("nope0", Disabled),
            port_state("vif1.0", Forwarding),
            port_state("vif1.0", Disabled),
            up("xenbr1", false),
            up("xenbr1", true),
            port_state("eth0", Disabled),
            up("eth0", false),
            port_state("eth0", Forwarding),
            create("xenbr0", true, 15),
            master("vif1.0", Some("xenbr0")),
            port_state("vif1.0", Disabled),
        ],
    );
}

/// Found: the sim took any string as a MAC; the kernel refuses multicast and zero MACs
/// (EADDRNOTAVAIL) and the backend refuses what is not a MAC (EINVAL).
#[test]
fn a_mac_must_be_six_hex_pairs_and_unicast() {
    run_fixed(
        "a_mac_must_be_six_hex_pairs_and_unicast",
        OFF,
        &[
            mac("xenbr1", "01:00:5e:00:00:01"),
            mac("eth0", "00:00:00:00:00:00"),
            mac("vif1.0", "fe:ff:ff"),
            mac("nope0", "fe:ff:ff"),
            mac("nope0", "01:00:5e:00:00:01"),
            mac("vif1.0", "FE:FF:FF:FF:FF:FF"),
            mac("eth0", "aa:cc:00:00:00:01"),
            mac("xenbr1", "aa:cc:00:00:00:02"),
        ],
    );
}

/// Found: the kernel answers ELOOP for a bridge in a bridge (the backend now reports it as
/// EINVAL with a plain message); the sim allowed it for any bridge but itself.
#[test]
fn a_bridge_cannot_be_a_port_of_a_bridge() {
    run_fixed(
        "a_bridge_cannot_be_a_port_of_a_bridge",
        OFF,
        &[
            master("xenbr1", Some("xenbr1")),
            create("xenbr0", false, 0),
            master("xenbr0", Some("xenbr1")),
            master("eth0", Some("nope0")),
            master("nope0", Some("xenbr1")),
        ],
    );
}

/// Found: the kernel detaches a port from its old bridge before it asks the new master,
/// so an attach to something that is not a bridge fails *and* detaches; the sim changed
/// nothing.
#[test]
fn a_refused_attach_still_detaches_the_port_from_its_bridge() {
    run_fixed(
        "a_refused_attach_still_detaches_the_port_from_its_bridge",
        OFF,
        &[
            master("vif1.0", Some("xenbr1")),
            master("vif1.0", Some("xenbr1")),
            master("vif1.0", Some("eth0")),
            master("eth0", Some("xenbr1")),
            master("eth0", Some("nope0")),
        ],
    );
}

/// Found: the sim accepted `10.98.98.1/24` as a route destination; the kernel refuses it
/// (EINVAL) before checking whether the link is up or the route exists.
#[test]
fn a_route_to_a_prefix_with_host_bits_is_invalid_before_anything_else() {
    run_fixed(
        "a_route_to_a_prefix_with_host_bits_is_invalid_before_anything_else",
        OFF,
        &[
            route("10.98.98.1/24", "xenbr1"),
            route("10.98.98.1/24", "vif1.0"),
            route("10.98.98.1/24", "nope0"),
            unroute("10.98.98.1/24", "xenbr1"),
            unroute("10.1.1.1/24", "xenbr1"),
        ],
    );
}

/// Found: the sim checked the MTU's range before the link, so a bad MTU on a missing link
/// gave EINVAL where the kernel gives ENODEV.
#[test]
fn an_mtu_is_checked_against_the_link_before_its_range() {
    run_fixed(
        "an_mtu_is_checked_against_the_link_before_its_range",
        OFF,
        &[
            mtu("nope0", 67),
            mtu("xenbr1", 67),
            mtu("eth0", 65536),
            mtu("vif1.0", 68),
        ],
    );
}

/// Found: the sim refused renaming a link to its own name (EEXIST); the kernel accepts it.
#[test]
fn renaming_a_link_to_its_own_name_changes_nothing() {
    run_fixed(
        "renaming_a_link_to_its_own_name_changes_nothing",
        OFF,
        &[
            rename("eth0", "eth0"),
            rename("nope0", "nope0"),
            rename("vif1.0", "xenbr1"),
        ],
    );
}

/// Found: the kernel fits a bridge's MTU to its smallest port on every attach, detach and
/// port MTU change, until the bridge's MTU is set by hand; the sim never changed it.
#[test]
fn a_bridges_mtu_follows_its_smallest_port_until_set_by_hand() {
    run_fixed(
        "a_bridges_mtu_follows_its_smallest_port_until_set_by_hand",
        OFF,
        &[
            create("xenbr0", false, 0),
            mtu("vif1.0", 1400),
            master("vif1.0", Some("xenbr0")),
            mtu("vif1.0", 9000),
            master("eth0", Some("xenbr0")),
            master("vif1.0", Some("xenbr1")),
            master("eth0", None),
            mtu("xenbr0", 1500),
            master("eth0", Some("xenbr0")),
            mtu("eth0", 1400),
            mtu("xenbr0", 9000),
            rename("xenbr0", "nope0"),
            master("vif1.0", Some("nope0")),
            master("eth0", None),
            mtu("vif1.0", 1400),
        ],
    );
}

/// The same rule when a port is deleted rather than detached.
#[test]
fn a_deleted_port_no_longer_limits_its_bridges_mtu() {
    run_fixed(
        "a_deleted_port_no_longer_limits_its_bridges_mtu",
        OFF,
        &[
            mtu("vif1.0", 1400),
            master("vif1.0", Some("xenbr1")),
            Op::DeleteLink { name: s("vif1.0") },
        ],
    );
}

/// Found: a link coming up *appends* its addresses' prefix routes, beside another route
/// to the same network (here brouter's via `eth0`); the sim skipped them.
#[test]
fn a_foreign_prefix_route_returns_beside_a_route_to_the_same_network() {
    run_fixed(
        "a_foreign_prefix_route_returns_beside_a_route_to_the_same_network",
        OFF,
        &[
            up("xenbr1", false),
            route("10.1.1.0/24", "eth0"),
            up("xenbr1", true),
            unroute("10.1.1.0/24", "eth0"),
            route("10.1.1.0/24", "eth0"),
        ],
    );
}

/// Checked (no disagreement): veths and bridges take a new MAC while up.
#[test]
fn a_mac_can_change_while_the_link_is_up() {
    run_fixed(
        "a_mac_can_change_while_the_link_is_up",
        OFF,
        &[
            up("vif1.0", true),
            mac("vif1.0", "fe:ff:ff:ff:ff:ff"),
            up("xenbr1", true),
            mac("xenbr1", "aa:cc:00:00:00:09"),
        ],
    );
}

// ---------------------------------------------------------------------------------------
// The kernel's limits brouter can hit, held against the sim's (sim/src/limits.rs).

/// A 16-byte name is refused with ENAMETOOLONG by both (the backend checks before asking:
/// the kernel's own answer is ERANGE, "Attribute failed policy validation", shown by
/// `the_kernel_itself_refuses_a_sixteen_byte_name` below); 15 bytes is fine. Renaming a
/// link that is *up* works on Linux ≥ 6.2; older kernels answer EBUSY, which the sim
/// models with `KernelQuirks::rename_up_is_busy` (set from the running kernel here).
#[test]
fn names_longer_than_fifteen_bytes_are_refused_and_an_up_link_renames() {
    run_fixed(
        "names_longer_than_fifteen_bytes_are_refused_and_an_up_link_renames",
        OFF,
        &[
            create("br-0123456789ab", false, 0),
            create("br-0123456789abc", false, 0),
            rename("vif1.0", "vif-0123456789abc"),
            rename("nope0", "vif-0123456789abc"),
            up("vif1.0", true),
            rename("vif1.0", "vif-0123456789a"),
            rename("eth0", "uplink0"),
        ],
    );
}

/// The limit is the kernel's, not only the backend's: `ip` hands a 16-byte name to the
/// kernel, which refuses it; 15 bytes it takes.
#[test]
fn the_kernel_itself_refuses_a_sixteen_byte_name() {
    if !root_or_skip("the_kernel_itself_refuses_a_sixteen_byte_name") {
        return;
    }
    let ns = brouter_integration::Netns::new("ifname");
    let add = |name: &str| {
        std::process::Command::new("ip")
            .args(["-n", ns.name(), "link", "add", name, "type", "bridge"])
            .output()
            .unwrap()
    };
    assert!(add("br-0123456789ab").status.success(), "15 bytes");
    let long = add("br-0123456789abc");
    assert!(!long.status.success(), "16 bytes accepted");
    assert!(ns
        .ip(&["-o", "link", "show"])
        .lines()
        .all(|l| !l.contains("br-0123456789abc")));
}

/// A bridge takes 1,023 ports (BR_MAX_PORTS, port number 0 reserved); the next attach is
/// EXFULL on the kernel and in the sim, and the refused port is left without a master.
/// (≈ 2 s on the kernel: 1,024 veth pairs built with one `ip -batch`, torn down with the
/// namespace.)
#[test]
fn a_bridge_takes_1023_ports_and_refuses_the_next_with_exfull() {
    use brouter_engine::{ErrorKind, LinkKind, NetBackend};
    if !root_or_skip("a_bridge_takes_1023_ports_and_refuses_the_next_with_exfull") {
        return;
    }
    let t0 = std::time::Instant::now();
    let ns = brouter_integration::Netns::new("exfull");
    let mut batch = vec!["link add br0 type bridge".to_string()];
    for i in 1..=1024 {
        batch.push(format!("link add p{i} type veth peer name q{i}"));
    }
    for i in 1..=1023 {
        batch.push(format!("link set p{i} master br0"));
    }
    ns.ip_batch(&batch);
    let mut sim = brouter_sim::Kernel::default();
    sim.add_link("br0", LinkKind::Bridge, false);
    for i in 1..=1024 {
        sim.add_link(&format!("p{i}"), LinkKind::Veth, false);
    }
    for i in 1..=1023 {
        sim.set_master(&format!("p{i}"), Some("br0")).unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let on_kernel = rt.block_on(async {
        let mut k = brouter_backends::NetlinkBackend::new(ns.target()).await.unwrap();
        let r = k.set_master("p1024", Some("br0")).await;
        let port = k.observe().await.unwrap().link("p1024").unwrap().master.clone();
        (r.map_err(|e| e.kind), port)
    });
    let on_sim = (
        sim.set_master("p1024", Some("br0")).map_err(|e| e.kind),
        sim.links["p1024"].master.clone(),
    );
    assert_eq!(on_kernel, (Err(ErrorKind::Full), None));
    assert_eq!(on_sim, on_kernel);
    println!("1,024 ports on the kernel: {:.1?}", t0.elapsed());
}

// ---------------------------------------------------------------------------------------
// Firewall operations, bindings and drift.

fn replace(i: usize, bindings: Vec<Binding>) -> Step {
    let rs = rulesets()[i].clone();
    Step::Op(Op::ReplaceFirewall {
        fingerprint: rs.fingerprint(),
        ruleset: Box::new(rs),
        bindings,
    })
}

fn web1() -> Binding {
    Binding {
        vif: "vif1.0".into(),
        mac: "aa:cc:00:00:00:01".into(),
        addrs: vec!["10.98.98.10/32".parse().unwrap()],
    }
}

/// Found: the sim bound a vif after `nft delete table bridge brouter`; the binding sets
/// live in that table, so the kernel refuses (ENOENT, reported as EIO) until a rewrite.
#[test]
fn a_binding_needs_the_bridge_table() {
    run_fixed_steps(
        "a_binding_needs_the_bridge_table",
        OFF,
        &[
            replace(0, vec![]),
            Step::Drift(Drift::DeleteBridgeTable),
            Step::Op(Op::AddBinding { binding: web1() }),
            replace(0, vec![web1()]),
            Step::Op(Op::AddBinding { binding: web1() }),
        ],
    );
}

/// Every drift the differential makes is seen by both sides (another fingerprint, lost
/// bindings, or a read-back line), and a rewrite with the bindings repairs it on both.
#[test]
fn every_drift_is_seen_by_both_and_a_rewrite_repairs_it() {
    if !root_or_skip("every_drift_is_seen_by_both_and_a_rewrite_repairs_it") {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut w = Worlds::new(OFF).await;
        let rs = rulesets()[0].clone();
        let Step::Op(install) = replace(0, vec![web1()]) else {
            unreachable!()
        };
        for d in [
            Drift::InsertAccept,
            Drift::AddChain,
            Drift::DeleteSubnet,
            Drift::AddElement,
            Drift::ForwardPolicyDrop,
            Drift::FlushBindings,
            Drift::DeleteBridgeTable,
            Drift::DeleteInetTable,
            Drift::FlushRuleset,
        ] {
            assert_eq!(w.apply(&install).await.unwrap(), Ok(()));
            assert_eq!(
                w.drift_seen(&rs, &[web1()]).await,
                (false, false),
                "installed, before {d:?}"
            );
            w.drift(d);
            assert_eq!(w.drift_seen(&rs, &[web1()]).await, (true, true), "{d:?}");
            w.compare().await.unwrap_or_else(|e| panic!("{d:?}: {e}"));
            w.compare_drift(rulesets())
                .await
                .unwrap_or_else(|e| panic!("{d:?}: {e}"));
            assert_eq!(w.apply(&install).await.unwrap(), Ok(()));
            assert_eq!(
                w.drift_seen(&rs, &[web1()]).await,
                (false, false),
                "{d:?} repaired"
            );
            w.compare()
                .await
                .unwrap_or_else(|e| panic!("{d:?} repaired: {e}"));
        }
    });
}

/// A VXLAN device on the uplink: brouter reads neighbour entries only where one exists.
fn vx100() -> Op {
    Op::CreateVxlan {
        name: s("vx100"),
        network: s("dmz"),
        vni: 100,
        local: "192.0.2.2".parse().unwrap(),
        underlay: s("eth0"),
        port: 4789,
        learning: true,
    }
}

fn neighbour(link: &str, ip: &str) -> Op {
    Op::SetNeighbour {
        link: s(link),
        ip: ip.parse().unwrap(),
        mac: s("aa:cc:00:00:00:01"),
    }
}

/// Found by the generator: a link's neighbour entries, permanent ones included, go when
/// its MAC changes (NETDEV_CHANGEADDR) or it is set down (NETDEV_DOWN) — which is why
/// `start` gives a cluster bridge its gateway MAC before its entries.
#[test]
fn a_links_neighbour_entries_go_when_its_mac_changes_or_it_goes_down() {
    run_fixed(
        "a_links_neighbour_entries_go_when_its_mac_changes_or_it_goes_down",
        Initial {
            promote_secondaries: false,
        },
        &[
            vx100(),
            neighbour("eth0", "10.98.98.10"),
            mac("eth0", "aa:cc:00:00:00:02"),
            neighbour("xenbr1", "10.98.98.10"),
            neighbour("xenbr1", "fd00:1::10"),
            up("xenbr1", false),
        ],
    );
}

/// Found by the generator: an IPv6 neighbour entry needs IPv6 on its link (an MTU below
/// 1280 takes it off: EINVAL), and the link's IPv6 entries go with it.
#[test]
fn an_ipv6_neighbour_entry_needs_ipv6_on_its_link() {
    run_fixed(
        "an_ipv6_neighbour_entry_needs_ipv6_on_its_link",
        Initial {
            promote_secondaries: false,
        },
        &[
            vx100(),
            mtu("eth0", 1279),
            neighbour("eth0", "fd00:1::10"),
            mtu("eth0", 1500),
            neighbour("eth0", "fd00:1::10"),
            neighbour("eth0", "10.98.98.10"),
            mtu("eth0", 1279),
        ],
    );
}

/// Found by the generator: a VXLAN device goes with its underlay, and one made on an
/// underlay whose MTU leaves it below 1280 has no IPv6 (the IPv6 part of brouter's
/// marking message is refused, EAFNOSUPPORT; the mark alone is written).
#[test]
fn a_vxlan_device_goes_with_its_underlay_and_may_have_no_ipv6() {
    run_fixed(
        "a_vxlan_device_goes_with_its_underlay_and_may_have_no_ipv6",
        Initial {
            promote_secondaries: false,
        },
        &[
            mtu("eth0", 1279),
            vx100(),
            Op::AddFlood {
                link: s("vx100"),
                dst: "192.0.2.3".parse().unwrap(),
            },
            Op::DeleteLink { name: s("eth0") },
        ],
    );
}
