//! Sets and maps, their key/data types and their elements, as nf_tables messages.
//!
//! Values are laid out as the kernel keeps them (and as nft 1.0.6 sends them): `ifname`
//! 16 bytes NUL-padded, addresses, ports and ethertypes in network order, `inet_proto`
//! one byte; in a concatenation each part takes a 4-byte-aligned slot. Interval sets and
//! maps are sent the way nft 1.0.6 sends them: per interval a start element and an
//! `NFT_SET_ELEM_INTERVAL_END` element at last+1, an end element at zero first when the
//! first interval does not start there, and no end element (but the "open" user-data
//! flag on the start) for an interval that reaches the type's maximum.

use std::net::Ipv4Addr;

use brouter_engine::backend::mac_octets;
use nftables::expr::{Expression, NamedExpression};
use nftables::schema::SetType;

use super::wire::{udata, udata_nest, udata_u32, Buf, NEST_LIMIT, NLM_F_CREATE};
use super::Verdict;

pub(super) const NFT_MSG_NEWSET: u16 = 9;
pub(super) const NFT_MSG_NEWSETELEM: u16 = 12;
const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_FLAGS: u16 = 3;
const NFTA_SET_KEY_TYPE: u16 = 4;
const NFTA_SET_KEY_LEN: u16 = 5;
const NFTA_SET_DATA_TYPE: u16 = 6;
const NFTA_SET_DATA_LEN: u16 = 7;
const NFTA_SET_DESC: u16 = 9;
const NFTA_SET_DESC_SIZE: u16 = 1;
const NFTA_SET_ID: u16 = 10;
const NFTA_SET_USERDATA: u16 = 13;
const NFTA_SET_EXPR: u16 = 17;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_SET_ELEM_LIST_SET_ID: u16 = 4;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_SET_ELEM_FLAGS: u16 = 3;
const NFTA_SET_ELEM_USERDATA: u16 = 6;
const NFTA_SET_ELEM_EXPRESSIONS: u16 = 11;
const NFTA_LIST_ELEM: u16 = 1;
pub(super) const NFTA_COUNTER_BYTES: u16 = 1;
pub(super) const NFTA_COUNTER_PACKETS: u16 = 2;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;
const NFT_SET_ELEM_INTERVAL_END: u32 = 1;

pub(super) const NFT_SET_ANONYMOUS: u32 = 0x1;
pub(super) const NFT_SET_CONSTANT: u32 = 0x2;
pub(super) const NFT_SET_INTERVAL: u32 = 0x4;
pub(super) const NFT_SET_MAP: u32 = 0x8;
/// `NFT_DATA_VERDICT`: the data type of a verdict map.
const NFT_DATA_VERDICT: u32 = 0xffff_ff00;

/// libnftnl's set user-data TLV types (what `nft list` reads back).
pub(super) const UDATA_SET_KEYBYTEORDER: u8 = 0;
pub(super) const UDATA_SET_DATABYTEORDER: u8 = 1;
pub(super) const UDATA_SET_MERGE_ELEMENTS: u8 = 2;
pub(super) const UDATA_SET_KEY_TYPEOF: u8 = 3;
pub(super) const UDATA_SET_DATA_TYPEOF: u8 = 4;
pub(super) const UDATA_SET_DATA_INTERVAL: u8 = 6;
/// nft's expression type ids in typeof user data.
pub(super) const EXPR_VERDICT: u32 = 1;
pub(super) const EXPR_CONCAT: u32 = 13;
/// `NFTNL_UDATA_SET_ELEM_FLAGS` / `NFTNL_SET_ELEM_F_INTERVAL_OPEN`.
const UDATA_SET_ELEM_FLAGS: u8 = 1;
const SET_ELEM_F_INTERVAL_OPEN: u32 = 1;

const BYTEORDER_HOST: u32 = 1;
const BYTEORDER_BIG: u32 = 2;
const IFNAMSIZ: usize = 16;

/// The type of one value: a set key part, map data, or what a rule compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Ifname,
    Ipv4,
    Ether,
    InetService,
    InetProto,
    Ethertype,
    /// `meta nfproto` (one byte).
    NfProto,
    /// `ct state` bits (u32, host order).
    CtState,
    /// `ct status` bits (u32, host order).
    CtStatus,
    /// `fib … type` (u32, host order).
    FibAddrType,
}

