//! Traffic probes: real packets between namespaces, each ending in an [`Outcome`]; the
//! root tests and the bench use these, `brouter demo` its long-lived [`listener`].
//!
//! A probe with a server runs it on a thread inside the server's namespace: the server
//! binds, says so over a channel, and only then does the client (on a thread inside the
//! client's namespace) send — no sleeps. The server reports the source address it saw,
//! which is what NAT tests assert on. Every client step has a deadline; when the flow is
//! over the server's socket is shut down, which wakes its blocking call, so no thread
//! outlives the probe.
//!
//! Drops cannot be observed, only waited out: a flow expected to be dropped costs its
//! deadline. Use [`DROP_DEADLINE`] where a drop is expected and [`DEADLINE`] elsewhere.
//!
//! TCP (both ends) and [`ping`] (no server) work with IPv6 addresses too: each socket's
//! family is the address family (a TCP server listening on `[::]` also takes IPv4, as a
//! dual-stack socket does). UDP and [`icmp`] with a server are IPv4 only.

use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::netns::NsHandle;

pub mod listener;
mod sockopt;
mod udp_reply;

/// Deadline for a flow expected to get through: generous, since it is only paid on failure.
pub const DEADLINE: Duration = Duration::from_secs(2);

/// Deadline for a flow expected to be dropped: long enough for a veth round trip many
/// times over (and a resent datagram), short enough for a matrix of hundreds of flows.
pub const DROP_DEADLINE: Duration = Duration::from_millis(400);

/// How often an unanswered UDP datagram or ICMP echo is sent again within the deadline.
const RESEND: Duration = Duration::from_millis(150);

/// What a flow did, as the client and the server observed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The flow got through (and was answered). `peer_seen` is the client's source as the
    /// server saw it — after any SNAT; for ICMP the port is 0. Probes without a server of
    /// ours report the address that answered instead.
    Connected { peer_seen: SocketAddr },
    /// Actively refused: a TCP RST or an ICMP unreachable came back (a `reject`, or a
    /// router with no route).
    Refused,
    /// Nothing came back before the deadline (a `drop`).
    TimedOut,
    /// The probe itself could not run, or the flow reached somebody other than our server.
    Failed(String),
}

impl Outcome {
    /// The IP of `peer_seen`, if connected.
    pub fn peer_ip(&self) -> Option<IpAddr> {
        match self {
            Outcome::Connected { peer_seen } => Some(peer_seen.ip()),
            _ => None,
        }
    }

    /// Whether the flow got through.
    pub fn is_connected(&self) -> bool {
        matches!(self, Outcome::Connected { .. })
    }
}

/// The transport of a flow, for tests that iterate over a matrix of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
}

/// One flow: `client` sends to `dst`; a server of ours listens in `server` on
/// `listen_port` (on every address of `dst`'s family, so a DNAT'd destination reaches it
/// too). For ICMP the ports are ignored and the server is a raw listener that sees the
/// echo request.
#[derive(Debug, Clone, Copy)]
pub struct Flow<'a> {
    pub proto: Proto,
    pub client: &'a NsHandle,
    pub dst: SocketAddr,
    pub server: &'a NsHandle,
    pub listen_port: u16,
}

impl Flow<'_> {
    /// Send it and report what happened.
    pub fn run(&self, deadline: Duration) -> Outcome {
        let any: IpAddr = match self.dst {
            SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
            SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
        };
        let listen = SocketAddr::new(any, self.listen_port);
        match self.proto {
            Proto::Tcp => tcp(self.server, listen, self.client, self.dst, deadline),
            Proto::Udp => udp(self.server, listen, self.client, self.dst, deadline),
            Proto::Icmp => icmp(self.server, self.client, self.dst.ip(), deadline),
        }
    }
}

/// TCP: a server in `server` accepts one connection on `listen`; the client in `client`
/// connects to `dst`. Connected carries the peer address the server's `accept` returned.
pub fn tcp(
    server: &NsHandle,
    listen: SocketAddr,
    client: &NsHandle,
    dst: SocketAddr,
    deadline: Duration,
) -> Outcome {
    served(server, Kind::Tcp, listen, dst, deadline, || {
        inside(client, move || tcp_connect_here(dst, deadline))
    })
}

