//! ARP probes: a raw ARP request sent from a domU, and a listener on a dom0 bridge that
//! reports whether it arrived.
//!
//! Anti-spoofing of ARP cannot be seen with sockets of the IP stack: a poisoned neighbour
//! entry shows up only later and only sometimes. What can be seen at once is whether the
//! frame got past the bridge's prerouting hook: a listener (an `AF_PACKET` socket) on the
//! bridge device receives every ARP broadcast the bridge passes up to the dom0 — the
//! frame that would otherwise teach the dom0 (and every VM) a false neighbour. The
//! request is sent again every [`RESEND`] until the listener sees it or the deadline
//! passes, so a lost frame is never mistaken for a drop. Each probe carries a token in the
//! Ethernet padding, so frames of other probes never count.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::SockRef;

use crate::probe::token;
use crate::{Netns, Outcome};

/// How often an unseen ARP request is sent again.
const RESEND: Duration = Duration::from_millis(100);

const ETH_P_ARP: u16 = 0x0806;
/// Ethernet header + ARP for IPv4 over Ethernet.
const ARP_END: usize = 14 + 28;
/// The minimum Ethernet frame (without FCS); the token sits in the padding up to it.
const FRAME_LEN: usize = 60;

/// One ARP request as a domU could send it, every field under the sender's control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpRequest {
    /// The Ethernet source address.
    pub eth_src: [u8; 6],
    /// The ARP sender hardware address (what a neighbour table would learn).
    pub sender_mac: [u8; 6],
    /// The ARP sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// The address asked for.
    pub target_ip: Ipv4Addr,
}

impl ArpRequest {
    /// A broadcast "who has `target_ip`, tell `sender_ip`" from `mac` (Ethernet and ARP).
    pub fn new(mac: &str, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> ArpRequest {
        let mac = parse_mac(mac);
        ArpRequest {
            eth_src: mac,
            sender_mac: mac,
            sender_ip,
            target_ip,
        }
    }

    fn frame(&self, token: &[u8; 16]) -> [u8; FRAME_LEN] {
        let mut f = [0u8; FRAME_LEN];
        f[0..6].copy_from_slice(&[0xff; 6]);
        f[6..12].copy_from_slice(&self.eth_src);
        f[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
        // htype 1 (Ethernet), ptype IPv4, hlen 6, plen 4, oper 1 (request).
        f[14..22].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
        f[22..28].copy_from_slice(&self.sender_mac);
        f[28..32].copy_from_slice(&self.sender_ip.octets());
        // target hardware address stays zero
        f[38..42].copy_from_slice(&self.target_ip.octets());
        f[ARP_END..ARP_END + 16].copy_from_slice(token);
        f
    }
}

/// Send `req` from interface `client_if` of `client` until a listener on `listen_if` of
/// `listener` sees it (Connected, with the ARP sender address as `peer_seen`) or
/// `deadline` passes (TimedOut).
pub fn arp(
    listener: &Netns,
    listen_if: &str,
    client: &Netns,
    client_if: &str,
    req: &ArpRequest,
    deadline: Duration,
) -> Outcome {
    let token = token();
    let end = Instant::now() + deadline;
    let (listen_thread, ready_rx, seen_rx) = listen(listener, listen_if, token, end);
    match ready_rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let _ = listen_thread.join();
            return Outcome::Failed(e);
        }
        Err(_) => return Outcome::Failed("ARP listener died before listening".into()),
    }
    let (sender, stop_tx, sent_rx) = resend(client, client_if, req.frame(&token), end);
    let outcome = match sent_rx.recv() {
        Ok(Err(e)) => Outcome::Failed(e),
        Err(_) => Outcome::Failed("ARP sender died".into()),
        Ok(Ok(())) => match seen_rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
            Ok(ip) => Outcome::Connected {
                peer_seen: SocketAddr::new(ip.into(), 0),
            },
            Err(_) => Outcome::TimedOut,
        },
    };
    drop(stop_tx);
    let _ = sender.join();
    let _ = listen_thread.join();
    outcome
}