impl Kind {
    /// The set type of the crate's model.
    pub fn of(t: &SetType) -> Result<Kind, String> {
        Ok(match t {
            SetType::Ifname => Kind::Ifname,
            SetType::Ipv4Addr => Kind::Ipv4,
            SetType::EtherAddr => Kind::Ether,
            SetType::InetService => Kind::InetService,
            SetType::InetProto => Kind::InetProto,
            other => return Err(format!("set type {other:?}")),
        })
    }

    /// nft's datatype id (`NFTA_SET_KEY_TYPE`).
    pub fn type_id(self) -> Result<u32, String> {
        Ok(match self {
            Kind::Ipv4 => 7,
            Kind::Ether => 9,
            Kind::Ethertype => 10,
            Kind::InetProto => 12,
            Kind::InetService => 13,
            Kind::Ifname => 41,
            other => return Err(format!("a set of {other:?} values")),
        })
    }

    /// The value's length in bytes.
    pub fn len(self) -> usize {
        match self {
            Kind::Ifname => IFNAMSIZ,
            Kind::Ipv4 | Kind::CtState | Kind::CtStatus | Kind::FibAddrType => 4,
            Kind::Ether => 6,
            Kind::InetService | Kind::Ethertype => 2,
            Kind::InetProto | Kind::NfProto => 1,
        }
    }

    /// The byte order nft records in a set's user data for listing.
    fn byteorder(self) -> u32 {
        match self {
            Kind::Ifname | Kind::InetProto | Kind::NfProto => BYTEORDER_HOST,
            Kind::CtState | Kind::CtStatus | Kind::FibAddrType => BYTEORDER_HOST,
            _ => BYTEORDER_BIG,
        }
    }

    /// `e` as this type's bytes.
    pub fn value(self, e: &Expression<'_>) -> Result<Vec<u8>, String> {
        let bad = || format!("{e:?} is not a {self:?} value");
        match (self, e) {
            (Kind::Ifname, Expression::String(s)) => {
                let b = s.as_bytes();
                if b.is_empty() || b.len() >= IFNAMSIZ || b.contains(&0) || s.ends_with('*') {
                    return Err(format!(
                        "{s:?} is not an interface name (1 to 15 bytes, no wildcard)"
                    ));
                }
                let mut v = b.to_vec();
                v.resize(IFNAMSIZ, 0);
                Ok(v)
            }
            (Kind::Ipv4, Expression::String(s)) => {
                Ok(s.parse::<Ipv4Addr>().map_err(|_| bad())?.octets().to_vec())
            }
            (Kind::Ether, Expression::String(s)) => mac_octets(s).ok_or_else(bad),
            (Kind::InetService, Expression::Number(n)) => {
                Ok(u16::try_from(*n).map_err(|_| bad())?.to_be_bytes().to_vec())
            }
            (Kind::InetService, Expression::String(s)) => {
                Ok(s.parse::<u16>().map_err(|_| bad())?.to_be_bytes().to_vec())
            }
            (Kind::InetProto, Expression::String(s)) => Ok(vec![inet_proto(s).ok_or_else(bad)?]),
            (Kind::InetProto, Expression::Number(n)) => Ok(vec![u8::try_from(*n).map_err(|_| bad())?]),
            (Kind::Ethertype, Expression::String(s)) => {
                let v: u16 = match s.as_ref() {
                    "ip" => 0x0800,
                    "arp" => 0x0806,
                    "ip6" => 0x86dd,
                    "vlan" => 0x8100,
                    _ => return Err(bad()),
                };
                Ok(v.to_be_bytes().to_vec())
            }
            (Kind::NfProto, Expression::String(s)) => match s.as_ref() {
                "ipv4" => Ok(vec![2]),
                "ipv6" => Ok(vec![10]),
                _ => Err(bad()),
            },
            (Kind::CtState | Kind::CtStatus, Expression::String(s)) => {
                Ok(self.flag(s).ok_or_else(bad)?.to_ne_bytes().to_vec())
            }
            (Kind::CtState | Kind::CtStatus, Expression::List(items)) => {
                let mut bits = 0u32;
                for i in items {
                    match i {
                        Expression::String(s) => bits |= self.flag(s).ok_or_else(bad)?,
                        _ => return Err(bad()),
                    }
                }
                Ok(bits.to_ne_bytes().to_vec())
            }
            (Kind::FibAddrType, Expression::String(s)) => {
                let v: u32 = match s.as_ref() {
                    "unicast" => 1,
                    "local" => 2,
                    "broadcast" => 3,
                    "anycast" => 4,
                    "multicast" => 5,
                    "blackhole" => 6,
                    "unreachable" => 7,
                    "prohibit" => 8,
                    _ => return Err(bad()),
                };
                Ok(v.to_ne_bytes().to_vec())
            }
            _ => Err(bad()),
        }
    }

