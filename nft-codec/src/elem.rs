//! Elements: writing one, reading one, and laying intervals out as nft does.

use netlink_wire::{attrs, be32, Writer};

use crate::model::{Elem, ElemData};
use crate::types::successor;
use crate::udata;
use crate::wire::{counter, name_and_data, put_counter, put_value, put_verdict, value, verdict};
use crate::wire::{NFTA_EXPR_DATA, NFTA_EXPR_NAME, NFTA_LIST_ELEM};

const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_SET_ELEM_FLAGS: u16 = 3;
const NFTA_SET_ELEM_USERDATA: u16 = 6;
const NFTA_SET_ELEM_EXPR: u16 = 7;
const NFTA_SET_ELEM_KEY_END: u16 = 10;
const NFTA_SET_ELEM_EXPRESSIONS: u16 = 11;
const NFT_SET_ELEM_INTERVAL_END: u32 = 1;

impl Elem {
    /// Append this element to an element list, as list entry `index`.
    pub(crate) fn write(&self, w: &mut Writer, index: u16) {
        let e = w.nest(index);
        if self.end {
            w.put_be32(NFTA_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
        }
        put_value(w, NFTA_SET_ELEM_KEY, &self.key);
        if let Some(end) = &self.key_end {
            put_value(w, NFTA_SET_ELEM_KEY_END, end);
        }
        match &self.data {
            Some(ElemData::Value(v)) => put_value(w, NFTA_SET_ELEM_DATA, v),
            Some(ElemData::Verdict(v)) => {
                let d = w.nest(NFTA_SET_ELEM_DATA);
                put_verdict(w, v);
                w.end(d);
            }
            None => {}
        }
        if self.open {
            w.put(NFTA_SET_ELEM_USERDATA, &udata::elem_open());
        }
        if let Some((packets, bytes)) = self.counter {
            let list = w.nest(NFTA_SET_ELEM_EXPRESSIONS);
            let x = w.nest(NFTA_LIST_ELEM);
            w.put_str(NFTA_EXPR_NAME, "counter");
            let d = w.nest(NFTA_EXPR_DATA);
            put_counter(w, packets, bytes);
            w.end(d);
            w.end(x);
            w.end(list);
        }
        w.end(e);
    }

    /// One element of an element list (`NFTA_LIST_ELEM`'s data).
    pub fn read(elem: &[u8]) -> Elem {
        let mut e = Elem::key(vec![]);
        for (ty, data) in attrs(elem) {
            match ty {
                NFTA_SET_ELEM_KEY => e.key = value(data).unwrap_or_default().to_vec(),
                NFTA_SET_ELEM_KEY_END => e.key_end = value(data).map(<[u8]>::to_vec),
                NFTA_SET_ELEM_DATA => {
                    e.data = match value(data) {
                        Some(v) => Some(ElemData::Value(v.to_vec())),
                        None => verdict(data).map(ElemData::Verdict),
                    }
                }
                NFTA_SET_ELEM_FLAGS => e.end = be32(data) & NFT_SET_ELEM_INTERVAL_END != 0,
                NFTA_SET_ELEM_USERDATA => e.open = udata::is_open(data),
                NFTA_SET_ELEM_EXPR => e.counter = expr_counter(data).or(e.counter),
                NFTA_SET_ELEM_EXPRESSIONS => {
                    for (_, x) in attrs(data).filter(|(t, _)| *t == NFTA_LIST_ELEM) {
                        e.counter = expr_counter(x).or(e.counter);
                    }
                }
                _ => {}
            }
        }
        e
    }
}

impl Elem {
    /// This element as its netlink attributes (what [`Elem::read`] reads): a compact,
    /// lossless form to carry an element from a read-back to the update that writes it.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut w = netlink_wire::Writer::with_capacity(64);
        self.write(&mut w, NFTA_LIST_ELEM);
        // Drop the list entry's own attribute header (4 bytes).
        w.into_bytes().split_off(4)
    }
}

/// The elements of an `NFTA_SET_ELEM_LIST_ELEMENTS` list (whatever their attribute
/// type: the kernel writes `NFTA_LIST_ELEM`, nft numbers them).
pub fn read_list(list: &[u8]) -> impl Iterator<Item = Elem> + '_ {
    attrs(list).map(|(_, e)| Elem::read(e))
}

/// The counts of a `counter` expression (`None` for any other expression).
fn expr_counter(expr: &[u8]) -> Option<(u64, u64)> {
    let (name, data) = name_and_data(expr);
    (name == "counter").then(|| counter(data))
}

/// One interval of an interval set: `(first, last)` (big-endian bytes) and its data.
pub type Interval = ((Vec<u8>, Vec<u8>), Option<ElemData>);

/// The elements of an interval set for `ranges` (`((first, last), data)`, big-endian
/// bytes), as nft 1.0.6 sends them: sorted; per interval a start element and an end
/// element at last+1; an end element at zero first when the first interval does not
/// start there; no end element (but the "open" user-data flag on the start) for an
/// interval that reaches the type's maximum. Overlaps are refused, naming `set`.
pub fn intervals(mut ranges: Vec<Interval>, set: &str) -> Result<Vec<Elem>, String> {
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
            return Err(format!("overlapping intervals in set {set} (at {lo:02x?})"));
        }
        let next = successor(&hi);
        out.push(Elem {
            data,
            open: next.is_none(),
            ..Elem::key(lo)
        });
        if let Some(n) = next {
            out.push(Elem::end(n));
        }
        prev_hi = Some(hi);
    }
    Ok(out)
}
