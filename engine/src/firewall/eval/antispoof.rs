//! Step "anti-spoof": the bridge-family check of a bound vif — the Ethernet source must
//! be the binding's MAC and the IP source (or ARP sender) one of its addresses or inside
//! one of its prefixes; a DHCP client's discover (`0.0.0.0` → `255.255.255.255:67`) and an
//! ARP probe (sender `0.0.0.0`) from the bound MAC pass whatever is bound. A port without
//! a binding is not checked by the `antispoof` chain (`bridge brouter` cannot tell which
//! bridge a port belongs to on kernels without `meta ibrname`, see docs/xen.md), but its
//! `forward` chain keeps it from every bound vif: [`Walk::fenced_from_vms`]. A port whose
//! bridge port state reads `disabled` (what `start` makes of an unbound port of an
//! anti-spoofing bridge) passes nothing at all: [`Walk::port_disabled`].
//!
//! IPv6, as the `antispoof` chain renders it: after the MAC check, the MAC's own
//! link-local address (fe80::/64 and its modified EUI-64: neighbour discovery, router
//! solicitation) and solicitations from `::` (duplicate address detection) pass whatever
//! is bound, another link-local source does not; any other source must be in the binding —
//! a declared host's binding holds its IPv6 addresses and, on a dual-stack network, the
//! address SLAAC gives its MAC ([`crate::firewall::binding_for`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use super::sender::Sender;
use super::Walk;
use crate::firewall::flow::{Address, Flow};
use crate::firewall::ir::{Binding, DeclaredHost, FlowProto, NetZone, Ruleset};
use crate::firewall::slaac_address;
use crate::firewall::trace::StepKind;

impl Walk<'_> {
    /// Whether the flow passes the anti-spoofing check of its network (a network without
    /// anti-spoofing, or a dom0 or outside sender, passes without a step).
    pub(super) fn antispoof(&mut self, s: &Sender) -> bool {
        let (Some(n), Some(Address::Ip(src))) = (s.net, s.src) else {
            return true;
        };
        if !n.antispoof {
            return true;
        }
        let (binding, why) = binding_of(self.rs, n, self.flow, s.host, s.live, src);
        match binding {
            None => {
                self.step(StepKind::AntiSpoof, why);
                true
            }
            Some(b) => self.matches_binding(&b, &why, src),
        }
    }

    /// Whether the vif the flow comes through is a bridge port in state `disabled`: the
    /// bridge drops every frame it receives (br_handle_frame), before any table sees it.
    pub(super) fn port_disabled(&mut self, s: &Sender) -> bool {
        let (Some(n), Some(v)) = (s.net, &self.flow.vif) else {
            return false;
        };
        if !self.ctx.disabled_ports.iter().any(|p| p == v) {
            return false;
        }
        let why = match n.antispoof && !self.ctx.bindings.iter().any(|b| &b.vif == v) {
            true => "it has no binding on an anti-spoofing network, so `brouter start` disabled it",
            false => "disabled",
        };
        self.step(
            StepKind::AntiSpoof,
            format!(
                "{v} is a port of {}'s bridge {} in state disabled ({why}): the bridge drops \
                 every frame it sends, to the VMs and to the dom0 alike: dropped",
                n.name, n.bridge
            ),
        );
        true
    }

    /// Whether `bridge brouter`'s `forward` chain drops the flow: sent through a vif with
    /// no binding on an anti-spoofing network to another VM of that network (every VM
    /// there is bound by `vif online`). To the dom0 (or routed beyond it) the firewall does
    /// not fence it; its disabled port does, once `start` disabled it.
    pub(super) fn fenced_from_vms(&mut self, s: &Sender, to: Address) -> bool {
        let (Some(n), Some(v), Address::Ip(dst)) = (s.net, &self.flow.vif, to) else {
            return false;
        };
        let unbound = n.antispoof && !self.ctx.bindings.iter().any(|b| &b.vif == v);
        if !unbound || !n.holds(dst) || n.own_address(dst.is_ipv6()) == Some(dst) {
            return false;
        }
        self.step(
            StepKind::AntiSpoof,
            format!(
                "{dst} is a VM on {}'s bridge {} and {v} has no binding: bridge brouter's \
                 forward chain keeps an unbound port from every bound vif: dropped",
                n.name, n.bridge
            ),
        );
        true
    }

    /// Whether the flow's MAC and source match binding `b` (found as `why` says); a
    /// mismatch is a step naming what was spoofed.
    fn matches_binding(&mut self, b: &Binding, why: &str, src: IpAddr) -> bool {
        let flow = self.flow;
        let mac = flow.src_mac.clone().unwrap_or_else(|| b.mac.clone());
        if !mac.eq_ignore_ascii_case(&b.mac) {
            self.step(
                StepKind::AntiSpoof,
                format!(
                    "spoofed MAC: Ethernet source {mac} is not {} ({why}): dropped",
                    b.mac
                ),
            );
            return false;
        }
        if dhcp_client(flow, src) {
            self.step(
                StepKind::AntiSpoof,
                format!("a DHCP client's discover from {mac} ({why}): DHCP always passes"),
            );
            return true;
        }
        if let IpAddr::V6(s6) = src {
            let own = b.link_local();
            if LINK_LOCAL.contains(&s6) && !b.allows(src) {
                let passes = own == Some(s6);
                let verdict = match (passes, own) {
                    (true, _) => "its MAC's own link-local address always passes \
                                  (neighbour discovery, router solicitation)"
                        .to_string(),
                    (false, Some(ll)) => format!(
                        "spoofed IPv6 link-local source: only its MAC's own link-local \
                         address {ll} passes: dropped"
                    ),
                    (false, None) => "no link-local address passes without a MAC: dropped".into(),
                };
                self.step(
                    StepKind::AntiSpoof,
                    format!("IPv6 link-local source {src} from {mac} ({why}): {verdict}"),
                );
                return passes;
            }
            if s6.is_unspecified() && flow.proto == FlowProto::Icmp {
                self.step(
                    StepKind::AntiSpoof,
                    format!("ICMPv6 from :: from {mac} ({why}): duplicate address detection always passes"),
                );
                return true;
            }
        }
        if flow.proto == FlowProto::Arp && src.is_unspecified() {
            self.step(
                StepKind::AntiSpoof,
                format!("an ARP probe (sender 0.0.0.0) from {mac} ({why}): probes always pass"),
            );
            return true;
        }
        if !b.allows(src) {
            let what = match (flow.proto, src) {
                (FlowProto::Arp, _) => "ARP sender",
                (_, IpAddr::V6(_)) => "IPv6 source",
                _ => "IP source",
            };
            let bound = if b.addrs.is_empty() {
                "allows no address".to_string()
            } else {
                format!("allows only {}", b.describe_addrs())
            };
            self.step(
                StepKind::AntiSpoof,
                format!("spoofed {what} {src}: {why} {bound}: dropped"),
            );
            return false;
        }
        self.step(StepKind::AntiSpoof, format!("{src} from {mac} matches {why}"));
        true
    }
}

