//! Writing nf_tables batch messages into one buffer, in place.
//!
//! Why not the `attr()` helper of `nfnl`: a 10,000-forward ruleset is tens of thousands of
//! nested attributes, and building each nest as its own `Vec` then copying it into its
//! parent costs more than the kernel's work. Here every attribute is appended to the one
//! batch buffer and a nest's length is patched when it closes.

use crate::nfnetlink::{align4, NLA_F_NESTED, NLM_F_ACK, NLM_F_REQUEST};

/// `NFNL_SUBSYS_NFTABLES`: the batch markers' `res_id`, and the high byte of message types.
pub(super) const NFNL_SUBSYS_NFTABLES: u16 = 10;
pub(super) const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
pub(super) const NFNL_MSG_BATCH_END: u16 = 0x11;
pub(super) const NLM_F_EXCL: u16 = 0x200;
pub(super) const NLM_F_CREATE: u16 = 0x400;
pub(super) const NLM_F_APPEND: u16 = 0x800;
/// A nested attribute's length is a `u16`: element lists are split well below it.
pub(super) const NEST_LIMIT: usize = 60 * 1024;

/// The batch being written: messages back to back, each with its sequence number and a
/// description of the object it writes (for naming it in an error).
#[derive(Debug, Default)]
pub(super) struct Buf {
    pub bytes: Vec<u8>,
    next_seq: u32,
    /// `(seq, what)` of every message after `BATCH_BEGIN`.
    pub what: Vec<(u32, String)>,
}

impl Buf {
    /// A buffer whose first message will carry sequence number `first_seq`.
    pub fn new(first_seq: u32) -> Buf {
        Buf {
            bytes: Vec::with_capacity(64 * 1024),
            next_seq: first_seq,
            what: vec![],
        }
    }

    /// Start a message (`nlmsghdr` + `nfgenmsg`); returns its offset for [`Buf::end_msg`].
    pub fn begin_msg(&mut self, ty: u16, flags: u16, family: u8, res_id: u16, what: Option<String>) -> usize {
        let start = self.bytes.len();
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        if let Some(what) = what {
            self.what.push((seq, what));
        }
        self.bytes.extend_from_slice(&0u32.to_ne_bytes());
        self.bytes.extend_from_slice(&ty.to_ne_bytes());
        self.bytes
            .extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
        self.bytes.extend_from_slice(&seq.to_ne_bytes());
        self.bytes.extend_from_slice(&0u32.to_ne_bytes());
        self.bytes.push(family);
        self.bytes.push(0);
        self.bytes.extend_from_slice(&res_id.to_be_bytes());
        start
    }

    /// An nf_tables command, acknowledged by the kernel.
    pub fn begin_cmd(&mut self, cmd: u16, flags: u16, family: u8, what: String) -> usize {
        self.begin_msg(
            (NFNL_SUBSYS_NFTABLES << 8) | cmd,
            NLM_F_ACK | flags,
            family,
            0,
            Some(what),
        )
    }

    /// Close the message started at `start`.
    pub fn end_msg(&mut self, start: usize) {
        let len = (self.bytes.len() - start) as u32;
        self.bytes[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    }

    /// The sequence number the next message will get.
    pub fn peek_seq(&self) -> u32 {
        self.next_seq
    }

    pub fn put(&mut self, ty: u16, data: &[u8]) {
        self.bytes
            .extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        self.bytes.extend_from_slice(&ty.to_ne_bytes());
        self.bytes.extend_from_slice(data);
        self.pad();
    }

    /// A `u32` attribute (nf_tables wants them big-endian).
    pub fn put_u32(&mut self, ty: u16, v: u32) {
        self.put(ty, &v.to_be_bytes());
    }

    pub fn put_u64(&mut self, ty: u16, v: u64) {
        self.put(ty, &v.to_be_bytes());
    }

    /// A NUL-terminated string attribute.
    pub fn put_str(&mut self, ty: u16, s: &str) {
        self.bytes
            .extend_from_slice(&((5 + s.len()) as u16).to_ne_bytes());
        self.bytes.extend_from_slice(&ty.to_ne_bytes());
        self.bytes.extend_from_slice(s.as_bytes());
        self.bytes.push(0);
        self.pad();
    }

    /// Open a nested attribute; close it with [`Buf::end`].
    pub fn nest(&mut self, ty: u16) -> usize {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(&[0, 0]);
        self.bytes.extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        start
    }

    pub fn end(&mut self, start: usize) {
        let len = self.bytes.len() - start;
        debug_assert!(len <= u16::MAX as usize, "nested attribute over 64 KiB");
        self.bytes[start..start + 2].copy_from_slice(&(len as u16).to_ne_bytes());
    }

    /// A nest holding one `NFTA_DATA_VALUE` (cmp data, set keys, bitwise masks).
    pub fn put_value(&mut self, ty: u16, value: &[u8]) {
        let n = self.nest(ty);
        self.put(1, value);
        self.end(n);
    }

    fn pad(&mut self) {
        let len = align4(self.bytes.len());
        self.bytes.resize(len, 0);
    }
}

/// One TLV of nftnl user data (`type u8, len u8, value`): set byte orders, rule comments.
pub(super) fn udata(out: &mut Vec<u8>, ty: u8, value: &[u8]) {
    out.push(ty);
    out.push(value.len() as u8);
    out.extend_from_slice(value);
}

/// A nested user-data TLV whose value is more TLVs.
pub(super) fn udata_nest(out: &mut Vec<u8>, ty: u8, inner: impl FnOnce(&mut Vec<u8>)) {
    let mut v = vec![];
    inner(&mut v);
    udata(out, ty, &v);
}

/// A `u32` user-data value, in host byte order as libnftnl writes it.
pub(super) fn udata_u32(out: &mut Vec<u8>, ty: u8, v: u32) {
    udata(out, ty, &v.to_ne_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nests_patch_their_length_and_strings_are_padded() {
        let mut b = Buf::new(1);
        let n = b.nest(3);
        b.put_str(1, "ab");
        b.put_u32(2, 1);
        b.end(n);
        assert_eq!(
            b.bytes,
            vec![20, 0, 3, 0x80, 7, 0, 1, 0, b'a', b'b', 0, 0, 8, 0, 2, 0, 0, 0, 0, 1]
        );
    }

    #[test]
    fn messages_carry_header_family_and_sequence() {
        let mut b = Buf::new(7);
        let m = b.begin_cmd(0, NLM_F_CREATE, 1, "table".into());
        b.put_str(1, "t");
        b.end_msg(m);
        assert_eq!(b.bytes.len(), 16 + 4 + 8);
        assert_eq!(u32::from_ne_bytes(b.bytes[0..4].try_into().unwrap()), 28);
        assert_eq!(u16::from_ne_bytes(b.bytes[4..6].try_into().unwrap()), 10 << 8);
        assert_eq!(
            u16::from_ne_bytes(b.bytes[6..8].try_into().unwrap()),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE
        );
        assert_eq!(u32::from_ne_bytes(b.bytes[8..12].try_into().unwrap()), 7);
        assert_eq!(b.bytes[16], 1);
        assert_eq!(b.what, vec![(7, "table".to_string())]);
    }
}
