//! nftnl user data: the TLVs (`type u8, len u8, value`) nft stores with sets, rules and
//! elements for listing them — byte orders, typeof descriptions, rule comments.

use crate::types::Key;

/// libnftnl's set user-data TLV types (what `nft list` reads back).
pub const SET_KEYBYTEORDER: u8 = 0;
pub const SET_DATABYTEORDER: u8 = 1;
pub const SET_MERGE_ELEMENTS: u8 = 2;
pub const SET_KEY_TYPEOF: u8 = 3;
pub const SET_DATA_TYPEOF: u8 = 4;
pub const SET_DATA_INTERVAL: u8 = 6;
/// nft's expression type ids in typeof user data.
pub const EXPR_VERDICT: u32 = 1;
pub const EXPR_PAYLOAD: u32 = 7;
pub const EXPR_META: u32 = 9;
pub const EXPR_CONCAT: u32 = 13;
/// `NFTNL_UDATA_RULE_COMMENT`: the TLV type of a rule comment.
pub const RULE_COMMENT: u8 = 0;
/// `NFTNL_UDATA_SET_ELEM_FLAGS` / `NFTNL_SET_ELEM_F_INTERVAL_OPEN`.
pub const SET_ELEM_FLAGS: u8 = 1;
pub const SET_ELEM_F_INTERVAL_OPEN: u32 = 1;

/// One TLV.
pub fn put(out: &mut Vec<u8>, ty: u8, value: &[u8]) {
    out.push(ty);
    out.push(value.len() as u8);
    out.extend_from_slice(value);
}

/// A nested TLV whose value is more TLVs.
pub fn nest(out: &mut Vec<u8>, ty: u8, inner: impl FnOnce(&mut Vec<u8>)) {
    let mut v = vec![];
    inner(&mut v);
    put(out, ty, &v);
}

/// A `u32` value, in host byte order as libnftnl writes it.
pub fn put_u32(out: &mut Vec<u8>, ty: u8, v: u32) {
    put(out, ty, &v.to_ne_bytes());
}

/// The TLVs of `data`, as `(type, value)`; stops at a truncated one.
pub fn tlvs(data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let (&ty, &len) = (rest.first()?, rest.get(1)?);
        let value = rest.get(2..2 + len as usize)?;
        rest = &rest[2 + len as usize..];
        Some((ty, value))
    })
}

/// A typeof description: an expression type and its attributes.
pub fn typeof_expr(v: &mut Vec<u8>, ty: u32, attrs: &[(u8, u32)]) {
    put_u32(v, 0, ty);
    nest(v, 1, |v| {
        for (t, x) in attrs {
            put_u32(v, *t, *x);
        }
    });
}

/// The user data nft writes for a named set declared by type (`type ifname . ether_addr`),
/// `data_byteorder` for a map.
pub fn named_set(key: &Key, data_byteorder: Option<u32>) -> Vec<u8> {
    let mut u = vec![];
    put_u32(&mut u, SET_KEYBYTEORDER, key.byteorder());
    if let Some(b) = data_byteorder {
        put_u32(&mut u, SET_DATABYTEORDER, b);
    }
    if key.concat() {
        nest(&mut u, SET_KEY_TYPEOF, |v| {
            put_u32(v, 0, EXPR_CONCAT);
            put(v, 1, &[]);
        });
    }
    if data_byteorder.is_some() {
        put_u32(&mut u, SET_DATA_INTERVAL, 0);
    }
    u
}

/// A rule's user data holding `comment` (at most 254 bytes, no NUL).
pub fn rule_comment(comment: &str) -> Result<Vec<u8>, String> {
    if comment.len() > 254 || comment.contains('\0') {
        return Err("a comment longer than 254 bytes or with a NUL".into());
    }
    let mut u = Vec::with_capacity(comment.len() + 3);
    u.push(RULE_COMMENT);
    u.push((comment.len() + 1) as u8);
    u.extend_from_slice(comment.as_bytes());
    u.push(0);
    Ok(u)
}

/// The comment TLV in a rule's user data, without its NUL.
pub fn comment(udata: &[u8]) -> Option<&str> {
    let (_, value) = tlvs(udata).find(|(t, _)| *t == RULE_COMMENT)?;
    let value = value.split(|b| *b == 0).next().unwrap_or_default();
    std::str::from_utf8(value).ok()
}

/// An element's user data marking an interval open to the type's maximum.
pub fn elem_open() -> Vec<u8> {
    let mut u = vec![];
    put_u32(&mut u, SET_ELEM_FLAGS, SET_ELEM_F_INTERVAL_OPEN);
    u
}

/// Whether an element's user data marks it open.
pub fn is_open(udata: &[u8]) -> bool {
    tlvs(udata).any(|(t, v)| {
        t == SET_ELEM_FLAGS
            && v.get(..4)
                .is_some_and(|b| u32::from_ne_bytes(b.try_into().expect("4")) & SET_ELEM_F_INTERVAL_OPEN != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::DataType;

    #[test]
    fn reads_the_comment_tlv_of_rule_user_data() {
        let mut udata = vec![RULE_COMMENT, 7];
        udata.extend_from_slice(b"abc def");
        assert_eq!(comment(&udata), Some("abc def"));
        assert_eq!(comment(&[1, 1, 0]), None);
        assert_eq!(comment(&rule_comment("x y").unwrap()), Some("x y"));
    }

    #[test]
    fn a_concatenated_named_set_carries_nfts_user_data() {
        // nft's user data for `type ifname . ether_addr`.
        let key = Key {
            parts: vec![DataType::Ifname, DataType::Ether],
        };
        assert_eq!(
            named_set(&key, None),
            vec![0, 4, 0, 0, 0, 0, 3, 8, 0, 4, 13, 0, 0, 0, 1, 0]
        );
    }
}
