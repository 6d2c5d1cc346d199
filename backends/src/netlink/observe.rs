//! Reading the kernel back: one dump each of links, addresses (IPv4 and IPv6 in one) and
//! IPv4 routes, translated into the engine's [`Link`], [`Address`], [`Address6`] and
//! [`Route`] — or, for a vif hotplug, just the links it names ([`named`]).
//!
//! Everything is reported, owned or not: the planner needs foreign facts too. The kernel
//! allows one dump at a time per socket, so the three dumps run one after the other.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::RawFd;

use brouter_engine::{
    Address, Address6, BackendError, BridgeOptions, Link, LinkKind, ObservedVxlan, PortState, Route,
    ALIAS_PREFIX, OWNER_PROTO, PHYSICAL, VXLAN_ALIAS_PREFIX, XEN_VIF,
};
use futures::TryStreamExt;
use ipnet::{Ipv4Net, Ipv6Net};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::AddressFamily;
use rtnetlink::{Handle, RouteMessageBuilder};

use super::errors::{from_io, from_rtnl};
use super::link_dump::{facts_of, DumpSocket, LinkFacts};
use super::links::OWNER_GROUP;

/// Links, addresses and routes as the kernel has them now.
pub struct Dumped {
    pub links: Vec<Link>,
    pub addresses: Vec<Address>,
    pub addresses6: Vec<Address6>,
    pub routes: Vec<Route>,
    /// The VXLAN devices with their flood destinations (one FDB dump, only if any exists).
    pub vxlans: Vec<ObservedVxlan>,
    /// brouter's neighbour entries: read (one dump) only where VXLAN devices exist, as a
    /// cluster member is the only one that makes them.
    pub neighbours: Vec<brouter_engine::Neighbour>,
    /// The entries FRR's zebra wrote (EVPN), read with brouter's.
    pub zebra_neighbours: Vec<brouter_engine::Neighbour>,
    /// Every link's index by name: the backend keeps it for requests that need an index
    /// (flood and neighbour entries), saving a lookup each.
    pub indexes: HashMap<String, u32>,
}

/// Dump links, then addresses, then IPv4 routes of the main table.
///
/// The address dump asks for every family (`AF_UNSPEC`, as `ip address` does): the kernel
/// answers with the IPv4 and the IPv6 addresses in one exchange, so reading IPv6 costs no
/// round trip of its own — only the messages of the IPv6 addresses, link-local ones
/// included (the kernel cannot leave them out; [`to_address6`] does).
///
/// `route_fd` is the connection's socket: the route dump switches strict checking on so
/// the kernel sends the main table only, not every local and broadcast route of the
/// `local` table (three routes per bridge address; the main table is all brouter reads).
pub async fn dump(
    handle: &Handle,
    route_fd: RawFd,
    links_sock: Option<&DumpSocket>,
) -> Result<Dumped, BackendError> {
    let facts: Vec<LinkFacts> = match links_sock {
        Some(sock) => sock.links().map_err(|e| from_io("list links", &e))?,
        None => {
            // Without statistics (RTEXT_FILTER_SKIP_STATS): brouter reads none.
            let msgs: Vec<LinkMessage> = handle
                .link()
                .get()
                .set_filter_mask(AddressFamily::Unspec, vec![LinkExtentMask::SkipStats])
                .execute()
                .try_collect()
                .await
                .map_err(|e| from_rtnl("list links", e))?;
            msgs.iter().filter_map(facts_of).collect()
        }
    };
    let names: HashMap<u32, String> = facts.iter().map(|f| (f.index, f.name.clone())).collect();
    let links = facts.iter().map(|f| to_link(f, &names)).collect();

    let mut addr_req = handle.address().get();
    addr_req.message_mut().header.family = AddressFamily::Unspec;
    let addr_msgs: Vec<AddressMessage> = addr_req
        .execute()
        .try_collect()
        .await
        .map_err(|e| from_rtnl("list addresses", e))?;
    let addresses = addr_msgs.iter().filter_map(|m| to_address(m, &names)).collect();
    let addresses6 = addr_msgs.iter().filter_map(|m| to_address6(m, &names)).collect();

    let route_msgs = main_table_routes(handle, route_fd).await?;
    let routes = route_msgs.iter().filter_map(|m| to_route(m, &names)).collect();

    let vxlans = vxlans(handle, &facts, &names).await?;
    let (neighbours, zebra_neighbours) = match vxlans.is_empty() {
        true => (Vec::new(), Vec::new()),
        false => super::neighbours::owned(handle, &names).await?,
    };
    let indexes = names.iter().map(|(i, n)| (n.clone(), *i)).collect();
    Ok(Dumped {
        links,
        addresses,
        addresses6,
        routes,
        vxlans,
        neighbours,
        zebra_neighbours,
        indexes,
    })
}

