//! One request, one acknowledgement: the part of rtnetlink's request types brouter needs
//! when it must set attributes their builders do not offer.

use futures::StreamExt;
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::{Error, Handle};

/// Send `req` (which must ask for an ACK) and wait for the kernel's answer.
pub async fn ack(handle: &Handle, req: NetlinkMessage<RouteNetlinkMessage>) -> Result<(), Error> {
    let mut handle = handle.clone();
    let mut responses = handle.request(req)?;
    while let Some(msg) = responses.next().await {
        if let NetlinkPayload::Error(e) = msg.payload {
            return Err(Error::NetlinkError(e));
        }
    }
    Ok(())
}
