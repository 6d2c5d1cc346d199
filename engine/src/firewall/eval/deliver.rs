//! The end of the walk: step "filter" (the forward, input or output hook), step "snat"
//! (postrouting: the source the receiver sees) and step "deliver".

use std::net::IpAddr;

use super::Walk;
use crate::config::{Action, ZONE_DOM0, ZONE_EXTERNAL};
use crate::firewall::flow::Address;
use crate::firewall::ir::{FlowProto, NetZone, PairDecision, PairPolicy, Ruleset};
use crate::firewall::trace::{Delivery, StepKind, Trace};

/// The flow between its zones, once the destination is routed.
pub(super) struct Leg<'a> {
    pub(super) from: &'a str,
    pub(super) to: &'a str,
    /// `None`: the dom0 sends, and picks its source by the outgoing interface.
    pub(super) src: Option<Address>,
    /// The destination after DNAT.
    pub(super) dst: Address,
    pub(super) port: Option<u16>,
    /// Whether a forward DNAT'd it.
    pub(super) dnat: bool,
    /// The network it leaves into, when it is one.
    pub(super) out_net: Option<&'a NetZone>,
}

/// `, logged as 'brouter drop dmz->data'` when the kernel logs this refusal, else nothing.
fn logged_as(rs: &Ruleset, from: &str, to: &str, action: Action) -> String {
    rs.log_prefix(from, to, action)
        .map(|p| format!(", logged as '{}'", p.trim_end()))
        .unwrap_or_default()
}

/// The filter hook that sees traffic between two zones.
fn hook(from: &str, to: &str) -> &'static str {
    if from == ZONE_DOM0 {
        "output"
    } else if to == ZONE_DOM0 {
        "input"
    } else {
        "forward"
    }
}