/// Whether the flow is a DHCP client's discover or request before it has an address:
/// UDP from `0.0.0.0` to `255.255.255.255` port 67 (from port 68, which a flow does not
/// name).
fn dhcp_client(flow: &Flow, src: IpAddr) -> bool {
    flow.proto == FlowProto::Udp
        && src == IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        && flow.to == Address::from(Ipv4Addr::BROADCAST)
        && flow.port == Some(67)
}

/// fe80::/10: of it, the `antispoof` chain lets only the bound MAC's own address pass.
const LINK_LOCAL: ipnet::Ipv6Net = match ipnet::Ipv6Net::new(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10) {
    Ok(n) => n,
    Err(_) => panic!("fe80::/10 is a prefix"),
};

/// What a declared host's vif is bound to once online, as
/// [`crate::firewall::binding_for`] binds it: its addresses of both families and, on a
/// dual-stack network, the address SLAAC gives its MAC.
fn declared_addrs(n: &NetZone, h: &DeclaredHost) -> Vec<IpNet> {
    let v4 = h.addrs.iter().map(|a| IpAddr::V4(*a));
    let v6 = h.addrs6.iter().map(|a| IpAddr::V6(*a));
    let slaac = match (&h.mac, n.address6) {
        (Some(m), Some(p)) => slaac_address(p, m).map(IpAddr::V6),
        _ => None,
    };
    let mut addrs: Vec<IpNet> = v4.chain(v6).chain(slaac).map(IpNet::from).collect();
    Binding::normalise(&mut addrs);
    addrs
}

/// The binding the bridge checks for this flow, and how it was found (for the trace).
/// `None`: the vif is not guarded.
fn binding_of(
    rs: &Ruleset,
    n: &NetZone,
    flow: &Flow,
    host: Option<&DeclaredHost>,
    live: Option<&Binding>,
    src: IpAddr,
) -> (Option<Binding>, String) {
    let declared = |h: &DeclaredHost| Binding {
        vif: format!("vif of {}", h.name),
        mac: h.mac.clone().unwrap_or_default(),
        addrs: declared_addrs(n, h),
    };
    if let Some(v) = &flow.vif {
        return match live {
            Some(b) => (Some(b.clone()), format!("the binding of {v}")),
            None => (
                None,
                format!(
                    "{v} has no binding: its source is not checked (not guarded); \
                     `brouter start` disables such a port of an anti-spoofing bridge (then \
                     nothing it sends passes), `status` lists it as EXPOSED until then"
                ),
            ),
        };
    }
    if let Some(h) = host {
        return (Some(declared(h)), format!("host {}'s binding", h.name));
    }
    if let Some(m) = &flow.src_mac {
        if let Some(b) = rs.host_by_mac(m).filter(|h| h.network == n.name) {
            return (Some(declared(b)), format!("host {}'s binding", b.name));
        }
        // A network whose [[host]]s declare no MAC is Xen's: `vif online` binds an
        // undeclared MAC without `ip=` to any address (one with `ip=` is a `--vif` question).
        let open = !rs.hosts.iter().any(|h| h.network == n.name && h.mac.is_some());
        let b = Binding {
            vif: "an undeclared vif".into(),
            mac: m.to_ascii_lowercase(),
            addrs: if open { Binding::any() } else { vec![] },
        };
        let why = match open {
            true => format!(
                "the MAC-only binding of an undeclared MAC on {} (no ip= given)",
                n.name
            ),
            false => format!("the binding of an undeclared MAC on {}", n.name),
        };
        return (Some(b), why);
    }
    if let Some(h) = rs
        .hosts
        .iter()
        .find(|h| h.network == n.name && declared_addrs(n, h).iter().any(|a| a.contains(&src)))
    {
        return (Some(declared(h)), format!("host {}'s binding", h.name));
    }
    let b = Binding {
        vif: "an undeclared vif".into(),
        mac: String::new(),
        addrs: vec![],
    };
    (Some(b), format!("the binding of an undeclared VM on {}", n.name))
}
