//! Forgetting stale connection-tracking entries, over ctnetlink (`NETLINK_NETFILTER`).
//!
//! The kernel NATs a flow once, on its first packet, and keeps that decision in the
//! flow's conntrack entry for as long as packets keep coming. A UDP flow that reached the
//! dom0 before a forward existed (a game or VoIP client retrying) therefore keeps going
//! to the dom0 after the forward is added — the new DNAT rule never sees it. Deleting the
//! entry makes the next datagram a new flow, which the current rules translate.
//!
//! The messages (a dump of the IPv4 table, then one delete per entry by its original
//! tuple) are written and read with `netlink-wire`, the one netlink layer (the `conntrack`
//! tool is not on every dom0). Everything runs on a thread inside the target namespace,
//! because a netlink socket talks to the namespace it was created in.

use std::io;
use std::net::Ipv4Addr;

use brouter_engine::config::{PortRange, Proto};
use brouter_engine::{BackendError, ErrorKind};

use netlink_wire::{attrs, be16, Writer, NETLINK_NETFILTER, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};

use crate::NetnsTarget;

const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;

const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_ZONE: u16 = 18;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;

/// One direction of a connection: addresses, protocol, ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuple {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
}

/// A conntrack entry as far as brouter cares: the tuple the first packet had, the tuple
/// replies have (its source is where the connection really goes, after DNAT), its zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub orig: Tuple,
    pub reply: Tuple,
    pub zone: Option<u16>,
}

/// What to forget: connections of `proto` to one of `to` (the dom0 addresses forwards
/// apply to) on a port in `ports`, except those already translated to `keep`
/// (the forward's target address and port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    pub proto: Proto,
    pub ports: PortRange,
    pub to: Vec<Ipv4Addr>,
    pub keep: Option<(Ipv4Addr, Option<u16>)>,
}

impl Stale {
    /// Whether `e` is a connection this forward now covers but the kernel still sends elsewhere.
    pub fn matches(&self, e: &Entry) -> bool {
        let proto = match self.proto {
            Proto::Tcp => libc::IPPROTO_TCP as u8,
            Proto::Udp => libc::IPPROTO_UDP as u8,
        };
        if e.orig.proto != proto || !self.ports.contains(e.orig.dport) || !self.to.contains(&e.orig.dst) {
            return false;
        }
        let lands_on_target = self
            .keep
            .is_some_and(|(addr, port)| e.reply.src == addr && e.reply.sport == port.unwrap_or(e.orig.dport));
        !lands_on_target
    }
}

/// Delete the entries of `target`'s conntrack table that `stale` matches; returns how
/// many went. An entry that vanished meanwhile is not an error.
pub fn forget(target: &NetnsTarget, stale: &Stale) -> Result<usize, BackendError> {
    let stale = stale.clone();
    let label = target.label();
    let what = |e: io::Error| {
        BackendError::new(
            ErrorKind::Other,
            format!("cannot clear stale connection tracking entries in network namespace {label}: {e}"),
        )
    };
    target
        .run(move || -> io::Result<usize> {
            let sock = Socket::open()?;
            let doomed: Vec<Entry> = sock.dump()?.into_iter().filter(|e| stale.matches(e)).collect();
            let mut n = 0;
            for e in &doomed {
                if sock.delete(e)? {
                    n += 1;
                }
            }
            Ok(n)
        })
        .and_then(|r| r)
        .map_err(what)
}

/// A ctnetlink conversation over a `NETLINK_NETFILTER` socket.
struct Socket {
    nl: netlink_wire::Socket,
}

impl Socket {
    fn open() -> io::Result<Socket> {
        Ok(Socket {
            nl: netlink_wire::Socket::open(NETLINK_NETFILTER)?,
        })
    }

    /// A request: `nlmsghdr`, `nfgenmsg` (IPv4, version 0, resource id 0), attributes
    /// written by `attrs`.
    fn request(&self, msg_type: u16, flags: u16, attrs: impl FnOnce(&mut Writer)) -> (Vec<u8>, u32) {
        let seq = self.nl.next_seq();
        let mut w = Writer::with_capacity(128);
        let ty = (NFNL_SUBSYS_CTNETLINK << 8) | msg_type;
        let m = w.begin_msg(ty, NLM_F_REQUEST | flags, seq, &[libc::AF_INET as u8, 0, 0, 0]);
        attrs(&mut w);
        w.end_msg(m);
        (w.into_bytes(), seq)
    }

    /// Every IPv4 conntrack entry.
    fn dump(&self) -> io::Result<Vec<Entry>> {
        let (msg, seq) = self.request(IPCTNL_MSG_CT_GET, NLM_F_DUMP, |_| {});
        let mut out = vec![];
        self.nl.request(&msg, seq, |m| {
            out.extend(m.body.get(4..).and_then(parse_entry));
            Ok(false)
        })?;
        Ok(out)
    }

