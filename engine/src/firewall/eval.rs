//! The packet evaluator behind `brouter explain` and the simulator's datapath.
//!
//! It walks one new connection through the [`Ruleset`] in the order the kernel does:
//! bridge-family anti-spoofing, bridging inside a network, prerouting DNAT, the routing
//! decision, the forward/input/output filter, postrouting SNAT. Each stage mirrors one
//! part of the nftables rendering (backends/src/firewall.rs); the kernel scenario checks
//! that both give the same verdict and the same source seen by the receiver.

use std::net::Ipv4Addr;

use crate::config::{Action, ZONE_DOM0, ZONE_EXTERNAL};

use super::flow::{Address, ExplainContext, Flow};
use super::ir::{Binding, External, FlowProto, NetZone, PairDecision, Ruleset};
use super::trace::{Delivery, Step, StepKind, Trace};

/// An outside address used when a flow from `external` names no source (TEST-NET-2).
pub const EXTERNAL_EXAMPLE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

/// A flow that cannot be walked because it names something the ruleset does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    #[error("unknown zone {zone:?}; zones: {known}")]
    UnknownZone { zone: String, known: String },
    #[error("unknown host {0:?}; declare it in a [[host]] section")]
    UnknownHost(String),
    #[error("host {0:?} has no address to send from; give --src")]
    HostWithoutAddress(String),
    #[error("say where the flow comes from: a zone (--from dmz) or a source address (--from 10.1.0.10)")]
    NoSource,
}

/// Where the destination is, once NAT is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dest<'r> {
    /// A dom0 address: the uplink's, or a bridge's.
    Local,
    Network(&'r NetZone),
    External,
}

struct Walk<'r> {
    rs: &'r Ruleset,
    ctx: &'r ExplainContext,
    steps: Vec<Step>,
}

impl<'r> Walk<'r> {
    fn step(&mut self, kind: StepKind, detail: impl Into<String>) {
        self.steps.push(Step {
            kind,
            detail: detail.into(),
        });
    }

    /// A literal address when the context knows the uplink's.
    fn concrete(&self, a: Address) -> Address {
        match (a, self.ctx.uplink_address) {
            (Address::Uplink, Some(u)) => Address::Ip(u),
            _ => a,
        }
    }

    fn is_uplink(&self, a: Address) -> bool {
        match a {
            Address::Uplink => true,
            Address::Ip(ip) => self.ctx.uplink_address == Some(ip),
        }
    }

    fn bridge_address_of(&self, a: Address) -> Option<&'r NetZone> {
        match a {
            Address::Ip(ip) => self.rs.networks.iter().find(|n| n.address.addr() == ip),
            Address::Uplink => None,
        }
    }

    fn dest(&self, a: Address) -> Dest<'r> {
        if self.is_uplink(a) || self.bridge_address_of(a).is_some() {
            return Dest::Local;
        }
        match a {
            Address::Ip(ip) => self.rs.network_of(ip).map_or(Dest::External, Dest::Network),
            Address::Uplink => Dest::Local,
        }
    }

    fn external_iface(&self) -> String {
        match &self.rs.external {
            External::Uplink(u) => format!("the uplink {u}"),
            External::AnyOther => "a non-bridge interface".to_string(),
        }
    }

    fn finish(self, flow: &Flow, verdict: Action, delivered: Option<Delivery>) -> Trace {
        Trace {
            flow: flow.clone(),
            steps: self.steps,
            verdict,
            delivered,
        }
    }
}