/// The listener on `iface` of `ns`: it says once whether it listens, then sends the ARP
/// sender address of the first frame carrying `token`. It stops by itself at `end` (a
/// packet socket cannot be shut down to wake it), polling with a short receive timeout.
fn listen(
    ns: &Netns,
    iface: &str,
    token: [u8; 16],
    end: Instant,
) -> (
    JoinHandle<()>,
    mpsc::Receiver<Result<(), String>>,
    mpsc::Receiver<Ipv4Addr>,
) {
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let (seen_tx, seen_rx) = mpsc::channel::<Ipv4Addr>();
    let iface = iface.to_string();
    let thread = ns.spawn(move || {
        let listening = packet_socket(&iface, ETH_P_ARP)
            .and_then(|s| SockRef::from(&s).set_read_timeout(Some(POLL)).map(|()| s));
        let sock = match listening {
            Ok(s) => s,
            Err(e) => {
                let _ = ready_tx.send(Err(format!("listen for ARP on {iface}: {e}")));
                return;
            }
        };
        let _ = ready_tx.send(Ok(()));
        let mut buf = [0u8; 2048];
        while Instant::now() < end {
            // SAFETY: a valid fd and a buffer of the stated length.
            let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n <= 0 {
                continue; // the poll timeout
            }
            let f = &buf[..n as usize];
            if f.len() >= ARP_END + 16 && f[ARP_END..ARP_END + 16] == token {
                let _ = seen_tx.send(Ipv4Addr::new(f[28], f[29], f[30], f[31]));
                return;
            }
        }
    });
    (thread, ready_rx, seen_rx)
}

/// The sender on `iface` of `ns`: it says whether its first send worked, and resends
/// `frame` every [`RESEND`] until it is told to stop (the returned sender dropped) or
/// `end` passes.
fn resend(
    ns: &Netns,
    iface: &str,
    frame: [u8; FRAME_LEN],
    end: Instant,
) -> (
    JoinHandle<()>,
    mpsc::Sender<()>,
    mpsc::Receiver<Result<(), String>>,
) {
    let client_if = iface.to_string();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let (sent_tx, sent_rx) = mpsc::channel::<Result<(), String>>();
    let thread = ns.spawn(move || {
        let sock = match packet_socket(&client_if, ETH_P_ARP) {
            Ok(s) => s,
            Err(e) => {
                let _ = sent_tx.send(Err(format!("send ARP from {client_if}: {e}")));
                return;
            }
        };
        let mut first = Some(sent_tx);
        while Instant::now() < end {
            // SAFETY: a valid fd and a frame of the stated length.
            let rc = unsafe { libc::send(sock.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
            if let Some(tx) = first.take() {
                let r = if rc < 0 {
                    Err(format!(
                        "send ARP from {client_if}: {}",
                        io::Error::last_os_error()
                    ))
                } else {
                    Ok(())
                };
                let _ = tx.send(r);
            }
            if !matches!(stop_rx.recv_timeout(RESEND), Err(mpsc::RecvTimeoutError::Timeout)) {
                return;
            }
        }
    });
    (thread, stop_tx, sent_rx)
}

/// How often the listener looks at the clock.
const POLL: Duration = Duration::from_millis(50);

/// An `AF_PACKET` socket for the frames of one Ethernet protocol (`ETH_P_ALL` for every
/// one), bound to `iface` of the calling thread's namespace.
pub(crate) fn packet_socket(iface: &str, ethertype: u16) -> io::Result<OwnedFd> {
    let proto = ethertype.to_be();
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, libc::c_int::from(proto)) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd we own.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let name = std::ffi::CString::new(iface).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: a NUL-terminated name.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: all-zero is a valid sockaddr_ll.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = index as i32;
    // SAFETY: a valid fd and a sockaddr_ll of the stated size.
    let rc = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sock)
}

fn parse_mac(mac: &str) -> [u8; 6] {
    let mut out = [0u8; 6];
    let parts: Vec<u8> = mac
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).unwrap_or_else(|e| panic!("bad MAC {mac:?}: {e}")))
        .collect();
    assert_eq!(parts.len(), 6, "bad MAC {mac:?}");
    out.copy_from_slice(&parts);
    out
}
