//! Changing an existing bridge's attributes: its alias, spanning tree and forward delay,
//! each in a message of its own.
//!
//! Why separate messages: the kernel applies a bridge's `IFLA_BR_*` attributes in its own
//! order, and STP off with forward delay 0 in one message fails with ERANGE (the delay is
//! checked while STP is still on). The planner orders the ops; each is one message here.
//! Bridge attributes change through `RTM_NEWLINK` on the existing link (changelink), not
//! `RTM_SETLINK`, which ignores `IFLA_LINKINFO`.

use brouter_engine::BackendError;
use netlink_packet_route::link::{
    BridgeStpState, InfoBridge, InfoData, InfoKind, LinkAttribute, LinkInfo, LinkMessage,
};
use rtnetlink::packet_core::{NLM_F_ACK, NLM_F_REQUEST};
use rtnetlink::{Handle, LinkUnspec};

use super::errors::from_rtnl;
use super::links::CENTISECONDS_PER_SECOND;

/// Set `link`'s `ifalias`.
pub async fn set_alias(handle: &Handle, link: &str, alias: &str) -> Result<(), BackendError> {
    let msg = LinkUnspec::new_with_name(link).alias(alias.to_string()).build();
    handle
        .link()
        .set(msg)
        .execute()
        .await
        .map_err(|e| from_rtnl(&format!("set the alias of {link} to {alias}"), e))
}

/// One bridge attribute changed on the existing bridge `link`.
async fn change_bridge(
    handle: &Handle,
    link: &str,
    attr: InfoBridge,
    what: &str,
) -> Result<(), BackendError> {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(link.to_string()));
    msg.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Bridge),
        LinkInfo::Data(InfoData::Bridge(vec![attr])),
    ]));
    handle
        .link()
        .add(msg)
        // Neither CREATE nor EXCL nor REPLACE: change the existing link (changelink).
        .set_flags(NLM_F_REQUEST | NLM_F_ACK)
        .execute()
        .await
        .map_err(|e| from_rtnl(what, e))
}

/// Turn `link`'s spanning tree on (kernel STP) or off.
pub async fn set_stp(handle: &Handle, link: &str, stp: bool) -> Result<(), BackendError> {
    let state = if stp {
        BridgeStpState::KernelStp
    } else {
        BridgeStpState::Disabled
    };
    let what = format!("set {link} stp {}", if stp { "on" } else { "off" });
    change_bridge(handle, link, InfoBridge::StpState(state), &what).await
}

/// Set `link`'s forward delay.
pub async fn set_forward_delay(handle: &Handle, link: &str, seconds: u32) -> Result<(), BackendError> {
    let cs = seconds.saturating_mul(CENTISECONDS_PER_SECOND);
    let what = format!("set {link} forward delay {seconds}s");
    change_bridge(handle, link, InfoBridge::ForwardDelay(cs), &what).await
}
