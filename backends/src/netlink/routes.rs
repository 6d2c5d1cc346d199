//! brouter's network routes: `<dst> dev <dev> scope link proto 0x62`, main table, metric 0.
//!
//! The protocol is brouter's ownership mark; deleting also matches it, so brouter can
//! only ever remove a route it made (a foreign route to the same prefix answers ESRCH).

use std::net::Ipv4Addr;

use brouter_engine::{BackendError, OWNER_PROTO};
use ipnet::Ipv4Net;
use netlink_packet_route::route::{RouteMessage, RouteProtocol, RouteScope};
use rtnetlink::{Handle, RouteMessageBuilder};

use super::errors::from_rtnl;
use super::links::index_of;

fn message(dst: Ipv4Net, index: u32, scope: RouteScope) -> RouteMessage {
    RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(dst.addr(), dst.prefix_len())
        .output_interface(index)
        .scope(scope)
        .protocol(RouteProtocol::from(OWNER_PROTO))
        .build()
}

/// Add the link-scope route `dst dev <dev>`, stamped as brouter's.
pub async fn add_route(handle: &Handle, dst: Ipv4Net, dev: &str) -> Result<(), BackendError> {
    let what = format!("add route {dst} dev {dev}");
    let index = index_of(handle, dev, &what).await?;
    add_route_message(handle, message(dst, index, RouteScope::Link), &what).await
}

/// Add the route `msg` describes; `what` names the request in the error.
pub(crate) async fn add_route_message(
    handle: &Handle,
    msg: RouteMessage,
    what: &str,
) -> Result<(), BackendError> {
    handle
        .route()
        .add(msg)
        .execute()
        .await
        .map_err(|e| from_rtnl(what, e))
}

/// Delete brouter's route `dst dev <dev>` (any scope; only brouter's protocol).
pub async fn delete_route(handle: &Handle, dst: Ipv4Net, dev: &str) -> Result<(), BackendError> {
    let what = format!("delete route {dst} dev {dev}");
    let index = index_of(handle, dev, &what).await?;
    handle
        .route()
        .del(message(dst, index, RouteScope::NoWhere))
        .execute()
        .await
        .map_err(|e| from_rtnl(&what, e))
}