/// The links named in `names` that exist, and their IPv4 and IPv6 addresses, without
/// listing every link: one request per name (the kernel looks the name up), one per master
/// that is not among them (to name it), and one address request per link, kept to those
/// links. What `vif online` reads costs the same on a host with a thousand vifs as on one
/// with none.
///
/// `route_fd` is the connection's socket: the address requests switch on its strict
/// checking (`NETLINK_GET_STRICT_CHK`) so the kernel answers for the named links only,
/// instead of walking every link; it is switched off again before anything else is sent.
pub async fn named(handle: &Handle, route_fd: RawFd, names: &[String]) -> Result<NamedLinks, BackendError> {
    let mut msgs = Vec::new();
    // A name no link can have (empty, or longer than IFNAMSIZ - 1) is absent, not an error.
    for name in names.iter().filter(|n| !n.is_empty() && n.len() < libc::IFNAMSIZ) {
        if let Some(m) = get_link(handle.link().get().match_name(name.clone()), name).await? {
            msgs.push(m);
        }
    }
    let mut index_names: HashMap<u32, String> = msgs
        .iter()
        .filter_map(|m| link_name(m).map(|n| (m.header.index, n.to_string())))
        .collect();
    let masters: Vec<u32> = msgs
        .iter()
        .flat_map(|m| &m.attributes)
        .filter_map(|a| match a {
            LinkAttribute::Controller(i) if *i != 0 => Some(*i),
            _ => None,
        })
        .collect();
    for index in masters {
        if index_names.contains_key(&index) {
            continue;
        }
        let what = format!("link #{index}");
        if let Some(m) = get_link(handle.link().get().match_index(index), &what).await? {
            if let Some(n) = link_name(&m) {
                index_names.insert(index, n.to_string());
            }
        }
    }
    let links = msgs
        .iter()
        .filter_map(facts_of)
        .map(|f| to_link(&f, &index_names))
        .collect();

    let wanted: HashMap<u32, String> = msgs
        .iter()
        .filter_map(|m| link_name(m).map(|n| (m.header.index, n.to_string())))
        .collect();
    let (addresses, addresses6) = addresses_of(handle, route_fd, &wanted).await?;
    let indexes = index_names.into_iter().map(|(i, n)| (n, i)).collect();
    Ok((links, addresses, addresses6, indexes))
}

/// What [`named`] read: the links, their IPv4 and IPv6 addresses, and the index of each
/// link it looked at (their bridges too) by name.
pub type NamedLinks = (Vec<Link>, Vec<Address>, Vec<Address6>, HashMap<String, u32>);

