//! Forgetting stale connection-tracking entries, over ctnetlink (`NETLINK_NETFILTER`).
//!
//! The kernel NATs a flow once, on its first packet, and keeps that decision in the
//! flow's conntrack entry for as long as packets keep coming. A UDP flow that reached the
//! dom0 before a forward existed (a game or VoIP client retrying) therefore keeps going
//! to the dom0 after the forward is added — the new DNAT rule never sees it. Deleting the
//! entry makes the next datagram a new flow, which the current rules translate.
//!
//! The messages (one dump of the whole table, IPv4 and IPv6 alike, then one delete per
//! entry by its original tuple) are `netlink-packet-netfilter`'s typed ctnetlink
//! messages, sent and answered over `netlink-wire`'s socket (the `conntrack` tool is not
//! on every dom0); the zone, which that crate does not type, is a plain attribute.
//! Everything runs on a thread inside the target namespace, because a netlink socket
//! talks to the namespace it was created in.
//!
//! One dump covers both families: a dump request whose `nfgen_family` is `AF_UNSPEC`
//! makes ctnetlink skip its family filter (`ctnetlink_dump_table` compares the entry's
//! family only when one is given), so IPv6 costs no second walk of the table. A delete
//! names its entry's own family: the kernel parses the tuple's addresses by it (and a
//! delete with `AF_UNSPEC` and no tuple would flush the whole table).

use std::io;
use std::net::IpAddr;

use brouter_engine::config::{PortRange, Proto};
use brouter_engine::{BackendError, ErrorKind};

use netlink_packet_core::{
    DefaultNla, Emitable, NetlinkDeserializable, NetlinkHeader, NetlinkSerializable, Nla,
};
use netlink_packet_netfilter::conntrack::{
    ConntrackAttribute as Cta, ConntrackMessage, IPTuple, ProtoTuple, Protocol, Tuple as Part,
};
use netlink_packet_netfilter::{
    NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily,
};
use netlink_wire::{Writer, NETLINK_NETFILTER, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};

use crate::NetnsTarget;

/// `CTA_ZONE`: not typed by netlink-packet-netfilter 0.4.
const CTA_ZONE: u16 = 18;

/// One direction of a connection: addresses (both of one family), protocol, ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuple {
    pub src: IpAddr,
    pub dst: IpAddr,
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
/// apply to, of either family) on a port in `ports`, except those already translated to
/// one of `keep` (the forward's target address and port, one per family it forwards;
/// port `None`: the same port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    pub proto: Proto,
    pub ports: PortRange,
    pub to: Vec<IpAddr>,
    pub keep: Vec<(IpAddr, Option<u16>)>,
}

impl Stale {
    /// Whether `e` is a connection this forward now covers but the kernel still sends elsewhere.
    pub fn matches(&self, e: &Entry) -> bool {
        let proto = match self.proto {
            Proto::Tcp => libc::IPPROTO_TCP as u8,
            Proto::Udp => libc::IPPROTO_UDP as u8,
        };
        if e.orig.proto != proto {
            return false;
        }
        if self.proto == Proto::Udp && self.is_dom0_side_twin(e) {
            return true;
        }
        if !self.ports.contains(e.orig.dport) || !self.to.contains(&e.orig.dst) {
            return false;
        }
        let lands_on_target = self
            .keep
            .iter()
            .any(|(addr, port)| e.reply.src == *addr && e.reply.sport == port.unwrap_or(e.orig.dport));
        !lands_on_target
    }

    /// Whether `e` is a UDP flow the dom0 started from a forwarded port: what a dom0
    /// service leaves when it answers a datagram of the client's flow just after that
    /// flow's entry was deleted. Its reply tuple is the client's flow, so the client's
    /// next datagrams would match it as replies (never NATed) and keep going to the dom0.
    /// The forward owns the port now, so such an entry is stale too.
    fn is_dom0_side_twin(&self, e: &Entry) -> bool {
        self.ports.contains(e.orig.sport) && self.to.contains(&e.orig.src)
    }