    /// Whether values of this type are bit flags (`ct state established,related`).
    pub fn is_flags(self) -> bool {
        matches!(self, Kind::CtState | Kind::CtStatus)
    }

    fn flag(self, s: &str) -> Option<u32> {
        match self {
            Kind::CtState => Some(match s {
                "invalid" => 1,
                "established" => 2,
                "related" => 4,
                "new" => 8,
                "untracked" => 64,
                _ => return None,
            }),
            Kind::CtStatus => Some(match s {
                "expected" => 1,
                "seen-reply" => 2,
                "assured" => 4,
                "confirmed" => 8,
                "snat" => 16,
                "dnat" => 32,
                "dying" => 512,
                _ => return None,
            }),
            _ => None,
        }
    }
}

fn inet_proto(s: &str) -> Option<u8> {
    Some(match s {
        "icmp" => 1,
        "igmp" => 2,
        "tcp" => 6,
        "udp" => 17,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "icmpv6" => 58,
        "sctp" => 132,
        _ => return None,
    })
}

/// A set's key: one type, or a concatenation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Key {
    pub parts: Vec<Kind>,
}

impl Key {
    pub fn concat(&self) -> bool {
        self.parts.len() > 1
    }

    pub fn type_id(&self) -> Result<u32, String> {
        self.parts
            .iter()
            .try_fold(0u32, |acc, k| Ok((acc << 6) | k.type_id()?))
    }

    /// `NFTA_SET_KEY_LEN`: a single type's length, or the concatenation's aligned slots.
    pub fn len(&self) -> usize {
        match self.parts.as_slice() {
            [one] => one.len(),
            parts => parts.iter().map(|k| crate::nfnetlink::align4(k.len())).sum(),
        }
    }

    pub fn byteorder(&self) -> u32 {
        match self.parts.as_slice() {
            [one] => one.byteorder(),
            _ => 0,
        }
    }

    /// One element key's bytes.
    pub fn value(&self, e: &Expression<'_>) -> Result<Vec<u8>, String> {
        match (self.parts.as_slice(), e) {
            ([one], _) => one.value(e),
            (parts, Expression::Named(NamedExpression::Concat(items))) if items.len() == parts.len() => {
                let mut out = Vec::with_capacity(self.len());
                for (k, v) in parts.iter().zip(items) {
                    out.extend(k.value(v)?);
                    out.resize(crate::nfnetlink::align4(out.len()), 0);
                }
                Ok(out)
            }
            _ => Err(format!("{e:?} does not fit a key of {:?}", self.parts)),
        }
    }

    /// The interval an element covers: a value, a range or a prefix.
    fn interval(&self, e: &Expression<'_>) -> Result<(Vec<u8>, Vec<u8>), String> {
        if self.concat() {
            return Err("interval sets with a concatenated key".into());
        }
        match e {
            Expression::Range(r) => Ok((self.value(&r.range[0])?, self.value(&r.range[1])?)),
            Expression::Named(NamedExpression::Prefix(p)) => {
                let addr = self.value(&p.addr)?;
                let bits = addr.len() * 8;
                let len = p.len as usize;
                if len > bits {
                    return Err(format!("prefix length {len} of {e:?}"));
                }
                let (mut lo, mut hi) = (addr.clone(), addr);
                for bit in len..bits {
                    let (byte, mask) = (bit / 8, 0x80u8 >> (bit % 8));
                    lo[byte] &= !mask;
                    hi[byte] |= mask;
                }
                Ok((lo, hi))
            }
            _ => {
                let v = self.value(e)?;
                Ok((v.clone(), v))
            }
        }
    }
}

/// A map's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Data {
    Value(Kind),
    Verdict,
}

/// One element's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ElemData {
    Value(Vec<u8>),
    Verdict(Verdict),
}

