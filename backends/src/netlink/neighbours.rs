//! brouter's permanent neighbour entries (`[cluster]`): a declared host's address and MAC
//! on its cluster bridge, stamped with [`OWNER_PROTO`] (`NDA_PROTOCOL`) so brouter finds
//! its own again and leaves everyone else's alone.

use std::net::IpAddr;

use brouter_engine::{BackendError, Neighbour, OWNER_PROTO};
use futures::TryStreamExt;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::RouteProtocol;
use netlink_packet_route::AddressFamily;
use rtnetlink::Handle;

use super::errors::from_rtnl;
use super::link_dump::format_mac;
use super::links::mac_bytes;

/// `ip neigh replace IP lladdr MAC dev LINK nud permanent proto 0x62`.
pub async fn set(handle: &Handle, link: &str, index: u32, ip: IpAddr, mac: &str) -> Result<(), BackendError> {
    let what = format!("set neighbour {ip} lladdr {mac} on {link}");
    let lladdr = mac_bytes(mac, &what)?;
    let mut req = handle
        .neighbours()
        .add(index, ip)
        .link_layer_address(&lladdr)
        .state(NeighbourState::Permanent)
        .replace();
    req.message_mut()
        .attributes
        .push(NeighbourAttribute::Protocol(RouteProtocol::from(OWNER_PROTO)));
    req.execute().await.map_err(|e| from_rtnl(&what, e))
}

/// `ip neigh del IP dev LINK`.
pub async fn delete(handle: &Handle, link: &str, index: u32, ip: IpAddr) -> Result<(), BackendError> {
    let what = format!("delete neighbour {ip} on {link}");
    let mut m = NeighbourMessage::default();
    m.header.family = match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    m.header.ifindex = index;
    m.attributes.push(NeighbourAttribute::Destination(address(ip)));
    handle
        .neighbours()
        .del(m)
        .execute()
        .await
        .map_err(|e| from_rtnl(&what, e))
}

/// `ip` as a neighbour message carries it.
pub(super) fn address(ip: IpAddr) -> NeighbourAddress {
    match ip {
        IpAddr::V4(a) => NeighbourAddress::Inet(a),
        IpAddr::V6(a) => NeighbourAddress::Inet6(a),
    }
}

/// `RTPROT_ZEBRA`: the stamp FRR's zebra puts on the entries it writes (under EVPN, a
/// remote VM's address and MAC, learned by BGP).
const ZEBRA_PROTO: u8 = 11;

/// brouter's entries and zebra's, both families, on the links `names` knows by index.
pub async fn owned(
    handle: &Handle,
    names: &std::collections::HashMap<u32, String>,
) -> Result<(Vec<Neighbour>, Vec<Neighbour>), BackendError> {
    let msgs: Vec<NeighbourMessage> = handle
        .neighbours()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| from_rtnl("list neighbour entries", e))?;
    let (mut mine, mut zebras) = (Vec::new(), Vec::new());
    for m in &msgs {
        let mut proto = 0;
        let (mut ip, mut mac) = (None, None);
        for a in &m.attributes {
            match a {
                NeighbourAttribute::Protocol(p) => proto = u8::from(*p),
                NeighbourAttribute::Destination(NeighbourAddress::Inet(v)) => ip = Some(IpAddr::V4(*v)),
                NeighbourAttribute::Destination(NeighbourAddress::Inet6(v)) => ip = Some(IpAddr::V6(*v)),
                NeighbourAttribute::LinkLayerAddress(l) => mac = Some(format_mac(l)),
                _ => {}
            }
        }
        let (Some(link), Some(ip), Some(mac)) = (names.get(&m.header.ifindex), ip, mac) else {
            continue;
        };
        let entry = Neighbour {
            link: link.clone(),
            ip,
            mac,
        };
        match proto {
            OWNER_PROTO => mine.push(entry),
            ZEBRA_PROTO => zebras.push(entry),
            _ => {}
        }
    }
    Ok((mine, zebras))
}