    /// Whether `e` (matched) went to a dom0 service, which may still be answering it.
    fn went_to_the_dom0(&self, e: &Entry) -> bool {
        self.to.contains(&e.reply.src) || self.to.contains(&e.orig.src)
    }
}

/// How many passes [`forget_all`] makes at most, and the pause before each pass after
/// the first: see [`forget_all`].
const PASSES: usize = 4;
const PAUSE_BETWEEN_PASSES: std::time::Duration = std::time::Duration::from_millis(20);

/// Delete the entries of `target`'s conntrack table that `stale` matches; returns how
/// many went. An entry that vanished meanwhile is not an error.
pub fn forget(target: &NetnsTarget, stale: &Stale) -> Result<usize, BackendError> {
    forget_all(target, vec![stale.clone()])
}

/// Delete the entries that any of `stale` matches, in one pass: one dump of the table,
/// each entry looked up by its protocol and port ([`Matcher`]), one delete per match. A
/// start that adds 3,000 UDP forwards costs one dump, not 3,000.
///
/// One exception makes it more than one pass: when a deleted flow was going to the dom0
/// itself, a dom0 service may have read a datagram of it before the delete and answer
/// after, and that answer creates the flow again from the dom0's side (see
/// [`Stale::is_dom0_side_twin`]). No event tells when the service has answered, so
/// another pass follows a short pause, as long as the previous one deleted such a flow
/// (at most [`PASSES`] in all). Without traffic to the dom0 on a forwarded port — the
/// usual case — it stays one pass and no pause.
pub fn forget_all(target: &NetnsTarget, stale: Vec<Stale>) -> Result<usize, BackendError> {
    if stale.is_empty() {
        return Ok(0);
    }
    let label = target.label();
    let what = |e: io::Error| {
        BackendError::new(
            ErrorKind::Other,
            format!("cannot clear stale connection tracking entries in network namespace {label}: {e}"),
        )
    };
    target
        .run(move || -> io::Result<usize> {
            let matcher = Matcher::new(&stale);
            let sock = Socket::open()?;
            let mut n = 0;
            for pass in 0..PASSES {
                if pass > 0 {
                    std::thread::sleep(PAUSE_BETWEEN_PASSES);
                }
                let doomed: Vec<Entry> = sock.dump()?.into_iter().filter(|e| matcher.matches(e)).collect();
                let mut dom0_answering = false;
                for e in &doomed {
                    if sock.delete(e)? {
                        n += 1;
                        dom0_answering |= matcher.went_to_the_dom0(e);
                    }
                }
                if !dom0_answering {
                    break;
                }
            }
            Ok(n)
        })
        .and_then(|r| r)
        .map_err(what)
}

/// Every entry of `target`'s conntrack table, both families, as one [`forget_all`] dump
/// reads them: what a kernel test looks at to see a flow tracked (and which way it goes).
pub fn entries(target: &NetnsTarget) -> Result<Vec<Entry>, BackendError> {
    let label = target.label();
    target
        .run(|| Socket::open()?.dump())
        .and_then(|r| r)
        .map_err(|e| {
            BackendError::new(
                ErrorKind::Other,
                format!("cannot read the connection tracking table in network namespace {label}: {e}"),
            )
        })
}

/// Many [`Stale`]s, found by an entry's protocol and destination port: single-port
/// forwards by a hash lookup, port ranges (few) one by one.
pub struct Matcher<'a> {
    by_port: std::collections::HashMap<(Proto, u16), Vec<&'a Stale>>,
    ranges: Vec<&'a Stale>,
}

