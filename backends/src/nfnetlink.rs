//! The `NETLINK_NETFILTER` socket and message framing that nf_tables (`firewall::nfnl`) and
//! ctnetlink (`conntrack`) share.
//!
//! Why one place: both build `nlmsghdr` + `nfgenmsg` requests by hand and split what the
//! kernel answers into messages the same way; only the subsystem and the attributes
//! differ. A socket talks to the network namespace of the thread that opened it. The
//! splitter ([`messages`]) is plain netlink framing: the raw link dump of `observe`
//! (`netlink::link_dump`) uses it too.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NETLINK_NETFILTER: libc::c_int = 12;
pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
/// Marks an attribute whose data is more attributes.
pub(crate) const NLA_F_NESTED: u16 = 0x8000;
pub(crate) const NLA_TYPE_MASK: u16 = 0x3fff;
const NLMSG_HDRLEN: usize = 16;

/// A `NETLINK_NETFILTER` socket in the calling thread's namespace, with its request
/// sequence numbers (never 0, so an answer to "no request" never matches).
pub(crate) struct Socket {
    fd: OwnedFd,
    seq: Cell<u32>,
}

impl Socket {
    /// Open the socket; the kernel binds it to a fresh port id on the first send.
    pub(crate) fn open() -> io::Result<Socket> {
        // SAFETY: plain socket(2); the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_NETFILTER,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Socket {
            fd,
            seq: Cell::new(0),
        })
    }

    /// The sequence number for the next request.
    pub(crate) fn next_seq(&self) -> u32 {
        let seq = self.seq.get().wrapping_add(1).max(1);
        self.seq.set(seq);
        seq
    }

    /// Send `buf` (one or more encoded messages) to the kernel.
    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<()> {
        // SAFETY: `buf` is a valid buffer of its length; the kernel is the default peer.
        let sent = unsafe { libc::send(self.fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Set an integer socket option (`SOL_NETLINK` options, buffer sizes).
    pub(crate) fn set_option(
        &self,
        level: libc::c_int,
        name: libc::c_int,
        value: libc::c_int,
    ) -> io::Result<()> {
        // SAFETY: `value` is a valid c_int for the duration of the call.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Receive one datagram without waiting: `None` when nothing is queued. (The kernel
    /// handles an nf_tables batch inside `send`, so its answers are all queued by then.)
    pub(crate) fn recv_nowait<'a>(&self, buf: &'a mut [u8]) -> io::Result<Option<&'a [u8]>> {
        loop {
            // SAFETY: `buf` is writable for its whole length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n >= 0 {
                return Ok(Some(&buf[..n as usize]));
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(None),
                _ => return Err(e),
            }
        }
    }

    /// Receive one datagram into `buf` (retrying when a signal interrupts the wait) and
    /// return the part the kernel filled; split it with [`messages`].
    pub(crate) fn recv<'a>(&self, buf: &'a mut [u8]) -> io::Result<&'a [u8]> {
        loop {
            // SAFETY: `buf` is writable for its whole length.
            let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n >= 0 {
                return Ok(&buf[..n as usize]);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// One netlink message of a received buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Message<'a> {
    /// `nlmsg_type`: `NLMSG_ERROR`, `NLMSG_DONE` or `(subsystem << 8) | command`.
    pub ty: u16,
    /// `nlmsg_flags` (`NLM_F_MULTI`, `NLM_F_DUMP_INTR`, `NLM_F_ACK_TLVS`, …).
    pub flags: u16,
    /// `nlmsg_seq`: the request this answers.
    pub seq: u32,
    /// Everything after `nlmsghdr` (for nfnetlink: `nfgenmsg`, then attributes).
    pub body: &'a [u8],
}

/// The messages of a received buffer, in order; a message whose length does not fit
/// yields a "truncated netlink message" error and ends the iteration.
pub(crate) fn messages(buf: &[u8]) -> impl Iterator<Item = io::Result<Message<'_>>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = u32::from_ne_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
        let ty = u16::from_ne_bytes(rest[4..6].try_into().expect("2 bytes"));
        let flags = u16::from_ne_bytes(rest[6..8].try_into().expect("2 bytes"));
        let seq = u32::from_ne_bytes(rest[8..12].try_into().expect("4 bytes"));
        if len < NLMSG_HDRLEN || len > rest.len() {
            rest = &[];
            return Some(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "truncated netlink message",
            )));
        }
        let body = &rest[NLMSG_HDRLEN..len];
        rest = &rest[align4(len).min(rest.len())..];
        Some(Ok(Message { ty, flags, seq, body }))
    })
}

/// One nfnetlink message: `nlmsghdr`, `nfgenmsg`, then `attrs` (already encoded).
pub(crate) fn encode(ty: u16, flags: u16, seq: u32, nfgen: [u8; 4], attrs: &[u8]) -> Vec<u8> {
    let len = (NLMSG_HDRLEN + nfgen.len() + attrs.len()) as u32;
    let mut msg = Vec::with_capacity(len as usize);
    msg.extend_from_slice(&len.to_ne_bytes());
    msg.extend_from_slice(&ty.to_ne_bytes());
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&nfgen);
    msg.extend_from_slice(attrs);
    msg
}

/// The positive errno of an `NLMSG_ERROR` body (0 for an ack; `EIO` if it is too short).
pub(crate) fn errno(body: &[u8]) -> i32 {
    body.get(0..4)
        .map_or(libc::EIO, |b| -i32::from_ne_bytes(b.try_into().expect("4 bytes")))
}

/// Netlink lengths are padded to 4 bytes.
pub(crate) fn align4(n: usize) -> usize {
    (n + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_buffer_into_messages_and_stops_at_a_truncated_one() {
        let mut buf = encode(NLMSG_DONE, 0, 7, [0; 4], &[1, 2]);
        buf.resize(align4(buf.len()), 0);
        buf.extend(encode(NLMSG_ERROR, 0, 8, [0; 4], &[]));
        let msgs: Vec<_> = messages(&buf).collect::<io::Result<_>>().unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            (msgs[0].ty, msgs[0].seq, msgs[0].body),
            (NLMSG_DONE, 7, &[0, 0, 0, 0, 1, 2][..])
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
}
