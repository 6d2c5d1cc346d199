//! Who sends the flow: the declared host or live vif it names, the zone it enters from,
//! and the source address it is sent with (resolved before the first step).

use std::net::Ipv4Addr;

use super::{ExplainError, Walk, EXTERNAL_EXAMPLE};
use crate::config::{ZONE_DOM0, ZONE_EXTERNAL};
use crate::firewall::flow::Address;
use crate::firewall::ir::{Binding, DeclaredHost, NetZone, Ruleset};

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
        } else if let Some(src) = flow.src.or_else(|| live.and_then(Binding::first_v4)) {
            let a = Address::Ip(src);
            if self.is_uplink(a) || self.bridge_address_of(a).is_some() {
                Ok(ZONE_DOM0.to_string())
            } else {
                Ok(rs
                    .network_of(src)
                    .map_or(ZONE_EXTERNAL.to_string(), |n| n.name.clone()))
            }
        } else {
            Err(ExplainError::NoSource)
        }
    }

    /// The source address: the one the flow names, its host's, a representative one of
    /// its network, an outside example, or none (the dom0).
    fn source_address(
        &self,
        zone: &str,
        net: Option<&NetZone>,
        host: Option<&DeclaredHost>,
        live: Option<&Binding>,
    ) -> Result<Option<Address>, ExplainError> {
        let flow = self.flow;
        Ok(match (flow.src, host, net) {
            (Some(s), _, _) => Some(Address::Ip(s)),
            (None, Some(h), _) => Some(Address::Ip(
                *h.addrs
                    .first()
                    .ok_or_else(|| ExplainError::HostWithoutAddress(h.name.clone()))?,
            )),
            (None, None, Some(n)) => Some(Address::Ip(representative(
                self.rs,
                n,
                live,
                flow.src_mac.as_deref(),
            ))),
            (None, None, None) if zone == ZONE_EXTERNAL => Some(Address::Ip(EXTERNAL_EXAMPLE)),
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