/// A set as nf_tables creates it.
#[derive(Debug, Clone)]
pub(super) struct SetDef {
    pub family: u8,
    pub table: String,
    /// The name; `__set%d` / `__map%d` for an anonymous set (the kernel numbers it).
    pub name: String,
    /// `NFTA_SET_ID`: how rules and element messages of the same batch refer to it.
    pub id: u32,
    pub key: Key,
    pub data: Option<Data>,
    pub flags: u32,
    /// nftnl user data: byte orders and typeof, for `nft list`.
    pub udata: Vec<u8>,
    /// `NFTA_SET_DESC_SIZE` (nft sends it for anonymous sets: the number of elements).
    pub size: Option<u32>,
    /// The set-level `counter` statement: each element gets its own counter.
    pub counter: bool,
}

impl SetDef {
    pub fn interval(&self) -> bool {
        self.flags & NFT_SET_INTERVAL != 0
    }

    /// The user data nft writes for a named set declared by type.
    pub fn named_udata(key: &Key, data: Option<&Data>) -> Vec<u8> {
        let mut u = vec![];
        udata_u32(&mut u, UDATA_SET_KEYBYTEORDER, key.byteorder());
        if let Some(d) = data {
            udata_u32(&mut u, UDATA_SET_DATABYTEORDER, data_byteorder(d));
        }
        if key.concat() {
            udata_nest(&mut u, UDATA_SET_KEY_TYPEOF, |v| {
                udata_u32(v, 0, EXPR_CONCAT);
                udata(v, 1, &[]);
            });
        }
        if data.is_some() {
            udata_u32(&mut u, UDATA_SET_DATA_INTERVAL, 0);
        }
        u
    }

    /// `NFT_MSG_NEWSET`.
    pub fn write(&self, buf: &mut Buf, what: String) -> Result<(), String> {
        let m = buf.begin_cmd(NFT_MSG_NEWSET, NLM_F_CREATE, self.family, what);
        buf.put_str(NFTA_SET_TABLE, &self.table);
        buf.put_str(NFTA_SET_NAME, &self.name);
        buf.put_u32(NFTA_SET_FLAGS, self.flags);
        buf.put_u32(NFTA_SET_KEY_TYPE, self.key.type_id()?);
        buf.put_u32(NFTA_SET_KEY_LEN, self.key.len() as u32);
        match &self.data {
            Some(Data::Value(k)) => {
                buf.put_u32(NFTA_SET_DATA_TYPE, k.type_id()?);
                buf.put_u32(NFTA_SET_DATA_LEN, k.len() as u32);
            }
            Some(Data::Verdict) => {
                buf.put_u32(NFTA_SET_DATA_TYPE, NFT_DATA_VERDICT);
                buf.put_u32(NFTA_SET_DATA_LEN, 0);
            }
            None => {}
        }
        buf.put_u32(NFTA_SET_ID, self.id);
        if let Some(size) = self.size {
            let d = buf.nest(NFTA_SET_DESC);
            buf.put_u32(NFTA_SET_DESC_SIZE, size);
            buf.end(d);
        }
        buf.put(NFTA_SET_USERDATA, &self.udata);
        if self.counter {
            let e = buf.nest(NFTA_SET_EXPR);
            buf.put_str(NFTA_EXPR_NAME, "counter");
            let d = buf.nest(NFTA_EXPR_DATA);
            buf.end(d);
            buf.end(e);
        }
        buf.end_msg(m);
        Ok(())
    }

