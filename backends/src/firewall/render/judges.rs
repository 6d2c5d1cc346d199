//! The filter chains of `inet brouter`: the base chains' dispatch to the judges,
//! `fwd_dnat` (forwarded connections, counted and accepted), and the three judges, which
//! drop invalid traffic and send new connections by zone pair to the pair chains.

use brouter_engine::config::{Proto, ZONE_DOM0, ZONE_EXTERNAL};
use std::collections::HashMap;

use brouter_engine::firewall::External;
use nftables::expr::MetaKey;

use super::builder::Builder;
use super::inet::{Inet, BRIDGES, DHCP_IFACES, FWD_DNAT, IN_IFACES, OUT_IFACES};
use super::pairs::pair_verdict;
use super::{traffic_set, Shape, UNLISTED};
use crate::firewall::expr::*;

/// The rules of the `forward`, `input` and `output` base chains: only traffic that
/// touches a brouter bridge (or the judged uplink) goes to a judge; `fp` (the
/// fingerprint comment) rides on the first bridge rule.
pub(super) fn judge_dispatch(b: &mut Builder, fp: String) {
    // Established traffic first, before any interface lookup: it is most of the packets,
    // and accepting it is what the base chain's policy would do anyway for traffic that is
    // not brouter's. DNAT'd connections go to `fwd_dnat`, which counts them per forward
    // (a foreign DNAT is counted only if it shares a forward's port, which brouter's own
    // DNAT of that port would already contest) and accepts: a forward implies its accept.
    b.rule(
        "forward",
        vec![is_in(ct("status"), str("dnat")), goto(FWD_DNAT)],
        Some("a forward implies its accept".into()),
    );
    b.rule(
        "forward",
        vec![ct_state(&["established", "related"]), accept()],
        None,
    );
    b.rule(
        "forward",
        vec![eq(meta(MetaKey::Iifname), set_ref(BRIDGES)), goto("fwd_judge")],
        Some(fp),
    );
    b.rule(
        "forward",
        vec![eq(meta(MetaKey::Oifname), set_ref(BRIDGES)), goto("fwd_judge")],
        None,
    );
    b.rule(
        "input",
        vec![eq(meta(MetaKey::Iifname), set_ref(IN_IFACES)), goto("in_judge")],
        None,
    );
    b.rule(
        "output",
        vec![eq(meta(MetaKey::Oifname), set_ref(OUT_IFACES)), goto("out_judge")],
        None,
    );
}

/// `fwd_dnat`: the forwarded (DNAT'd) connections' traffic, in both directions, counted
/// per forward by the port the client connected to, and accepted in the same rule.
pub(super) fn fwd_dnat_chain(b: &mut Builder) {
    for proto in [Proto::Tcp, Proto::Udp] {
        for shape in Shape::ALL {
            b.rule(
                FWD_DNAT,
                vec![
                    eq(meta(MetaKey::L4proto), str(proto.to_string())),
                    eq(ct_original("proto-dst"), set_ref(&traffic_set(proto, shape))),
                    accept(),
                ],
                Some(match shape {
                    Shape::Port => format!("count {proto} forwards' traffic"),
                    Shape::Range => format!("count {proto} range forwards' traffic"),
                }),
            );
        }
    }
    b.rule(FWD_DNAT, vec![accept()], Some("DNAT'd by another table".into()));
}

/// `fwd_judge`: new (or invalid) traffic that touches a bridge. Invalid drops; the zone
/// pair is found from the named interfaces, or (no named uplink) from "any interface that
/// is not a bridge"; what matches no listed pair drops, counted.
pub(super) fn fwd_judge_chain(b: &mut Builder, t: &Inet) {
    b.rule("fwd_judge", vec![ct_state(&["invalid"]), drop()], None);
    if let Some(dispatch) = zone_dispatch_map(t) {
        b.rule("fwd_judge", vec![dispatch], None);
    }
    if matches!(t.rs.external, External::AnyOther) {
        any_other_external_rules(b, t);
    }
    b.rule("fwd_judge", vec![counter(), drop()], Some(UNLISTED.into()));
}

