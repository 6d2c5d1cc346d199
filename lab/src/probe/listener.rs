//! A long-lived TCP listener that tells each client what it saw, for `brouter demo`.
//!
//! A [`Listener`] accepts on every address of its namespace and answers each connection
//! with one line, `<peer> <local>`: the source address it saw (after any SNAT) and the
//! address the connection arrived at (after any DNAT). The client ([`connect`]) reads that
//! line, so one listener serves many concurrent probes (the demo's table runs every row
//! at once) and each probe learns exactly what its receiver saw. It is the flow probes'
//! server ([`super::Server`]) kept running; [`Listener::start`] returns only once the
//! socket listens, so a client may connect right away.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{SockAddr, Socket};

use super::{Kind, Server};
use crate::netns::NsHandle;

/// What one TCP connection attempt did. Unlike a flow's [`super::Outcome`] it tells a
/// TCP reset from an ICMP unreachable, which the demo prints apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Connected, and our listener answered: `seen` is the client's address as the
    /// receiver saw it, `arrived` the address it was accepted on.
    Connected { seen: SocketAddr, arrived: SocketAddr },
    /// A TCP reset came back (a `reject`, or nobody listening).
    Refused,
    /// An ICMP unreachable came back (a `reject`, or no route).
    Unreachable,
    /// Nothing came back before the deadline (a `drop`).
    TimedOut,
    /// The probe could not run, or somebody other than our listener answered.
    Failed(String),
}

impl Reply {
    pub fn is_connected(&self) -> bool {
        matches!(self, Reply::Connected { .. })
    }
}

/// A TCP listener on `0.0.0.0:port` inside a namespace, stopped on drop.
#[derive(Debug)]
pub struct Listener(Option<Server>);

impl Listener {
    /// Listen on `port` in `ns`; returns once the socket is listening.
    pub fn start(ns: &NsHandle, port: u16) -> io::Result<Listener> {
        let listen = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port);
        Server::start(ns, Kind::Answer, listen)
            .map(|s| Listener(Some(s)))
            .map_err(|e| io::Error::other(format!("{e} (in {})", ns.name())))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(server) = self.0.take() {
            server.stop();
        }
    }
}

/// Answer one accepted connection with `<peer> <local>\n`.
pub(super) fn answer(conn: Socket, peer: SockAddr) {
    let local = conn
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map_or_else(|| "?".to_string(), |a| a.to_string());
    let peer = peer
        .as_socket()
        .map_or_else(|| "?".to_string(), |a| a.to_string());
    let mut conn = TcpStream::from(conn);
    let _ = writeln!(conn, "{peer} {local}");
}

/// Connect from `ns` to `dst`, waiting at most `deadline` for the connection and the
/// listener's answer.
pub fn connect(ns: &NsHandle, dst: SocketAddr, deadline: Duration) -> Reply {
    match ns.run(move || connect_here(dst, deadline)) {
        Ok(o) => o,
        Err(e) => Reply::Failed(e.to_string()),
    }
}

fn connect_here(dst: SocketAddr, deadline: Duration) -> Reply {
    let end = Instant::now() + deadline;
    let stream = match TcpStream::connect_timeout(&dst, deadline) {
        Ok(s) => s,
        Err(e) => return classify(e),
    };
    let left = end
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    if let Err(e) = stream.set_read_timeout(Some(left)) {
        return Reply::Failed(format!("set read timeout: {e}"));
    }
    let mut line = String::new();
    match BufReader::new(stream).read_line(&mut line) {
        Ok(_) => parse_answer(&line).unwrap_or_else(|| {
            Reply::Failed(format!(
                "{dst} answered {:?}, not our listener: someone else is listening",
                line.trim()
            ))
        }),
        Err(e) => Reply::Failed(format!("connected to {dst}, but no answer: {e}")),
    }
}

fn parse_answer(line: &str) -> Option<Reply> {
    let (seen, arrived) = line.trim().split_once(' ')?;
    Some(Reply::Connected {
        seen: seen.parse().ok()?,
        arrived: arrived.parse().ok()?,
    })
}

fn classify(e: io::Error) -> Reply {
    if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) {
        return Reply::TimedOut;
    }
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED | libc::ECONNRESET) => Reply::Refused,
        Some(libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EACCES | libc::EPERM) => Reply::Unreachable,
        _ => Reply::Failed(format!("connect: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_answer_parses_into_what_the_receiver_saw() {
        assert_eq!(
            parse_answer("192.0.2.2:40000 10.98.98.10:80\n"),
            Some(Reply::Connected {
                seen: "192.0.2.2:40000".parse().unwrap(),
                arrived: "10.98.98.10:80".parse().unwrap(),
            })
        );
        assert_eq!(parse_answer("SSH-2.0-OpenSSH_9.2\r\n"), None);
    }
}
