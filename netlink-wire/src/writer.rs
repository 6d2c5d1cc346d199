//! Writing netlink messages and attributes into one buffer, in place.
//!
//! Why hand-written rather than `netlink-packet-core`'s `Emitable`: an `Emitable` tree
//! is built as owned values first (a `Vec` per nest), measured (`buffer_len`, recursively)
//! and then emitted; a 10,000-forward nf_tables batch is tens of thousands of nested
//! attributes, each of which would be allocated, measured and copied. Here every
//! attribute is appended to the one buffer as it is known and a nest's (or message's)
//! length is patched when it closes: no intermediate allocation at all (docs/decisions.md,
//! "One netlink layer", has the measured encode time).

use crate::align4;
use netlink_packet_core::NLA_F_NESTED;

/// A buffer of netlink messages being written.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    /// An empty buffer with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Writer {
        Writer {
            bytes: Vec::with_capacity(n),
        }
    }

    /// Start a message: `nlmsghdr` (length patched by [`Writer::end_msg`]) then the
    /// family's fixed header `header` (`nfgenmsg`, `ifinfomsg`, …). Returns its offset.
    #[inline]
    pub fn begin_msg(&mut self, ty: u16, flags: u16, seq: u32, header: &[u8]) -> usize {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(&0u32.to_ne_bytes());
        self.bytes.extend_from_slice(&ty.to_ne_bytes());
        self.bytes.extend_from_slice(&flags.to_ne_bytes());
        self.bytes.extend_from_slice(&seq.to_ne_bytes());
        self.bytes.extend_from_slice(&0u32.to_ne_bytes());
        self.bytes.extend_from_slice(header);
        self.pad();
        start
    }

    /// Close the message started at `start`.
    #[inline]
    pub fn end_msg(&mut self, start: usize) {
        let len = (self.bytes.len() - start) as u32;
        self.bytes[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    }

    /// An attribute of raw bytes.
    #[inline]
    pub fn put(&mut self, ty: u16, data: &[u8]) {
        self.bytes
            .extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        self.bytes.extend_from_slice(&ty.to_ne_bytes());
        self.bytes.extend_from_slice(data);
        self.pad();
    }

    /// A big-endian `u16` attribute (ports, zones).
    #[inline]
    pub fn put_be16(&mut self, ty: u16, v: u16) {
        self.put(ty, &v.to_be_bytes());
    }

    /// A big-endian `u32` attribute (nf_tables wants its numbers so).
    #[inline]
    pub fn put_be32(&mut self, ty: u16, v: u32) {
        self.put(ty, &v.to_be_bytes());
    }

    /// A big-endian `u64` attribute (counters, rates).
    #[inline]
    pub fn put_be64(&mut self, ty: u16, v: u64) {
        self.put(ty, &v.to_be_bytes());
    }

    /// A host-order `u32` attribute (rtnetlink numbers).
    #[inline]
    pub fn put_ne32(&mut self, ty: u16, v: u32) {
        self.put(ty, &v.to_ne_bytes());
    }

    /// A NUL-terminated string attribute.
    #[inline]
    pub fn put_str(&mut self, ty: u16, s: &str) {
        self.bytes
            .extend_from_slice(&((5 + s.len()) as u16).to_ne_bytes());
        self.bytes.extend_from_slice(&ty.to_ne_bytes());
        self.bytes.extend_from_slice(s.as_bytes());
        self.bytes.push(0);
        self.pad();
    }

    /// Open a nested attribute; close it with [`Writer::end`].
    #[inline]
    pub fn nest(&mut self, ty: u16) -> usize {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(&[0, 0]);
        self.bytes.extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        start
    }

    /// Close the nest opened at `start` (its length is a `u16`: keep nests under 64 KiB).
    #[inline]
    pub fn end(&mut self, start: usize) {
        let len = self.bytes.len() - start;
        debug_assert!(len <= u16::MAX as usize, "nested attribute over 64 KiB");
        self.bytes[start..start + 2].copy_from_slice(&(len as u16).to_ne_bytes());
    }

    /// The bytes written so far.
    #[inline]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing is written yet.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The messages written so far, to send.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The buffer, handed over without a copy.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    #[inline]
    fn pad(&mut self) {
        let len = align4(self.bytes.len());
        self.bytes.resize(len, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nests_patch_their_length_and_strings_are_padded() {
        let mut b = Writer::default();
        let n = b.nest(3);
        b.put_str(1, "ab");
        b.put_be32(2, 1);
        b.end(n);
        assert_eq!(
            b.as_bytes(),
            [20, 0, 3, 0x80, 7, 0, 1, 0, b'a', b'b', 0, 0, 8, 0, 2, 0, 0, 0, 0, 1]
        );
    }

    #[test]
    fn messages_carry_header_and_sequence() {
        let mut b = Writer::default();
        let m = b.begin_msg(10 << 8, 5, 7, &[1, 0, 0, 0]);
        b.put_str(1, "t");
        b.end_msg(m);
        let bytes = b.as_bytes();
        assert_eq!(bytes.len(), 16 + 4 + 8);
        assert_eq!(u32::from_ne_bytes(bytes[0..4].try_into().unwrap()), 28);
        assert_eq!(u16::from_ne_bytes(bytes[4..6].try_into().unwrap()), 10 << 8);
        assert_eq!(u16::from_ne_bytes(bytes[6..8].try_into().unwrap()), 5);
        assert_eq!(u32::from_ne_bytes(bytes[8..12].try_into().unwrap()), 7);
        assert_eq!(bytes[16], 1);
    }
}
