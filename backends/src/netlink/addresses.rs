//! IPv4 addresses, stamped as brouter's and without the kernel's implicit prefix route;
//! and a vif's IPv6 addresses flushed, as vif-bridge does.
//!
//! `IFA_F_NOPREFIXROUTE` keeps the kernel from adding `<net> proto kernel`: brouter adds
//! and removes the network route itself (with its own protocol), so a second `start` does
//! not trip over a route the kernel made (the seed script's "File exists").
//! `IFA_PROTO` = [`OWNER_PROTO`] marks the address so `stop` finds it without a state file.

use std::net::Ipv4Addr;
use std::os::fd::RawFd;

use futures::TryStreamExt;
use netlink_packet_route::AddressFamily;

use brouter_engine::{BackendError, OWNER_PROTO};
use ipnet::Ipv4Net;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage, AddressProtocol};
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::packet_core::{NetlinkMessage, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST};
use rtnetlink::{AddressMessageBuilder, Handle};

use super::errors::from_rtnl;
use super::links::index_of;
use super::request::ack;

fn message(index: u32, addr: Ipv4Net) -> AddressMessage {
    AddressMessageBuilder::<Ipv4Addr>::new()
        .index(index)
        .address(addr.addr(), addr.prefix_len())
        .build()
}

/// Add `addr` to `link`, marked as brouter's, with no prefix route.
pub async fn add_address(handle: &Handle, link: &str, addr: Ipv4Net) -> Result<(), BackendError> {
    let what = format!("add address {addr} to {link}");
    let index = index_of(handle, link, &what).await?;
    let mut msg = message(index, addr);
    msg.attributes
        .push(AddressAttribute::Flags(AddressFlags::Noprefixroute));
    msg.attributes
        .push(AddressAttribute::Protocol(AddressProtocol::from(OWNER_PROTO)));
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::NewAddress(msg));
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    ack(handle, req).await.map_err(|e| from_rtnl(&what, e))
}

/// Delete `addr` from `link`.
pub async fn delete_address(handle: &Handle, link: &str, addr: Ipv4Net) -> Result<(), BackendError> {
    let what = format!("delete address {addr} from {link}");
    let index = index_of(handle, link, &what).await?;
    handle
        .address()
        .del(message(index, addr))
        .execute()
        .await
        .map_err(|e| from_rtnl(&what, e))
}

/// Delete every IPv6 address of `link` (`ip -6 address flush dev <link>`), whose index
/// is `index`. The addresses are listed with strict checking on, so the kernel answers
/// for this link only (the cost does not grow with the vifs on the host); an address gone
/// in between is fine.
pub async fn flush_ipv6(
    handle: &Handle,
    route_fd: RawFd,
    link: &str,
    index: u32,
) -> Result<(), BackendError> {
    let what = format!("flush the IPv6 addresses of {link}");
    let strict = super::observe::StrictCheck::on(route_fd).ok();
    let mut req = handle.address().get();
    req.message_mut().header.family = AddressFamily::Inet6;
    req.message_mut().header.index = index;
    let msgs: Vec<AddressMessage> = req
        .execute()
        .try_collect()
        .await
        .map_err(|e| from_rtnl(&what, e))?;
    drop(strict);
    for m in msgs
        .into_iter()
        .filter(|m| m.header.index == index && m.header.family == AddressFamily::Inet6)
    {
        match handle.address().del(m).execute().await {
            Ok(()) => {}
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EADDRNOTAVAIL => {}
            Err(e) => return Err(from_rtnl(&what, e)),
        }
    }
    Ok(())
}
