//! Reading brouter's tables back over nfnetlink, without running `nft`.
//!
//! Why: `nft` 1.0.6 loads its whole cache before answering even `list tables`, so with
//! 10,000 forwards in the maps one `nft -j list table` costs ~100 ms, and `observe` needed
//! three. A converged `start` or a `vif online` only needs the fingerprint (a rule comment)
//! and the binding sets, which three small netlink dumps answer in well under a
//! millisecond: does each table exist, the rule comments of each table (a handful of rules,
//! whatever the number of forwards), and the elements of the three binding sets.
//!
//! Wire format (linux/netfilter/nf_tables.h): `nlmsghdr`, `nfgenmsg`, then attributes.
//! Set keys arrive as raw bytes; a concatenation puts each part in a 4-byte-aligned slot
//! (`ifname` is 16 bytes, NUL-padded; `ether_addr` 6 bytes in an 8-byte slot).

use std::collections::BTreeMap;
use std::io;
use std::net::Ipv4Addr;

use brouter_engine::firewall::Binding;

use super::render::{FINGERPRINT_PREFIX, IP_BIND, MAC_BIND, PORTS, TABLE};
use crate::nfnetlink::{
    self, align4, messages, NLA_TYPE_MASK, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_REQUEST,
};
pub(super) use crate::nfnetlink::{NLA_F_NESTED, NLM_F_DUMP};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_GETTABLE: u16 = 1;
pub(super) const NFT_MSG_GETRULE: u16 = 7;
pub(super) const NFT_MSG_GETSETELEM: u16 = 13;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
pub(super) const NFT_MSG_NEWSETELEM: u16 = 12;
pub(super) const NFT_MSG_DELSETELEM: u16 = 14;
pub(super) const NLM_F_CREATE: u16 = 0x400;
/// `NFTA_TABLE_NAME`, `NFTA_RULE_TABLE`, `NFTA_SET_ELEM_LIST_TABLE`: all attribute 1.
pub(super) const ATTR_TABLE: u16 = 1;
pub(super) const NFTA_SET_ELEM_LIST_SET: u16 = 2;
pub(super) const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
pub(super) const NFTA_LIST_ELEM: u16 = 1;
pub(super) const NFTA_SET_ELEM_KEY: u16 = 1;
pub(super) const NFTA_DATA_VALUE: u16 = 1;
pub(super) const NFTA_RULE_USERDATA: u16 = 7;
/// `NFTNL_UDATA_RULE_COMMENT`: the TLV type of a rule comment in its user data.
const UDATA_RULE_COMMENT: u8 = 0;
const IFNAMSIZ: usize = 16;

/// The nfproto numbers of brouter's two table families.
pub const NFPROTO_INET: u8 = 1;
pub const NFPROTO_BRIDGE: u8 = 7;

/// What brouter's tables hold, as far as `observe` cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableState {
    /// Per family (inet, bridge): `None` if the table is missing, else the fingerprint
    /// found in its rule comments (`Some(None)` if there is none).
    pub inet: Option<Option<String>>,
    pub bridge: Option<Option<String>>,
    /// The anti-spoofing bindings of `bridge brouter`, sorted by vif.
    pub bindings: Vec<Binding>,
}

/// Read brouter's tables in the namespace of the calling thread.
pub fn read_here(with_bindings: bool) -> io::Result<TableState> {
    read_on(&Socket::open()?, with_bindings)
}

/// Read brouter's tables over `sock` (in whatever namespace it was opened).
pub(super) fn read_on(sock: &Socket, with_bindings: bool) -> io::Result<TableState> {
    let mut state = TableState::default();
    for (family, slot) in [
        (NFPROTO_INET, &mut state.inet),
        (NFPROTO_BRIDGE, &mut state.bridge),
    ] {
        if sock.table_exists(family)? {
            *slot = Some(sock.fingerprint(family)?);
        }
    }
    if with_bindings && state.bridge.is_some() {
        state.bindings = sock.bindings()?;
    }
    Ok(state)
}

/// One nf_tables command of a [`Socket::transact`] batch.
pub(super) struct Request {
    /// `NFT_MSG_*`.
    pub cmd: u16,
    /// `NLM_F_*` beyond request and ack (`NLM_F_CREATE`).
    pub flags: u16,
    /// The nfproto of the table.
    pub family: u8,
    /// `(type, data)`; nested attributes already encoded (see [`attr`]).
    pub attrs: Vec<(u16, Vec<u8>)>,
}

/// An nf_tables conversation over the shared `NETLINK_NETFILTER` socket.
pub(super) struct Socket {
    nl: nfnetlink::Socket,
}

impl Socket {
    pub(super) fn open() -> io::Result<Socket> {
        Ok(Socket {
            nl: nfnetlink::Socket::open()?,
        })
    }

    /// The underlying socket, for a whole-ruleset batch ([`super::batch::send_on`]).
    pub(super) fn raw(&self) -> &nfnetlink::Socket {
        &self.nl
    }

