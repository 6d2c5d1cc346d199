//! Forgetting stale connection-tracking entries, over ctnetlink (`NETLINK_NETFILTER`).
//!
//! The kernel NATs a flow once, on its first packet, and keeps that decision in the
//! flow's conntrack entry for as long as packets keep coming. A UDP flow that reached the
//! dom0 before a forward existed (a game or VoIP client retrying) therefore keeps going
//! to the dom0 after the forward is added — the new DNAT rule never sees it. Deleting the
//! entry makes the next datagram a new flow, which the current rules translate.
//!
//! The messages are built by hand (a dump of the IPv4 table, then one delete per entry by
//! its original tuple): the few attributes involved do not justify another crate, and the
//! `conntrack` tool is not on every dom0. Everything runs on a thread inside the target
//! namespace, because a netlink socket talks to the namespace it was created in.

use std::io;
use std::net::Ipv4Addr;

use brouter_engine::config::{PortRange, Proto};
use brouter_engine::{BackendError, ErrorKind};

use crate::nfnetlink::{
    self, align4 as align, errno, messages, NLA_F_NESTED, NLA_TYPE_MASK, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK,
    NLM_F_DUMP, NLM_F_REQUEST,
};
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

/// A ctnetlink conversation over the shared `NETLINK_NETFILTER` socket.
struct Socket {
    nl: nfnetlink::Socket,
}

impl Socket {
    fn open() -> io::Result<Socket> {
        Ok(Socket {
            nl: nfnetlink::Socket::open()?,
        })
    }

    fn send(&self, msg_type: u16, flags: u16, attrs: &[u8]) -> io::Result<u32> {
        let seq = self.nl.next_seq();
        // nfgenmsg: family, version 0, resource id 0.
        let nfgen = [libc::AF_INET as u8, 0, 0, 0];
        let ty = (NFNL_SUBSYS_CTNETLINK << 8) | msg_type;
        self.nl
            .send(&nfnetlink::encode(ty, NLM_F_REQUEST | flags, seq, nfgen, attrs))?;
        Ok(seq)
    }

    /// Receive netlink messages until `done` says so; each is (type, payload after nlmsghdr).
    fn recv_until(&self, seq: u32, mut on_msg: impl FnMut(u16, &[u8]) -> io::Result<bool>) -> io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            for msg in messages(self.nl.recv(&mut buf)?) {
                let msg = msg?;
                if msg.seq == seq && on_msg(msg.ty, msg.body)? {
                    return Ok(());
                }
            }
        }
    }

    /// Every IPv4 conntrack entry.
    fn dump(&self) -> io::Result<Vec<Entry>> {
        let seq = self.send(IPCTNL_MSG_CT_GET, NLM_F_DUMP, &[])?;
        let mut out = vec![];
        self.recv_until(seq, |ty, payload| match ty {
            NLMSG_DONE => Ok(true),
            NLMSG_ERROR => match errno(payload) {
                0 => Ok(true),
                e => Err(io::Error::from_raw_os_error(e)),
            },
            _ => {
                if let Some(e) = payload.get(4..).and_then(parse_entry) {
                    out.push(e);
                }
                Ok(false)
            }
        })?;
        Ok(out)
    }

    /// Delete one entry by its original tuple; `false` if it was already gone.
    fn delete(&self, e: &Entry) -> io::Result<bool> {
        let mut attrs = tuple_attr(CTA_TUPLE_ORIG, &e.orig);
        if let Some(z) = e.zone {
            put_attr(&mut attrs, CTA_ZONE, &z.to_be_bytes());
        }
        let seq = self.send(IPCTNL_MSG_CT_DELETE, NLM_F_ACK, &attrs)?;
        let mut result = Ok(true);
        self.recv_until(seq, |ty, payload| {
            if ty == NLMSG_ERROR {
                result = match errno(payload) {
                    0 => Ok(true),
                    libc::ENOENT => Ok(false),
                    e => Err(io::Error::from_raw_os_error(e)),
                };
                return Ok(true);
            }
            Ok(false)
        })?;
        result
    }
}

/// Iterate over the attributes of a buffer: (type without flags, value).
fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let ty = u16::from_ne_bytes([buf[2], buf[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > buf.len() {
            return None;
        }
        let value = &buf[4..len];
        buf = &buf[align(len).min(buf.len())..];
        Some((ty, value))
    })
}

fn parse_entry(buf: &[u8]) -> Option<Entry> {
    let (mut orig, mut reply, mut zone) = (None, None, None);
    for (ty, v) in attrs(buf) {
        match ty {
            CTA_TUPLE_ORIG => orig = parse_tuple(v),
            CTA_TUPLE_REPLY => reply = parse_tuple(v),
            CTA_ZONE if v.len() >= 2 => zone = Some(u16::from_be_bytes([v[0], v[1]])).filter(|z| *z != 0),
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
    let ip = |v: &[u8]| (v.len() == 4).then(|| Ipv4Addr::new(v[0], v[1], v[2], v[3]));
    let port = |v: &[u8]| {
        if v.len() >= 2 {
            u16::from_be_bytes([v[0], v[1]])
        } else {
            0
        }
    };
    for (ty, v) in attrs(buf) {
        match ty {
            CTA_TUPLE_IP => {
                for (t, a) in attrs(v) {
                    match t {
                        CTA_IP_V4_SRC => src = ip(a),
                        CTA_IP_V4_DST => dst = ip(a),
                        _ => {}
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                for (t, a) in attrs(v) {
                    match t {
                        CTA_PROTO_NUM => proto = a.first().copied(),
                        CTA_PROTO_SRC_PORT => sport = port(a),
                        CTA_PROTO_DST_PORT => dport = port(a),
                        _ => {}
                    }
                }
            }
            _ => {}
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

fn put_attr(buf: &mut Vec<u8>, ty: u16, value: &[u8]) {
    let len = 4 + value.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(value);
    buf.resize(align(buf.len()), 0);
}

fn nested(buf: &mut Vec<u8>, ty: u16, inner: &[u8]) {
    put_attr(buf, ty | NLA_F_NESTED, inner);
}

fn tuple_attr(ty: u16, t: &Tuple) -> Vec<u8> {
    let mut ip = vec![];
    put_attr(&mut ip, CTA_IP_V4_SRC, &t.src.octets());
    put_attr(&mut ip, CTA_IP_V4_DST, &t.dst.octets());
    let mut proto = vec![];
    put_attr(&mut proto, CTA_PROTO_NUM, &[t.proto]);
    put_attr(&mut proto, CTA_PROTO_SRC_PORT, &t.sport.to_be_bytes());
    put_attr(&mut proto, CTA_PROTO_DST_PORT, &t.dport.to_be_bytes());
    let mut inner = vec![];
    nested(&mut inner, CTA_TUPLE_IP, &ip);
    nested(&mut inner, CTA_TUPLE_PROTO, &proto);
    let mut out = vec![];
    nested(&mut out, ty, &inner);
    out
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
        let bytes = tuple_attr(CTA_TUPLE_ORIG, &e.orig);
        let (ty, v) = attrs(&bytes).next().unwrap();
        assert_eq!(ty, CTA_TUPLE_ORIG);
        assert_eq!(parse_tuple(v), Some(e.orig));
    }
}