/// Every interface a zone is named by, with its zone: each network's bridge, then the
/// uplink (zone `external`) when there is one.
fn named_interfaces<'a>(t: &Inet<'a>) -> Vec<(&'a str, &'a str)> {
    t.rs.networks
        .iter()
        .map(|n| (n.bridge.as_str(), n.name.as_str()))
        .chain(t.uplink.map(|u| (u, ZONE_EXTERNAL)))
        .collect()
}

/// The verdict map on `iifname . oifname` over the named interfaces (the bridges, and
/// the uplink when there is one) for every pair that touches a bridge; `None` when no
/// pair has a verdict. Elements in the order of the named interfaces (from, then to).
///
/// Only pairs with a verdict become elements: unless unlisted drops are logged (each
/// then jumps to its log chain, so every pair is an element), those are the listed
/// policies and each bridge to itself. Visiting those alone, through a [`ZoneIndex`],
/// keeps this linear in networks and policies rather than cubic (every pair × a scan
/// of the policies): 1,000 networks took a minute in `check`.
fn zone_dispatch_map(t: &Inet) -> Option<Stmt> {
    let rs = t.rs;
    let ix = rs.index();
    let named = named_interfaces(t);
    let mut candidates: Vec<(usize, usize)> = if rs.log.drops {
        (0..named.len())
            .flat_map(|i| (0..named.len()).map(move |o| (i, o)))
            .collect()
    } else {
        let mut position: HashMap<&str, usize> = HashMap::with_capacity(named.len());
        for (k, (_, zone)) in named.iter().enumerate() {
            position.entry(*zone).or_insert(k);
        }
        let listed = ix
            .policies()
            .iter()
            .filter_map(|p| Some((*position.get(p.from.as_str())?, *position.get(p.to.as_str())?)));
        let same_zone = (0..named.len()).map(|k| (k, k));
        listed.chain(same_zone).collect()
    };
    candidates.sort_unstable();
    candidates.dedup();
    let mut pairs = vec![];
    for (i, o) in candidates {
        let ((i_if, i_zone), (o_if, o_zone)) = (named[i], named[o]);
        let touches_bridge = ix.network(i_zone).is_some() || ix.network(o_zone).is_some();
        if !touches_bridge {
            continue;
        }
        if let Some(v) = pair_verdict(&ix, i_zone, o_zone) {
            pairs.push((concat(vec![str(i_if), str(o_if)]), v));
        }
    }
    if pairs.is_empty() {
        return None;
    }
    let key = concat(vec![meta(MetaKey::Iifname), meta(MetaKey::Oifname)]);
    Some(vmap(key, anon_vmap(pairs)))
}

/// With no named uplink, external is any interface that is not a bridge: one verdict map
/// per direction (to external first), keyed by the bridge side.
fn any_other_external_rules(b: &mut Builder, t: &Inet) {
    let rs = t.rs;
    let ix = rs.index();
    for to_external in [true, false] {
        let (bridge_side, other_side) = if to_external {
            (MetaKey::Iifname, MetaKey::Oifname)
        } else {
            (MetaKey::Oifname, MetaKey::Iifname)
        };
        let verdicts: Vec<_> = rs
            .networks
            .iter()
            .filter_map(|n| {
                let v = if to_external {
                    pair_verdict(&ix, &n.name, ZONE_EXTERNAL)
                } else {
                    pair_verdict(&ix, ZONE_EXTERNAL, &n.name)
                };
                v.map(|v| (str(n.bridge.clone()), v))
            })
            .collect();
        if !verdicts.is_empty() {
            b.rule(
                "fwd_judge",
                vec![
                    ne(meta(other_side), set_ref(BRIDGES)),
                    vmap(meta(bridge_side), anon_vmap(verdicts)),
                ],
                Some("external: any interface that is not a bridge".into()),
            );
        }
    }
}