/// The IPv4 and IPv6 addresses of the links in `wanted` (index → name).
///
/// Each request asks for every family (`AF_UNSPEC`): the kernel runs its IPv4 and its
/// IPv6 dump for the link in the one exchange, so the IPv6 addresses a narrow observation
/// reports (see `Observed::restricted_to`) add no round trip to the hotplug path.
async fn addresses_of(
    handle: &Handle,
    route_fd: RawFd,
    wanted: &HashMap<u32, String>,
) -> Result<(Vec<Address>, Vec<Address6>), BackendError> {
    let mut msgs: Vec<AddressMessage> = Vec::new();
    match StrictCheck::on(route_fd) {
        Ok(_strict) => {
            for index in wanted.keys() {
                let mut req = handle.address().get();
                req.message_mut().header.family = AddressFamily::Unspec;
                req.message_mut().header.index = *index;
                let mut got: Vec<AddressMessage> = req
                    .execute()
                    .try_collect()
                    .await
                    .map_err(|e| from_rtnl(&format!("list addresses of {}", wanted[index]), e))?;
                msgs.append(&mut got);
            }
        }
        // A kernel without strict checking (< 4.20): one dump of every link's addresses.
        Err(_) if !wanted.is_empty() => {
            let mut req = handle.address().get();
            req.message_mut().header.family = AddressFamily::Unspec;
            msgs = req
                .execute()
                .try_collect()
                .await
                .map_err(|e| from_rtnl("list addresses", e))?;
        }
        Err(_) => {}
    }
    Ok((
        msgs.iter().filter_map(|m| to_address(m, wanted)).collect(),
        msgs.iter().filter_map(|m| to_address6(m, wanted)).collect(),
    ))
}

/// The IPv4 routes of the main table: filtered by the kernel where it can (strict checking,
/// Linux ≥ 4.20), else a dump of every table (which [`to_route`] filters).
async fn main_table_routes(handle: &Handle, route_fd: RawFd) -> Result<Vec<RouteMessage>, BackendError> {
    let mut filter = RouteMessageBuilder::<Ipv4Addr>::new().build();
    let strict = StrictCheck::on(route_fd).ok();
    if strict.is_some() {
        // With strict checking every non-zero header field filters: keep the table only
        // (the builder's defaults would also keep only static unicast routes).
        filter.header.table = RouteHeader::RT_TABLE_MAIN;
        filter.header.protocol = RouteProtocol::Unspec;
        filter.header.scope = RouteScope::Universe;
        filter.header.kind = RouteType::Unspec;
        filter.attributes.clear();
    }
    let msgs = handle
        .route()
        .get(filter)
        .execute()
        .try_collect()
        .await
        .map_err(|e| from_rtnl("list routes", e));
    drop(strict);
    msgs
}

/// Strict checking switched on for a netlink socket while this lives.
pub(super) struct StrictCheck(RawFd);

impl StrictCheck {
    pub(super) fn on(fd: RawFd) -> std::io::Result<StrictCheck> {
        set_strict(fd, true)?;
        Ok(StrictCheck(fd))
    }
}

impl Drop for StrictCheck {
    fn drop(&mut self) {
        let _ = set_strict(self.0, false);
    }
}

