//! Cluster networks' VXLAN devices and their head-end replication entries (the all-zero
//! FDB entries `bridge fdb append 00:00:00:00:00:00 dev vxN dst <member>` writes).
//!
//! A device is created as a bridge is: in [`OWNER_GROUP`] by the creating message, its
//! `brouter-vxlan:<network>` mark a second message (the kernel ignores `IFLA_IFALIAS` on
//! create), deleted again if the mark cannot be written.

use std::collections::HashMap;
use std::net::IpAddr;

use brouter_engine::backend::VxlanSpec;
use brouter_engine::{BackendError, VXLAN_ALIAS_PREFIX};
use futures::{StreamExt, TryStreamExt};
use netlink_packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST,
};
use netlink_packet_route::link::{AfSpecInet6, AfSpecUnspec, In6AddrGenMode, LinkAttribute};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::RouteType;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{Handle, LinkUnspec, LinkVxlan};

use super::errors::from_rtnl;
use super::links::{add_link, delete_link, set_link, OWNER_GROUP};

/// Create the device `spec` describes, down, learning as it says, marked as brouter's; `dev` is
/// the underlay's index.
pub async fn create(handle: &Handle, spec: &VxlanSpec<'_>, dev: u32) -> Result<(), BackendError> {
    let what = format!("create vxlan {}", spec.name);
    brouter_engine::backend::check_ifname(spec.name)?;
    let builder = LinkVxlan::new(spec.name, spec.vni)
        .dev(dev)
        .port(spec.port)
        .learning(spec.learning)
        .down()
        .link_group(OWNER_GROUP);
    let builder = match spec.local {
        IpAddr::V4(a) => builder.local(a),
        IpAddr::V6(a) => builder.local6(a),
    };
    add_link(handle, builder.build(), &what).await?;
    // The mark, and no IPv6 address of its own (`addrgenmode none`, while it is still
    // down): its own MAC would otherwise send neighbour discovery into the overlay and be
    // learned on every other member (FIELD-NOTES-DHCP-EVPN, "VXLAN device"); one message
    // instead of a sysctl write per device.
    let alias = format!("{VXLAN_ALIAS_PREFIX}{}", spec.network);
    let what = format!("mark vxlan {} as brouter's", spec.name);
    let mark = LinkUnspec::new_with_name(spec.name)
        .alias(alias.clone())
        .append_extra_attribute(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(vec![
            AfSpecInet6::AddrGenMode(In6AddrGenMode::None),
        ])]))
        .build();
    if set_link(handle, mark, &what).await.is_err() {
        // A device without IPv6 (its MTU, the underlay's less 50, below 1280) refuses the
        // IPv6 part (EAFNOSUPPORT) and has nothing to silence: the mark alone.
        let mark = LinkUnspec::new_with_name(spec.name).alias(alias).build();
        if let Err(e) = set_link(handle, mark, &what).await {
            let _ = delete_link(handle, spec.name).await;
            return Err(e);
        }
    }
    Ok(())
}

/// The all-zero FDB entry of `ifindex` toward `dst`.
fn flood_entry(ifindex: u32, dst: IpAddr) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = AddressFamily::Bridge;
    m.header.ifindex = ifindex;
    m.header.state = NeighbourState::Permanent;
    m.header.flags = NeighbourFlags::Own;
    m.header.kind = RouteType::Unspec;
    m.attributes
        .push(NeighbourAttribute::LinkLayerAddress(vec![0; 6]));
    m.attributes
        .push(NeighbourAttribute::Destination(super::neighbours::address(dst)));
    m
}

/// Append a flood destination (`NLM_F_APPEND`: an all-zero entry holds a list of them;
/// appending one already there changes nothing).
pub async fn add_flood(handle: &Handle, link: &str, index: u32, dst: IpAddr) -> Result<(), BackendError> {
    let what = format!("flood {link} to {dst}");
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::NewNeighbour(flood_entry(index, dst)));
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND;
    let mut handle = handle.clone();
    let mut answers = handle.request(req).map_err(|e| from_rtnl(&what, e))?;
    while let Some(m) = answers.next().await {
        if let NetlinkPayload::Error(e) = m.payload {
            return Err(from_rtnl(&what, rtnetlink::Error::NetlinkError(e)));
        }
    }
    Ok(())
}

/// Remove one flood destination.
pub async fn delete_flood(handle: &Handle, link: &str, index: u32, dst: IpAddr) -> Result<(), BackendError> {
    let what = format!("stop flooding {link} to {dst}");
    handle
        .neighbours()
        .del(flood_entry(index, dst))
        .execute()
        .await
        .map_err(|e| from_rtnl(&what, e))
}

/// The flood destinations of the devices `indexes` names, by index: one dump of the
/// bridge-family FDB, its all-zero entries with a destination kept.
pub async fn floods(handle: &Handle, indexes: &[u32]) -> Result<HashMap<u32, Vec<IpAddr>>, BackendError> {
    let mut out: HashMap<u32, Vec<IpAddr>> = HashMap::new();
    if indexes.is_empty() {
        return Ok(out);
    }
    let msgs: Vec<NeighbourMessage> = handle
        .neighbours()
        .get()
        .set_address_family(AddressFamily::Bridge)
        .execute()
        .try_collect()
        .await
        .map_err(|e| from_rtnl("list the VXLAN flood entries", e))?;
    for m in msgs.iter().filter(|m| indexes.contains(&m.header.ifindex)) {
        let mut zero = false;
        let mut dst = None;
        for a in &m.attributes {
            match a {
                NeighbourAttribute::LinkLayerAddress(l) => zero = l.iter().all(|b| *b == 0),
                NeighbourAttribute::Destination(d) => dst = ip_of(d),
                _ => {}
            }
        }
        if let (true, Some(d)) = (zero, dst) {
            let list = out.entry(m.header.ifindex).or_default();
            if !list.contains(&d) {
                list.push(d);
            }
        }
    }
    for list in out.values_mut() {
        list.sort();
    }
    Ok(out)
}

/// An FDB destination (the bridge family carries it as 4 or 16 raw bytes).
fn ip_of(d: &NeighbourAddress) -> Option<IpAddr> {
    match d {
        NeighbourAddress::Inet(a) => Some(IpAddr::V4(*a)),
        NeighbourAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        NeighbourAddress::Other(b) => match b.len() {
            4 => <[u8; 4]>::try_from(b.as_slice()).ok().map(IpAddr::from),
            16 => <[u8; 16]>::try_from(b.as_slice()).ok().map(IpAddr::from),
            _ => None,
        },
        _ => None,
    }
}