/// Walk `flow` through `rs` like the kernel would, with what `ctx` knows of the live system.
pub fn explain(rs: &Ruleset, ctx: &ExplainContext, flow: &Flow) -> Result<Trace, ExplainError> {
    let mut w = Walk {
        rs,
        ctx,
        steps: Vec::new(),
    };
    let to = w.concrete(flow.to);

    // Which zone it enters from.
    let host = match &flow.host {
        Some(h) => Some(rs.host(h).ok_or_else(|| ExplainError::UnknownHost(h.clone()))?),
        None => None,
    };
    let live = flow
        .vif
        .as_ref()
        .and_then(|v| ctx.bindings.iter().find(|b| &b.vif == v));
    let zone: String = if let Some(z) = &flow.from {
        let known = std::iter::once(ZONE_EXTERNAL)
            .chain(std::iter::once(ZONE_DOM0))
            .chain(rs.networks.iter().map(|n| n.name.as_str()))
            .collect::<Vec<_>>();
        if !known.contains(&z.as_str()) {
            return Err(ExplainError::UnknownZone {
                zone: z.clone(),
                known: known.join(", "),
            });
        }
        z.clone()
    } else if let Some(h) = host {
        h.network.clone()
    } else if let Some(src) = flow.src.or_else(|| live.and_then(|b| b.addrs.first().copied())) {
        let a = Address::Ip(src);
        if w.is_uplink(a) || w.bridge_address_of(a).is_some() {
            ZONE_DOM0.to_string()
        } else {
            rs.network_of(src)
                .map_or(ZONE_EXTERNAL.to_string(), |n| n.name.clone())
        }
    } else {
        return Err(ExplainError::NoSource);
    };
    let src_net = rs.network(&zone);

    // With which source address.
    let src: Option<Address> = match (flow.src, host, src_net) {
        (Some(s), _, _) => Some(Address::Ip(s)),
        (None, Some(h), _) => Some(Address::Ip(
            *h.addrs
                .first()
                .ok_or_else(|| ExplainError::HostWithoutAddress(h.name.clone()))?,
        )),
        (None, None, Some(n)) => Some(Address::Ip(representative(rs, n, live, flow.src_mac.as_deref()))),
        (None, None, None) if zone == ZONE_EXTERNAL => Some(Address::Ip(EXTERNAL_EXAMPLE)),
        // The dom0 picks its source once the route is known.
        (None, None, None) => None,
    };

    match (src_net, src) {
        (Some(n), Some(s)) => {
            let who = host.map(|h| format!(" (host {})", h.name)).unwrap_or_default();
            let via = flow
                .vif
                .as_ref()
                .map(|v| format!(" through vif {v}"))
                .unwrap_or_default();
            w.step(
                StepKind::Enter,
                format!("from zone {}: {s}{who} enters bridge {}{via}", n.name, n.bridge),
            );
        }
        (None, Some(s)) => {
            let iface = w.external_iface();
            w.step(
                StepKind::Enter,
                format!("from zone external: {s} arrives on {iface}"),
            );
        }
        _ => w.step(StepKind::Enter, "from zone dom0: a local process on the host"),
    }

    // 1. Bridge family: anti-spoofing of bound vifs.
    if let (Some(n), Some(Address::Ip(s))) = (src_net, src) {
        if n.antispoof {
            let (binding, why) = binding_of(rs, n, flow, host, live, s);
            match binding {
                None => w.step(StepKind::AntiSpoof, why),
                Some(b) => {
                    let mac = flow.src_mac.clone().unwrap_or_else(|| b.mac.clone());
                    if !mac.eq_ignore_ascii_case(&b.mac) {
                        w.step(
                            StepKind::AntiSpoof,
                            format!(
                                "spoofed MAC: Ethernet source {mac} is not {} ({why}): dropped",
                                b.mac
                            ),
                        );
                        return Ok(w.finish(flow, Action::Drop, None));
                    }
                    if !b.addrs.contains(&s) {
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
                        w.step(
                            StepKind::AntiSpoof,
                            format!("spoofed {what} {s}: {why} {bound}: dropped"),
                        );
                        return Ok(w.finish(flow, Action::Drop, None));
                    }
                    w.step(StepKind::AntiSpoof, format!("{s} from {mac} matches {why}"));
                }
            }
        }
    }

    // ARP never leaves the bridge and is not judged by the IP hooks.
    if flow.proto == FlowProto::Arp {
        w.step(
            StepKind::Bridged,
            "ARP stays on the link; brouter only checks it for anti-spoofing",
        );
        let delivered = Delivery {
            zone: zone.clone(),
            addr: to,
            port: None,
            source: src.unwrap_or(Address::Uplink),
        };
        return Ok(w.finish(flow, Action::Accept, Some(delivered)));
    }

    // 2. Inside one network: switched by the bridge. With bridge-nf-call-iptables the
    //    IP hooks still see it, as a zone to itself.
    if let (Some(n), Address::Ip(dst)) = (src_net, to) {
        if n.subnet.contains(&dst) && dst != n.address.addr() {
            w.step(
                StepKind::Bridged,
                format!(
                    "{dst} is on {}'s own bridge {}: switched, not routed",
                    n.name, n.bridge
                ),
            );
            return Ok(filter_and_deliver(
                w,
                flow,
                &zone,
                &n.name,
                src,
                to,
                flow.port,
                false,
                Some(n),
            ));
        }
    }

    // 3. Prerouting: a forward DNATs a new tcp/udp connection to a dom0 address that is
    //    not a bridge address (the uplink's).
    let (mut dst, mut port, mut dnat) = (to, flow.port, false);
    if zone != ZONE_DOM0 && w.dest(to) == Dest::Local && w.bridge_address_of(to).is_none() {
        match (flow.proto.l4(), flow.port) {
            (Some(p), Some(pt)) => match rs.forward_for(p, pt) {
                Some(f) => {
                    dst = Address::Ip(f.addr);
                    port = Some(f.to_port.unwrap_or(pt));
                    dnat = true;
                    let who = f.host.as_ref().map(|h| format!("{h} ")).unwrap_or_default();
                    let how = match f.to_port {
                        Some(tp) => format!("port {pt} → {tp}"),
                        None => format!("port {pt} kept"),
                    };
                    w.step(
                        StepKind::Dnat,
                        format!(
                            "forward {p}/{} → {who}{}: destination becomes {}:{} ({how})",
                            f.ports,
                            f.addr,
                            f.addr,
                            port.unwrap_or(pt)
                        ),
                    );
                }
                None => w.step(
                    StepKind::Dnat,
                    format!("no forward for {p}/{pt}: stays addressed to the dom0"),
                ),
            },
            _ => w.step(
                StepKind::Dnat,
                format!("{} is never forwarded: stays addressed to the dom0", flow.proto),
            ),
        }
    }

    // 4. Routing decision.
    let dest = w.dest(dst);
    let to_zone: String = match dest {
        Dest::Local => {
            w.step(
                StepKind::Route,
                format!("{dst} is a dom0 address: local delivery (input)"),
            );
            ZONE_DOM0.to_string()
        }
        Dest::Network(n) => {
            w.step(
                StepKind::Route,
                format!(
                    "{dst} is in {} ({}): out through bridge {}",
                    n.subnet, n.name, n.bridge
                ),
            );
            n.name.clone()
        }
        Dest::External => {
            let iface = w.external_iface();
            w.step(
                StepKind::Route,
                format!("{dst} is outside every network: out through {iface} (zone external)"),
            );
            ZONE_EXTERNAL.to_string()
        }
    };
    if zone == ZONE_DOM0 && to_zone == ZONE_DOM0 {
        w.step(
            StepKind::Filter,
            "the host talking to itself (over lo): brouter does not judge it",
        );
        let d = Delivery {
            zone: to_zone,
            addr: dst,
            port,
            source: src.unwrap_or(dst),
        };
        return Ok(w.finish(flow, Action::Accept, Some(d)));
    }
    let out_net = match dest {
        Dest::Network(n) => Some(n),
        _ => None,
    };
    Ok(filter_and_deliver(
        w, flow, &zone, &to_zone, src, dst, port, dnat, out_net,
    ))
}

