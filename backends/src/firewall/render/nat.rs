//! The NAT chains of `inet brouter`: `prerouting` DNATs the forwards through their
//! port-keyed maps, `postrouting` masquerades hairpin traffic and the masquerading
//! networks' traffic to the outside.

use brouter_engine::config::Proto;
use nftables::expr::MetaKey;
use nftables::schema::SetType;
use nftables::stmt::{Statement, NAT};

use super::builder::Builder;
use super::inet::{Inet, BRIDGES, BRIDGE_ADDRS, BRIDGE_ADDRS6, MASQ_SOURCES, NET_SUBNETS};
use super::{fwd_set, Shape};
use crate::firewall::expr::*;

/// `prerouting`'s two rules for `proto`'s forwards of `shape`: traffic to a local address
/// (not a bridge's own) on a forwarded port is DNAT'd through the `addr` and `port` maps
/// (port translated) or the `keep` map (port kept). Two maps, not one, because nft 1.0.6
/// breaks maps whose data is a concatenation.
pub(super) fn dnat_chain(b: &mut Builder, proto: Proto, shape: Shape) {
    let local = || {
        vec![
            eq(fib_daddr_type(), str("local")),
            ne(payload("ip", "daddr"), set_ref(BRIDGE_ADDRS)),
        ]
    };
    let p = if proto == Proto::Tcp { "tcp" } else { "udp" };
    let lookup = |what: &str| Some(map_lookup(payload(p, "dport"), &fwd_set(proto, shape, what)));
    let kind = match shape {
        Shape::Port => format!("{proto} forwards"),
        Shape::Range => format!("{proto} range forwards"),
    };
    let mut translated = local();
    translated.push(Statement::DNAT(Some(NAT {
        addr: lookup("addr"),
        family: Some(nftables::stmt::NATFamily::IP),
        port: lookup("port"),
        flags: None,
    })));
    b.rule(
        "prerouting",
        translated,
        Some(format!("{kind} with port translation")),
    );
    let mut kept = local();
    kept.push(Statement::DNAT(Some(NAT {
        addr: lookup("keep"),
        family: Some(nftables::stmt::NATFamily::IP),
        port: None,
        flags: None,
    })));
    b.rule("prerouting", kept, Some(format!("{kind} keeping the port")));
}

/// `prerouting`'s IPv6 rules for `proto`'s forwards of `shape`, the IPv4 ones' twins:
/// IPv6 traffic to a local address (not a bridge's) on a forwarded port goes to the
/// forward's host's IPv6 address (`addr6` with the `port` map, or `keep6`).
pub(super) fn dnat6_chain(b: &mut Builder, proto: Proto, shape: Shape) {
    let local = || {
        vec![
            eq(fib_daddr_type(), str("local")),
            ne(payload("ip6", "daddr"), set_ref(BRIDGE_ADDRS6)),
        ]
    };
    let p = if proto == Proto::Tcp { "tcp" } else { "udp" };
    let lookup = |what: &str| Some(map_lookup(payload(p, "dport"), &fwd_set(proto, shape, what)));
    let mut translated = local();
    translated.push(Statement::DNAT(Some(NAT {
        addr: lookup("addr6"),
        family: Some(nftables::stmt::NATFamily::IP6),
        port: lookup("port"),
        flags: None,
    })));
    b.rule("prerouting", translated, Some(format!("{proto} IPv6 forwards")));
    let mut kept = local();
    kept.push(Statement::DNAT(Some(NAT {
        addr: lookup("keep6"),
        family: Some(nftables::stmt::NATFamily::IP6),
        port: None,
        flags: None,
    })));
    b.rule("prerouting", kept, None);
}