impl<'a> Matcher<'a> {
    pub fn new(stale: &'a [Stale]) -> Matcher<'a> {
        let mut m = Matcher {
            by_port: Default::default(),
            ranges: vec![],
        };
        for s in stale {
            if s.ports.first == s.ports.last {
                m.by_port.entry((s.proto, s.ports.first)).or_default().push(s);
            } else {
                m.ranges.push(s);
            }
        }
        m
    }

    /// Whether any of the stales matches `e`.
    pub fn matches(&self, e: &Entry) -> bool {
        self.matching(e).is_some()
    }

    /// Whether the stale that matches `e` says it went to the dom0.
    fn went_to_the_dom0(&self, e: &Entry) -> bool {
        self.matching(e).is_some_and(|s| s.went_to_the_dom0(e))
    }

    /// The first stale that matches `e`, looked up by its destination port and, for UDP
    /// (a dom0-side twin, [`Stale::is_dom0_side_twin`]), its source port.
    fn matching(&self, e: &Entry) -> Option<&'a Stale> {
        let proto = match e.orig.proto as i32 {
            libc::IPPROTO_UDP => Proto::Udp,
            libc::IPPROTO_TCP => Proto::Tcp,
            _ => return None,
        };
        let by_sport = (proto == Proto::Udp).then(|| self.by_port.get(&(proto, e.orig.sport)));
        self.by_port
            .get(&(proto, e.orig.dport))
            .into_iter()
            .chain(by_sport.flatten())
            .flatten()
            .chain(self.ranges.iter())
            .copied()
            .find(|s| s.matches(e))
    }
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

    /// A request: `nlmsghdr`, then the ctnetlink message for `family` (`nfgenmsg`
    /// version 0, resource id 0) and its attributes.
    fn request(&self, family: NetfilterProtoFamily, msg: ConntrackMessage, flags: u16) -> (Vec<u8>, u32) {
        let seq = self.nl.next_seq();
        let nf = NetfilterMessage::new(NetfilterHeader::new(family, 0, 0), msg);
        let mut body = vec![0; Emitable::buffer_len(&nf)];
        nf.emit(&mut body);
        let mut w = Writer::with_capacity(16 + body.len());
        let m = w.begin_msg(nf.message_type(), NLM_F_REQUEST | flags, seq, &body);
        w.end_msg(m);
        (w.into_bytes(), seq)
    }

    /// Every conntrack entry, IPv4 and IPv6: one dump with `AF_UNSPEC`.
    fn dump(&self) -> io::Result<Vec<Entry>> {
        let (msg, seq) = self.request(
            NetfilterProtoFamily::Unspec,
            ConntrackMessage::Get(vec![]),
            NLM_F_DUMP,
        );
        let mut out = vec![];
        self.nl.request(&msg, seq, |m| {
            let mut header = NetlinkHeader::default();
            header.message_type = m.ty;
            if let Ok(NetfilterMessage {
                inner: NetfilterMessageInner::Conntrack(ConntrackMessage::New(attrs)),
                ..
            }) = NetfilterMessage::deserialize(&header, m.body)
            {
                out.extend(entry_of(&attrs));
            }
            Ok(false)
        })?;
        Ok(out)
    }

