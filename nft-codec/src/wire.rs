//! nf_tables attribute shapes shared by expressions, sets and elements.

use netlink_wire::{find, Writer};

use crate::model::Verdict;

pub const NFTA_LIST_ELEM: u16 = 1;
pub const NFTA_EXPR_NAME: u16 = 1;
pub const NFTA_EXPR_DATA: u16 = 2;
pub const NFTA_DATA_VALUE: u16 = 1;
pub const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;
pub const NFTA_COUNTER_BYTES: u16 = 1;
pub const NFTA_COUNTER_PACKETS: u16 = 2;

/// A nest holding one `NFTA_DATA_VALUE` (cmp data, set keys, bitwise masks).
#[inline]
pub fn put_value(w: &mut Writer, ty: u16, value: &[u8]) {
    let n = w.nest(ty);
    w.put(NFTA_DATA_VALUE, value);
    w.end(n);
}

/// The `NFTA_DATA_VALUE` inside an `NFTA_*_DATA`-shaped nest.
pub fn value(data: &[u8]) -> Option<&[u8]> {
    find(data, NFTA_DATA_VALUE)
}

/// `NFTA_DATA_VERDICT` (inside an `NFTA_*_DATA` nest).
#[inline]
pub fn put_verdict(w: &mut Writer, v: &Verdict) {
    let n = w.nest(NFTA_DATA_VERDICT);
    w.put_be32(NFTA_VERDICT_CODE, v.code() as u32);
    if let Some(chain) = v.chain() {
        w.put_str(NFTA_VERDICT_CHAIN, chain);
    }
    w.end(n);
}

/// The verdict inside an `NFTA_*_DATA` nest.
pub fn verdict(data: &[u8]) -> Option<Verdict> {
    let v = find(data, NFTA_DATA_VERDICT)?;
    let code = netlink_wire::be32(find(v, NFTA_VERDICT_CODE)?) as i32;
    let chain = find(v, NFTA_VERDICT_CHAIN).map(netlink_wire::text);
    Some(Verdict::of(code, chain))
}

/// A `counter` expression's data.
#[inline]
pub fn put_counter(w: &mut Writer, packets: u64, bytes: u64) {
    w.put_be64(NFTA_COUNTER_BYTES, bytes);
    w.put_be64(NFTA_COUNTER_PACKETS, packets);
}

/// `(packets, bytes)` of a `counter` expression's data.
pub fn counter(data: &[u8]) -> (u64, u64) {
    let get = |t| find(data, t).map_or(0, netlink_wire::be64);
    (get(NFTA_COUNTER_PACKETS), get(NFTA_COUNTER_BYTES))
}

/// The name and data of an `NFTA_LIST_ELEM` expression.
pub fn name_and_data(expr: &[u8]) -> (String, &[u8]) {
    let name = find(expr, NFTA_EXPR_NAME)
        .map(netlink_wire::text)
        .unwrap_or_default();
    (name, find(expr, NFTA_EXPR_DATA).unwrap_or_default())
}
