//! Wiring inside lab namespaces over rtnetlink: veth pairs across namespaces, plain
//! addresses (with the kernel's prefix route, as an admin's `ip addr add` would make
//! them), gateway routes. Nothing here is stamped as brouter's: the lab plays the host
//! and its VMs, whose objects brouter must treat as foreign.

use std::net::{IpAddr, Ipv4Addr};

use brouter_backends::netlink::errors::{from_io, from_rtnl};
use brouter_backends::netlink::links::index_of;
use brouter_engine::backend::mac_octets;
use brouter_engine::{BackendError, ErrorKind};
use ipnet::Ipv4Net;
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth};
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::netns::LabNetns;

pub use brouter_backends::netlink::links::{delete_link, set_up};

/// An rtnetlink connection bound to one lab namespace; its task stops on drop.
#[derive(Debug)]
pub struct Conn {
    pub handle: Handle,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Open a connection inside `ns` (the socket is created on a thread inside it and stays
/// bound there). Must be called inside a tokio runtime, which runs the connection task.
pub async fn connect(ns: &LabNetns) -> Result<Conn, BackendError> {
    let runtime = tokio::runtime::Handle::current();
    let opened = ns
        .handle()
        .run(move || {
            let _guard = runtime.enter();
            rtnetlink::new_connection()
        })
        .and_then(|r| r)
        .map_err(|e| from_io(&format!("open a netlink socket in {}", ns.name()), &e))?;
    let (connection, handle, _) = opened;
    Ok(Conn {
        handle,
        task: tokio::spawn(connection),
    })
}

/// Create the veth pair `name` (here, down) ↔ `peer` (inside `peer_ns`, down, with
/// `peer_mac` if given) in one message, as `ip link add NAME type veth peer name PEER
/// netns NS` does: the peer never exists under its name in this namespace, so many
/// peers may all be called `eth0`.
pub async fn add_veth(
    handle: &Handle,
    name: &str,
    peer: &str,
    peer_ns: &LabNetns,
    peer_mac: Option<&str>,
) -> Result<(), BackendError> {
    let what = format!("create veth {name} with peer {peer} in {}", peer_ns.name());
    let mut peer_msg = LinkMessageBuilder::<LinkUnspec>::new()
        .name(peer.to_string())
        .setns_by_fd(peer_ns.fd());
    if let Some(mac) = peer_mac {
        let octets = mac_octets(mac).ok_or_else(|| {
            BackendError::new(ErrorKind::Invalid, format!("{what}: {mac} is not a MAC address"))
        })?;
        peer_msg = peer_msg.address(octets);
    }
    let msg = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
        .name(name.to_string())
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg.build())))
        .build();
    handle
        .link()
        .add(msg)
        .execute()
        .await
        .map_err(|e| from_rtnl(&what, e))
}

/// Add `addr` to `dev` the ordinary way (the kernel adds the prefix route).
pub async fn add_address(handle: &Handle, dev: &str, addr: Ipv4Net) -> Result<(), BackendError> {
    let what = format!("add address {addr} to {dev}");
    let index = index_of(handle, dev, &what).await?;
    handle
        .address()
        .add(index, IpAddr::V4(addr.addr()), addr.prefix_len())
        .execute()
        .await
        .map_err(|e| from_rtnl(&what, e))
}

/// Add the route `dst via gw` (`0.0.0.0/0` for the default route).
pub async fn add_route_via(handle: &Handle, dst: Ipv4Net, gw: Ipv4Addr) -> Result<(), BackendError> {
    let what = format!("add route {dst} via {gw}");
    let msg = RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(dst.addr(), dst.prefix_len())
        .gateway(gw)
        .build();
    handle
        .route()
        .add(msg)
        .execute()
        .await
        .map_err(|e| from_rtnl(&what, e))
}
