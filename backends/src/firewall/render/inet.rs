//! `inet brouter`, in the order its objects are added: the interface and address sets,
//! the forward maps, every chain's declaration, then each chain's rules (the base chains'
//! dispatch, the judges, the pair chains, the log chains, DNAT, masquerade).

use brouter_engine::config::{Proto, ZONE_DOM0, ZONE_EXTERNAL};
use brouter_engine::firewall::{PairPolicy, Ruleset};
use nftables::schema::{NfListObject, SetType};
use nftables::types::{NfChainType, NfFamily, NfHook};

use super::builder::{single, Builder};
use super::judges::{fwd_dnat_chain, fwd_judge_chain, in_judge_chain, judge_dispatch, out_judge_chain};
use super::nat::{dnat_chain, masquerade_chain};
use super::pairs::{logged_unlisted, needs_reject_chain, pair_rules, unlisted_log_rule};
use super::{fwd_set, log_chain, pair_chain, reject_chain, traffic_set, Shape, FINGERPRINT_PREFIX};
use crate::firewall::expr::*;

pub(super) const BRIDGES: &str = "bridges";
/// Where `fwd_judge` sends forwarded (DNAT'd) connections: counted and accepted.
pub(super) const FWD_DNAT: &str = "fwd_dnat";
pub(super) const IN_IFACES: &str = "in_ifaces";
pub(super) const OUT_IFACES: &str = "out_ifaces";
pub(super) const BRIDGE_ADDRS: &str = "bridge_addrs";
pub(super) const NET_SUBNETS: &str = "net_subnets";
pub(super) const MASQ_SOURCES: &str = "masq_sources";
/// The bridges brouter's dnsmasq serves (only when a network has `dhcp = true`).
pub(super) const DHCP_IFACES: &str = "dhcp_ifaces";
/// The bridges' own IPv6 addresses (never DNAT'd), when a forward has an IPv6 target.
pub(super) const BRIDGE_ADDRS6: &str = "bridge_addrs6";

/// What the pieces of the table share: the ruleset, and the uplink when it is named —
/// `host_in` / `host_out` only when a policy judges the host's own uplink traffic in
/// that direction.
pub(super) struct Inet<'a> {
    pub(super) rs: &'a Ruleset,
    pub(super) uplink: Option<&'a str>,
    pub(super) host_in: Option<&'a str>,
    pub(super) host_out: Option<&'a str>,
}

impl<'a> Inet<'a> {
    fn new(rs: &'a Ruleset) -> Inet<'a> {
        let uplink = rs.uplink();
        Inet {
            rs,
            uplink,
            host_in: uplink.filter(|_| rs.judges_host_uplink(ZONE_EXTERNAL, ZONE_DOM0)),
            host_out: uplink.filter(|_| rs.judges_host_uplink(ZONE_DOM0, ZONE_EXTERNAL)),
        }
    }
}

/// The whole inet table.
pub(super) fn inet(rs: &Ruleset, fingerprint: &str) -> Vec<NfListObject<'static>> {
    let mut b = Builder::new(NfFamily::INet);
    let t = Inet::new(rs);
    interface_sets(&mut b, &t);
    address_sets(&mut b, rs);
    for proto in [Proto::Tcp, Proto::Udp] {
        for shape in Shape::ALL {
            dnat_maps(&mut b, rs, proto, shape);
        }
    }
    if rs.forwards_ipv6() {
        ipv6_forward_sets(&mut b, rs);
    }
    let pairs = listed_pairs(rs);
    let unlisted_logged = logged_unlisted(rs);
    declare_chains(&mut b, &pairs, &unlisted_logged);

    judge_dispatch(&mut b, format!("{FINGERPRINT_PREFIX}{fingerprint}"));
    fwd_dnat_chain(&mut b);
    fwd_judge_chain(&mut b, &t);
    in_judge_chain(&mut b, &t);
    out_judge_chain(&mut b, &t);
    for p in &pairs {
        pair_rules(&mut b, rs, p);
    }
    for (f, t) in &unlisted_logged {
        unlisted_log_rule(&mut b, rs, f, t);
    }
    for proto in [Proto::Tcp, Proto::Udp] {
        for shape in Shape::ALL {
            dnat_chain(&mut b, proto, shape);
            if rs.forwards_ipv6() {
                super::nat::dnat6_chain(&mut b, proto, shape);
            }
        }
    }
    masquerade_chain(&mut b, &t);
    b.objects
}

/// `bridges`, and the interfaces the input and output judges look at (`in_ifaces`,
/// `out_ifaces`: the bridges, plus the uplink when a policy judges the host's own
/// traffic through it).
fn interface_sets(b: &mut Builder, t: &Inet) {
    let bridges: Vec<&str> = t.rs.networks.iter().map(|n| n.bridge.as_str()).collect();
    let ifname_set = |extra: Option<&str>| bridges.iter().copied().chain(extra).map(str).collect::<Vec<_>>();
    b.set(BRIDGES, single(SetType::Ifname), false, ifname_set(None));
    b.set(IN_IFACES, single(SetType::Ifname), false, ifname_set(t.host_in));
    b.set(OUT_IFACES, single(SetType::Ifname), false, ifname_set(t.host_out));
    let served: Vec<_> =
        t.rs.networks
            .iter()
            .filter(|n| n.dhcp)
            .map(|n| str(n.bridge.clone()))
            .collect();
    if !served.is_empty() {
        b.set(DHCP_IFACES, single(SetType::Ifname), false, served);
    }
}

