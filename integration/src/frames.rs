//! Raw Ethernet frames as a domU could send them (IPv4, IPv6, 802.1Q-tagged), and a
//! listener on another interface that reports whether one arrived.
//!
//! What anti-spoofing lets through cannot be judged with the IP stack's sockets for
//! everything it must cover: a DHCP discover from `0.0.0.0`, duplicate address detection
//! from `::`, a tagged frame, a source address the sender does not hold. A frame built
//! byte by byte and sent on an `AF_PACKET` socket can be anything; the test sends frames
//! the bridge floods (broadcast or multicast destinations) and listens on another port's
//! peer, so the only question is whether the bridge's prerouting hook let it pass. Each
//! frame carries a token in its payload, so no other frame counts; it is sent again
//! every [`RESEND`] until seen or the deadline passes, so a lost frame is never taken
//! for a drop.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use socket2::SockRef;

use crate::probe::token;
use crate::Netns;

/// How often an unseen frame is sent again.
const RESEND: Duration = Duration::from_millis(100);
/// How often the listener looks at the clock.
const POLL: Duration = Duration::from_millis(50);
const ETH_P_ALL: u16 = 0x0003;

/// A MAC in bytes (`aa:cc:00:00:00:01`).
pub fn mac(text: &str) -> [u8; 6] {
    let parts: Vec<u8> = text
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).unwrap_or_else(|e| panic!("bad MAC {text:?}: {e}")))
        .collect();
    parts.try_into().unwrap_or_else(|_| panic!("bad MAC {text:?}"))
}

fn ethernet(dst: [u8; 6], src: &str, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&mac(src));
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A broadcast IPv4/UDP frame from `eth_src`, `src:sport` → `dst:dport`, `token` as data.
pub fn ipv4_udp(
    eth_src: &str,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    token: &[u8; 16],
) -> Vec<u8> {
    let udp_len = 8 + token.len();
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&((20 + udp_len) as u16).to_be_bytes());
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    ip.extend_from_slice(&sport.to_be_bytes());
    ip.extend_from_slice(&dport.to_be_bytes());
    ip.extend_from_slice(&(udp_len as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0]); // no UDP checksum (allowed in IPv4)
    ip.extend_from_slice(token);
    ethernet([0xff; 6], eth_src, 0x0800, &ip)
}

/// An IPv6 frame from `eth_src` to the multicast `dst` (its 33:33 MAC): `next` header,
/// `head` (e.g. an ICMPv6 header) then `token` as payload. An ICMPv6 message gets its
/// checksum (a snooping bridge checks it and drops a bad one); UDP's stays zero (the
/// bridge does not look).
pub fn ipv6(eth_src: &str, src: Ipv6Addr, dst: Ipv6Addr, next: u8, head: &[u8], token: &[u8; 16]) -> Vec<u8> {
    let mut upper = head.to_vec();
    upper.extend_from_slice(token);
    if next == 58 && upper.len() >= 4 {
        let mut pseudo = src.octets().to_vec();
        pseudo.extend_from_slice(&dst.octets());
        pseudo.extend_from_slice(&(upper.len() as u32).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, 58]);
        upper[2..4].copy_from_slice(&[0, 0]);
        pseudo.extend_from_slice(&upper);
        let sum = checksum(&pseudo);
        upper[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&(upper.len() as u16).to_be_bytes());
    ip.extend_from_slice(&[next, 255]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    ip.extend_from_slice(&upper);
    let d = dst.octets();
    ethernet([0x33, 0x33, d[12], d[13], d[14], d[15]], eth_src, 0x86dd, &ip)
}

/// An ICMPv6 neighbour solicitation for `target` (its header and target address), as
/// duplicate address detection sends it from `::` to the solicited-node group.
pub fn neighbour_solicitation(target: Ipv6Addr) -> Vec<u8> {
    let mut h = vec![135, 0, 0, 0, 0, 0, 0, 0];
    h.extend_from_slice(&target.octets());
    h
}

/// An ICMPv6 neighbour advertisement for `target` with the override flag set: what a
/// host announcing "`target` is at my MAC" sends unsolicited to all nodes (the IPv6 form
/// of a gratuitous ARP).
pub fn neighbour_advertisement(target: Ipv6Addr) -> Vec<u8> {
    let mut h = vec![136, 0, 0, 0, 0x20, 0, 0, 0];
    h.extend_from_slice(&target.octets());
    h
}

/// An ICMPv6 router advertisement's header (hop limit 64, router lifetime 1800 s, no
/// flags), as a rogue router would send it to all nodes: the token follows where its
/// options would.
pub fn router_advertisement() -> Vec<u8> {
    vec![134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0]
}

/// An ICMPv6 redirect's header: "reach `dest` through `target`".
pub fn redirect(target: Ipv6Addr, dest: Ipv6Addr) -> Vec<u8> {
    let mut h = vec![137, 0, 0, 0, 0, 0, 0, 0];
    h.extend_from_slice(&target.octets());
    h.extend_from_slice(&dest.octets());
    h
}

/// The link-local address the kernel gives an interface with `mac` by default
/// (fe80::/64 and the MAC's modified EUI-64), computed here independently of brouter.
pub fn eui64_link_local(mac_text: &str) -> Ipv6Addr {
    let m = mac(mac_text);
    let mut a = [0u8; 16];
    a[..2].copy_from_slice(&[0xfe, 0x80]);
    a[8..].copy_from_slice(&[m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]]);
    Ipv6Addr::from(a)
}

