//! Splitting a received buffer into messages, and reading acknowledgements.

use std::io;

use netlink_packet_core::{NetlinkBuffer, NLM_F_ACK_TLVS, NLM_F_CAPPED};

use crate::{attrs, NLMSG_HDRLEN};

/// `NLMSGERR_ATTR_MSG`: the kernel's text in an extended acknowledgement.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// One netlink message of a received buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// `nlmsg_type`: `NLMSG_ERROR`, `NLMSG_DONE` or the family's type.
    pub ty: u16,
    /// `nlmsg_flags` (`NLM_F_MULTI`, `NLM_F_DUMP_INTR`, `NLM_F_ACK_TLVS`, …).
    pub flags: u16,
    /// `nlmsg_seq`: the request this answers.
    pub seq: u32,
    /// Everything after `nlmsghdr` (the family header, then attributes).
    pub body: &'a [u8],
}

/// The messages of a received buffer, in order; a message whose length does not fit
/// yields a "truncated netlink message" error and ends the iteration.
pub fn messages(buf: &[u8]) -> impl Iterator<Item = io::Result<Message<'_>>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.len() < NLMSG_HDRLEN {
            return None;
        }
        let Ok(nl) = NetlinkBuffer::new_checked(rest) else {
            rest = &[];
            return Some(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "truncated netlink message",
            )));
        };
        let len = nl.length() as usize;
        let msg = Message {
            ty: nl.message_type(),
            flags: nl.flags(),
            seq: nl.sequence_number(),
            body: &rest[NLMSG_HDRLEN..len],
        };
        rest = &rest[align4(len).min(rest.len())..];
        Some(Ok(msg))
    })
}

/// The positive errno of an `NLMSG_ERROR` body (0 for an ack; `EIO` if it is too short).
pub fn errno(body: &[u8]) -> i32 {
    body.get(0..4)
        .map_or(libc::EIO, |b| -i32::from_ne_bytes(b.try_into().expect("4 bytes")))
}

/// An `NLMSG_ERROR` answer: the errno (0 for an acknowledgement) and the kernel's
/// extended-ack text when it gave one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub errno: i32,
    pub message: Option<String>,
}

impl Ack {
    /// The acknowledgement `msg` carries (`msg.ty` must be `NLMSG_ERROR`).
    pub fn of(msg: &Message<'_>) -> Ack {
        let errno = errno(msg.body);
        let message = if errno == 0 {
            None
        } else {
            ext_ack_message(msg.body, msg.flags)
        };
        Ack { errno, message }
    }

    /// The refusal as an `io::Error` of its errno (`None` for an acknowledgement).
    pub fn error(&self) -> Option<io::Error> {
        (self.errno != 0).then(|| io::Error::from_raw_os_error(self.errno))
    }
}

/// The `NLMSGERR_ATTR_MSG` of an error answer: after the errno and the echoed header
/// (the whole request unless `NETLINK_CAP_ACK` took effect).
pub fn ext_ack_message(body: &[u8], flags: u16) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 || body.len() < 20 {
        return None;
    }
    let echoed = u32::from_ne_bytes(body[4..8].try_into().ok()?) as usize;
    let skip = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        align4(echoed)
    };
    let tlvs = body.get(4 + skip..)?;
    attrs(tlvs)
        .find(|(t, _)| *t == NLMSGERR_ATTR_MSG)
        .map(|(_, v)| crate::text(v))
        .filter(|m| !m.is_empty())
}

/// Netlink lengths are padded to 4 bytes.
pub fn align4(n: usize) -> usize {
    (n + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Writer, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK_TLVS};

    fn msg(ty: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut w = Writer::with_capacity(64);
        let m = w.begin_msg(ty, flags, seq, body);
        w.end_msg(m);
        w.into_bytes()
    }

    #[test]
    fn splits_a_buffer_into_messages_and_stops_at_a_truncated_one() {
        let mut buf = msg(NLMSG_DONE, 0, 7, &[0, 0, 0, 0, 1, 2, 3, 4]);
        buf.extend(msg(NLMSG_ERROR, 0, 8, &[0; 4]));
        let msgs: Vec<_> = messages(&buf).collect::<io::Result<_>>().unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            (msgs[0].ty, msgs[0].seq, msgs[0].body),
            (NLMSG_DONE, 7, &[0, 0, 0, 0, 1, 2, 3, 4][..])
        );
        assert_eq!(
            (msgs[1].ty, msgs[1].seq, msgs[1].body),
            (NLMSG_ERROR, 8, &[0; 4][..])
        );

        let cut = &buf[..buf.len() - 1];
        let mut it = messages(cut);
        assert!(it.next().unwrap().is_ok());
        let e = it.next().unwrap().unwrap_err();
        assert_eq!(e.to_string(), "truncated netlink message");
        assert!(it.next().is_none());
    }

    #[test]
    fn errno_of_an_error_body() {
        assert_eq!(errno(&(-libc::ENOENT).to_ne_bytes()), libc::ENOENT);
        assert_eq!(errno(&0i32.to_ne_bytes()), 0);
        assert_eq!(errno(&[]), libc::EIO);
    }

    #[test]
    fn an_extended_ack_carries_the_kernels_text() {
        // errno, the echoed (capped) header, then NLMSGERR_ATTR_MSG.
        let mut body = (-libc::EINVAL).to_ne_bytes().to_vec();
        body.extend_from_slice(&[0; NLMSG_HDRLEN]);
        let mut w = Writer::with_capacity(16);
        w.put_str(NLMSGERR_ATTR_MSG, "bad table");
        body.extend_from_slice(w.as_bytes());
        let m = Message {
            ty: NLMSG_ERROR,
            flags: NLM_F_ACK_TLVS | NLM_F_CAPPED,
            seq: 1,
            body: &body,
        };
        let ack = Ack::of(&m);
        assert_eq!(ack.errno, libc::EINVAL);
        assert_eq!(ack.message.as_deref(), Some("bad table"));
    }
}