/// `postrouting`: hairpin traffic (a network reaching a forward on its own bridge) is
/// masqueraded so replies come back through the dom0; the masquerading networks'
/// traffic is masqueraded on its way out (through the uplink, or any non-bridge).
pub(super) fn masquerade_chain(b: &mut Builder, t: &Inet) {
    cluster_snat(b, t);
    b.rule(
        "postrouting",
        vec![
            is_in(ct("status"), str("dnat")),
            eq(payload("ip", "saddr"), set_ref(NET_SUBNETS)),
            eq(meta(MetaKey::Oifname), set_ref(BRIDGES)),
            Statement::Masquerade(None),
        ],
        Some("hairpin: replies must come back through the dom0".into()),
    );
    let out_external = match t.uplink {
        Some(u) => eq(meta(MetaKey::Oifname), str(u)),
        None => ne(meta(MetaKey::Oifname), set_ref(BRIDGES)),
    };
    b.rule(
        "postrouting",
        vec![
            out_external.clone(),
            eq(payload("ip", "saddr"), set_ref(MASQ_SOURCES)),
            Statement::Masquerade(None),
        ],
        Some("masquerade to the outside".into()),
    );
    // Hairpin over IPv6: a VM reaching a forward of its own network's host.
    if t.rs.forwards_ipv6() {
        for n in t.rs.networks.iter().filter_map(|n| n.address6) {
            let p = n.trunc();
            b.rule(
                "postrouting",
                vec![
                    is_in(ct("status"), str("dnat")),
                    eq(
                        payload("ip6", "saddr"),
                        prefix(p.network().to_string(), p.prefix_len()),
                    ),
                    eq(meta(MetaKey::Oifname), set_ref(BRIDGES)),
                    Statement::Masquerade(None),
                ],
                None,
            );
        }
    }
    // Unique-local IPv6 prefixes, one rule each (a network or two is dual stack, not
    // thousands): a prefix match needs no set.
    for (k, p) in t.rs.masquerade_sources6().enumerate() {
        b.rule(
            "postrouting",
            vec![
                out_external.clone(),
                eq(
                    payload("ip6", "saddr"),
                    prefix(p.network().to_string(), p.prefix_len()),
                ),
                Statement::Masquerade(None),
            ],
            (k == 0).then(|| "masquerade unique-local IPv6 to the outside".into()),
        );
    }
}

/// The map from a cluster bridge to this member's underlay address.
const CLUSTER_SNAT: &str = "cluster_snat";

/// On a cluster member: a forwarded connection (DNAT) into a cluster network leaves from
/// the member's underlay address, so the VM answers the member that translated it even
/// when it is attached to another (its own member would route the reply out untranslated).
/// One rule and a map keyed by the outgoing bridge; first, before the hairpin masquerade.
fn cluster_snat(b: &mut Builder, t: &Inet) {
    let overlays: Vec<(&str, std::net::IpAddr)> =
        t.rs.networks
            .iter()
            .filter_map(|n| n.overlay.as_ref().map(|o| (n.bridge.as_str(), o.member)))
            .collect();
    let Some((_, member)) = overlays.first() else {
        return;
    };
    let (data, family, nfproto) = match member {
        std::net::IpAddr::V4(_) => (SetType::Ipv4Addr, nftables::stmt::NATFamily::IP, "ipv4"),
        std::net::IpAddr::V6(_) => (SetType::Ipv6Addr, nftables::stmt::NATFamily::IP6, "ipv6"),
    };
    let elems = overlays
        .iter()
        .map(|(bridge, addr)| map_elem(str(bridge.to_string()), str(addr.to_string())))
        .collect();
    b.map(CLUSTER_SNAT, SetType::Ifname, data, false, elems);
    b.rule(
        "postrouting",
        vec![
            eq(meta(MetaKey::Nfproto), str(nfproto)),
            is_in(ct("status"), str("dnat")),
            Statement::SNAT(Some(NAT {
                addr: Some(map_lookup(meta(MetaKey::Oifname), CLUSTER_SNAT)),
                family: Some(family),
                port: None,
                flags: None,
            })),
        ],
        Some("cluster: forwarded connections answer through this member".into()),
    );
}
