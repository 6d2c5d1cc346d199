//! Links: find by name, create brouter's bridges, delete, attach/detach, up/down.
//!
//! Links are addressed by name in the request itself (the kernel looks the name up), so
//! most operations are one round trip; only a bridge to attach to needs its index first.

use brouter_engine::backend::mac_octets;
use brouter_engine::plan::owner_alias;
use brouter_engine::{BackendError, BridgeOptions, ErrorKind, OWNER_PROTO};
use futures::TryStreamExt;
use netlink_packet_route::link::{BridgeStpState, LinkMessage};
use rtnetlink::{Handle, LinkBridge, LinkUnspec};

use super::errors::from_rtnl;

/// The kernel keeps bridge timers in clock ticks of `USER_HZ` (100 per second).
pub const CENTISECONDS_PER_SECOND: u32 = 100;

/// The index of link `name`; ENODEV (as [`brouter_engine::ErrorKind::NoDevice`]) if missing.
pub async fn index_of(handle: &Handle, name: &str, what: &str) -> Result<u32, BackendError> {
    let mut links = handle.link().get().match_name(name).execute();
    match links.try_next().await {
        Ok(Some(msg)) => Ok(msg.header.index),
        Ok(None) => Err(super::errors::from_errno(what, -libc::ENODEV)),
        Err(e) => Err(from_rtnl(what, e)),
    }
}

/// The link group brouter's bridges are created in. Unlike the `ifalias`, the group is
/// applied by the very message that creates the link (rtnl_create_link), so it is the
/// one ownership mark that cannot be missing from a bridge brouter made.
pub const OWNER_GROUP: u32 = OWNER_PROTO as u32;

/// Create bridge `name`, down, with brouter's mark `brouter:<network>` in its `ifalias`.
///
/// The kernel ignores `IFLA_IFALIAS` in the message that creates a link (measured on
/// 6.18), so the mark is a second message. Were brouter killed between the two, an
/// unmarked bridge would be left that the next `start` adopts as foreign and `stop` never
/// removes. That window is closed by creating the bridge in [`OWNER_GROUP`] in the same
/// message: [`super::observe`] reports a bridge of that group without an alias as
/// brouter's (`brouter:`, network unknown), so `stop` still deletes it. If marking fails
/// while brouter lives, the bridge is deleted again at once.
pub async fn create_bridge(
    handle: &Handle,
    name: &str,
    network: &str,
    options: BridgeOptions,
) -> Result<(), BackendError> {
    let what = format!("create bridge {name}");
    brouter_engine::backend::check_ifname(name)?;
    let stp = if options.stp {
        BridgeStpState::KernelStp
    } else {
        BridgeStpState::Disabled
    };
    let msg = LinkBridge::new(name)
        .down()
        .forward_delay(options.forward_delay.saturating_mul(CENTISECONDS_PER_SECOND))
        .stp_state(stp)
        .link_group(OWNER_GROUP)
        .build();
    add_link(handle, msg, &what)
        .await
        .map_err(|e| bridge_error(&what, e))?;
    let mark = LinkUnspec::new_with_name(name)
        .alias(owner_alias(network))
        .build();
    if let Err(e) = set_link(handle, mark, &format!("mark bridge {name} as brouter's")).await {
        let _ = delete_link(handle, name).await;
        return Err(e);
    }
    Ok(())
}

/// A missing bridge driver shows up as EOPNOTSUPP on create: say what to do about it.
fn bridge_error(what: &str, e: BackendError) -> BackendError {
    if e.kind == brouter_engine::ErrorKind::Unsupported {
        return BackendError::new(
            e.kind,
            format!("{what}: the kernel has no bridge support: modprobe bridge"),
        );
    }
    e
}

/// Create the link `msg` describes; `what` names the request in the error.
pub(crate) async fn add_link(handle: &Handle, msg: LinkMessage, what: &str) -> Result<(), BackendError> {
    handle
        .link()
        .add(msg)
        .execute()
        .await
        .map_err(|e| from_rtnl(what, e))
}

/// Change a link as `msg` says; `what` names the request in the error.
pub(crate) async fn set_link(handle: &Handle, msg: LinkMessage, what: &str) -> Result<(), BackendError> {
    handle
        .link()
        .set(msg)
        .execute()
        .await
        .map_err(|e| from_rtnl(what, e))
}

/// The octets of `mac` for the request `what`; Invalid (the kernel is never asked) if it
/// is not six hex pairs.
pub(crate) fn mac_bytes(mac: &str, what: &str) -> Result<Vec<u8>, BackendError> {
    mac_octets(mac).ok_or_else(|| {
        BackendError::new(
            ErrorKind::Invalid,
            format!("{what}: not a MAC address (want six hex pairs like fe:ff:ff:ff:ff:ff)"),
        )
    })
}

