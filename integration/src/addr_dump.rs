//! IPv4 addresses of a namespace read over netlink, for [`crate::snapshot`].
//!
//! iproute2 6.1 (Debian 12) neither sets nor prints an address's protocol (`IFA_PROTO`),
//! which is how brouter marks the addresses it owns — so a snapshot built from `ip -j addr`
//! could not see brouter re-marking a foreign address. This reads them straight from the
//! kernel instead, independently of brouter's own observation code.

use std::collections::HashMap;

use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::AddressFamily;

use crate::Netns;

/// One line per IPv4 address: `dev local/prefix [peer P] scope=… proto=… flags=… label=…`.
/// Lifetimes and cache info are left out: they change with time, not with configuration.
pub fn ipv4_addresses(ns: &Netns) -> Vec<String> {
    ns.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime for the address dump");
        rt.block_on(dump())
    })
}

async fn dump() -> Vec<String> {
    let (conn, handle, _) = rtnetlink::new_connection().expect("netlink socket in the test namespace");
    let conn = tokio::spawn(conn);
    let links: Vec<LinkMessage> = handle
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .expect("dump links");
    let names: HashMap<u32, String> = links
        .iter()
        .filter_map(|m| {
            m.attributes.iter().find_map(|a| match a {
                LinkAttribute::IfName(n) => Some((m.header.index, n.clone())),
                _ => None,
            })
        })
        .collect();
    let mut req = handle.address().get();
    req.message_mut().header.family = AddressFamily::Inet;
    let addrs: Vec<AddressMessage> = req.execute().try_collect().await.expect("dump addresses");
    conn.abort();
    addrs
        .iter()
        .filter(|m| m.header.family == AddressFamily::Inet)
        .map(|m| render(m, &names))
        .collect()
}

fn render(m: &AddressMessage, names: &HashMap<u32, String>) -> String {
    let dev = names
        .get(&m.header.index)
        .cloned()
        .unwrap_or_else(|| format!("#{}", m.header.index));
    let (mut local, mut peer, mut label, mut proto, mut flags) = (None, None, None, None, None);
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(ip) => local = Some(ip.to_string()),
            AddressAttribute::Address(ip) => peer = Some(ip.to_string()),
            AddressAttribute::Label(l) => label = Some(l.clone()),
            AddressAttribute::Protocol(p) => proto = Some(u8::from(*p)),
            AddressAttribute::Flags(f) => flags = Some(format!("{f:?}")),
            _ => {}
        }
    }
    let local = local.or_else(|| peer.clone()).unwrap_or_default();
    let peer = peer
        .filter(|p| *p != local)
        .map(|p| format!(" peer {p}"))
        .unwrap_or_default();
    format!(
        "{dev} {local}/{}{peer} scope={:?} proto={} flags={} label={}",
        m.header.prefix_len,
        m.header.scope,
        proto.map_or("-".to_string(), |p| p.to_string()),
        flags.unwrap_or_else(|| format!("{:?}", m.header.flags)),
        label.unwrap_or_default(),
    )
}