/// `, logged as 'brouter drop dmz->data'` when the kernel logs this refusal, else nothing.
fn logged_as(rs: &Ruleset, from: &str, to: &str, action: Action) -> String {
    rs.log_prefix(from, to, action)
        .map(|p| format!(", logged as '{}'", p.trim_end()))
        .unwrap_or_default()
}

/// The filter hook, postrouting SNAT and the delivery.
#[allow(clippy::too_many_arguments)]
fn filter_and_deliver(
    mut w: Walk<'_>,
    flow: &Flow,
    from: &str,
    to: &str,
    src: Option<Address>,
    dst: Address,
    port: Option<u16>,
    dnat: bool,
    out_net: Option<&NetZone>,
) -> Trace {
    let rs = w.rs;
    let from_net = rs.network(from).is_some();
    let to_net = rs.network(to).is_some();
    let uplink_named = rs.uplink().is_some();
    let hook = if from == ZONE_DOM0 {
        "output"
    } else if to == ZONE_DOM0 {
        "input"
    } else {
        "forward"
    };
    // Which traffic brouter's base chains judge at all (the rest they accept).
    let judged = match hook {
        "forward" => from_net || to_net,
        "input" => from_net || (uplink_named && rs.judges_host_uplink(from, to)),
        _ => to_net || (uplink_named && rs.judges_host_uplink(from, to)),
    };
    let verdict = if !judged {
        let why = if hook == "forward" {
            "neither side is a brouter bridge".to_string()
        } else {
            format!(
                "the host's own traffic on the uplink is left to the host firewall (no {from} → {to} policy)"
            )
        };
        w.step(
            StepKind::Filter,
            format!("{hook}: {why}: brouter's tables let it pass"),
        );
        Action::Accept
    } else if dnat {
        w.step(
            StepKind::Filter,
            format!("{hook}: ct status dnat — a forward implies its accept"),
        );
        Action::Accept
    } else {
        match rs.decide(from, to) {
            PairDecision::Listed(p) => {
                let (action, service) = p.verdict_for(flow.proto, flow.port);
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
                let logged = logged_as(rs, from, to, action);
                w.step(
                    StepKind::Filter,
                    format!(
                        "{hook}: policy {from} → {to} ({}): {what} {action}{logged}",
                        p.action
                    ),
                );
                action
            }
            PairDecision::SameZone => {
                w.step(
                    StepKind::Filter,
                    format!("{hook}: {from} → {to} is one zone: accept"),
                );
                Action::Accept
            }
            PairDecision::NotJudged => {
                w.step(
                    StepKind::Filter,
                    format!("{hook}: {from} → {to} is not judged: accept"),
                );
                Action::Accept
            }
            PairDecision::Unlisted => {
                w.step(
                    StepKind::Filter,
                    format!(
                        "{hook}: no policy for {from} → {to}: drop{}",
                        logged_as(rs, from, to, Action::Drop)
                    ),
                );
                Action::Drop
            }
        }
    };
    if verdict != Action::Accept {
        return w.finish(flow, verdict, None);
    }

    // Postrouting: the source the receiver sees.
    let src = src.unwrap_or_else(|| match out_net {
        Some(n) => Address::Ip(n.address.addr()),
        None => Address::Uplink,
    });
    let src_ip = match src {
        Address::Ip(ip) => Some(ip),
        Address::Uplink => None,
    };
    let in_any_net = src_ip.is_some_and(|ip| rs.network_of(ip).is_some());
    let masq_src =
        src_ip.is_some_and(|ip| rs.networks.iter().any(|n| n.masquerade && n.subnet.contains(&ip)));
    let src = w.concrete(src);
    let seen = if to == ZONE_DOM0 {
        src
    } else if dnat && in_any_net && out_net.is_some() {
        let n = out_net.expect("checked");
        w.step(
            StepKind::Snat,
            format!(
                "hairpin: the client is on a brouter network, masquerade to {}'s address {}",
                n.bridge,
                n.address.addr()
            ),
        );
        Address::Ip(n.address.addr())
    } else if to == ZONE_EXTERNAL && masq_src {
        let u = w.concrete(Address::Uplink);
        w.step(
            StepKind::Snat,
            format!(
                "masquerade: {src} leaves through {}, source becomes {u}",
                w.external_iface()
            ),
        );
        u
    } else {
        w.step(StepKind::Snat, format!("no source NAT: the receiver sees {src}"));
        src
    };
    let seen = w.concrete(seen);
    w.step(
        StepKind::Deliver,
        format!(
            "arrives in {to} at {dst}{}, from {seen}",
            port.map(|p| format!(":{p}")).unwrap_or_default()
        ),
    );
    let d = Delivery {
        zone: to.to_string(),
        addr: dst,
        port,
        source: seen,
    };
    w.finish(flow, Action::Accept, Some(d))
}