/// Delete link `name` (the kernel releases its ports, addresses and routes).
pub async fn delete_link(handle: &Handle, name: &str) -> Result<(), BackendError> {
    let msg = LinkUnspec::new_with_name(name).build();
    handle
        .link()
        .del_with_message(msg)
        .execute()
        .await
        .map_err(|e| from_rtnl(&format!("delete link {name}"), e))
}

/// Attach `link` to bridge `master` (its name and index), or detach it from whatever
/// bridge it is in.
pub async fn set_master(
    handle: &Handle,
    link: &str,
    master: Option<(&str, u32)>,
) -> Result<(), BackendError> {
    let (what, msg) = match master {
        Some((m, index)) => {
            let what = format!("attach {link} to {m}");
            (what, LinkUnspec::new_with_name(link).controller(index).build())
        }
        None => (
            format!("detach {link} from its bridge"),
            LinkUnspec::new_with_name(link).nocontroller().build(),
        ),
    };
    handle.link().set(msg).execute().await.map_err(|e| match &e {
        // The kernel answers ELOOP ("Too many levels of symbolic links") for a bridge
        // enslaved to a bridge, itself included: say what it means.
        rtnetlink::Error::NetlinkError(m) if m.raw_code() == -libc::ELOOP => BackendError::new(
            ErrorKind::Invalid,
            format!("{what}: a bridge cannot be a port of a bridge (ELOOP)"),
        ),
        _ => from_rtnl(&what, e),
    })
}

/// Set `link` administratively up or down.
pub async fn set_up(handle: &Handle, link: &str, up: bool) -> Result<(), BackendError> {
    let builder = LinkUnspec::new_with_name(link);
    let (what, msg) = if up {
        (format!("set {link} up"), builder.up().build())
    } else {
        (format!("set {link} down"), builder.down().build())
    };
    set_link(handle, msg, &what).await
}

/// Rename `link` (it must be down: the kernel answers EBUSY otherwise).
pub async fn rename_link(handle: &Handle, link: &str, new_name: &str) -> Result<(), BackendError> {
    let what = format!("rename {link} to {new_name}");
    brouter_engine::backend::check_ifname(new_name)?;
    let index = index_of(handle, link, &what).await?;
    let msg = LinkUnspec::new_with_index(index).name(new_name).build();
    set_link(handle, msg, &what).await
}

/// Set `link`'s hardware address (`aa:bb:cc:dd:ee:ff`).
pub async fn set_mac(handle: &Handle, link: &str, mac: &str) -> Result<(), BackendError> {
    let what = format!("set {link} address {mac}");
    let msg = LinkUnspec::new_with_name(link)
        .address(mac_bytes(mac, &what)?)
        .build();
    set_link(handle, msg, &what).await
}

/// `IFLA_BRPORT_STATE`, inside `IFLA_PROTINFO`.
const IFLA_BRPORT_STATE: u16 = 1;

/// Set the STP state of bridge port `link`, as `bridge link set dev LINK state N` does:
/// `RTM_SETLINK` for `AF_BRIDGE` with `IFLA_PROTINFO { IFLA_BRPORT_STATE }`, which the
/// kernel hands to the bridge (br_setlink). Not through `IFLA_INFO_SLAVE_DATA` (`ip link
/// set LINK type bridge_slave state 0`): that path ends in a link-change notification
/// whose carrier check re-enables the port at once — measured on 6.18, the state reads
/// `forwarding` again right after the kernel said yes.
pub async fn set_port_state(
    handle: &Handle,
    link: &str,
    state: brouter_engine::PortState,
) -> Result<(), BackendError> {
    use netlink_packet_route::link::{LinkAttribute, LinkMessage, LinkProtoInfoBridge};
    use netlink_packet_route::AddressFamily;
    use rtnetlink::packet_core::DefaultNla;
    let what = format!("set the port state of {link} to {state}");
    let index = index_of(handle, link, &what).await?;
    let mut msg = LinkMessage::default();
    msg.header.interface_family = AddressFamily::Bridge;
    msg.header.index = index;
    msg.attributes
        .push(LinkAttribute::ProtoInfoBridge(vec![LinkProtoInfoBridge::Other(
            DefaultNla::new(IFLA_BRPORT_STATE, vec![state.code()]),
        )]));
    set_link(handle, msg, &what).await
}

/// Set `link`'s MTU.
pub async fn set_mtu(handle: &Handle, link: &str, mtu: u32) -> Result<(), BackendError> {
    let what = format!("set {link} mtu {mtu}");
    let msg = LinkUnspec::new_with_name(link).mtu(mtu).build();
    set_link(handle, msg, &what).await
}