    pub(super) fn table_exists(&self, family: u8) -> io::Result<bool> {
        let attrs = [(ATTR_TABLE, cstr(TABLE))];
        match self.exchange(NFT_MSG_GETTABLE, NLM_F_ACK, family, &attrs) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The fingerprint in the rule comments of brouter's table of `family`.
    fn fingerprint(&self, family: u8) -> io::Result<Option<String>> {
        let attrs = [(ATTR_TABLE, cstr(TABLE))];
        for msg in self.exchange(NFT_MSG_GETRULE, NLM_F_DUMP, family, &attrs)? {
            for (ty, data) in attrs_of(&msg) {
                if ty != NFTA_RULE_USERDATA {
                    continue;
                }
                if let Some(fp) = comment(data).and_then(|c| c.strip_prefix(FINGERPRINT_PREFIX)) {
                    return Ok(Some(fp.to_string()));
                }
            }
        }
        Ok(None)
    }

    fn bindings(&self) -> io::Result<Vec<Binding>> {
        let mut by_vif: BTreeMap<String, Binding> = BTreeMap::new();
        for key in self.set_keys(PORTS)? {
            slot(&mut by_vif, ifname(&key));
        }
        for key in self.set_keys(MAC_BIND)? {
            if key.len() >= IFNAMSIZ + 6 {
                let mac: Vec<String> = key[IFNAMSIZ..IFNAMSIZ + 6]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                slot(&mut by_vif, ifname(&key)).mac = mac.join(":");
            }
        }
        for key in self.set_keys(IP_BIND)? {
            if key.len() >= IFNAMSIZ + 4 {
                let o = &key[IFNAMSIZ..IFNAMSIZ + 4];
                slot(&mut by_vif, ifname(&key))
                    .addrs
                    .push(Ipv4Addr::new(o[0], o[1], o[2], o[3]));
            }
        }
        Ok(by_vif
            .into_values()
            .map(|mut b| {
                b.addrs.sort();
                b
            })
            .collect())
    }

    /// The raw keys of one set of `bridge brouter`.
    pub(super) fn set_keys(&self, set: &str) -> io::Result<Vec<Vec<u8>>> {
        let attrs = [(ATTR_TABLE, cstr(TABLE)), (NFTA_SET_ELEM_LIST_SET, cstr(set))];
        let mut keys = Vec::new();
        for msg in self.exchange(NFT_MSG_GETSETELEM, NLM_F_DUMP, NFPROTO_BRIDGE, &attrs)? {
            for (ty, list) in attrs_of(&msg) {
                if ty != NFTA_SET_ELEM_LIST_ELEMENTS {
                    continue;
                }
                for (ty, elem) in parse_attrs(list) {
                    if ty != NFTA_LIST_ELEM {
                        continue;
                    }
                    let key = parse_attrs(elem)
                        .into_iter()
                        .find(|(t, _)| *t == NFTA_SET_ELEM_KEY)
                        .and_then(|(_, k)| parse_attrs(k).into_iter().find(|(t, _)| *t == NFTA_DATA_VALUE));
                    if let Some((_, value)) = key {
                        keys.push(value.to_vec());
                    }
                }
            }
        }
        Ok(keys)
    }

    fn next_seq(&self) -> u32 {
        self.nl.next_seq()
    }

    /// Run `msgs` as one nf_tables transaction: all of them or, if the kernel refuses
    /// one, none. Each asks for an acknowledgement; the first refusal comes back as the
    /// `io::Error` of its errno.
    pub(super) fn transact(&self, msgs: &[Request]) -> io::Result<()> {
        // The batch markers carry the subsystem in nfgenmsg's res_id (big-endian).
        let subsys = NFNL_SUBSYS_NFTABLES.to_be_bytes();
        let marker = [0, 0, subsys[0], subsys[1]];
        let first = self.next_seq();
        let mut buf = encode(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, first, marker, &[]);
        let mut pending = std::collections::BTreeSet::new();
        for m in msgs {
            let seq = self.next_seq();
            pending.insert(seq);
            buf.extend(encode(
                (NFNL_SUBSYS_NFTABLES << 8) | m.cmd,
                NLM_F_REQUEST | NLM_F_ACK | m.flags,
                seq,
                [m.family, 0, 0, 0],
                &m.attrs,
            ));
        }
        let last = self.next_seq();
        buf.extend(encode(NFNL_MSG_BATCH_END, NLM_F_REQUEST, last, marker, &[]));
        self.nl.send(&buf)?;
        // One answer per message (the kernel delivers them once the batch is done), and
        // one more for the batch itself if the commit failed.
        let mut refused = None;
        let mut rbuf = vec![0u8; 16 * 1024];
        while !pending.is_empty() {
            for msg in messages(self.nl.recv(&mut rbuf)?) {
                let msg = msg?;
                if msg.ty != NLMSG_ERROR || !(first..=last).contains(&msg.seq) {
                    continue;
                }
                pending.remove(&msg.seq);
                let code = i32::from_ne_bytes(msg.body.get(0..4).unwrap_or(&[0; 4]).try_into().expect("4"));
                if code != 0 && msg.seq == first {
                    // The batch as a whole was refused (or its commit failed): nothing
                    // changed, and answers still due are skipped by later exchanges.
                    return Err(io::Error::from_raw_os_error(-code));
                }
                if code != 0 && refused.is_none() {
                    refused = Some(io::Error::from_raw_os_error(-code));
                }
            }
        }
        refused.map_or(Ok(()), Err)
    }

    /// Send one request and collect the payloads (after `nfgenmsg`) of its answers, until
    /// the dump's end or the ack. A kernel error comes back as the `io::Error` of its errno.
    pub(super) fn exchange(
        &self,
        cmd: u16,
        flags: u16,
        family: u8,
        attrs: &[(u16, Vec<u8>)],
    ) -> io::Result<Vec<Vec<u8>>> {
        let seq = self.next_seq();
        let msg = encode(
            (NFNL_SUBSYS_NFTABLES << 8) | cmd,
            NLM_F_REQUEST | flags,
            seq,
            [family, 0, 0, 0],
            attrs,
        );
        self.nl.send(&msg)?;
        let dump = flags & NLM_F_DUMP != 0;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            for msg in messages(self.nl.recv(&mut buf)?) {
                let nfnetlink::Message {
                    ty, seq: mseq, body, ..
                } = msg?;
                if mseq != seq {
                    continue;
                }
                match ty {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let code =
                            i32::from_ne_bytes(body.get(0..4).unwrap_or(&[0; 4]).try_into().expect("4"));
                        if code == 0 {
                            return Ok(out); // the ack
                        }
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                    _ => {
                        out.push(body.get(4..).unwrap_or_default().to_vec());
                        if !dump && flags & NLM_F_ACK == 0 {
                            return Ok(out);
                        }
                    }
                }
            }
        }
    }
}