/// The verdicts of the pairs between the dom0 and each network (and the judged uplink):
/// `into_dom0` for `<zone>->dom0` keyed by input interface, else `dom0-><zone>` keyed by
/// output interface.
fn dom0_verdicts(t: &Inet, into_dom0: bool) -> Vec<(Expr, Stmt)> {
    let rs = t.rs;
    let ix = rs.index();
    let mut v = vec![];
    for n in &rs.networks {
        let (f, to) = if into_dom0 {
            (n.name.as_str(), ZONE_DOM0)
        } else {
            (ZONE_DOM0, n.name.as_str())
        };
        if let Some(verdict) = pair_verdict(&ix, f, to) {
            v.push((str(n.bridge.clone()), verdict));
        }
    }
    let host = if into_dom0 { t.host_in } else { t.host_out };
    if let Some(u) = host {
        let (f, to) = if into_dom0 {
            (ZONE_EXTERNAL, ZONE_DOM0)
        } else {
            (ZONE_DOM0, ZONE_EXTERNAL)
        };
        if let Some(verdict) = pair_verdict(&ix, f, to) {
            v.push((str(u), verdict));
        }
    }
    v
}

const ND_ROUTER_SOLICIT: u32 = 133;
const ND_ROUTER_ADVERT: u32 = 134;
const ND_NEIGHBOR_SOLICIT: u32 = 135;
const ND_NEIGHBOR_ADVERT: u32 = 136;

/// One rule per ICMPv6 neighbour-discovery type in `types`, accepting it on brouter's
/// bridges (`iface`: in- or output interface) in `chain`: IPv6 does not work without
/// them, whatever the zone policies say, and they never leave the link.
fn nd_rules(b: &mut Builder, chain: &str, iface: MetaKey, types: &[u32]) {
    for (k, ty) in types.iter().enumerate() {
        b.rule(
            chain,
            vec![
                eq(meta(iface), set_ref(BRIDGES)),
                eq(payload("icmpv6", "type"), num(*ty)),
                accept(),
            ],
            (k == 0).then(|| "IPv6 neighbour discovery on the networks' links".into()),
        );
    }
}

/// Whether brouter's dnsmasq serves any bridge (then its DHCP and DNS pass the judges).
fn serves_dhcp(t: &Inet) -> bool {
    t.rs.networks.iter().any(|n| n.dhcp)
}

/// `in_judge`: traffic to the dom0 itself. Established accepts, invalid drops, new
/// connections by input interface.
pub(super) fn in_judge_chain(b: &mut Builder, t: &Inet) {
    b.rule(
        "in_judge",
        vec![ct_state(&["established", "related"]), accept()],
        None,
    );
    if t.rs.has_ipv6() {
        // Neighbour discovery with the dom0 on a network's own link, before conntrack's
        // verdict on it: router and neighbour solicitations, neighbour advertisements.
        nd_rules(
            b,
            "in_judge",
            MetaKey::Iifname,
            &[ND_ROUTER_SOLICIT, ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT],
        );
    }
    b.rule("in_judge", vec![ct_state(&["invalid"]), drop()], None);
    if serves_dhcp(t) {
        // DHCP and DNS of brouter's dnsmasq, whatever the zone policies say.
        let from_served = || eq(meta(MetaKey::Iifname), set_ref(DHCP_IFACES));
        b.rule(
            "in_judge",
            vec![
                from_served(),
                eq(payload("udp", "dport"), anon_set(vec![num(53), num(67)])),
                accept(),
            ],
            Some("DHCP and DNS of brouter's dnsmasq".into()),
        );
        b.rule(
            "in_judge",
            vec![from_served(), eq(payload("tcp", "dport"), num(53)), accept()],
            None,
        );
    }
    let ins = dom0_verdicts(t, true);
    if !ins.is_empty() {
        b.rule(
            "in_judge",
            vec![vmap(meta(MetaKey::Iifname), anon_vmap(ins))],
            None,
        );
    }
    b.rule("in_judge", vec![counter(), drop()], Some(UNLISTED.into()));
}