/// TCP like [`tcp`], with the client's socket bound to source address `src` — an address
/// the client namespace holds besides its own, to play a VM that sends from an address
/// it was not given (spoofing) and still sees the answer.
pub fn tcp_from(
    server: &NsHandle,
    listen: SocketAddr,
    client: &NsHandle,
    src: IpAddr,
    dst: SocketAddr,
    deadline: Duration,
) -> Outcome {
    served(server, Kind::Tcp, listen, dst, deadline, || {
        inside(client, move || tcp_connect_from_here(Some(src), dst, deadline))
    })
}

/// TCP connect from `client` to `dst` with no server of ours (the kernel, or someone
/// else's listener, answers). Connected carries `dst`.
pub fn tcp_connect(client: &NsHandle, dst: SocketAddr, deadline: Duration) -> Outcome {
    inside(client, move || tcp_connect_here(dst, deadline))
}

/// UDP: a server in `server` echoes datagrams arriving on `listen`; the client in
/// `client` sends a token to `dst` (resending until the deadline) and waits for the echo.
pub fn udp(
    server: &NsHandle,
    listen: SocketAddr,
    client: &NsHandle,
    dst: SocketAddr,
    deadline: Duration,
) -> Outcome {
    served(server, Kind::Udp, listen, dst, deadline, || {
        inside(client, move || udp_here(dst, deadline))
    })
}

/// ICMP echo from `client` to `dst`, with a raw listener in `server` that reports the
/// source of the echo request it received. Connected needs the reply back as well.
/// IPv4 only: an IPv6 `dst` is Failed (use [`ping`]).
pub fn icmp(server: &NsHandle, client: &NsHandle, dst: IpAddr, deadline: Duration) -> Outcome {
    if dst.is_ipv6() {
        return Outcome::Failed(format!("an ICMP probe with a server is IPv4 only, not {dst}"));
    }
    let token = token();
    let listen = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0);
    served(
        server,
        Kind::Icmp(token),
        listen,
        SocketAddr::new(dst, 0),
        deadline,
        || inside(client, move || ping_here(dst, token, deadline)),
    )
}

/// ICMP echo (ICMPv6 echo for an IPv6 `dst`) from `client` to `dst` with no listener:
/// Connected carries the replier.
pub fn ping(client: &NsHandle, dst: IpAddr, deadline: Duration) -> Outcome {
    let token = token();
    inside(client, move || ping_here(dst, token, deadline))
}

/// Run a client's side of a flow on a thread inside `ns`; Failed if it cannot enter.
fn inside(ns: &NsHandle, f: impl FnOnce() -> Outcome + Send + 'static) -> Outcome {
    ns.run(f).unwrap_or_else(|e| Outcome::Failed(e.to_string()))
}