fn set_strict(fd: RawFd, on: bool) -> std::io::Result<()> {
    const NETLINK_GET_STRICT_CHK: libc::c_int = 12;
    let value: libc::c_int = on.into();
    // SAFETY: `fd` is a netlink socket; `value` is a valid int for the call's duration.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_NETLINK,
            NETLINK_GET_STRICT_CHK,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// One link by name or index; `None` if there is no such link.
async fn get_link(req: rtnetlink::LinkGetRequest, what: &str) -> Result<Option<LinkMessage>, BackendError> {
    let mut answers = req.execute();
    match answers.try_next().await {
        Ok(m) => Ok(m),
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => Ok(None),
        Err(e) => Err(from_rtnl(&format!("look up {what}"), e)),
    }
}

fn link_name(m: &LinkMessage) -> Option<&str> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

/// The VXLAN devices among `facts`, with the flood destinations of their FDBs.
async fn vxlans(
    handle: &Handle,
    facts: &[LinkFacts],
    names: &HashMap<u32, String>,
) -> Result<Vec<ObservedVxlan>, BackendError> {
    let devices: Vec<&LinkFacts> = facts.iter().filter(|f| f.vxlan.is_some()).collect();
    let indexes: Vec<u32> = devices.iter().map(|f| f.index).collect();
    let mut floods = super::vxlan::floods(handle, &indexes).await?;
    Ok(devices
        .into_iter()
        .filter_map(|f| {
            let v = f.vxlan.as_ref()?;
            Some(ObservedVxlan {
                name: f.name.clone(),
                vni: v.vni,
                local: v.local,
                underlay: names.get(&v.link).cloned(),
                port: v.port,
                learning: v.learning,
                remotes: floods.remove(&f.index).unwrap_or_default(),
            })
        })
        .collect())
}

fn to_link(f: &LinkFacts, names: &HashMap<u32, String>) -> Link {
    let kind = match f.kind.as_deref() {
        Some("bridge") => LinkKind::Bridge,
        Some("veth") => LinkKind::Veth,
        Some(other) => LinkKind::Other(other.to_string()),
        None if f.loopback => LinkKind::Other("loopback".into()),
        // No rtnl kind: a driver's own device — a Xen netback vif (its parent is on the
        // xen-backend bus), else a real NIC.
        None if f.parent_bus.as_deref() == Some("xen-backend") => LinkKind::Other(XEN_VIF.into()),
        None => LinkKind::Other(PHYSICAL.into()),
    };
    let bridge = if kind == LinkKind::Bridge {
        f.bridge.or(Some(BridgeOptions::default()))
    } else {
        None
    };
    let mut alias = f.alias.clone();
    if alias.is_none() && kind == LinkKind::Bridge && f.group == OWNER_GROUP {
        // Created by brouter, which was killed before it could write the alias (see
        // `links::create_bridge`): still brouter's, so `stop` removes it.
        alias = Some(ALIAS_PREFIX.to_string());
    }
    if alias.is_none() && f.vxlan.is_some() && f.group == OWNER_GROUP {
        // A VXLAN device brouter made and could not mark yet (see `vxlan::create`).
        alias = Some(VXLAN_ALIAS_PREFIX.to_string());
    }
    Link {
        name: f.name.clone(),
        kind,
        alias,
        master: (f.master != 0).then(|| names.get(&f.master).cloned()).flatten(),
        up: f.up,
        bridge,
        mac: f.mac.clone(),
        mtu: f.mtu,
        port_state: (f.master != 0)
            .then(|| f.port_state.and_then(PortState::from_code))
            .flatten(),
        carrier: (f.master != 0).then_some(f.lower_up),
    }
}

fn to_address(m: &AddressMessage, names: &HashMap<u32, String>) -> Option<Address> {
    if m.header.family != AddressFamily::Inet {
        return None;
    }
    let mut local = None;
    let mut address = None;
    let mut owned = false;
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(IpAddr::V4(ip)) => local = Some(*ip),
            AddressAttribute::Address(IpAddr::V4(ip)) => address = Some(*ip),
            AddressAttribute::Protocol(p) => owned = u8::from(*p) == OWNER_PROTO,
            _ => {}
        }
    }
    // IFA_LOCAL is the address itself; IFA_ADDRESS is the peer on point-to-point links.
    let ip = local.or(address)?;
    Some(Address {
        link: names.get(&m.header.index)?.clone(),
        addr: Ipv4Net::new(ip, m.header.prefix_len).ok()?,
        owned,
    })
}

/// An IPv6 address of a link in `names`, unless it is the kernel's own: link-local
/// (`fe80::/10`, one per link that is up with carrier) or `lo`'s `::1`. What is left is
/// global and unique-local addresses, the ones the engine's [`Address6`] describes.
fn to_address6(m: &AddressMessage, names: &HashMap<u32, String>) -> Option<Address6> {
    if m.header.family != AddressFamily::Inet6 {
        return None;
    }
    let mut local = None;
    let mut address = None;
    let mut owned = false;
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(IpAddr::V6(ip)) => local = Some(*ip),
            AddressAttribute::Address(IpAddr::V6(ip)) => address = Some(*ip),
            AddressAttribute::Protocol(p) => owned = u8::from(*p) == OWNER_PROTO,
            _ => {}
        }
    }
    // As for IPv4: IFA_LOCAL, when present, is the address and IFA_ADDRESS the peer.
    let ip = local.or(address)?;
    if Address6::kernels_own(ip) {
        return None;
    }
    Some(Address6 {
        link: names.get(&m.header.index)?.clone(),
        addr: Ipv6Net::new(ip, m.header.prefix_len).ok()?,
        owned,
    })
}

