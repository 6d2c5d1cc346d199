//! `bridge brouter`: the anti-spoofing table. Bound vifs (`ports`) are checked against
//! `mac_bind` and the address sets (Ethernet source, IPv4 and IPv6 source, ARP sender);
//! the sets are filled per vif ([`binding_elements`]), so the rules never change with the
//! vifs. A binding holds host addresses and prefixes of both families (`0.0.0.0/0` and
//! `::/0` for a vif bound to its MAC alone), kept apart: single addresses in hash sets
//! (`ip_host`, `ip6_host`: `ifname . ipv4_addr`), prefixes in concatenated interval sets
//! (`ip_bind`, `ip6_bind`), and a source passes if either holds it. The kernel keeps an
//! interval set as a pipapo set, whose element delete scans every element (18 ms of
//! kernel time at 1,024 bindings, measured): `vif offline` at a thousand domUs would pay
//! it, while a hash set's delete does not grow with the set.
//!
//! `forward` fences a port nobody bound off from the bound vifs, both ways, from its first
//! frame: a bridge-family rule cannot name a port's bridge on kernels without
//! `CONFIG_NFT_BRIDGE_META` (no `meta ibrname`), but a frame forwarded between a bound vif
//! and another port stays inside one bridge, and only an anti-spoofing bridge has bound
//! vifs — so that other port is an unbound port of an anti-spoofing bridge.

use std::borrow::Cow;

use brouter_engine::firewall::{Binding, Ruleset};
use ipnet::IpNet;
use nftables::expr::MetaKey;
use nftables::schema::{Element, NfListObject, SetType, SetTypeValue};
use nftables::types::{NfChainType, NfFamily, NfHook};

use super::builder::{single, Builder};
use super::{FINGERPRINT_PREFIX, IP6_BIND, IP6_HOST, IP_BIND, IP_HOST, MAC_BIND, PORTS, TABLE};
use crate::firewall::expr::*;

/// The whole bridge table: its four sets (empty), `prerouting`, `antispoof` with its
/// per-family chains, and `forward`.
pub(super) fn bridge(rs: &Ruleset, fingerprint: &str) -> Vec<NfListObject<'static>> {
    let mut b = Builder::new(NfFamily::Bridge);
    binding_sets(&mut b);
    b.base_chain("prerouting", NfChainType::Filter, NfHook::Prerouting, -200);
    b.chain("antispoof");
    b.base_chain("forward", NfChainType::Filter, NfHook::Forward, -200);
    b.rule(
        "prerouting",
        vec![eq(meta(MetaKey::Iifname), set_ref(PORTS)), goto("antispoof")],
        Some(format!("{FINGERPRINT_PREFIX}{fingerprint}")),
    );
    overlay(&mut b, rs);
    antispoof_chains(&mut b);
    fence_unbound(&mut b);
    b.objects
}

/// On a cluster member (see [`brouter_engine::firewall::Overlay`]): another member's
/// gateway is not heard from the overlay, and the overlay port is not fenced off as an
/// unbound port (its frames come from VMs anti-spoofing judged on their own member).
fn overlay(b: &mut Builder, rs: &Ruleset) {
    let overlays: Vec<_> = rs.networks.iter().filter_map(|n| n.overlay.as_ref()).collect();
    if overlays.is_empty() {
        return;
    }
    // Its ARP and router advertisements are dropped (each VM hears its own member's);
    // routed traffic from another member carries the gateway's MAC too, and passes.
    for o in &overlays {
        let from_gateway = || {
            vec![
                eq(meta(MetaKey::Iifname), str(o.port.clone())),
                eq(payload("ether", "saddr"), str(o.gateway_mac.clone())),
            ]
        };
        let mut arp = from_gateway();
        arp.extend([eq(payload("ether", "type"), str("arp")), drop()]);
        b.rule("prerouting", arp, Some("another member's gateway".into()));
        let mut nd = from_gateway();
        nd.extend([eq(payload("icmpv6", "type"), num(134)), drop()]);
        b.rule("prerouting", nd, None);
    }
    let ports = || anon_set(overlays.iter().map(|o| str(o.port.clone())).collect());
    for key in [MetaKey::Iifname, MetaKey::Oifname] {
        b.rule(
            "forward",
            vec![eq(meta(key), ports()), accept()],
            Some("the cluster's overlay".into()),
        );
    }
}

/// `forward`: no frame between a bound vif and a port that is not bound, either way (see
/// the module doc): a port enslaved by hand to an anti-spoofing bridge reaches no VM and
/// hears none. Frames between two ports that are not bound (other bridges) pass.
fn fence_unbound(b: &mut Builder) {
    let port = |key: MetaKey, bound: bool| match bound {
        true => eq(meta(key), set_ref(PORTS)),
        false => ne(meta(key), set_ref(PORTS)),
    };
    for (from, to, comment) in [
        (false, true, "unbound port to a bound vif"),
        (true, false, "bound vif to an unbound port"),
    ] {
        b.rule(
            "forward",
            vec![port(MetaKey::Iifname, from), port(MetaKey::Oifname, to), drop()],
            Some(comment.into()),
        );
    }
}

