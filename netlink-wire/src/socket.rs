//! A netlink socket of one protocol, in the namespace of the thread that opened it.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use netlink_sys::SocketAddr;

use crate::{messages, Ack, Message, NLMSG_DONE, NLMSG_ERROR};

/// A netlink socket with its request sequence numbers (never 0, so an answer to "no
/// request" never matches). It talks to the network namespace of the thread that opened
/// it, whichever thread uses it later. `Sync` (the sequence is atomic), so a backend can
/// hold one across an `.await`; one conversation at a time is still the caller's care.
pub struct Socket {
    sock: netlink_sys::Socket,
    seq: AtomicU32,
    /// The receive buffer [`Socket::request`] reuses: allocating (and zeroing) 256 KiB for
    /// every request cost more than a small answer takes to arrive.
    buf: Mutex<Vec<u8>>,
}

/// The most one datagram of a dump brings (the kernel sizes its dump messages to what the
/// reader takes, up to its socket buffer).
const RECV_BUF: usize = 256 * 1024;

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("netlink_wire::Socket")
    }
}

impl Socket {
    /// Open a socket of `protocol` (`NETLINK_ROUTE`, `NETLINK_NETFILTER`, …) bound to a
    /// fresh port id, its peer the kernel.
    pub fn open(protocol: isize) -> io::Result<Socket> {
        let mut sock = netlink_sys::Socket::new(protocol)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(Socket {
            sock,
            seq: AtomicU32::new(0),
            buf: Mutex::new(Vec::new()),
        })
    }

    /// The sequence number for the next request.
    pub fn next_seq(&self) -> u32 {
        self.seq.fetch_add(1, Ordering::Relaxed).wrapping_add(1).max(1)
    }

    /// Send `buf` (one or more encoded messages) to the kernel.
    pub fn send(&self, buf: &[u8]) -> io::Result<()> {
        self.sock.send(buf, 0).map(|_| ())
    }

    /// Set an integer socket option (`SOL_NETLINK` options, buffer sizes).
    pub fn set_option(&self, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
        // SAFETY: `value` is a valid c_int for the duration of the call.
        let rc = unsafe {
            libc::setsockopt(
                self.sock.as_raw_fd(),
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

    /// Receive one datagram into `buf` (retrying when a signal interrupts the wait) and
    /// return the part the kernel filled; split it with [`messages`].
    pub fn recv<'a>(&self, buf: &'a mut [u8]) -> io::Result<&'a [u8]> {
        loop {
            match self.sock.recv(&mut &mut buf[..], 0) {
                Ok(n) => return Ok(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Receive one datagram without waiting: `None` when nothing is queued (an
    /// nf_tables batch is handled inside `send`, so its answers are all queued by then).
    pub fn recv_nowait<'a>(&self, buf: &'a mut [u8]) -> io::Result<Option<&'a [u8]>> {
        loop {
            match self.sock.recv(&mut &mut buf[..], libc::MSG_DONTWAIT) {
                Ok(n) => return Ok(Some(&buf[..n])),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Send one request (numbered `seq`) and hand each answer that is not the end to
    /// `on_msg`, until the dump's `NLMSG_DONE` or the acknowledgement; a refusal comes
    /// back as the `io::Error` of its errno. `on_msg` returning `true` ends the wait
    /// early (a plain get answers once, without an ack unless asked).
    pub fn request(
        &self,
        msg: &[u8],
        seq: u32,
        mut on_msg: impl FnMut(&Message<'_>) -> io::Result<bool>,
    ) -> io::Result<()> {
        self.send(msg)?;
        // A request made from inside another's `on_msg` finds the buffer taken: it uses
        // its own.
        let mut own = Vec::new();
        let mut shared = self.buf.try_lock();
        let buf = match shared.as_deref_mut() {
            Ok(b) => b,
            Err(_) => &mut own,
        };
        if buf.len() < RECV_BUF {
            buf.resize(RECV_BUF, 0);
        }
        loop {
            for m in messages(self.recv(buf)?) {
                let m = m?;
                if m.seq != seq {
                    continue;
                }
                match m.ty {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => return Ack::of(&m).error().map_or(Ok(()), Err),
                    _ => {
                        if on_msg(&m)? {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}