    /// Delete one entry by its original tuple; `false` if it was already gone.
    fn delete(&self, e: &Entry) -> io::Result<bool> {
        let mut attrs = vec![Cta::CtaTupleOrig(tuple_parts(&e.orig))];
        if let Some(z) = e.zone {
            attrs.push(Cta::Other(DefaultNla::new(CTA_ZONE, z.to_be_bytes().to_vec())));
        }
        let family = match e.orig.src {
            IpAddr::V4(_) => NetfilterProtoFamily::IPv4,
            IpAddr::V6(_) => NetfilterProtoFamily::IPv6,
        };
        let (msg, seq) = self.request(family, ConntrackMessage::Delete(attrs), NLM_F_ACK);
        match self.nl.request(&msg, seq, |_| Ok(false)) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// An entry from a dump answer's attributes (`None` without both tuples).
fn entry_of(attrs: &[Cta]) -> Option<Entry> {
    let (mut orig, mut reply, mut zone) = (None, None, None);
    for a in attrs {
        match a {
            Cta::CtaTupleOrig(parts) => orig = tuple(parts),
            Cta::CtaTupleReply(parts) => reply = tuple(parts),
            Cta::Other(nla) if nla.kind() == CTA_ZONE && nla.value_len() >= 2 => {
                let mut v = vec![0; nla.value_len()];
                nla.emit_value(&mut v);
                zone = Some(u16::from_be_bytes([v[0], v[1]])).filter(|z| *z != 0);
            }
            _ => {}
        }
    }
    Some(Entry {
        orig: orig?,
        reply: reply?,
        zone,
    })
}

fn tuple(parts: &[Part]) -> Option<Tuple> {
    let (mut src, mut dst, mut proto, mut sport, mut dport) = (None, None, None, 0, 0);
    for part in parts {
        match part {
            Part::Ip(ips) => {
                for ip in ips {
                    match ip {
                        IPTuple::SourceAddress(a) => src = Some(*a),
                        IPTuple::DestinationAddress(a) => dst = Some(*a),
                        _ => {}
                    }
                }
            }
            Part::Proto(ps) => {
                for p in ps {
                    match p {
                        ProtoTuple::Protocol(p) => proto = Some(u8::from(*p)),
                        ProtoTuple::SourcePort(port) => sport = *port,
                        ProtoTuple::DestinationPort(port) => dport = *port,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let (src, dst) = (src?, dst?);
    if src.is_ipv4() != dst.is_ipv4() {
        return None;
    }
    Some(Tuple {
        src,
        dst,
        proto: proto?,
        sport,
        dport,
    })
}

/// A tuple as ctnetlink's nested parts.
fn tuple_parts(t: &Tuple) -> Vec<Part> {
    vec![
        Part::Ip(vec![
            IPTuple::SourceAddress(t.src),
            IPTuple::DestinationAddress(t.dst),
        ]),
        Part::Proto(vec![
            ProtoTuple::Protocol(Protocol::from(t.proto)),
            ProtoTuple::SourcePort(t.sport),
            ProtoTuple::DestinationPort(t.dport),
        ]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// A UDP flow from a client to `dst`:`dport`, whose replies come from `reply_src`:`reply_sport`.
    fn flow(client: IpAddr, dst: IpAddr, dport: u16, reply_src: IpAddr, reply_sport: u16) -> Entry {
        Entry {
            orig: Tuple {
                src: client,
                dst,
                proto: 17,
                sport: 40000,
                dport,
            },
            reply: Tuple {
                src: reply_src,
                dst: client,
                proto: 17,
                sport: reply_sport,
                dport: 40000,
            },
            zone: None,
        }
    }

    fn entry(dst: [u8; 4], dport: u16, reply_src: [u8; 4], reply_sport: u16) -> Entry {
        let v4 = |a: [u8; 4]| IpAddr::from(Ipv4Addr::from(a));
        flow(v4([192, 0, 2, 1]), v4(dst), dport, v4(reply_src), reply_sport)
    }

    fn v6(s: &str) -> IpAddr {
        s.parse::<Ipv6Addr>().unwrap().into()
    }

    /// An IPv6 flow from the internet's 2001:db8:1::1 to `dst`:`dport`.
    fn entry6(dst: &str, dport: u16, reply_src: &str, reply_sport: u16) -> Entry {
        flow(v6("2001:db8:1::1"), v6(dst), dport, v6(reply_src), reply_sport)
    }

    fn stale() -> Stale {
        Stale {
            proto: Proto::Udp,
            ports: PortRange {
                first: 5060,
                last: 5061,
            },
            to: vec![Ipv4Addr::new(192, 0, 2, 2).into()],
            keep: vec![(Ipv4Addr::new(10, 2, 0, 10).into(), None)],
        }
    }

    /// The forward of [`stale`] to a dual-stack host: the uplink's IPv6 address too, and
    /// the host's IPv6 address as the IPv6 target.
    fn stale6() -> Stale {
        let mut s = stale();
        s.to.push(v6("2001:db8:1::2"));
        s.keep.push((v6("fd00:1::10"), None));
        s
    }

    #[test]
    fn one_pass_matches_each_forward_by_its_port_or_range() {
        let single = Stale {
            ports: PortRange {
                first: 5000,
                last: 5000,
            },
            ..stale()
        };
        let range = Stale {
            ports: PortRange {
                first: 6000,
                last: 6010,
            },
            ..stale()
        };
        let all = [single, range];
        let m = Matcher::new(&all);
        assert!(m.matches(&entry([192, 0, 2, 2], 5000, [192, 0, 2, 2], 5000)));
        assert!(m.matches(&entry([192, 0, 2, 2], 6005, [192, 0, 2, 2], 6005)));
        assert!(!m.matches(&entry([192, 0, 2, 2], 5999, [192, 0, 2, 2], 5999)));
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
    fn an_ipv6_flow_still_going_to_the_dom0_is_stale() {
        let e = entry6("2001:db8:1::2", 5060, "2001:db8:1::2", 5060);
        assert!(stale6().matches(&e));
        assert!(
            Matcher::new(&[stale6()]).matches(&e),
            "found by its port in one pass"
        );
    }

    #[test]
    fn an_ipv6_flow_already_forwarded_to_the_hosts_ipv6_address_is_kept() {
        assert!(!stale6().matches(&entry6("2001:db8:1::2", 5060, "fd00:1::10", 5060)));
    }

    #[test]
    fn an_ipv6_flow_forwarded_to_an_old_ipv6_target_is_stale() {
        assert!(stale6().matches(&entry6("2001:db8:1::2", 5060, "fd00:1::99", 5060)));
    }

    #[test]
    fn ipv6_flows_are_left_alone_by_a_forward_without_an_ipv6_target() {
        // `to` holds no IPv6 address: no IPv6 rule would catch the flow.
        assert!(!stale().matches(&entry6("2001:db8:1::2", 5060, "2001:db8:1::2", 5060)));
    }

    #[test]
    fn ipv6_flows_to_other_addresses_or_ports_are_left_alone() {
        assert!(!stale6().matches(&entry6("2001:db8:1::99", 5060, "2001:db8:1::99", 5060)));
        assert!(!stale6().matches(&entry6("2001:db8:1::2", 5062, "2001:db8:1::2", 5062)));
    }

    #[test]
    fn a_udp_flow_the_dom0_started_from_a_forwarded_port_is_stale() {
        // What a dom0 service's answer leaves when the client's flow was just deleted:
        // dom0:5060 -> client, whose replies (the client's datagrams) would never be NATed.
        let v4 = |a: [u8; 4]| IpAddr::from(Ipv4Addr::from(a));
        let twin = flow(
            v4([192, 0, 2, 2]),
            v4([192, 0, 2, 1]),
            40000,
            v4([192, 0, 2, 1]),
            40000,
        );
        let mut twin = twin;
        twin.orig.sport = 5060;
        twin.reply.dport = 5060;
        assert!(stale().matches(&twin));
        assert!(
            Matcher::new(&[stale()]).matches(&twin),
            "found by its source port"
        );
        assert!(Matcher::new(&[stale()]).went_to_the_dom0(&twin));
        let mut tcp = twin;
        tcp.orig.proto = 6;
        tcp.reply.proto = 6;
        let tcp_forward = Stale {
            proto: Proto::Tcp,
            ..stale()
        };
        assert!(!tcp_forward.matches(&tcp), "a TCP connection has no such twin");
        let mut elsewhere = twin;
        elsewhere.orig.sport = 5070;
        assert!(!stale().matches(&elsewhere), "other source ports are left alone");
    }

    #[test]
    fn a_flow_forwarded_to_a_vm_did_not_go_to_the_dom0() {
        let m = [stale()];
        let m = Matcher::new(&m);
        let old_target = entry([192, 0, 2, 2], 5060, [10, 2, 0, 99], 5060);
        assert!(m.matches(&old_target) && !m.went_to_the_dom0(&old_target));
        let to_dom0 = entry([192, 0, 2, 2], 5060, [192, 0, 2, 2], 5060);
        assert!(m.went_to_the_dom0(&to_dom0));
    }

    #[test]
    fn a_translated_port_is_kept_in_both_families() {
        let s = Stale {
            keep: vec![
                (Ipv4Addr::new(10, 2, 0, 10).into(), Some(80)),
                (v6("fd00:1::10"), Some(80)),
            ],
            ..stale6()
        };
        assert!(!s.matches(&entry([192, 0, 2, 2], 5060, [10, 2, 0, 10], 80)));
        assert!(!s.matches(&entry6("2001:db8:1::2", 5060, "fd00:1::10", 80)));
        assert!(s.matches(&entry6("2001:db8:1::2", 5060, "fd00:1::10", 5060)));
    }

    /// `e` as the kernel answers a dump (both tuples and the zone), through the bytes.
    fn through_the_wire(e: &Entry, family: NetfilterProtoFamily) -> Option<Entry> {
        let mut attrs = vec![
            Cta::CtaTupleOrig(tuple_parts(&e.orig)),
            Cta::CtaTupleReply(tuple_parts(&e.reply)),
        ];
        if let Some(z) = e.zone {
            attrs.push(Cta::Other(DefaultNla::new(CTA_ZONE, z.to_be_bytes().to_vec())));
        }
        let nf = NetfilterMessage::new(NetfilterHeader::new(family, 0, 0), ConntrackMessage::New(attrs));
        let mut body = vec![0; Emitable::buffer_len(&nf)];
        nf.emit(&mut body);
        let mut header = NetlinkHeader::default();
        header.message_type = nf.message_type();
        let back = NetfilterMessage::deserialize(&header, &body).unwrap();
        let NetfilterMessageInner::Conntrack(ConntrackMessage::New(attrs)) = back.inner else {
            panic!("not a conntrack entry: {back:?}");
        };
        entry_of(&attrs)
    }

    #[test]
    fn a_tuple_survives_encoding_and_parsing() {
        let mut e = entry([192, 0, 2, 2], 5060, [10, 2, 0, 10], 5060);
        e.zone = Some(7);
        assert_eq!(through_the_wire(&e, NetfilterProtoFamily::IPv4), Some(e));
    }

    #[test]
    fn an_ipv6_tuple_survives_encoding_and_parsing() {
        let mut e = entry6("2001:db8:1::2", 5060, "fd00:1::10", 80);
        e.zone = Some(7);
        assert_eq!(through_the_wire(&e, NetfilterProtoFamily::IPv6), Some(e));
    }

    #[test]
    fn an_ipv6_tuple_is_sent_as_the_ipv6_address_attributes() {
        // CTA_IP_V6_SRC (3) and CTA_IP_V6_DST (4), 16 bytes each: what the kernel parses
        // for an AF_INET6 delete.
        let t = entry6("2001:db8:1::2", 5060, "fd00:1::10", 80).orig;
        let Part::Ip(ips) = &tuple_parts(&t)[0] else {
            panic!("the addresses come first");
        };
        let kinds: Vec<(u16, usize)> = ips.iter().map(|a| (a.kind(), a.value_len())).collect();
        assert_eq!(kinds, [(3, 16), (4, 16)]);
    }

    #[test]
    fn a_tuple_mixing_families_is_not_an_entry() {
        let mut e = entry6("2001:db8:1::2", 5060, "fd00:1::10", 80);
        e.orig.src = Ipv4Addr::new(192, 0, 2, 1).into();
        assert_eq!(through_the_wire(&e, NetfilterProtoFamily::IPv6), None);
    }
}