/// The binding sets ([`super::BINDING_SETS`]), declared empty (vifs fill them).
fn binding_sets(b: &mut Builder) {
    b.set(PORTS, single(SetType::Ifname), false, vec![]);
    b.set(
        MAC_BIND,
        SetTypeValue::Concatenated(Cow::Owned(vec![SetType::Ifname, SetType::EtherAddr])),
        false,
        vec![],
    );
    for (name, family, interval) in [
        (IP_HOST, SetType::Ipv4Addr, false),
        (IP_BIND, SetType::Ipv4Addr, true),
        (IP6_HOST, SetType::Ipv6Addr, false),
        (IP6_BIND, SetType::Ipv6Addr, true),
    ] {
        b.set(
            name,
            SetTypeValue::Concatenated(Cow::Owned(vec![SetType::Ifname, family])),
            interval,
            vec![],
        );
    }
}

/// ICMPv6 types only a router sends: router advertisement, redirect, router renumbering.
const ROUTER_ONLY_ICMPV6: [(u32, &str); 3] = [
    (134, "router advertisement from a VM"),
    (137, "ICMPv6 redirect from a VM"),
    (138, "router renumbering from a VM"),
];

/// ICMPv6 types a host sends from `::` before it has an address: router solicitation,
/// neighbour solicitation (duplicate address detection) and MLDv2 report (joining the
/// solicited-node group for it).
const FROM_UNSPECIFIED_ICMPV6: [u32; 3] = [133, 135, 143];

/// The chains `antispoof` dispatches to by Ethernet type.
const ANTISPOOF_IP: &str = "antispoof_ip";
const ANTISPOOF_ARP: &str = "antispoof_arp";
const ANTISPOOF_IP6: &str = "antispoof_ip6";

/// `antispoof` and the chains it dispatches to: what a bound vif sends is dropped unless
/// it is untagged IPv4, IPv6 or ARP from the bound MAC with a bound source (ARP: sender MAC
/// and IP; IPv6: the bound addresses and the MAC's own link-local one, which the binding's
/// set elements carry). From the bound MAC, whatever is bound: a DHCP client's broadcast
/// from `0.0.0.0` to port 67, an ARP probe (sender `0.0.0.0`), and solicitations from `::`
/// (duplicate address detection, router solicitation) pass. What only the dom0 may send
/// on the link is dropped from every bound vif, whatever its source: router
/// advertisements, redirects and renumbering (a VM would become its neighbours' router),
/// DHCP and DHCPv6 server replies (it would hand its neighbours a gateway of its
/// choosing), and a neighbour advertisement for an address the vif may not send from.
///
/// Each frame meets only its own family's rules (a verdict map on the Ethernet type):
/// every frame a VM sends passes through here, so the chain a TCP segment walks is kept
/// to the MAC check and three IPv4 rules.
fn antispoof_chains(b: &mut Builder) {
    for chain in [ANTISPOOF_IP, ANTISPOOF_ARP, ANTISPOOF_IP6] {
        b.chain(chain);
    }
    let bound = |field: Expr, set: &str| ne(concat(vec![meta(MetaKey::Iifname), field]), set_ref(set));
    // An address is bound if either of its family's sets holds it (see the module doc):
    // the rule drops what neither holds.
    let unbound = |field: fn() -> Expr, v6: bool| {
        let (host, prefix) = if v6 {
            (IP6_HOST, IP6_BIND)
        } else {
            (IP_HOST, IP_BIND)
        };
        vec![bound(field(), host), bound(field(), prefix)]
    };
    let rule = |b: &mut Builder, chain: &str, stmts: Vec<Stmt>, comment: &str| {
        b.rule(chain, stmts, Some(comment.into()));
    };
    rule(
        b,
        "antispoof",
        vec![eq(payload("ether", "type"), str("8021q")), drop()],
        "tagged frame (802.1Q)",
    );
    rule(
        b,
        "antispoof",
        vec![eq(payload("ether", "type"), str("8021ad")), drop()],
        "tagged frame (802.1ad)",
    );
    rule(
        b,
        "antispoof",
        vec![bound(payload("ether", "saddr"), MAC_BIND), drop()],
        "spoofed MAC",
    );
    b.rule(
        "antispoof",
        vec![vmap(
            meta(MetaKey::Protocol),
            anon_vmap(vec![
                (str("ip"), goto(ANTISPOOF_IP)),
                (str("arp"), goto(ANTISPOOF_ARP)),
                (str("ip6"), goto(ANTISPOOF_IP6)),
            ]),
        )],
        Some("each family to its own checks".into()),
    );
    rule(b, "antispoof", vec![drop()], "only IPv4, IPv6 and ARP");

    // IPv4.
    rule(
        b,
        ANTISPOOF_IP,
        vec![eq(payload("udp", "sport"), num(67)), drop()],
        "DHCP server reply from a VM",
    );
    rule(
        b,
        ANTISPOOF_IP,
        vec![
            eq(payload("ip", "saddr"), str("0.0.0.0")),
            eq(payload("ip", "daddr"), str("255.255.255.255")),
            eq(payload("udp", "dport"), num(67)),
            accept(),
        ],
        "DHCP client",
    );
    rule(
        b,
        ANTISPOOF_IP,
        [unbound(|| payload("ip", "saddr"), false), vec![drop()]].concat(),
        "spoofed IP",
    );

    // ARP.
    rule(
        b,
        ANTISPOOF_ARP,
        vec![bound(payload("arp", "saddr ether"), MAC_BIND), drop()],
        "spoofed ARP sender MAC",
    );
    rule(
        b,
        ANTISPOOF_ARP,
        vec![eq(payload("arp", "saddr ip"), str("0.0.0.0")), accept()],
        "ARP probe",
    );
    rule(
        b,
        ANTISPOOF_ARP,
        [unbound(|| payload("arp", "saddr ip"), false), vec![drop()]].concat(),
        "spoofed ARP sender IP",
    );

    // IPv6.
    for (ty, comment) in ROUTER_ONLY_ICMPV6 {
        rule(
            b,
            ANTISPOOF_IP6,
            vec![eq(payload("icmpv6", "type"), num(ty)), drop()],
            comment,
        );
    }
    rule(
        b,
        ANTISPOOF_IP6,
        vec![eq(payload("udp", "sport"), num(547)), drop()],
        "DHCPv6 server reply from a VM",
    );
    for (k, ty) in FROM_UNSPECIFIED_ICMPV6.into_iter().enumerate() {
        let stmts = vec![
            eq(payload("ip6", "saddr"), str("::")),
            eq(payload("icmpv6", "type"), num(ty)),
            accept(),
        ];
        b.rule(
            ANTISPOOF_IP6,
            stmts,
            (k == 0).then(|| "solicitation from ::".into()),
        );
    }
    rule(
        b,
        ANTISPOOF_IP6,
        [unbound(|| payload("ip6", "saddr"), true), vec![drop()]].concat(),
        "spoofed IPv6",
    );
    b.rule(
        ANTISPOOF_IP6,
        [
            vec![eq(payload("icmpv6", "type"), num(ND_NEIGHBOR_ADVERT))],
            unbound(|| payload("icmpv6", "taddr"), true),
            vec![drop()],
        ]
        .concat(),
        Some(NA_SPOOF_COMMENT.into()),
    );
}

