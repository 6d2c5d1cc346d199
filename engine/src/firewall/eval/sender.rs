//! Who sends the flow: the declared host or live vif it names, the zone it enters from,
//! and the source address it is sent with (resolved before the first step).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use super::{ExplainError, Walk, EXTERNAL_EXAMPLE, EXTERNAL_EXAMPLE6};
use crate::config::{ZONE_DOM0, ZONE_EXTERNAL};
use crate::firewall::flow::Address;
use crate::firewall::ir::{Binding, DeclaredHost, NetZone, Ruleset};
use crate::firewall::slaac_address;

/// The sender of a flow.
pub(super) struct Sender<'r> {
    /// The zone it enters from.
    pub(super) zone: String,
    /// That zone's network, when it is one.
    pub(super) net: Option<&'r NetZone>,
    /// The source address; `None` for the dom0, which picks its source once the route is
    /// known.
    pub(super) src: Option<Address>,
    /// The declared host the flow names.
    pub(super) host: Option<&'r DeclaredHost>,
    /// The live binding of the vif the flow names.
    pub(super) live: Option<&'r Binding>,
}

impl<'r> Walk<'r> {
    /// Resolve the sender, or say what the flow names that the ruleset does not have.
    pub(super) fn sender(&self) -> Result<Sender<'r>, ExplainError> {
        let flow = self.flow;
        let host = match &flow.host {
            Some(h) => Some(
                self.rs
                    .host(h)
                    .ok_or_else(|| ExplainError::UnknownHost(h.clone()))?,
            ),
            None => None,
        };
        let live = flow
            .vif
            .as_ref()
            .and_then(|v| self.ctx.bindings.iter().find(|b| &b.vif == v));
        let zone = self.source_zone(host, live)?;
        let net = self.rs.network(&zone);
        let src = self.source_address(&zone, net, host, live)?;
        Ok(Sender {
            zone,
            net,
            src,
            host,
            live,
        })
    }

    /// The zone the flow enters from: the one it names, its host's network, or the zone
    /// of its source address (the dom0 for a dom0 address).
    fn source_zone(
        &self,
        host: Option<&DeclaredHost>,
        live: Option<&Binding>,
    ) -> Result<String, ExplainError> {
        let (rs, flow) = (self.rs, self.flow);
        if let Some(z) = &flow.from {
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
            Ok(z.clone())
        } else if let Some(h) = host {
            Ok(h.network.clone())
        } else if let Some(src) = flow.src.or_else(|| live.and_then(|b| first_of(b, self.v6))) {
            let a = Address::Ip(src);
            if self.is_uplink(a) || self.bridge_address_of(a).is_some() {
                Ok(ZONE_DOM0.to_string())
            } else {
                Ok(rs
                    .network_of_ip(src)
                    .map_or(ZONE_EXTERNAL.to_string(), |n| n.name.clone()))
            }
        } else {
            Err(ExplainError::NoSource)
        }
    }

    /// The source address, in the flow's family: the one the flow names, its host's, a
    /// representative one of its network, an outside example, or none (the dom0).
    fn source_address(
        &self,
        zone: &str,
        net: Option<&NetZone>,
        host: Option<&DeclaredHost>,
        live: Option<&Binding>,
    ) -> Result<Option<Address>, ExplainError> {
        let (flow, v6) = (self.flow, self.v6);
        if let (true, None, Some(n)) = (v6, flow.src, net) {
            if n.address6.is_none() {
                return Err(ExplainError::NoIpv6(n.name.clone()));
            }
        }
        Ok(match (flow.src, host, net) {
            (Some(s), _, _) => Some(Address::Ip(s)),
            (None, Some(h), _) if !v6 => Some(Address::Ip(
                (*h.addrs
                    .first()
                    .ok_or_else(|| ExplainError::HostWithoutAddress(h.name.clone()))?)
                .into(),
            )),
            (None, Some(h), _) => Some(Address::Ip(
                host_address6(self.rs, h)
                    .ok_or_else(|| ExplainError::HostWithoutAddress6(h.name.clone()))?
                    .into(),
            )),
            (None, None, Some(n)) if !v6 => Some(Address::Ip(
                representative(self.rs, n, live, flow.src_mac.as_deref()).into(),
            )),
            (None, None, Some(n)) => {
                representative6(self.rs, n, live, flow.src_mac.as_deref()).map(|a| Address::Ip(a.into()))
            }
            (None, None, None) if zone == ZONE_EXTERNAL && v6 => Some(EXTERNAL_EXAMPLE6.into()),
            (None, None, None) if zone == ZONE_EXTERNAL => Some(EXTERNAL_EXAMPLE.into()),
            // The dom0 picks its source once the route is known.
            (None, None, None) => None,
        })
    }
}

/// A plausible source for a flow from network `n` that named none: the live binding's
/// or a declared host's address, else the first address after the bridge's.
fn representative(rs: &Ruleset, n: &NetZone, live: Option<&Binding>, mac: Option<&str>) -> Ipv4Addr {
    if let Some(a) = live.and_then(Binding::first_v4) {
        return a;
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

/// The first address of `b` in the family asked for (IPv6: its first host address, else
/// the first host of its first prefix; none for a MAC-only binding).
fn first_of(b: &Binding, v6: bool) -> Option<IpAddr> {
    if !v6 {
        return b.first_v4().map(IpAddr::V4);
    }
    b.addrs.iter().find_map(|n| match n {
        IpNet::V6(p) if p.prefix_len() == 0 => None,
        IpNet::V6(p) if p.prefix_len() == 128 => Some(IpAddr::V6(p.addr())),
        IpNet::V6(p) => Some(IpAddr::V6(Ipv6Addr::from(u128::from(p.network()) + 1))),
        IpNet::V4(_) => None,
    })
}

/// The IPv6 address a declared host sends from: its first declared one, else the one
/// SLAAC gives its MAC in its network's /64.
fn host_address6(rs: &Ruleset, h: &DeclaredHost) -> Option<Ipv6Addr> {
    if let Some(a) = h.addrs6.first() {
        return Some(*a);
    }
    let p = rs.network(&h.network)?.address6?;
    slaac_address(p, h.mac.as_deref()?)
}

/// [`representative`] in IPv6: the live binding's or a declared host's IPv6 address
/// (declared, else SLAAC), else the first address of the /64 after the bridge's. `None`
/// for a network without IPv6 (the caller refuses that first).
fn representative6(rs: &Ruleset, n: &NetZone, live: Option<&Binding>, mac: Option<&str>) -> Option<Ipv6Addr> {
    let p = n.address6?;
    if let Some(IpAddr::V6(a)) = live.and_then(|b| first_of(b, true)) {
        return Some(a);
    }
    let by_mac = mac
        .and_then(|m| rs.host_by_mac(m))
        .filter(|h| h.network == n.name);
    if let Some(a) = by_mac.and_then(|h| host_address6(rs, h)) {
        return Some(a);
    }
    if let Some(a) = mac.and_then(|m| slaac_address(p, m)) {
        return Some(a);
    }
    if let Some(a) = rs
        .hosts
        .iter()
        .filter(|h| h.network == n.name)
        .find_map(|h| host_address6(rs, h))
    {
        return Some(a);
    }
    let mut a = u128::from(p.trunc().network()) + 1;
    if a == u128::from(p.addr()) {
        a += 1;
    }
    Some(Ipv6Addr::from(a))
}