/// Start a server of `kind` in `server` on `listen`, run the client's side of the flow to
/// `dst`, and combine both views ([`Server::finish`]); Failed if the server cannot listen.
fn served(
    server: &NsHandle,
    kind: Kind,
    listen: SocketAddr,
    dst: SocketAddr,
    deadline: Duration,
    client: impl FnOnce() -> Outcome,
) -> Outcome {
    match Server::start(server, kind, listen) {
        Ok(srv) => srv.finish(client(), deadline, dst),
        Err(e) => Outcome::Failed(e),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Accept connections and report each peer.
    Tcp,
    /// Accept connections and answer each with `<peer> <local>` ([`listener`]).
    Answer,
    Udp,
    Icmp([u8; 16]),
}

/// A listener running on a thread inside the server's namespace.
#[derive(Debug)]
struct Server {
    /// A second handle on the listener's socket: shutting it down wakes the thread.
    socket: Socket,
    seen: mpsc::Receiver<SocketAddr>,
    thread: std::thread::JoinHandle<io::Result<()>>,
}

impl Server {
    /// Start a server of `kind` on `listen` in `ns`; returns once it listens.
    fn start(ns: &NsHandle, kind: Kind, listen: SocketAddr) -> Result<Server, String> {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<Socket, String>>();
        let (seen_tx, seen) = mpsc::channel();
        let thread = ns.spawn(move || {
            let sock = match bind(kind, listen) {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("server cannot listen on {listen}: {e}")));
                    return;
                }
            };
            match sock.try_clone() {
                Ok(handle) => {
                    let _ = ready_tx.send(Ok(handle));
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("dup server socket: {e}")));
                    return;
                }
            }
            serve(kind, &sock, &seen_tx);
        });
        match ready_rx.recv() {
            Ok(Ok(socket)) => Ok(Server { socket, seen, thread }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => match thread.join() {
                Ok(Err(e)) => Err(format!("server cannot start: {e}")),
                _ => Err("server thread died before listening".into()),
            },
        }
    }

    /// Shut the socket down (which wakes the thread) and wait for the thread.
    fn stop(self) {
        let _ = self.socket.shutdown(Shutdown::Both);
        let _ = self.thread.join();
    }

    /// Combine the client's view with what the server saw, then stop the server.
    fn finish(self, client: Outcome, deadline: Duration, dst: SocketAddr) -> Outcome {
        let outcome = match client {
            Outcome::Connected { .. } => match self.seen.recv_timeout(deadline) {
                Ok(peer_seen) => Outcome::Connected { peer_seen },
                Err(_) => Outcome::Failed(format!(
                    "the client reached {dst}, but our server never saw the flow: someone else answered"
                )),
            },
            other => other,
        };
        self.stop();
        outcome
    }
}

fn bind(kind: Kind, listen: SocketAddr) -> io::Result<Socket> {
    let sock = match kind {
        Kind::Tcp | Kind::Answer => {
            let s = Socket::new(Domain::for_address(listen), Type::STREAM, Some(Protocol::TCP))?;
            s.set_reuse_address(true)?;
            s.bind(&listen.into())?;
            s.listen(16)?;
            s
        }
        Kind::Udp => {
            let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
            udp_reply::enable_pktinfo(&s)?;
            s.bind(&listen.into())?;
            s
        }
        Kind::Icmp(_) => Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))?,
    };
    Ok(sock)
}

/// The server loop: report each new peer until the socket is shut down.
fn serve(kind: Kind, sock: &Socket, seen: &mpsc::Sender<SocketAddr>) {
    let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
    let mut dgram = [0u8; 2048];
    loop {
        match kind {
            Kind::Tcp => match sock.accept() {
                Ok((_conn, peer)) => {
                    if let Some(p) = peer.as_socket() {
                        let _ = seen.send(p);
                    }
                }
                Err(_) => return, // shut down
            },
            Kind::Answer => match sock.accept() {
                Ok((conn, peer)) => listener::answer(conn, peer),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(_) => return, // shut down
            },
            Kind::Udp => match udp_reply::recv(sock, &mut dgram) {
                Ok((0, _, _)) | Err(_) => return,
                Ok((n, from, to)) => {
                    let _ = seen.send(from.into());
                    let _ = udp_reply::send(sock, &dgram[..n], from, to);
                }
            },
            Kind::Icmp(token) => match sock.recv_from(&mut buf) {
                Ok((0, _)) | Err(_) => return,
                Ok((n, _)) => {
                    if let Some(src) = echo_request_source(init(&buf, n), &token) {
                        let _ = seen.send(SocketAddr::new(src.into(), 0));
                    }
                }
            },
        }
    }
}

/// The source of an IPv4 packet carrying an ICMP echo request with our token, if it is one.
fn echo_request_source(pkt: &[u8], token: &[u8; 16]) -> Option<Ipv4Addr> {
    let ihl = usize::from(*pkt.first()? & 0x0f) * 4;
    let icmp = pkt.get(ihl..)?;
    let is_request = icmp.first() == Some(&8);
    let carries_token = icmp.get(8..24) == Some(&token[..]);
    (is_request && carries_token).then(|| Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]))
}

fn tcp_connect_here(dst: SocketAddr, deadline: Duration) -> Outcome {
    tcp_connect_from_here(None, dst, deadline)
}

