//! IPv6 addresses on brouter's bridges: stamped as brouter's, without duplicate address
//! detection, and with the kernel's own prefix route.
//!
//! `IFA_F_NODAD` makes the address usable at once: with DAD it would stay `tentative` for
//! about a second (and not serve at all on a bridge without carrier), so guests asking
//! right after `start` would get no answer. `IFA_PROTO` = [`OWNER_PROTO`] marks it as
//! brouter's, as for IPv4, so `stop` finds it without a state file. Unlike IPv4 the
//! kernel's prefix route is kept: it is added and removed with the address, and IPv6 has
//! no primary/secondary addresses whose route could outlive it.

use std::net::Ipv6Addr;

use brouter_engine::{BackendError, OWNER_PROTO};
use ipnet::Ipv6Net;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage, AddressProtocol};
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::packet_core::{NetlinkMessage, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST};
use rtnetlink::{AddressMessageBuilder, Handle};

use super::errors::from_rtnl;
use super::links::index_of;
use super::request::ack;

/// `ifaddrmsg` with `IFA_LOCAL` and `IFA_ADDRESS` both `addr` (the builder's choice for a
/// unicast address), `ifa_prefixlen` its prefix length.
fn message(index: u32, addr: Ipv6Net) -> AddressMessage {
    AddressMessageBuilder::<Ipv6Addr>::new()
        .index(index)
        .address(addr.addr(), addr.prefix_len())
        .build()
}

/// Add `addr` to `link`, marked as brouter's, without DAD. The kernel answers EEXIST
/// (`Exists`) if the address is already on the link, under any prefix length; a missing
/// link is `NoDevice`.
pub async fn add_address6(handle: &Handle, link: &str, addr: Ipv6Net) -> Result<(), BackendError> {
    let what = format!("add address {addr} to {link}");
    let index = index_of(handle, link, &what).await?;
    let mut msg = message(index, addr);
    // IFA_FLAGS takes precedence over the header's 8-bit ifa_flags; NODAD (0x02) would
    // fit there too, IFA_FLAGS is what the IPv4 code uses for NOPREFIXROUTE.
    msg.attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
    msg.attributes
        .push(AddressAttribute::Protocol(AddressProtocol::from(OWNER_PROTO)));
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::NewAddress(msg));
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    ack(handle, req).await.map_err(|e| from_rtnl(&what, e))
}

/// Delete `addr` (address and prefix length) from `link`: EADDRNOTAVAIL (`AddrNotAvail`)
/// if it is not there, `NoDevice` for a missing link. Its prefix route goes with it.
pub async fn delete_address6(handle: &Handle, link: &str, addr: Ipv6Net) -> Result<(), BackendError> {
    let what = format!("delete address {addr} from {link}");
    let index = index_of(handle, link, &what).await?;
    handle
        .address()
        .del(message(index, addr))
        .execute()
        .await
        .map_err(|e| from_rtnl(&what, e))
}
