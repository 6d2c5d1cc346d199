//! The packet evaluator behind `brouter explain` and the simulator's datapath.
//!
//! It walks one new connection through the [`Ruleset`] in the order the kernel does, one
//! named step each: enter (who sends, with which source), bridge-family anti-spoofing,
//! bridging inside a network, prerouting DNAT, the routing decision, the
//! forward/input/output filter, postrouting SNAT, delivery. Each stage mirrors one part of
//! the nftables rendering (backends/src/firewall/render/); the kernel scenario checks that
//! both give the same verdict and the same source seen by the receiver.
//!
//! `sender` resolves who sends, `antispoof` the bridge's check, `deliver` the filter hook,
//! SNAT and delivery; this file holds the walk itself.
//!
//! Both families walk the same path, as the `inet` table judges both: a flow is IPv6 when
//! its destination is (an IPv6 address, or [`Address::Uplink6`]). Zones are found by
//! address in either family (a network's IPv6 /64 is that network; the bridges' and the
//! uplink's IPv6 addresses are the dom0's), IPv6 forwards go to the host's `addr6`, and
//! masquerade applies to unique-local prefixes only. Neighbour discovery is not a flow
//! here (as ARP is for IPv4): the judges accept it on every network's link whatever the
//! policies say, and the bridge lets its link-local and `::` sources pass anti-spoofing.
//! Link-local destinations (fe80::/10) are not modelled either: they never leave the link,
//! and a flow to one is walked as if it were an outside address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::{Action, ZONE_DOM0, ZONE_EXTERNAL};

use super::flow::{Address, ExplainContext, Flow};
use super::ir::{External, FlowProto, NetZone, Ruleset};
use super::trace::{Delivery, Step, StepKind, Trace};

mod antispoof;
mod deliver;
mod sender;

use deliver::Leg;
use sender::Sender;

/// An outside address used when a flow from `external` names no source (TEST-NET-2).
pub const EXTERNAL_EXAMPLE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

/// The IPv6 counterpart of [`EXTERNAL_EXAMPLE`], from the documentation prefix
/// (2001:db8::/32), in a /48 a network's prefix is unlikely to use.
pub const EXTERNAL_EXAMPLE6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 0x10);

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
    #[error("host {0:?} has no IPv6 address to send from (none declared, and no MAC for SLAAC on a dual-stack network); give a source address")]
    HostWithoutAddress6(String),
    #[error("network {0:?} has no address6: it carries no IPv6; give it one, or explain an IPv4 flow")]
    NoIpv6(String),
    #[error(
        "source {src} and destination {to} are of different IP families; give both in IPv4 or both in IPv6"
    )]
    MixedFamilies { src: IpAddr, to: Address },
    #[error("ARP is IPv4 only; IPv6 resolves neighbours with neighbour discovery, which always passes on a network's link")]
    ArpIsIpv4,
}

/// Where the destination is, once NAT is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dest<'r> {
    /// A dom0 address: the uplink's, or a bridge's.
    Local,
    Network(&'r NetZone),
    External,
}

/// One flow's walk: the ruleset, what is known of the live system, and the steps so far.
struct Walk<'r> {
    rs: &'r Ruleset,
    ctx: &'r ExplainContext,
    flow: &'r Flow,
    /// Whether the flow is IPv6 (its destination is).
    v6: bool,
    steps: Vec<Step>,
}

/// Walk `flow` through `rs` like the kernel would, with what `ctx` knows of the live system.
pub fn explain(rs: &Ruleset, ctx: &ExplainContext, flow: &Flow) -> Result<Trace, ExplainError> {
    explain_live(rs, ctx, flow, None)
}

/// [`explain`] on a live system whose uplink may be unusable (`uplink_problem`, from
/// [`crate::health::uplink_problem`]): a flow from `external` then cannot arrive at all,
/// whatever the firewall would say — predicting ACCEPT for it would be a lie.
pub fn explain_live(
    rs: &Ruleset,
    ctx: &ExplainContext,
    flow: &Flow,
    uplink_problem: Option<&str>,
) -> Result<Trace, ExplainError> {
    let (v6, to) = family(flow)?;
    let mut w = Walk {
        rs,
        ctx,
        flow,
        v6,
        steps: Vec::new(),
    };
    let to = w.concrete(to);
    let s = w.sender()?;
    if let (ZONE_EXTERNAL, Some(why)) = (s.zone.as_str(), uplink_problem) {
        w.step(
            StepKind::Enter,
            format!("from zone external: cannot arrive: {why}"),
        );
        return Ok(w.finish(Action::Drop, None));
    }
    w.enter(&s);
    if w.port_disabled(&s) || !w.antispoof(&s) || w.fenced_from_vms(&s, to) {
        return Ok(w.finish(Action::Drop, None));
    }
    if flow.proto == FlowProto::Arp {
        return Ok(w.arp_stays_on_the_link(&s, to));
    }
    if let Some(leg) = w.switched_in_one_network(&s, to) {
        return Ok(w.filter_and_deliver(&leg));
    }
    let (dst, port, dnat) = w.prerouting_dnat(&s, to);
    let (to_zone, out_net) = w.route(dst);
    if s.zone == ZONE_DOM0 && to_zone == ZONE_DOM0 {
        return Ok(w.host_to_itself(s.src, dst, port));
    }
    let leg = Leg {
        from: &s.zone,
        to: &to_zone,
        src: s.src,
        dst,
        port,
        dnat,
        out_net,
    };
    Ok(w.filter_and_deliver(&leg))
}