    /// The elements to send for `items` (`(key, data)` expressions), intervals expanded.
    pub fn elements(&self, items: &[(&Expression<'_>, Option<ElemData>)]) -> Result<Vec<Elem>, String> {
        if !self.interval() {
            return items
                .iter()
                .map(|(k, d)| {
                    Ok(Elem {
                        key: self.key.value(k)?,
                        data: d.clone(),
                        end: false,
                        open: false,
                        counter: None,
                    })
                })
                .collect();
        }
        let mut ranges = items
            .iter()
            .map(|(k, d)| Ok((self.key.interval(k)?, d.clone())))
            .collect::<Result<Vec<_>, String>>()?;
        ranges.sort_by(|a, b| a.0 .0.cmp(&b.0 .0));
        let mut out = Vec::with_capacity(ranges.len() * 2 + 1);
        if let Some(((lo, _), _)) = ranges.first() {
            if lo.iter().any(|b| *b != 0) {
                out.push(Elem::end(vec![0; lo.len()]));
            }
        }
        let mut prev_hi: Option<Vec<u8>> = None;
        for ((lo, hi), data) in ranges {
            if lo > hi {
                return Err(format!(
                    "an interval whose start {lo:02x?} is above its end {hi:02x?}"
                ));
            }
            if prev_hi.as_ref().is_some_and(|p| lo <= *p) {
                return Err(format!(
                    "overlapping intervals in set {} (at {lo:02x?})",
                    self.name
                ));
            }
            let next = successor(&hi);
            out.push(Elem {
                key: lo,
                data,
                end: false,
                open: next.is_none(),
                counter: None,
            });
            if let Some(n) = next {
                out.push(Elem::end(n));
            }
            prev_hi = Some(hi);
        }
        Ok(out)
    }

    /// `NFT_MSG_NEWSETELEM`s adding `elems`, split so no element list nears 64 KiB.
    pub fn write_elements(&self, buf: &mut Buf, elems: &[Elem], what: &str) {
        let mut rest = elems;
        let mut part = 0;
        while !rest.is_empty() {
            part += 1;
            let label = if part == 1 {
                what.to_string()
            } else {
                format!("{what} (part {part})")
            };
            let m = buf.begin_cmd(NFT_MSG_NEWSETELEM, NLM_F_CREATE, self.family, label);
            buf.put_str(NFTA_SET_ELEM_LIST_TABLE, &self.table);
            buf.put_str(NFTA_SET_ELEM_LIST_SET, &self.name);
            buf.put_u32(NFTA_SET_ELEM_LIST_SET_ID, self.id);
            let list = buf.nest(NFTA_SET_ELEM_LIST_ELEMENTS);
            let mut n = 0;
            for e in rest {
                if n > 0 && buf.bytes.len() - list > NEST_LIMIT {
                    break;
                }
                n += 1;
                // nft numbers the list's elements (the kernel ignores the type).
                e.write(buf, (n as u16 & 0x3fff).max(1));
            }
            buf.end(list);
            buf.end_msg(m);
            rest = &rest[n..];
        }
    }
}

fn data_byteorder(d: &Data) -> u32 {
    match d {
        Data::Value(k) => k.byteorder(),
        Data::Verdict => 0,
    }
}

/// `v + 1` as a big-endian number, or `None` if `v` is the maximum.
fn successor(v: &[u8]) -> Option<Vec<u8>> {
    let mut out = v.to_vec();
    for b in out.iter_mut().rev() {
        if *b == 0xff {
            *b = 0;
        } else {
            *b += 1;
            return Some(out);
        }
    }
    None
}

/// One element as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Elem {
    pub key: Vec<u8>,
    pub data: Option<ElemData>,
    /// `NFT_SET_ELEM_INTERVAL_END`.
    pub end: bool,
    /// An interval that runs to the type's maximum (nft marks it in user data).
    pub open: bool,
    /// `(packets, bytes)` the element's own counter starts from (a counted set's element
    /// carried over from the tables being replaced); `None`: the set's counter, from 0.
    pub counter: Option<(u64, u64)>,
}

impl Elem {
    fn end(key: Vec<u8>) -> Elem {
        Elem {
            key,
            data: None,
            end: true,
            open: false,
            counter: None,
        }
    }

    fn write(&self, buf: &mut Buf, index: u16) {
        let e = buf.nest(index);
        if self.end {
            buf.put_u32(NFTA_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
        }
        buf.put_value(NFTA_SET_ELEM_KEY, &self.key);
        match &self.data {
            Some(ElemData::Value(v)) => buf.put_value(NFTA_SET_ELEM_DATA, v),
            Some(ElemData::Verdict(v)) => {
                let d = buf.nest(NFTA_SET_ELEM_DATA);
                write_verdict(buf, v);
                buf.end(d);
            }
            None => {}
        }
        if self.open {
            let mut u = vec![];
            udata_u32(&mut u, UDATA_SET_ELEM_FLAGS, SET_ELEM_F_INTERVAL_OPEN);
            buf.put(NFTA_SET_ELEM_USERDATA, &u);
        }
        if let Some((packets, bytes)) = self.counter {
            let list = buf.nest(NFTA_SET_ELEM_EXPRESSIONS);
            let x = buf.nest(NFTA_LIST_ELEM);
            buf.put_str(NFTA_EXPR_NAME, "counter");
            let d = buf.nest(NFTA_EXPR_DATA);
            buf.put_u64(NFTA_COUNTER_BYTES, bytes);
            buf.put_u64(NFTA_COUNTER_PACKETS, packets);
            buf.end(d);
            buf.end(x);
            buf.end(list);
        }
        buf.end(e);
    }
}

/// `NFTA_DATA_VERDICT` (inside an `NFTA_*_DATA` nest).
pub(super) fn write_verdict(buf: &mut Buf, v: &Verdict) {
    let n = buf.nest(NFTA_DATA_VERDICT);
    buf.put_u32(NFTA_VERDICT_CODE, v.code() as u32);
    if let Some(chain) = v.chain() {
        buf.put_str(NFTA_VERDICT_CHAIN, chain);
    }
    buf.end(n);
}

#[cfg(test)]
mod tests {
    use super::*;
    use nftables::expr::{Prefix, Range};
    use std::borrow::Cow;