/// One netlink message: header, `nfgenmsg`, then `attrs` (each padded to 4 bytes).
fn encode(ty: u16, flags: u16, seq: u32, nfgen: [u8; 4], attrs: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let attrs: Vec<u8> = attrs.iter().flat_map(|(ty, data)| attr(*ty, data)).collect();
    nfnetlink::encode(ty, flags, seq, nfgen, &attrs)
}

/// One attribute (`len`, `type`, data, padding to 4 bytes); nest by passing the
/// encoded inner attributes as `data` with [`NLA_F_NESTED`] in `ty`.
pub(super) fn attr(ty: u16, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(align4(4 + data.len()));
    out.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(data);
    out.resize(align4(out.len()), 0);
    out
}

/// The binding of `vif`, created empty on first sight.
fn slot(map: &mut BTreeMap<String, Binding>, vif: String) -> &mut Binding {
    map.entry(vif.clone()).or_insert_with(|| Binding {
        vif,
        mac: String::new(),
        addrs: vec![],
    })
}

pub(super) fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn attrs_of(payload: &[u8]) -> Vec<(u16, &[u8])> {
    parse_attrs(payload)
}

/// `(type, data)` of each attribute in `buf` (nested flag masked off).
pub(super) fn parse_attrs(mut buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while buf.len() >= 4 {
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let ty = u16::from_ne_bytes([buf[2], buf[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > buf.len() {
            break;
        }
        out.push((ty, &buf[4..len]));
        buf = &buf[align4(len).min(buf.len())..];
    }
    out
}

/// The comment TLV in a rule's user data (`type u8, len u8, value`), without its NUL.
pub(super) fn comment(udata: &[u8]) -> Option<&str> {
    let mut rest = udata;
    while rest.len() >= 2 {
        let (ty, len) = (rest[0], rest[1] as usize);
        let value = rest.get(2..2 + len)?;
        if ty == UDATA_RULE_COMMENT {
            let value = value.split(|b| *b == 0).next().unwrap_or_default();
            return std::str::from_utf8(value).ok();
        }
        rest = &rest[2 + len..];
    }
    None
}

/// An `ifname` key part: NUL-padded to 16 bytes.
fn ifname(key: &[u8]) -> String {
    let part = &key[..key.len().min(IFNAMSIZ)];
    let name = part.split(|b| *b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(name).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_comment_tlv_of_rule_user_data() {
        let mut udata = vec![UDATA_RULE_COMMENT, 7];
        udata.extend_from_slice(b"abc def");
        assert_eq!(comment(&udata), Some("abc def"));
        assert_eq!(comment(&[1, 1, 0]), None);
    }

    #[test]
    fn parses_nested_attributes_and_ifname_keys() {
        // Two attributes: type 1 "ab" (padded), type 0x8003 nested (flag masked).
        let buf = [6, 0, 1, 0, b'a', b'b', 0, 0, 4, 0, 3, 0x80];
        let attrs = parse_attrs(&buf);
        assert_eq!(attrs, vec![(1, &b"ab"[..]), (3, &[][..])]);
        let mut key = b"vif1.0".to_vec();
        key.resize(IFNAMSIZ, 0);
        assert_eq!(ifname(&key), "vif1.0");
    }
}