/// The solicited-node multicast group of `a` (`ff02::1:ffXX:XXXX`).
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// `frame` with an 802.1Q tag (`vid`) after its MAC addresses.
pub fn tagged(frame: &[u8], vid: u16) -> Vec<u8> {
    let mut f = frame[..12].to_vec();
    f.extend_from_slice(&0x8100u16.to_be_bytes());
    f.extend_from_slice(&vid.to_be_bytes());
    f.extend_from_slice(&frame[12..]);
    f
}

fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Send the frame `build` makes (given a fresh token) from `client_if` of `client` until a
/// listener on `listen_if` of `listener` sees it: `Ok(true)`; `Ok(false)` when `deadline`
/// passes first; `Err` when a socket could not be made.
pub fn arrives(
    listener: &Netns,
    listen_if: &str,
    client: &Netns,
    client_if: &str,
    build: impl FnOnce(&[u8; 16]) -> Vec<u8>,
    deadline: Duration,
) -> Result<bool, String> {
    let token = token();
    let frame = build(&token);
    let end = Instant::now() + deadline;
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let (seen_tx, seen_rx) = mpsc::channel::<()>();
    let iface = listen_if.to_string();
    let listen = listener.spawn(move || {
        let sock = match packet_socket(&iface)
            .and_then(|s| SockRef::from(&s).set_read_timeout(Some(POLL)).map(|()| s))
        {
            Ok(s) => s,
            Err(e) => {
                let _ = ready_tx.send(Err(format!("listen on {iface}: {e}")));
                return;
            }
        };
        let _ = ready_tx.send(Ok(()));
        let mut buf = [0u8; 2048];
        while Instant::now() < end {
            // SAFETY: a valid fd and a buffer of the stated length.
            let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n > 0 && buf[..n as usize].windows(16).any(|w| w == token) {
                let _ = seen_tx.send(());
                return;
            }
        }
    });
    ready_rx
        .recv()
        .map_err(|_| "the listener died before listening".to_string())??;
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let (sent_tx, sent_rx) = mpsc::channel::<Result<(), String>>();
    let iface = client_if.to_string();
    let send = client.spawn(move || {
        let sock = match packet_socket(&iface) {
            Ok(s) => s,
            Err(e) => {
                let _ = sent_tx.send(Err(format!("send from {iface}: {e}")));
                return;
            }
        };
        let mut first = Some(sent_tx);
        while Instant::now() < end {
            // SAFETY: a valid fd and a frame of the stated length.
            let rc = unsafe { libc::send(sock.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
            if let Some(tx) = first.take() {
                let _ = tx.send(match rc < 0 {
                    true => Err(format!("send from {iface}: {}", io::Error::last_os_error())),
                    false => Ok(()),
                });
            }
            if !matches!(stop_rx.recv_timeout(RESEND), Err(mpsc::RecvTimeoutError::Timeout)) {
                return;
            }
        }
    });
    let sent = sent_rx.recv().map_err(|_| "the sender died".to_string());
    let seen = match sent {
        Ok(Ok(())) => Ok(seen_rx
            .recv_timeout(end.saturating_duration_since(Instant::now()))
            .is_ok()),
        Ok(Err(e)) | Err(e) => Err(e),
    };
    drop(stop_tx);
    let _ = send.join();
    let _ = listen.join();
    seen
}

/// An `AF_PACKET` socket for every protocol, bound to `iface` of the calling thread's
/// namespace.
fn packet_socket(iface: &str) -> io::Result<OwnedFd> {
    crate::arp::packet_socket(iface, ETH_P_ALL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv4_header_checksums_to_zero_and_a_tag_follows_the_macs() {
        let f = ipv4_udp(
            "aa:cc:00:00:00:01",
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            68,
            67,
            &[7; 16],
        );
        assert_eq!(checksum(&f[14..34]), 0);
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        let t = tagged(&f, 10);
        assert_eq!(&t[12..18], &[0x81, 0x00, 0, 10, 0x08, 0x00]);
        assert_eq!(
            solicited_node("fd98::1:20".parse().unwrap()),
            "ff02::1:ff01:20".parse::<Ipv6Addr>().unwrap()
        );
    }
}
