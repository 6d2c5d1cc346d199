//! TCP probes between lab namespaces: real connections, with deadlines and no sleeps.
//!
//! A [`Listener`] accepts on every address of its namespace and answers each connection
//! with one line, `<peer> <local>`: the source address it saw (after any SNAT) and the
//! address the connection arrived at (after any DNAT). The client ([`connect`]) reads that
//! line, so one listener can serve many concurrent probes and each probe learns exactly
//! what its receiver saw. [`Listener::start`] returns only once the socket listens, so a
//! client may connect right away.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::netns::NsHandle;

/// What one TCP connection attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
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

impl Outcome {
    pub fn is_connected(&self) -> bool {
        matches!(self, Outcome::Connected { .. })
    }
}

/// A TCP listener on `0.0.0.0:port` inside a namespace, stopped on drop.
#[derive(Debug)]
pub struct Listener {
    /// A second handle on the listening socket: shutting it down wakes `accept`.
    socket: TcpListener,
    stopping: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl Listener {
    /// Listen on `port` in `ns`; returns once the socket is listening.
    pub fn start(ns: &NsHandle, port: u16) -> io::Result<Listener> {
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<TcpListener>>();
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&stopping);
        let thread = ns.spawn(move || {
            let listener = match TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)) {
                Ok(l) => l,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(listener.try_clone());
            serve(&listener, &stop);
        });
        match ready_rx.recv() {
            Ok(Ok(socket)) => Ok(Listener {
                socket,
                stopping,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(io::Error::new(
                    e.kind(),
                    format!("listen on port {port} in {}: {e}", ns.name()),
                ))
            }
            Err(_) => match thread.join() {
                Ok(Err(e)) => Err(e),
                _ => Err(io::Error::other(format!("listener thread in {} died", ns.name()))),
            },
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // SAFETY: a valid socket fd owned by `self.socket`; shutdown wakes a blocked accept.
        unsafe {
            libc::shutdown(self.socket.as_raw_fd(), libc::SHUT_RDWR);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answer every connection with `<peer> <local>\n` until stopped.
fn serve(listener: &TcpListener, stopping: &AtomicBool) {
    loop {
        match listener.accept() {
            Ok((mut conn, peer)) => {
                let local = conn
                    .local_addr()
                    .map_or_else(|_| "?".to_string(), |a| a.to_string());
                let _ = writeln!(conn, "{peer} {local}");
            }
            Err(_) if stopping.load(Ordering::SeqCst) => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
            Err(_) => return,
        }
    }
}

/// Connect from `ns` to `dst`, waiting at most `deadline` for the connection and the
/// listener's answer.
pub fn connect(ns: &NsHandle, dst: SocketAddr, deadline: Duration) -> Outcome {
    match ns.run(move || connect_here(dst, deadline)) {
        Ok(o) => o,
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

fn connect_here(dst: SocketAddr, deadline: Duration) -> Outcome {
    let end = Instant::now() + deadline;
    let stream = match TcpStream::connect_timeout(&dst, deadline) {
        Ok(s) => s,
        Err(e) => return classify(e),
    };
    let left = end
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    if let Err(e) = stream.set_read_timeout(Some(left)) {
        return Outcome::Failed(format!("set read timeout: {e}"));
    }
    let mut line = String::new();
    match BufReader::new(stream).read_line(&mut line) {
        Ok(_) => parse_answer(&line).unwrap_or_else(|| {
            Outcome::Failed(format!(
                "{dst} answered {:?}, not our listener: someone else is listening",
                line.trim()
            ))
        }),
        Err(e) => Outcome::Failed(format!("connected to {dst}, but no answer: {e}")),
    }
}

fn parse_answer(line: &str) -> Option<Outcome> {
    let (seen, arrived) = line.trim().split_once(' ')?;
    Some(Outcome::Connected {
        seen: seen.parse().ok()?,
        arrived: arrived.parse().ok()?,
    })
}

fn classify(e: io::Error) -> Outcome {
    if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) {
        return Outcome::TimedOut;
    }
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED | libc::ECONNRESET) => Outcome::Refused,
        Some(libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EACCES | libc::EPERM) => Outcome::Unreachable,
        _ => Outcome::Failed(format!("connect: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_answer_parses_into_what_the_receiver_saw() {
        assert_eq!(
            parse_answer("192.0.2.2:40000 10.98.98.10:80\n"),
            Some(Outcome::Connected {
                seen: "192.0.2.2:40000".parse().unwrap(),
                arrived: "10.98.98.10:80".parse().unwrap(),
            })
        );
        assert_eq!(parse_answer("SSH-2.0-OpenSSH_9.2\r\n"), None);
    }
}