    /// Delete one entry by its original tuple; `false` if it was already gone.
    fn delete(&self, e: &Entry) -> io::Result<bool> {
        let (msg, seq) = self.request(IPCTNL_MSG_CT_DELETE, NLM_F_ACK, |w| {
            write_tuple(w, CTA_TUPLE_ORIG, &e.orig);
            if let Some(z) = e.zone {
                w.put_be16(CTA_ZONE, z);
            }
        });
        match self.nl.request(&msg, seq, |_| Ok(false)) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn parse_entry(buf: &[u8]) -> Option<Entry> {
    let (mut orig, mut reply, mut zone) = (None, None, None);
    for (ty, v) in attrs(buf) {
        match ty {
            CTA_TUPLE_ORIG => orig = parse_tuple(v),
            CTA_TUPLE_REPLY => reply = parse_tuple(v),
            CTA_ZONE if v.len() >= 2 => zone = Some(be16(v)).filter(|z| *z != 0),
            _ => {}
        }
    }
    Some(Entry {
        orig: orig?,
        reply: reply?,
        zone,
    })
}

fn parse_tuple(buf: &[u8]) -> Option<Tuple> {
    let (mut src, mut dst, mut proto, mut sport, mut dport) = (None, None, None, 0, 0);
    let ip = |v: &[u8]| <[u8; 4]>::try_from(v).ok().map(Ipv4Addr::from);
    for (ty, v) in attrs(buf) {
        for (t, a) in attrs(v) {
            match (ty, t) {
                (CTA_TUPLE_IP, CTA_IP_V4_SRC) => src = ip(a),
                (CTA_TUPLE_IP, CTA_IP_V4_DST) => dst = ip(a),
                (CTA_TUPLE_PROTO, CTA_PROTO_NUM) => proto = a.first().copied(),
                (CTA_TUPLE_PROTO, CTA_PROTO_SRC_PORT) => sport = be16(a),
                (CTA_TUPLE_PROTO, CTA_PROTO_DST_PORT) => dport = be16(a),
                _ => {}
            }
        }
    }
    Some(Tuple {
        src: src?,
        dst: dst?,
        proto: proto?,
        sport,
        dport,
    })
}

/// A tuple as a nested attribute of type `ty` (`CTA_TUPLE_ORIG`).
fn write_tuple(w: &mut Writer, ty: u16, t: &Tuple) {
    let outer = w.nest(ty);
    let ip = w.nest(CTA_TUPLE_IP);
    w.put(CTA_IP_V4_SRC, &t.src.octets());
    w.put(CTA_IP_V4_DST, &t.dst.octets());
    w.end(ip);
    let proto = w.nest(CTA_TUPLE_PROTO);
    w.put(CTA_PROTO_NUM, &[t.proto]);
    w.put_be16(CTA_PROTO_SRC_PORT, t.sport);
    w.put_be16(CTA_PROTO_DST_PORT, t.dport);
    w.end(proto);
    w.end(outer);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(dst: [u8; 4], dport: u16, reply_src: [u8; 4], reply_sport: u16) -> Entry {
        Entry {
            orig: Tuple {
                src: Ipv4Addr::new(192, 0, 2, 1),
                dst: dst.into(),
                proto: 17,
                sport: 40000,
                dport,
            },
            reply: Tuple {
                src: reply_src.into(),
                dst: Ipv4Addr::new(192, 0, 2, 1),
                proto: 17,
                sport: reply_sport,
                dport: 40000,
            },
            zone: None,
        }
    }

    fn stale() -> Stale {
        Stale {
            proto: Proto::Udp,
            ports: PortRange {
                first: 5060,
                last: 5061,
            },
            to: vec![Ipv4Addr::new(192, 0, 2, 2)],
            keep: Some((Ipv4Addr::new(10, 2, 0, 10), None)),
        }
    }

    #[test]
    fn a_flow_still_going_to_the_dom0_is_stale() {
        assert!(stale().matches(&entry([192, 0, 2, 2], 5061, [192, 0, 2, 2], 5061)));
    }

    #[test]
    fn a_flow_already_forwarded_to_the_target_is_kept() {
        assert!(!stale().matches(&entry([192, 0, 2, 2], 5060, [10, 2, 0, 10], 5060)));
    }

    #[test]
    fn a_flow_forwarded_to_an_old_target_is_stale() {
        assert!(stale().matches(&entry([192, 0, 2, 2], 5060, [10, 2, 0, 99], 5060)));
    }

    #[test]
    fn other_ports_protocols_and_outbound_flows_are_left_alone() {
        assert!(!stale().matches(&entry([192, 0, 2, 2], 5062, [192, 0, 2, 2], 5062)));
        assert!(!stale().matches(&entry([198, 51, 100, 1], 5060, [198, 51, 100, 1], 5060)));
        let mut tcp = entry([192, 0, 2, 2], 5060, [192, 0, 2, 2], 5060);
        tcp.orig.proto = 6;
        assert!(!stale().matches(&tcp));
    }

    #[test]
    fn a_tuple_survives_encoding_and_parsing() {
        let e = entry([192, 0, 2, 2], 5060, [10, 2, 0, 10], 5060);
        let mut w = Writer::default();
        write_tuple(&mut w, CTA_TUPLE_ORIG, &e.orig);
        let (ty, v) = attrs(w.as_bytes()).next().unwrap();
        assert_eq!(ty, CTA_TUPLE_ORIG);
        assert_eq!(parse_tuple(v), Some(e.orig));
    }
}