impl Walk<'_> {
    /// The filter hook, postrouting SNAT and the delivery.
    pub(super) fn filter_and_deliver(mut self, leg: &Leg) -> Trace {
        let verdict = self.filter(leg);
        if verdict != Action::Accept {
            return self.finish(verdict, None);
        }
        let seen = self.snat(leg);
        self.deliver(leg, seen)
    }

    /// Step "filter": the hook's verdict — brouter's tables let unjudged traffic and
    /// forwards pass, the rest is decided by its zone pair.
    fn filter(&mut self, leg: &Leg) -> Action {
        let (from, to) = (leg.from, leg.to);
        let hook = hook(from, to);
        if !self.judged(hook, from, to) {
            let why = if hook == "forward" {
                "neither side is a brouter bridge".to_string()
            } else {
                format!(
                    "the host's own traffic on the uplink is left to the host firewall (no {from} → {to} policy)"
                )
            };
            self.step(
                StepKind::Filter,
                format!("{hook}: {why}: brouter's tables let it pass"),
            );
            Action::Accept
        } else if let Some(service) = self.dhcp_service(hook, from, to) {
            self.step(
                StepKind::Filter,
                format!("{hook}: {service} of brouter's dnsmasq on a dhcp = true network: accept"),
            );
            Action::Accept
        } else if leg.dnat {
            self.step(
                StepKind::Filter,
                format!("{hook}: ct status dnat — a forward implies its accept"),
            );
            Action::Accept
        } else {
            self.zone_pair_verdict(hook, from, to)
        }
    }

    /// The DHCP or DNS service this flow is, between a `dhcp = true` network and the dom0
    /// (see [`crate::firewall::NetZone::dhcp`]), if it is one.
    fn dhcp_service(&self, hook: &str, from: &str, to: &str) -> Option<&'static str> {
        let (proto, port) = (self.flow.proto, self.flow.port?);
        let served = |zone: &str| self.rs.network(zone).is_some_and(|n| n.dhcp);
        match (hook, proto, port) {
            ("input", FlowProto::Udp, 67) if served(from) => Some("DHCP"),
            ("input", FlowProto::Udp | FlowProto::Tcp, 53) if served(from) => Some("DNS"),
            ("output", FlowProto::Udp, 68) if served(to) => Some("a DHCP reply"),
            _ => None,
        }
    }

    /// Which traffic brouter's base chains judge at all (the rest they accept).
    fn judged(&self, hook: &str, from: &str, to: &str) -> bool {
        let rs = self.rs;
        let from_net = rs.network(from).is_some();
        let to_net = rs.network(to).is_some();
        let uplink_named = rs.uplink().is_some();
        match hook {
            "forward" => from_net || to_net,
            "input" => from_net || (uplink_named && rs.judges_host_uplink(from, to)),
            _ => to_net || (uplink_named && rs.judges_host_uplink(from, to)),
        }
    }

    /// The verdict of the pair `from → to` in `hook`: its policy's, accept inside one zone
    /// or when not judged, drop when unlisted.
    fn zone_pair_verdict(&mut self, hook: &str, from: &str, to: &str) -> Action {
        let rs = self.rs;
        let (action, detail) = match rs.decide(from, to) {
            PairDecision::Listed(p) => {
                let (action, what) = self.policy_verdict(p);
                let logged = logged_as(rs, from, to, action);
                let detail = format!(
                    "{hook}: policy {from} → {to} ({}): {what} {action}{logged}",
                    p.action
                );
                (action, detail)
            }
            PairDecision::SameZone => (
                Action::Accept,
                format!("{hook}: {from} → {to} is one zone: accept"),
            ),
            PairDecision::NotJudged => (
                Action::Accept,
                format!("{hook}: {from} → {to} is not judged: accept"),
            ),
            PairDecision::Unlisted => (
                Action::Drop,
                format!(
                    "{hook}: no policy for {from} → {to}: drop{}",
                    logged_as(rs, from, to, Action::Drop)
                ),
            ),
        };
        self.step(StepKind::Filter, detail);
        action
    }

    /// A listed pair's action for this flow, and what of the flow it applies to.
    fn policy_verdict(&self, p: &PairPolicy) -> (Action, String) {
        let (action, service) = p.verdict_for(self.flow.proto, self.flow.port);
        let what = match (service, p.services.is_empty()) {
            (_, true) => "all traffic".to_string(),
            (Some(s), false) => format!("service {s}"),
            (None, false) => {
                let list = p
                    .services
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("not among its services ({list}), so")
            }
        };
        (action, what)
    }

    /// Step "snat" (postrouting): the source the receiver sees — the client's, the
    /// bridge's for hairpin traffic, the uplink's for a masquerading network going out
    /// (over IPv6 only from a unique-local prefix: a global one is routed as it is).
    fn snat(&mut self, leg: &Leg) -> Address {
        let (rs, v6) = (self.rs, self.v6);
        let src = leg
            .src
            .unwrap_or_else(|| match leg.out_net.and_then(|n| n.own_address(v6)) {
                Some(a) => Address::Ip(a),
                None => self.uplink(),
            });
        let src_ip = src.ip();
        let in_any_net = src_ip.is_some_and(|ip| rs.network_of_ip(ip).is_some());
        let masq_src = src_ip.is_some_and(|ip| match ip {
            IpAddr::V4(a) => rs.networks.iter().any(|n| n.masquerade && n.subnet.contains(&a)),
            IpAddr::V6(a) => rs.masquerade_sources6().any(|p| p.contains(&a)),
        });
        // A masquerading network's global IPv6 prefix: routed, not masqueraded.
        let routed6 = src_ip
            .filter(IpAddr::is_ipv6)
            .and_then(|ip| rs.network_of_ip(ip))
            .filter(|n| n.masquerade && !masq_src);
        let src = self.concrete(src);
        let seen = if leg.to == ZONE_DOM0 {
            src
        } else if let Some((n, own)) = leg
            .out_net
            .filter(|_| leg.dnat && in_any_net)
            .and_then(|n| Some((n, n.own_address(v6)?)))
        {
            self.step(
                StepKind::Snat,
                format!(
                    "hairpin: the client is on a brouter network, masquerade to {}'s address {own}",
                    n.bridge
                ),
            );
            Address::Ip(own)
        } else if leg.to == ZONE_EXTERNAL && masq_src {
            let u = self.concrete(self.uplink());
            let ula = if v6 { " (a unique-local prefix)" } else { "" };
            self.step(
                StepKind::Snat,
                format!(
                    "masquerade: {src}{ula} leaves through {}, source becomes {u}",
                    self.external_iface()
                ),
            );
            u
        } else if let Some(n) = routed6.filter(|_| leg.to == ZONE_EXTERNAL) {
            self.step(
                StepKind::Snat,
                format!(
                    "no source NAT: {}'s prefix is global, so IPv6 is routed as it is (only \
                     unique-local prefixes are masqueraded): the receiver sees {src}",
                    n.name
                ),
            );
            src
        } else {
            self.step(StepKind::Snat, format!("no source NAT: the receiver sees {src}"));
            src
        };
        self.concrete(seen)
    }

    /// Step "deliver": where it arrives, seen from `seen`.
    fn deliver(mut self, leg: &Leg, seen: Address) -> Trace {
        self.step(
            StepKind::Deliver,
            format!(
                "arrives in {} at {}, from {seen}",
                leg.to,
                leg.dst.with_port(leg.port)
            ),
        );
        let d = Delivery {
            zone: leg.to.to_string(),
            addr: leg.dst,
            port: leg.port,
            source: seen,
        };
        self.finish(Action::Accept, Some(d))
    }
}
