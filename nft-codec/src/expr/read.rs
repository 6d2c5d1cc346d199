//! Reading expressions back from a rule dump.

use netlink_wire::{attrs, be32, be64, find, text};

use super::Expr;
use crate::wire::{counter, name_and_data, value, verdict, NFTA_LIST_ELEM};

/// The expressions of an `NFTA_RULE_EXPRESSIONS` list.
pub fn expressions(list: &[u8]) -> Vec<Expr> {
    attrs(list)
        .filter(|(t, _)| *t == NFTA_LIST_ELEM)
        .map(|(_, e)| read(e))
        .collect()
}

/// One `NFTA_LIST_ELEM` expression; what this codec does not model (or cannot read) is
/// [`Expr::Other`] with its raw data.
pub fn read(expr: &[u8]) -> Expr {
    let (name, data) = name_and_data(expr);
    read_load(&name, data)
        .or_else(|| read_op(&name, data))
        .or_else(|| read_statement(&name, data))
        .unwrap_or_else(|| Expr::Other {
            name,
            data: data.to_vec(),
        })
}

fn u32_at(data: &[u8], ty: u16) -> Option<u32> {
    find(data, ty).map(be32)
}

fn read_load(name: &str, d: &[u8]) -> Option<Expr> {
    Some(match name {
        "meta" => Expr::Meta {
            key: u32_at(d, 2)?,
            dreg: u32_at(d, 1)?,
        },
        "payload" => Expr::Payload {
            dreg: u32_at(d, 1)?,
            base: u32_at(d, 2)?,
            offset: u32_at(d, 3)?,
            len: u32_at(d, 4)?,
        },
        "ct" => Expr::Ct {
            key: u32_at(d, 2)?,
            dreg: u32_at(d, 1)?,
            dir: find(d, 3).and_then(|v| v.first().copied()),
        },
        "fib" => Expr::Fib {
            flags: u32_at(d, 3)?,
            result: u32_at(d, 2)?,
            dreg: u32_at(d, 1)?,
        },
        _ => return None,
    })
}

fn read_op(name: &str, d: &[u8]) -> Option<Expr> {
    let data = |ty| find(d, ty).and_then(value).map(<[u8]>::to_vec);
    Some(match name {
        "cmp" => Expr::Cmp {
            sreg: u32_at(d, 1)?,
            op: u32_at(d, 2)?,
            data: data(3)?,
        },
        "bitwise" => Expr::Bitwise {
            sreg: u32_at(d, 1)?,
            dreg: u32_at(d, 2)?,
            mask: data(4)?,
            xor: data(5)?,
        },
        "lookup" => Expr::Lookup {
            sreg: u32_at(d, 2)?,
            dreg: u32_at(d, 3),
            set: text(find(d, 1)?),
            id: u32_at(d, 4),
            inv: u32_at(d, 5).is_some_and(|f| f & 1 != 0),
        },
        "immediate" => Expr::Immediate(verdict(find(d, 2)?)?),
        _ => return None,
    })
}

fn read_statement(name: &str, d: &[u8]) -> Option<Expr> {
    Some(match name {
        "counter" => {
            let (packets, bytes) = counter(d);
            Expr::Counter { packets, bytes }
        }
        "limit" => Expr::Limit {
            rate: be64(find(d, 1)?),
            unit: be64(find(d, 2)?),
            burst: u32_at(d, 3).unwrap_or(0),
            flags: u32_at(d, 5).unwrap_or(0),
        },
        "log" => Expr::Log {
            prefix: find(d, 2).map(text),
        },
        "reject" => Expr::Reject {
            ty: u32_at(d, 1)?,
            code: *find(d, 2)?.first()?,
        },
        "nat" => Expr::Nat {
            ty: u32_at(d, 1)?,
            family: u32_at(d, 2)?,
            addr: u32_at(d, 3),
            proto: u32_at(d, 5),
            flags: u32_at(d, 7).unwrap_or(0),
        },
        "masq" => Expr::Masq,
        _ => return None,
    })
}