/// The bridges' own addresses (not DNAT'd), the networks' subnets (hairpin) and the
/// masquerading networks' subnets.
fn address_sets(b: &mut Builder, rs: &Ruleset) {
    let addrs = rs
        .networks
        .iter()
        .map(|n| str(n.address.addr().to_string()))
        .collect();
    b.set(BRIDGE_ADDRS, single(SetType::Ipv4Addr), false, addrs);
    let subnets = rs
        .networks
        .iter()
        .map(|n| prefix(n.subnet.network().to_string(), n.subnet.prefix_len()))
        .collect();
    b.set(NET_SUBNETS, single(SetType::Ipv4Addr), true, subnets);
    let masq = rs
        .masquerade_sources()
        .map(|s| prefix(s.network().to_string(), s.prefix_len()))
        .collect();
    b.set(MASQ_SOURCES, single(SetType::Ipv4Addr), true, masq);
}

/// What IPv6 forwards need besides the IPv4 maps: the bridges' IPv6 addresses, and per
/// protocol and shape the IPv6 target of each forward that has one — of translated
/// forwards (`addr6`; their port comes from the IPv4 `port` map, the same for both
/// families) and of port-keeping ones (`keep6`).
fn ipv6_forward_sets(b: &mut Builder, rs: &Ruleset) {
    let addrs6 = rs
        .networks
        .iter()
        .filter_map(|n| n.address6)
        .map(|a| str(a.addr().to_string()))
        .collect();
    b.set(BRIDGE_ADDRS6, single(SetType::Ipv6Addr), false, addrs6);
    for proto in [Proto::Tcp, Proto::Udp] {
        for shape in Shape::ALL {
            let (mut addr6, mut keep6) = (vec![], vec![]);
            let fwds = rs
                .forwards
                .iter()
                .filter(|f| f.proto == proto && Shape::of(f.ports.first, f.ports.last) == shape);
            for f in fwds {
                let Some(a6) = f.addr6 else { continue };
                let elem = map_elem(port_elem(f.ports.first, f.ports.last), str(a6.to_string()));
                match f.to_port {
                    Some(_) => addr6.push(elem),
                    None => keep6.push(elem),
                }
            }
            let interval = shape == Shape::Range;
            let name = |what: &str| fwd_set(proto, shape, what);
            b.map(
                &name("addr6"),
                SetType::InetService,
                SetType::Ipv6Addr,
                interval,
                addr6,
            );
            b.map(
                &name("keep6"),
                SetType::InetService,
                SetType::Ipv6Addr,
                interval,
                keep6,
            );
        }
    }
}

/// The forward maps of `proto`'s forwards of `shape`, keyed by external port: the
/// target address and port of translated forwards (`addr`, `port`), the target address
/// of port-keeping ones (`keep`), and the set counting their traffic.
fn dnat_maps(b: &mut Builder, rs: &Ruleset, proto: Proto, shape: Shape) {
    let fwds: Vec<_> = rs
        .forwards
        .iter()
        .filter(|f| f.proto == proto && Shape::of(f.ports.first, f.ports.last) == shape)
        .collect();
    let (mut addr, mut port, mut keep) = (vec![], vec![], vec![]);
    for f in &fwds {
        let key = || port_elem(f.ports.first, f.ports.last);
        match f.to_port {
            Some(p) => {
                addr.push(map_elem(key(), str(f.addr.to_string())));
                port.push(map_elem(key(), num(u32::from(p))));
            }
            None => keep.push(map_elem(key(), str(f.addr.to_string()))),
        }
    }
    let interval = shape == Shape::Range;
    let name = |what: &str| fwd_set(proto, shape, what);
    b.map(
        &name("addr"),
        SetType::InetService,
        SetType::Ipv4Addr,
        interval,
        addr,
    );
    b.map(
        &name("port"),
        SetType::InetService,
        SetType::InetService,
        interval,
        port,
    );
    b.map(
        &name("keep"),
        SetType::InetService,
        SetType::Ipv4Addr,
        interval,
        keep,
    );
    let ports = fwds
        .iter()
        .map(|f| port_elem(f.ports.first, f.ports.last))
        .collect();
    b.set(
        &traffic_set(proto, shape),
        single(SetType::InetService),
        interval,
        ports,
    );
}

/// The listed pairs' policies, in the order of their chains (by zone names).
fn listed_pairs(rs: &Ruleset) -> Vec<&PairPolicy> {
    let mut pairs: Vec<&PairPolicy> = rs.policies.iter().collect();
    pairs.sort_by(|a, c| (&a.from, &a.to).cmp(&(&c.from, &c.to)));
    pairs
}

/// Every chain, before any rule (a rule may `goto` a chain declared after its own):
/// the filter base chains, the judges, one chain per listed pair (and its reject chain),
/// one log chain per logged unlisted pair, and the NAT base chains.
fn declare_chains(b: &mut Builder, pairs: &[&PairPolicy], unlisted_logged: &[(String, String)]) {
    b.base_chain("forward", NfChainType::Filter, NfHook::Forward, 0);
    b.base_chain("input", NfChainType::Filter, NfHook::Input, 0);
    b.base_chain("output", NfChainType::Filter, NfHook::Output, 0);
    b.chain("fwd_judge");
    b.chain(FWD_DNAT);
    b.chain("in_judge");
    b.chain("out_judge");
    for p in pairs {
        b.chain(&pair_chain(&p.from, &p.to));
        if needs_reject_chain(p) {
            b.chain(&reject_chain(&p.from, &p.to));
        }
    }
    for (f, t) in unlisted_logged {
        b.chain(&log_chain(f, t));
    }
    b.base_chain("prerouting", NfChainType::NAT, NfHook::Prerouting, -100);
    b.base_chain("postrouting", NfChainType::NAT, NfHook::Postrouting, 100);
}
