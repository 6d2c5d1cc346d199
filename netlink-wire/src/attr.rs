//! Reading attributes: netlink-packet-core's zero-copy iterator, and the few value
//! readers every family needs.

use netlink_packet_core::{NlaBuffer, NlasIterator};

/// The well-formed attributes of `data` as `(type, value)`, the nested and byte-order
/// flags masked off; stops at the first malformed one. Borrowed: nothing is copied.
pub fn attrs(data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    NlasIterator::new(data)
        .map_while(Result::ok)
        .map(|nla: NlaBuffer<&[u8]>| {
            let kind = nla.kind();
            let len = nla.value_length();
            (kind, &nla.into_inner()[4..4 + len])
        })
}

/// The value of the first attribute of type `ty` in `data`.
pub fn find(data: &[u8], ty: u16) -> Option<&[u8]> {
    attrs(data).find(|(t, _)| *t == ty).map(|(_, v)| v)
}

/// A string attribute, up to its NUL.
pub fn text(v: &[u8]) -> String {
    let s = v.split(|b| *b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(s).into_owned()
}

/// A big-endian `u16` (ports), 0 if too short.
pub fn be16(v: &[u8]) -> u16 {
    v.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
}

/// A big-endian `u32` (nf_tables numbers), 0 if too short.
pub fn be32(v: &[u8]) -> u32 {
    v.get(..4)
        .map_or(0, |b| u32::from_be_bytes(b.try_into().expect("4 bytes")))
}

/// A big-endian `u64` (counters), 0 if too short.
pub fn be64(v: &[u8]) -> u64 {
    v.get(..8)
        .map_or(0, |b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
}

/// A host-order `u32` (rtnetlink numbers).
pub fn ne32(v: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(v.get(..4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_attributes_masking_the_nested_flag() {
        // Two attributes: type 1 "ab" (padded), type 0x8003 nested (flag masked).
        let buf = [6, 0, 1, 0, b'a', b'b', 0, 0, 4, 0, 3, 0x80];
        let all: Vec<_> = attrs(&buf).collect();
        assert_eq!(all, vec![(1, &b"ab"[..]), (3, &[][..])]);
        assert_eq!(find(&buf, 3), Some(&[][..]));
        assert_eq!(text(b"ab\0\0"), "ab");
    }

    #[test]
    fn a_malformed_attribute_ends_the_walk() {
        let buf = [6, 0, 1, 0, b'a', b'b', 0, 0, 40, 0, 3, 0];
        assert_eq!(attrs(&buf).count(), 1);
    }
}