/// ICMPv6 neighbour advertisement.
const ND_NEIGHBOR_ADVERT: u32 = 136;

/// The comment of the rule that drops a neighbour advertisement for an address the vif
/// is not bound to: the IPv6 form of a spoofed ARP sender (a VM announcing the gateway's
/// or a neighbour's address as its own would receive their traffic). nft 1.0.6 cannot
/// read this rule as JSON or text (it has no name for the advertised address and will
/// not compare an `@th,64,128` with an `ipv6_addr` set key), so the `nft -j` reference
/// transaction leaves it out ([`nft_can_parse`]); the netlink batch brouter applies has it.
pub const NA_SPOOF_COMMENT: &str = "neighbour advertisement for an address not bound";

/// Whether nft 1.0.6 can parse `rule` (JSON or text): every rule but the neighbour
/// advertisement check (see [`NA_SPOOF_COMMENT`]).
pub fn nft_can_parse(rule: &nftables::schema::Rule<'_>) -> bool {
    rule.comment.as_deref() != Some(NA_SPOOF_COMMENT)
}

/// The set elements of one binding, per set (empty lists left out).
pub fn binding_elements(bd: &Binding) -> Vec<Element<'static>> {
    let el = |name: &str, elem: Vec<Expr>| Element {
        family: NfFamily::Bridge,
        table: TABLE.into(),
        name: name.to_string().into(),
        elem: Cow::Owned(elem),
    };
    let mut out = vec![el(PORTS, vec![str(bd.vif.clone())])];
    if !bd.mac.is_empty() {
        out.push(el(
            MAC_BIND,
            vec![concat(vec![str(bd.vif.clone()), str(bd.mac.clone())])],
        ));
    }
    for (set, v6, host) in [
        (IP_HOST, false, true),
        (IP_BIND, false, false),
        (IP6_HOST, true, true),
        (IP6_BIND, true, false),
    ] {
        let nets: Vec<Expr> = bd
            .kernel_addrs()
            .iter()
            .filter(|a| matches!(a, IpNet::V6(_)) == v6 && is_host(a) == host)
            .map(|a| concat(vec![str(bd.vif.clone()), addr_elem(a)]))
            .collect();
        if !nets.is_empty() {
            out.push(el(set, nets));
        }
    }
    out
}

/// Whether a bound entry is a single address (an element of `ip_host` / `ip6_host`)
/// rather than a prefix (`ip_bind` / `ip6_bind`).
pub fn is_host(a: &IpNet) -> bool {
    a.prefix_len() == a.max_prefix_len()
}

/// A bound entry as an element part: a host address bare, a prefix as a prefix.
fn addr_elem(a: &IpNet) -> Expr {
    if a.prefix_len() == a.max_prefix_len() {
        str(a.addr().to_string())
    } else {
        prefix(a.network().to_string(), a.prefix_len())
    }
}
