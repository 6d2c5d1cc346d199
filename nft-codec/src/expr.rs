//! Register-level rule expressions, as nft's `--debug=netlink` lists them, written to and
//! read from `NFTA_RULE_EXPRESSIONS`.

mod read;
mod write;

pub use read::{expressions, read};

use crate::model::Verdict;

/// `NFT_REG_VERDICT`, and the first 128-bit data register.
pub const NFT_REG_VERDICT: u32 = 0;
pub const NFT_REG_1: u32 = 1;
/// The first 32-bit register (`NFT_REG32_00`).
pub const NFT_REG32_00: u32 = 8;
/// `NFT_CMP_EQ`, `NFT_CMP_NEQ`.
pub const NFT_CMP_EQ: u32 = 0;
pub const NFT_CMP_NEQ: u32 = 1;
/// Payload bases.
pub const NFT_PAYLOAD_LL_HEADER: u32 = 0;
pub const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
pub const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;

/// One kernel expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    /// `meta load <key> => reg`.
    Meta {
        key: u32,
        dreg: u32,
    },
    /// `payload load <len>b @ <base> + <offset> => reg`.
    Payload {
        base: u32,
        offset: u32,
        len: u32,
        dreg: u32,
    },
    /// `ct load <key> [direction] => reg`.
    Ct {
        key: u32,
        dreg: u32,
        dir: Option<u8>,
    },
    /// `fib <flags> <result> => reg`.
    Fib {
        flags: u32,
        result: u32,
        dreg: u32,
    },
    /// `cmp <op> reg <data>`.
    Cmp {
        sreg: u32,
        op: u32,
        data: Vec<u8>,
    },
    /// `bitwise reg = (reg & mask) ^ xor`.
    Bitwise {
        sreg: u32,
        dreg: u32,
        mask: Vec<u8>,
        xor: Vec<u8>,
    },
    /// `lookup reg set <name> [dreg]`: the set by name, and by id within a batch.
    Lookup {
        sreg: u32,
        dreg: Option<u32>,
        set: String,
        id: Option<u32>,
        inv: bool,
    },
    /// `immediate reg 0 <verdict>`.
    Immediate(Verdict),
    /// `counter`: counts to start from (written only when not zero, as nft writes a
    /// fresh counter), or the counts read back.
    Counter {
        packets: u64,
        bytes: u64,
    },
    /// `limit rate <rate>/<unit seconds> burst <burst>` (packets).
    Limit {
        rate: u64,
        unit: u64,
        burst: u32,
        flags: u32,
    },
    Log {
        prefix: Option<String>,
    },
    Reject {
        ty: u32,
        code: u8,
    },
    /// `nat <ty> <family> addr reg … proto reg … flags …`.
    Nat {
        ty: u32,
        family: u32,
        addr: Option<u32>,
        proto: Option<u32>,
        flags: u32,
    },
    Masq,
    /// An expression this codec does not model: its name and raw `NFTA_EXPR_DATA`.
    Other {
        name: String,
        data: Vec<u8>,
    },
}

impl Expr {
    /// A fresh counter.
    pub const COUNTER: Expr = Expr::Counter { packets: 0, bytes: 0 };

    /// The expression's kernel name (`NFTA_EXPR_NAME`).
    pub fn name(&self) -> &str {
        match self {
            Expr::Meta { .. } => "meta",
            Expr::Payload { .. } => "payload",
            Expr::Ct { .. } => "ct",
            Expr::Fib { .. } => "fib",
            Expr::Cmp { .. } => "cmp",
            Expr::Bitwise { .. } => "bitwise",
            Expr::Lookup { .. } => "lookup",
            Expr::Immediate(_) => "immediate",
            Expr::Counter { .. } => "counter",
            Expr::Limit { .. } => "limit",
            Expr::Log { .. } => "log",
            Expr::Reject { .. } => "reject",
            Expr::Nat { .. } => "nat",
            Expr::Masq => "masq",
            Expr::Other { name, .. } => name,
        }
    }
}