/// The flow's family (IPv6?) and its destination: `uplink` with an IPv6 source means
/// the uplink's IPv6 address. A source of the other family, or ARP over IPv6, is an error.
fn family(flow: &Flow) -> Result<(bool, Address), ExplainError> {
    let src_v6 = flow.src.map(|s| s.is_ipv6());
    let to = match (flow.to, src_v6) {
        (Address::Uplink, Some(true)) => Address::Uplink6,
        (to, _) => to,
    };
    let v6 = to.is_ipv6();
    if let Some(src) = flow.src.filter(|s| s.is_ipv6() != v6) {
        return Err(ExplainError::MixedFamilies { src, to });
    }
    if v6 && flow.proto == FlowProto::Arp {
        return Err(ExplainError::ArpIsIpv4);
    }
    Ok((v6, to))
}

impl<'r> Walk<'r> {
    fn step(&mut self, kind: StepKind, detail: impl Into<String>) {
        self.steps.push(Step {
            kind,
            detail: detail.into(),
        });
    }

    /// A literal address when the context knows the uplink's (of that family).
    fn concrete(&self, a: Address) -> Address {
        match (a, self.ctx.uplink_address, self.ctx.uplink_address6) {
            (Address::Uplink, Some(u), _) => u.into(),
            (Address::Uplink6, _, Some(u)) => u.into(),
            _ => a,
        }
    }

    /// "The uplink address" in the flow's family.
    fn uplink(&self) -> Address {
        match self.v6 {
            false => Address::Uplink,
            true => Address::Uplink6,
        }
    }

    fn is_uplink(&self, a: Address) -> bool {
        match a {
            Address::Uplink | Address::Uplink6 => true,
            Address::Ip(IpAddr::V4(ip)) => self.ctx.uplink_address == Some(ip),
            Address::Ip(IpAddr::V6(ip)) => self.ctx.uplink_address6 == Some(ip),
        }
    }