/// Main-table IPv4 unicast routes only (a plain dump returns every table: filter here).
fn to_route(m: &RouteMessage, names: &HashMap<u32, String>) -> Option<Route> {
    let h = &m.header;
    if h.address_family != AddressFamily::Inet || h.kind != RouteType::Unicast {
        return None;
    }
    let mut table = u32::from(h.table);
    let mut dst = Ipv4Addr::UNSPECIFIED;
    let mut oif = None;
    let mut gateway = None;
    let mut metric = 0;
    for a in &m.attributes {
        match a {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(RouteAddress::Inet(ip)) => dst = *ip,
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Gateway(RouteAddress::Inet(ip)) => gateway = Some(*ip),
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::MultiPath(hops) if oif.is_none() => {
                // Reported by its first next hop: brouter never makes multipath routes.
                if let Some(hop) = hops.first() {
                    oif = Some(hop.interface_index);
                    gateway = hop.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Gateway(RouteAddress::Inet(ip)) => Some(*ip),
                        _ => None,
                    });
                }
            }
            _ => {}
        }
    }
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) {
        return None;
    }
    Some(Route {
        dst: Ipv4Net::new(dst, h.destination_prefix_length).ok()?,
        dev: names.get(&oif?)?.clone(),
        gateway,
        protocol: u8::from(h.protocol),
        metric,
    })
}

#[cfg(test)]
mod tests {
    use netlink_packet_route::address::AddressProtocol;

    use super::*;

    fn message(family: AddressFamily, prefix_len: u8, attrs: Vec<AddressAttribute>) -> AddressMessage {
        let mut m = AddressMessage::default();
        m.header.family = family;
        m.header.prefix_len = prefix_len;
        m.header.index = 7;
        m.attributes = attrs;
        m
    }

    fn names() -> HashMap<u32, String> {
        HashMap::from([(7, "br0".to_string())])
    }

    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse().unwrap())
    }

    #[test]
    fn an_ipv6_address_is_reported_with_its_owner_mark() {
        let owned = message(
            AddressFamily::Inet6,
            64,
            vec![
                AddressAttribute::Address(v6("fd98::1")),
                AddressAttribute::Protocol(AddressProtocol::from(OWNER_PROTO)),
            ],
        );
        let foreign = message(
            AddressFamily::Inet6,
            48,
            vec![AddressAttribute::Address(v6("2001:db8::5"))],
        );
        let a = to_address6(&owned, &names()).unwrap();
        assert_eq!(
            (a.link.as_str(), a.addr.to_string(), a.owned),
            ("br0", "fd98::1/64".into(), true)
        );
        let f = to_address6(&foreign, &names()).unwrap();
        assert_eq!((f.addr.to_string(), f.owned), ("2001:db8::5/48".into(), false));
        // One dump carries both families: each side takes its own.
        assert!(to_address(&owned, &names()).is_none());
    }

    #[test]
    fn the_kernels_own_ipv6_addresses_and_unknown_links_are_left_out() {
        for ip in ["fe80::1", "febf::1", "::1"] {
            let m = message(AddressFamily::Inet6, 64, vec![AddressAttribute::Address(v6(ip))]);
            assert!(to_address6(&m, &names()).is_none(), "{ip}");
        }
        let fec0 = message(
            AddressFamily::Inet6,
            64,
            vec![AddressAttribute::Address(v6("fec0::1"))],
        );
        assert!(
            to_address6(&fec0, &names()).is_some(),
            "fec0::/10 is not link-local"
        );
        let mut elsewhere = message(
            AddressFamily::Inet6,
            64,
            vec![AddressAttribute::Address(v6("fd98::1"))],
        );
        elsewhere.header.index = 8;
        assert!(to_address6(&elsewhere, &names()).is_none());
        let v4 = message(
            AddressFamily::Inet,
            24,
            vec![AddressAttribute::Local(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))],
        );
        assert!(to_address6(&v4, &names()).is_none());
    }
}