fn tcp_connect_from_here(src: Option<IpAddr>, dst: SocketAddr, deadline: Duration) -> Outcome {
    let sock = match Socket::new(Domain::for_address(dst), Type::STREAM, Some(Protocol::TCP)) {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(format!("tcp socket: {e}")),
    };
    if let Some(src) = src {
        if let Err(e) = sock.bind(&SocketAddr::new(src, 0).into()) {
            return Outcome::Failed(format!("bind the client to {src}: {e}"));
        }
    }
    match sock.connect_timeout(&dst.into(), deadline) {
        Ok(()) => Outcome::Connected { peer_seen: dst },
        Err(e) => classify(e, "tcp connect"),
    }
}

fn udp_here(dst: SocketAddr, deadline: Duration) -> Outcome {
    let token = token();
    match connected_datagram_socket(Protocol::UDP, dst) {
        Ok(s) => exchange(&s, &token, deadline, dst, |reply| reply == &token[..]),
        Err(e) => classify(e, "udp socket"),
    }
}

fn ping_here(dst: IpAddr, token: [u8; 16], deadline: Duration) -> Outcome {
    if let Err(e) = allow_ping_sockets() {
        return Outcome::Failed(format!("enable ICMP datagram sockets: {e}"));
    }
    // Echo request and reply types: 8 and 0 for ICMP, 128 and 129 for ICMPv6.
    let (proto, request_type, reply_type) = match dst {
        IpAddr::V4(_) => (Protocol::ICMPV4, 8u8, 0u8),
        IpAddr::V6(_) => (Protocol::ICMPV6, 128, 129),
    };
    let mut request = vec![request_type, 0, 0, 0, 0, 0, 0, 1];
    request.extend_from_slice(&token);
    match connected_datagram_socket(proto, SocketAddr::new(dst, 0)) {
        // The kernel fills in the identifier and checksum of a ping socket's request.
        Ok(s) => exchange(&s, &request, deadline, SocketAddr::new(dst, 0), |reply| {
            reply.first() == Some(&reply_type) && reply.get(8..24) == Some(&token[..])
        }),
        Err(e) => classify(e, "icmp socket"),
    }
}

/// A datagram socket of `proto` connected to `dst`, asking for ICMP errors even when the
/// kernel deems them soft (host/net unreachable), so a reject is never mistaken for a drop.
fn connected_datagram_socket(proto: Protocol, dst: SocketAddr) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(dst), Type::DGRAM, Some(proto))?;
    s.connect(&dst.into())?;
    match dst {
        SocketAddr::V4(_) => sockopt::enable(&s, libc::SOL_IP, libc::IP_RECVERR)?,
        SocketAddr::V6(_) => sockopt::enable(&s, libc::SOL_IPV6, libc::IPV6_RECVERR)?,
    }
    Ok(s)
}

/// Send `msg` on a connected datagram socket and wait for a reply that `is_answer`,
/// resending every [`RESEND`] until `deadline`.
fn exchange(
    s: &Socket,
    msg: &[u8],
    deadline: Duration,
    dst: SocketAddr,
    is_answer: impl Fn(&[u8]) -> bool,
) -> Outcome {
    let end = Instant::now() + deadline;
    let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
    let mut next_send = Instant::now();
    loop {
        let now = Instant::now();
        if now >= end {
            return Outcome::TimedOut;
        }
        if now >= next_send {
            if let Err(e) = s.send(msg) {
                return classify(e, "send");
            }
            next_send = now + RESEND;
        }
        let wait = next_send
            .min(end)
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        if let Err(e) = s.set_read_timeout(Some(wait)) {
            return Outcome::Failed(format!("set timeout: {e}"));
        }
        match s.recv_from(&mut buf) {
            Ok((n, from)) if is_answer(init(&buf, n)) => {
                let peer_seen = from
                    .as_socket()
                    .map_or(dst, |a| SocketAddr::new(a.ip(), dst.port()));
                return Outcome::Connected { peer_seen };
            }
            Ok(_) => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return classify(e, "receive"),
        }
    }
}

