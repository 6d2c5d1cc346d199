//! Sending a [`Transaction`] and reading the kernel's verdict.
//!
//! Every command asks for an acknowledgement; the kernel runs the whole batch inside
//! `send` and queues one answer per command, so they are read without waiting. A refusal
//! names the object, the errno, and the kernel's extended-ack message when it gives one.

use std::fmt;
use std::io;

use netlink_wire::{messages, Ack, Socket, NLMSG_ERROR};

use crate::batch::Transaction;

const SOL_NETLINK: libc::c_int = 270;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;

/// The kernel's refusal of a transaction (nothing of it was applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyError {
    /// The positive errno.
    pub errno: i32,
    /// The command it answers (`rule 3 of chain fwd_judge in table inet brouter`).
    pub what: String,
    /// The kernel's extended-ack text, if it gave one.
    pub message: Option<String>,
}

impl ApplyError {
    /// A failure of the socket itself while `what`.
    pub fn io(what: &str, e: io::Error) -> ApplyError {
        ApplyError {
            errno: e.raw_os_error().unwrap_or(libc::EIO),
            what: what.to_string(),
            message: None,
        }
    }
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = io::Error::from_raw_os_error(self.errno);
        write!(f, "{}: {e}", self.what)?;
        if let Some(m) = &self.message {
            write!(f, " ({m})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApplyError {}

/// Open a `NETLINK_NETFILTER` socket in the calling thread's namespace.
pub fn open() -> io::Result<Socket> {
    Socket::open(netlink_wire::NETLINK_NETFILTER)
}

/// Send `tx` over `sock` (in whatever namespace it was opened) and wait for the kernel's
/// verdict. `check_only`: send it without `BATCH_END`, so the kernel validates
/// everything and aborts (how `nft -c` checks).
pub fn send(sock: &Socket, tx: &Transaction, check_only: bool) -> Result<(), ApplyError> {
    let bytes = if check_only { tx.check_bytes() } else { tx.bytes() };
    size_buffers(sock, bytes.len(), tx.commands());
    sock.send(bytes).map_err(|e| {
        let what = format!("sending the nf_tables batch ({} bytes)", bytes.len());
        ApplyError::io(&what, e)
    })?;
    let answered = read_answers(sock, tx)?;
    if answered < tx.commands() {
        return Err(ApplyError {
            errno: libc::EIO,
            what: format!(
                "the nf_tables batch (the kernel answered {answered} of {} commands)",
                tx.commands()
            ),
            message: None,
        });
    }
    Ok(())
}

/// Answers: an ack per command, carrying only the header of the command it answers
/// (CAP_ACK), plus the kernel's text on errors (EXT_ACK); best effort, older kernels
/// without them still answer. The kernel reads a batch from one datagram: the send
/// buffer must hold it whole, and the receive buffer every answer.
fn size_buffers(sock: &Socket, len: usize, commands: usize) {
    let _ = sock.set_option(SOL_NETLINK, NETLINK_CAP_ACK, 1);
    let _ = sock.set_option(SOL_NETLINK, NETLINK_EXT_ACK, 1);
    let want = i32::try_from(len + 64 * 1024).unwrap_or(i32::MAX);
    if sock
        .set_option(libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, want)
        .is_err()
    {
        let _ = sock.set_option(libc::SOL_SOCKET, libc::SO_SNDBUF, want);
    }
    let answers = i32::try_from(commands * 512 + 256 * 1024).unwrap_or(i32::MAX);
    if sock
        .set_option(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, answers)
        .is_err()
    {
        let _ = sock.set_option(libc::SOL_SOCKET, libc::SO_RCVBUF, answers);
    }
}

/// Read the queued answers: how many came, or the refusal (the batch-level one wins,
/// else the first command refused).
fn read_answers(sock: &Socket, tx: &Transaction) -> Result<usize, ApplyError> {
    let io_err = |e| ApplyError::io("reading the kernel's answers", e);
    let mut answered = 0usize;
    let mut first_err: Option<ApplyError> = None;
    let mut rbuf = vec![0u8; 64 * 1024];
    while let Some(data) = sock.recv_nowait(&mut rbuf).map_err(io_err)? {
        for msg in messages(data) {
            let msg = msg.map_err(io_err)?;
            if msg.ty != NLMSG_ERROR {
                continue;
            }
            answered += 1;
            let ack = Ack::of(&msg);
            if ack.errno == 0 {
                continue;
            }
            if first_err.is_none() || msg.seq == tx.begin_seq() {
                first_err = Some(ApplyError {
                    errno: ack.errno,
                    what: tx.describe(msg.seq),
                    message: ack.message,
                });
            }
        }
    }
    first_err.map_or(Ok(answered), Err)
}
