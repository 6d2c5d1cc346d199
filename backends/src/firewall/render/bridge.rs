//! `bridge brouter`: the anti-spoofing table. Bound vifs (`ports`) are checked against
//! `mac_bind` and `ip_bind` (Ethernet source, IP source, ARP sender); the sets are filled
//! per vif ([`binding_elements`]), so the rules never change with the vifs.

use std::borrow::Cow;

use brouter_engine::firewall::Binding;
use nftables::expr::MetaKey;
use nftables::schema::{Element, NfListObject, SetType, SetTypeValue};
use nftables::types::{NfChainType, NfFamily, NfHook};

use super::builder::{single, Builder};
use super::{FINGERPRINT_PREFIX, IP_BIND, MAC_BIND, PORTS, TABLE};
use crate::firewall::expr::*;

/// The whole bridge table: its three sets (empty), `prerouting` and `antispoof`.
pub(super) fn bridge(fingerprint: &str) -> Vec<NfListObject<'static>> {
    let mut b = Builder::new(NfFamily::Bridge);
    binding_sets(&mut b);
    b.base_chain("prerouting", NfChainType::Filter, NfHook::Prerouting, -200);
    b.chain("antispoof");
    b.rule(
        "prerouting",
        vec![eq(meta(MetaKey::Iifname), set_ref(PORTS)), goto("antispoof")],
        Some(format!("{FINGERPRINT_PREFIX}{fingerprint}")),
    );
    antispoof_chain(&mut b);
    b.objects
}

/// `ports`, `mac_bind` and `ip_bind`, declared empty (vifs fill them).
fn binding_sets(b: &mut Builder) {
    b.set(PORTS, single(SetType::Ifname), false, vec![]);
    b.set(
        MAC_BIND,
        SetTypeValue::Concatenated(Cow::Owned(vec![SetType::Ifname, SetType::EtherAddr])),
        false,
        vec![],
    );
    b.set(
        IP_BIND,
        SetTypeValue::Concatenated(Cow::Owned(vec![SetType::Ifname, SetType::Ipv4Addr])),
        false,
        vec![],
    );
}

/// `antispoof`: what a bound vif sends is dropped unless its MAC, its IP and its ARP
/// sender are the ones bound to it, and it is IPv4 or ARP.
fn antispoof_chain(b: &mut Builder) {
    let bound = |field: Expr, set: &str| ne(concat(vec![meta(MetaKey::Iifname), field]), set_ref(set));
    let rules = [
        (bound(payload("ether", "saddr"), MAC_BIND), "spoofed MAC"),
        (
            ne(meta(MetaKey::Protocol), anon_set(vec![str("ip"), str("arp")])),
            "only IPv4 and ARP",
        ),
        (bound(payload("ip", "saddr"), IP_BIND), "spoofed IP"),
        (
            bound(payload("arp", "saddr ip"), IP_BIND),
            "spoofed ARP sender IP",
        ),
        (
            bound(payload("arp", "saddr ether"), MAC_BIND),
            "spoofed ARP sender MAC",
        ),
    ];
    for (mismatch, comment) in rules {
        b.rule("antispoof", vec![mismatch, drop()], Some(comment.into()));
    }
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
    if !bd.addrs.is_empty() {
        let ips = bd
            .addrs
            .iter()
            .map(|a| concat(vec![str(bd.vif.clone()), str(a.to_string())]))
            .collect();
        out.push(el(IP_BIND, ips));
    }
    out
}