    /// The network whose bridge has address `a` (in either family).
    fn bridge_address_of(&self, a: Address) -> Option<&'r NetZone> {
        let ip = a.ip()?;
        self.rs
            .networks
            .iter()
            .find(|n| n.own_address(ip.is_ipv6()) == Some(ip))
    }

    fn dest(&self, a: Address) -> Dest<'r> {
        if self.is_uplink(a) || self.bridge_address_of(a).is_some() {
            return Dest::Local;
        }
        match a.ip() {
            Some(ip) => self.rs.network_of_ip(ip).map_or(Dest::External, Dest::Network),
            None => Dest::Local,
        }
    }

    fn external_iface(&self) -> String {
        match &self.rs.external {
            External::Uplink(u) => format!("the uplink {u}"),
            External::AnyOther => "a non-bridge interface".to_string(),
        }
    }

    fn finish(self, verdict: Action, delivered: Option<Delivery>) -> Trace {
        Trace {
            flow: self.flow.clone(),
            steps: self.steps,
            verdict,
            delivered,
        }
    }

    /// Step "enter": the zone, the source and the bridge (or interface) it arrives on.
    fn enter(&mut self, s: &Sender) {
        match (s.net, s.src) {
            (Some(n), Some(src)) => {
                let who = s.host.map(|h| format!(" (host {})", h.name)).unwrap_or_default();
                let via = self
                    .flow
                    .vif
                    .as_ref()
                    .map(|v| format!(" through vif {v}"))
                    .unwrap_or_default();
                self.step(
                    StepKind::Enter,
                    format!("from zone {}: {src}{who} enters bridge {}{via}", n.name, n.bridge),
                );
            }
            (None, Some(src)) if s.zone == ZONE_DOM0 => self.step(
                StepKind::Enter,
                format!("from zone dom0: a local process on the host, from its address {src}"),
            ),
            (None, Some(src)) => {
                let iface = self.external_iface();
                self.step(
                    StepKind::Enter,
                    format!("from zone external: {src} arrives on {iface}"),
                );
            }
            _ => self.step(StepKind::Enter, "from zone dom0: a local process on the host"),
        }
    }

    /// ARP never leaves the bridge and is not judged by the IP hooks: accepted once the
    /// anti-spoofing check passed.
    fn arp_stays_on_the_link(mut self, s: &Sender, to: Address) -> Trace {
        self.step(
            StepKind::Bridged,
            "ARP stays on the link; brouter only checks it for anti-spoofing",
        );
        let delivered = Delivery {
            zone: s.zone.clone(),
            addr: to,
            port: None,
            source: s.src.unwrap_or_else(|| self.uplink()),
        };
        self.finish(Action::Accept, Some(delivered))
    }

    /// Inside one network: switched by the bridge, not routed. With
    /// bridge-nf-call-iptables the IP hooks still see it, as a zone to itself; `None` when
    /// the destination is not on the sender's own bridge.
    fn switched_in_one_network<'s>(&mut self, s: &'s Sender<'r>, to: Address) -> Option<Leg<'s>> {
        let (Some(n), Address::Ip(dst)) = (s.net, to) else {
            return None;
        };
        if !n.holds(dst) || n.own_address(dst.is_ipv6()) == Some(dst) {
            return None;
        }
        self.step(
            StepKind::Bridged,
            format!(
                "{dst} is on {}'s own bridge {}: switched, not routed",
                n.name, n.bridge
            ),
        );
        Some(Leg {
            from: &s.zone,
            to: &n.name,
            src: s.src,
            dst: to,
            port: self.flow.port,
            dnat: false,
            out_net: Some(n),
        })
    }

    /// Step "dnat" (prerouting): a forward DNATs a new tcp/udp connection to a dom0
    /// address that is not a bridge address (the uplink's). The destination, port, and
    /// whether it was DNAT'd. Over IPv6 the forward goes to its host's IPv6 address
    /// (`addr6`); a forward without one has no element in the IPv6 maps, so the
    /// connection stays addressed to the dom0, as the render's `dnat6` rules do.
    fn prerouting_dnat(&mut self, s: &Sender, to: Address) -> (Address, Option<u16>, bool) {
        let flow = self.flow;
        let unchanged = (to, flow.port, false);
        if s.zone == ZONE_DOM0 || self.dest(to) != Dest::Local || self.bridge_address_of(to).is_some() {
            return unchanged;
        }
        let (Some(p), Some(pt)) = (flow.proto.l4(), flow.port) else {
            self.step(
                StepKind::Dnat,
                format!("{} is never forwarded: stays addressed to the dom0", flow.proto),
            );
            return unchanged;
        };
        let Some(f) = self.rs.forward_for(p, pt) else {
            self.step(
                StepKind::Dnat,
                format!("no forward for {p}/{pt}: stays addressed to the dom0"),
            );
            return unchanged;
        };
        let port = f.to_port.unwrap_or(pt);
        let who = f.host.as_ref().map(|h| format!("{h} ")).unwrap_or_default();
        let how = match f.to_port {
            Some(tp) => format!("port {pt} → {tp}"),
            None => format!("port {pt} kept"),
        };
        let target: IpAddr = match (self.v6, f.addr6) {
            (false, _) => f.addr.into(),
            (true, Some(a6)) => a6.into(),
            (true, None) => {
                let who = f.host.as_deref().unwrap_or("its target");
                self.step(
                    StepKind::Dnat,
                    format!(
                        "forward {p}/{} → {}: {who} has no IPv6 address, so the forward does not \
                         apply to IPv6: stays addressed to the dom0",
                        f.ports, f.addr
                    ),
                );
                return unchanged;
            }
        };
        let dst = Address::Ip(target);
        self.step(
            StepKind::Dnat,
            format!(
                "forward {p}/{} → {who}{target}: destination becomes {} ({how})",
                f.ports,
                dst.with_port(Some(port))
            ),
        );
        (dst, Some(port), true)
    }

    /// Step "route": local delivery, a network's bridge, or out to external. The zone it
    /// goes to, and the network when it is one.
    fn route(&mut self, dst: Address) -> (String, Option<&'r NetZone>) {
        match self.dest(dst) {
            Dest::Local => {
                self.step(
                    StepKind::Route,
                    format!("{dst} is a dom0 address: local delivery (input)"),
                );
                (ZONE_DOM0.to_string(), None)
            }
            Dest::Network(n) => {
                let prefix = match (self.v6, n.address6) {
                    (true, Some(p)) => p.trunc().to_string(),
                    _ => n.subnet.to_string(),
                };
                self.step(
                    StepKind::Route,
                    format!(
                        "{dst} is in {prefix} ({}): out through bridge {}",
                        n.name, n.bridge
                    ),
                );
                (n.name.clone(), Some(n))
            }
            Dest::External => {
                let iface = self.external_iface();
                self.step(
                    StepKind::Route,
                    format!("{dst} is outside every network: out through {iface} (zone external)"),
                );
                (ZONE_EXTERNAL.to_string(), None)
            }
        }
    }

    /// The host talking to itself (over lo): not brouter's to judge.
    fn host_to_itself(mut self, src: Option<Address>, dst: Address, port: Option<u16>) -> Trace {
        self.step(
            StepKind::Filter,
            "the host talking to itself (over lo): brouter does not judge it",
        );
        let d = Delivery {
            zone: ZONE_DOM0.to_string(),
            addr: dst,
            port,
            source: src.unwrap_or(dst),
        };
        self.finish(Action::Accept, Some(d))
    }
}