/// Map a socket error to an outcome: unreachable-type errors are a refusal.
fn classify(e: io::Error, what: &str) -> Outcome {
    if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) {
        return Outcome::TimedOut;
    }
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED | libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EACCES) => Outcome::Refused,
        Some(libc::ENOPROTOOPT | libc::ECONNRESET) => Outcome::Refused,
        _ => Outcome::Failed(format!("{what}: {e}")),
    }
}

/// ICMP datagram ("ping") sockets need `net.ipv4.ping_group_range` to include our group;
/// it is per namespace and off by default in a new one. Called from inside the client's
/// namespace, it changes that test namespace only.
fn allow_ping_sockets() -> io::Result<()> {
    const KEY: &str = "/proc/sys/net/ipv4/ping_group_range";
    let cur = std::fs::read_to_string(KEY)?;
    let mut it = cur.split_whitespace().map(|v| v.parse::<u32>().unwrap_or(1));
    let (lo, hi) = (it.next().unwrap_or(1), it.next().unwrap_or(0));
    let gid = nix::unistd::getegid().as_raw();
    if lo <= gid && gid <= hi {
        return Ok(());
    }
    std::fs::write(KEY, "0 2147483647")
}

/// A token unique to this probe, so stray packets of another probe are never counted
/// (the ARP probes of the test harness carry one too).
pub fn token() -> [u8; 16] {
    static N: AtomicU64 = AtomicU64::new(0);
    let mut t = [0u8; 16];
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    t[..8].copy_from_slice(&(nanos as u64 ^ u64::from(std::process::id()) << 40).to_be_bytes());
    t[8..].copy_from_slice(&N.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    t
}

/// The first `n` bytes of a buffer the kernel has just filled.
fn init(buf: &[MaybeUninit<u8>], n: usize) -> &[u8] {
    // SAFETY: recv/recv_from reported that the kernel initialised the first `n` bytes.
    unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links;
    use crate::netns::{is_root, LabNetns};

    /// A namespace of this test with `lo` up, or None without root (nothing to test then).
    fn loopback_ns(tag: &str) -> Option<LabNetns> {
        if !is_root() {
            eprintln!("SKIP {tag}: needs root (CAP_NET_ADMIN)");
            return None;
        }
        let ns = LabNetns::create(&format!("brl-{tag}-{}", std::process::id())).expect("create namespace");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let conn = links::connect(&ns).await.unwrap();
            links::set_up(&conn.handle, "lo", true).await.unwrap();
        });
        Some(ns)
    }

    #[test]
    fn tcp_and_ping_probes_speak_ipv6_and_still_ipv4() {
        let Some(ns) = loopback_ns("probe6") else {
            return;
        };
        let h = ns.handle();
        for (any, lo) in [
            (
                IpAddr::from(Ipv6Addr::UNSPECIFIED),
                IpAddr::from(Ipv6Addr::LOCALHOST),
            ),
            (
                IpAddr::from(Ipv4Addr::UNSPECIFIED),
                IpAddr::from(Ipv4Addr::LOCALHOST),
            ),
        ] {
            let listen = SocketAddr::new(any, 4242);
            let dst = SocketAddr::new(lo, 4242);
            let got = tcp(&h, listen, &h, dst, DEADLINE);
            assert_eq!(got.peer_ip(), Some(lo), "tcp to {dst}: {got:?}");
            let got = tcp_from(&h, listen, &h, lo, dst, DEADLINE);
            assert_eq!(got.peer_ip(), Some(lo), "tcp from {lo} to {dst}: {got:?}");
            let flow = Flow {
                proto: Proto::Tcp,
                client: &h,
                dst,
                server: &h,
                listen_port: 4242,
            };
            assert_eq!(flow.run(DEADLINE).peer_ip(), Some(lo), "flow to {dst}");
            assert_eq!(
                tcp_connect(&h, SocketAddr::new(lo, 4243), DEADLINE),
                Outcome::Refused
            );
            assert_eq!(ping(&h, lo, DEADLINE).peer_ip(), Some(lo), "ping {lo}");
        }
    }
}