    fn def(key: Kind, interval: bool) -> SetDef {
        SetDef {
            family: 1,
            table: "t".into(),
            name: "s".into(),
            id: 1,
            key: Key { parts: vec![key] },
            data: None,
            flags: if interval { NFT_SET_INTERVAL } else { 0 },
            udata: vec![],
            size: None,
            counter: false,
        }
    }

    fn keys(elems: &[Elem]) -> Vec<(String, bool, bool)> {
        elems
            .iter()
            .map(|e| (e.key.iter().map(|b| format!("{b:02x}")).collect(), e.end, e.open))
            .collect()
    }

    #[test]
    fn intervals_are_sent_as_nft_sends_them() {
        // nft 1.0.6, `elements = { 80, 81, 83-85, 65535 }`: a leading end at zero, an end
        // at last+1 after each interval (adjacent ones too), none after the maximum.
        let s = def(Kind::InetService, true);
        let n = |v| Expression::Number(v);
        let range = Expression::Range(Box::new(Range {
            range: [n(83), n(85)],
        }));
        let items = [(&n(81), None), (&n(80), None), (&range, None), (&n(65535), None)];
        let e = s.elements(&items).unwrap();
        let k = |s: &str, end, open| (s.to_string(), end, open);
        assert_eq!(
            keys(&e),
            vec![
                k("0000", true, false),
                k("0050", false, false),
                k("0051", true, false),
                k("0051", false, false),
                k("0052", true, false),
                k("0053", false, false),
                k("0056", true, false),
                k("ffff", false, true),
            ]
        );
    }

    #[test]
    fn prefixes_become_intervals_and_overlaps_are_refused() {
        let s = def(Kind::Ipv4, true);
        let p = |a: &str, l| {
            Expression::Named(NamedExpression::Prefix(Prefix {
                addr: Box::new(Expression::String(Cow::Owned(a.into()))),
                len: l,
            }))
        };
        let (a, b) = (p("10.1.0.0", 24), p("10.0.0.0", 8));
        let e = s.elements(&[(&a, None)]).unwrap();
        assert_eq!(
            keys(&e),
            vec![
                ("00000000".into(), true, false),
                ("0a010000".into(), false, false),
                ("0a010100".into(), true, false)
            ]
        );
        assert!(s
            .elements(&[(&a, None), (&b, None)])
            .unwrap_err()
            .contains("overlapping"));
    }

    #[test]
    fn concatenated_keys_take_aligned_slots() {
        let key = Key {
            parts: vec![Kind::Ifname, Kind::Ether],
        };
        assert_eq!(key.type_id().unwrap(), 0xa49);
        assert_eq!(key.len(), 24);
        let s = |v: &str| Expression::String(Cow::Owned(v.into()));
        let v = key
            .value(&Expression::Named(NamedExpression::Concat(vec![
                s("vif1.0"),
                s("aa:cc:00:00:01:01"),
            ])))
            .unwrap();
        let mut want = b"vif1.0".to_vec();
        want.resize(16, 0);
        want.extend([0xaa, 0xcc, 0, 0, 1, 1, 0, 0]);
        assert_eq!(v, want);
        // nft's user data for `type ifname . ether_addr`.
        assert_eq!(
            SetDef::named_udata(&key, None),
            vec![0, 4, 0, 0, 0, 0, 3, 8, 0, 4, 13, 0, 0, 0, 1, 0]
        );
    }
}