/// `out_judge`: traffic from the dom0 itself. Its replies and ICMP errors pass, new
/// connections by output interface.
pub(super) fn out_judge_chain(b: &mut Builder, t: &Inet) {
    b.rule(
        "out_judge",
        vec![
            ct_state(&["established", "related", "invalid", "untracked"]),
            accept(),
        ],
        Some("the host's replies and its ICMP errors".into()),
    );
    if t.rs.has_ipv6() {
        nd_rules(
            b,
            "out_judge",
            MetaKey::Oifname,
            &[ND_ROUTER_ADVERT, ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT],
        );
    }
    if serves_dhcp(t) {
        b.rule(
            "out_judge",
            vec![
                eq(meta(MetaKey::Oifname), set_ref(DHCP_IFACES)),
                eq(payload("udp", "dport"), num(68)),
                accept(),
            ],
            Some("DHCP replies of brouter's dnsmasq".into()),
        );
    }
    let outs = dom0_verdicts(t, false);
    if !outs.is_empty() {
        b.rule(
            "out_judge",
            vec![vmap(meta(MetaKey::Oifname), anon_vmap(outs))],
            None,
        );
    }
    b.rule("out_judge", vec![counter(), drop()], Some(UNLISTED.into()));
}

#[cfg(test)]
mod tests {
    use brouter_engine::config::arbitrary::random_config;
    use brouter_engine::config::from_toml;
    use brouter_engine::firewall::{compile, Ruleset};
    use nftables::expr::MetaKey;

    use super::super::pairs::pair_verdict;
    use super::{named_interfaces, zone_dispatch_map, Inet};
    use crate::firewall::expr::*;

    /// The map as it was first written: every ordered pair of named interfaces, asked
    /// one by one. The specification the linear version must match element for element.
    fn zone_dispatch_map_every_pair(t: &Inet) -> Option<Stmt> {
        let rs = t.rs;
        let ix = rs.index();
        let named = named_interfaces(t);
        let mut pairs = vec![];
        for (i_if, i_zone) in &named {
            for (o_if, o_zone) in &named {
                if rs.network(i_zone).is_none() && rs.network(o_zone).is_none() {
                    continue;
                }
                if let Some(v) = pair_verdict(&ix, i_zone, o_zone) {
                    pairs.push((concat(vec![str(*i_if), str(*o_if)]), v));
                }
            }
        }
        (!pairs.is_empty()).then(|| {
            vmap(
                concat(vec![meta(MetaKey::Iifname), meta(MetaKey::Oifname)]),
                anon_vmap(pairs),
            )
        })
    }

    fn inet(rs: &Ruleset) -> Inet<'_> {
        Inet {
            rs,
            uplink: rs.uplink(),
            host_in: None,
            host_out: None,
        }
    }

    #[test]
    fn dispatch_map_lists_the_same_pairs_as_asking_every_pair() {
        // A small xorshift stream of choices: deterministic, so a failure names its seed.
        let mut checked = 0;
        for seed in 1..400u64 {
            let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            let choices: Vec<u32> = (0..80)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 16) as u32
                })
                .collect();
            let g = random_config(&choices);
            let Ok(config) = from_toml(&g.text, "random.toml") else {
                continue;
            };
            let mut rs = compile(&config);
            for drops in [false, true] {
                rs.log.drops = drops;
                let t = inet(&rs);
                assert_eq!(
                    zone_dispatch_map(&t),
                    zone_dispatch_map_every_pair(&t),
                    "seed {seed}, drops logged: {drops}\n{}",
                    g.text
                );
                checked += 1;
            }
        }
        assert!(checked > 100, "only {checked} valid configs generated");
    }
}