/// A plausible source for a flow from network `n` that named none: the live binding's
/// or a declared host's address, else the first address after the bridge's.
fn representative(rs: &Ruleset, n: &NetZone, live: Option<&Binding>, mac: Option<&str>) -> Ipv4Addr {
    if let Some(a) = live.and_then(|b| b.addrs.first()) {
        return *a;
    }
    let by_mac = mac
        .and_then(|m| rs.host_by_mac(m))
        .filter(|h| h.network == n.name);
    if let Some(a) = by_mac.and_then(|h| h.addrs.first()) {
        return *a;
    }
    if let Some(a) = rs
        .hosts
        .iter()
        .filter(|h| h.network == n.name)
        .find_map(|h| h.addrs.first())
    {
        return *a;
    }
    let mut a = u32::from(n.subnet.network()) + 1;
    if a == u32::from(n.address.addr()) {
        a += 1;
    }
    Ipv4Addr::from(a)
}

/// The binding the bridge checks for this flow, and how it was found (for the trace).
/// `None`: the vif is not guarded.
fn binding_of(
    rs: &Ruleset,
    n: &NetZone,
    flow: &Flow,
    host: Option<&super::ir::DeclaredHost>,
    live: Option<&Binding>,
    src: Ipv4Addr,
) -> (Option<Binding>, String) {
    let declared = |h: &super::ir::DeclaredHost| Binding {
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
