//! Step "anti-spoof": the bridge-family check of a bound vif — the Ethernet source must
//! be the binding's MAC and the IP source (or ARP sender) one of its addresses.

use std::net::Ipv4Addr;

use super::sender::Sender;
use super::Walk;
use crate::firewall::flow::{Address, Flow};
use crate::firewall::ir::{Binding, DeclaredHost, FlowProto, NetZone, Ruleset};
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

    /// Whether the flow's MAC and source match binding `b` (found as `why` says); a
    /// mismatch is a step naming what was spoofed.
    fn matches_binding(&mut self, b: &Binding, why: &str, src: Ipv4Addr) -> bool {
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
        if !b.addrs.contains(&src) {
            let what = if flow.proto == FlowProto::Arp {
                "ARP sender"
            } else {
                "IP source"
            };
            let bound = if b.addrs.is_empty() {
                "allows no address".to_string()
            } else {
                let list = b.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>();
                format!("allows only {}", list.join(", "))
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

/// The binding the bridge checks for this flow, and how it was found (for the trace).
/// `None`: the vif is not guarded.
fn binding_of(
    rs: &Ruleset,
    n: &NetZone,
    flow: &Flow,
    host: Option<&DeclaredHost>,
    live: Option<&Binding>,
    src: Ipv4Addr,
) -> (Option<Binding>, String) {
    let declared = |h: &DeclaredHost| Binding {
        vif: format!("vif of {}", h.name),
        mac: h.mac.clone().unwrap_or_default(),
        addrs: h.addrs.clone(),
    };
    if let Some(v) = &flow.vif {
        return match live {
            Some(b) => (Some(b.clone()), format!("the binding of {v}")),
            None => (None, format!("{v} has no binding: not guarded")),
        };
    }
    if let Some(h) = host {
        return (Some(declared(h)), format!("host {}'s binding", h.name));
    }
    if let Some(m) = &flow.src_mac {
        if let Some(b) = rs.host_by_mac(m).filter(|h| h.network == n.name) {
            return (Some(declared(b)), format!("host {}'s binding", b.name));
        }
        let b = Binding {
            vif: "an undeclared vif".into(),
            mac: m.to_ascii_lowercase(),
            addrs: vec![],
        };
        return (Some(b), format!("the binding of an undeclared MAC on {}", n.name));
    }
    if let Some(h) = rs
        .hosts
        .iter()
        .find(|h| h.network == n.name && h.addrs.contains(&src))
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
