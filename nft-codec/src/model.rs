//! The nf_tables objects, as the kernel's netlink API has them (register-level rules).

use crate::expr::Expr;

/// A table family (`nfgenmsg.nfgen_family`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Inet,
    Ip,
    Arp,
    Netdev,
    Bridge,
    Ip6,
    Other(u8),
}

impl Family {
    /// The `NFPROTO_*` number.
    pub fn nfproto(self) -> u8 {
        match self {
            Family::Inet => 1,
            Family::Ip => 2,
            Family::Arp => 3,
            Family::Netdev => 5,
            Family::Bridge => 7,
            Family::Ip6 => 10,
            Family::Other(n) => n,
        }
    }

    /// The family of an `NFPROTO_*` number.
    pub fn of(nfproto: u8) -> Family {
        match nfproto {
            1 => Family::Inet,
            2 => Family::Ip,
            3 => Family::Arp,
            5 => Family::Netdev,
            7 => Family::Bridge,
            10 => Family::Ip6,
            n => Family::Other(n),
        }
    }

    /// nft's name for it (`inet`, `bridge`, …).
    pub fn name(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Ip => "ip",
            Family::Arp => "arp",
            Family::Netdev => "netdev",
            Family::Bridge => "bridge",
            Family::Ip6 => "ip6",
            Family::Other(_) => "unknown",
        }
    }
}

/// A table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Table {
    pub family: Family,
    pub name: String,
    /// `NFTA_TABLE_FLAGS` (`NFT_TABLE_F_DORMANT`, …).
    pub flags: u32,
}

/// A chain; a base chain has a hook.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Chain {
    pub family: Family,
    pub table: String,
    pub name: String,
    pub base: Option<BaseChain>,
}

/// What makes a chain a base chain: where packets enter it and what it does by default.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BaseChain {
    /// `filter`, `nat` or `route`.
    pub ty: String,
    /// `NF_INET_*` hook number (prerouting 0, input 1, forward 2, output 3, postrouting 4).
    pub hook: u32,
    pub priority: i32,
    /// The policy verdict (accept or drop).
    pub policy: Verdict,
}

/// A rule: register-level expressions, and nftnl user data (its comment).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    pub family: Family,
    pub table: String,
    pub chain: String,
    /// The kernel's handle (read back; never written).
    pub handle: Option<u64>,
    pub exprs: Vec<Expr>,
    /// `NFTA_RULE_USERDATA`: nftnl TLVs (see [`crate::udata::rule_comment`]).
    pub userdata: Option<Vec<u8>>,
}

impl Rule {
    /// The rule's comment, from its user data.
    pub fn comment(&self) -> Option<&str> {
        self.userdata.as_deref().and_then(crate::udata::comment)
    }
}

/// A verdict: of a rule (`immediate`), a verdict map element, or a chain's policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Verdict {
    Accept,
    Drop,
    Continue,
    Return,
    Jump(String),
    Goto(String),
    /// Any other code (`NF_QUEUE`, `NF_STOLEN`, `NFT_BREAK`, …).
    Other(i32),
}

impl Verdict {
    /// The kernel's verdict code.
    pub fn code(&self) -> i32 {
        match self {
            Verdict::Drop => 0,
            Verdict::Accept => 1,
            Verdict::Continue => -1,
            Verdict::Jump(_) => -3,
            Verdict::Goto(_) => -4,
            Verdict::Return => -5,
            Verdict::Other(c) => *c,
        }
    }

    /// The verdict of `code` (and the chain a jump or goto names).
    pub fn of(code: i32, chain: Option<String>) -> Verdict {
        match (code, chain) {
            (0, _) => Verdict::Drop,
            (1, _) => Verdict::Accept,
            (-1, _) => Verdict::Continue,
            (-3, Some(c)) => Verdict::Jump(c),
            (-4, Some(c)) => Verdict::Goto(c),
            (-5, _) => Verdict::Return,
            (c, _) => Verdict::Other(c),
        }
    }

    /// The chain a jump or goto continues in.
    pub fn chain(&self) -> Option<&str> {
        match self {
            Verdict::Jump(c) | Verdict::Goto(c) => Some(c),
            _ => None,
        }
    }
}

/// A set's key or a map's data: nft's datatype id (concatenations: 6 bits per part) and
/// the length in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SetType {
    pub type_id: u32,
    pub len: u32,
}

/// `NFT_DATA_VERDICT`: the data type of a verdict map.
pub const NFT_DATA_VERDICT: u32 = 0xffff_ff00;

/// `NFT_SET_CONCAT`: nft's flag on a concatenated interval set.
pub const NFT_SET_CONCAT: u32 = 0x80;

/// A set or map (a map has `data` and `NFT_SET_MAP` in its flags).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Set {
    pub family: Family,
    pub table: String,
    /// The name; `__set%d` / `__map%d` for an anonymous set (the kernel numbers it).
    pub name: String,
    /// `NFTA_SET_ID`: how rules and element messages of the same batch refer to it.
    pub id: Option<u32>,
    /// `NFT_SET_*` flags.
    pub flags: u32,
    pub key: SetType,
    /// A map's data (`type_id` [`NFT_DATA_VERDICT`], length 0, for a verdict map).
    pub data: Option<SetType>,
    /// `NFTA_SET_DESC_SIZE` (nft sends it for anonymous sets: the number of elements).
    pub size: Option<u32>,
    /// `NFTA_SET_DESC_CONCAT`: the length of each part of a concatenated key, which nft
    /// sends for a concatenated interval set (the kernel then keeps it in a pipapo set and
    /// its elements carry `key_end`); empty for every other set.
    pub fields: Vec<u32>,
    /// nftnl user data: byte orders and typeof, for `nft list`.
    pub udata: Vec<u8>,
    /// A set-level `counter`: each element gets its own counter.
    pub counter: bool,
}

/// Which set element messages are about: by name, and by id if it is created in the
/// same batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetRef<'a> {
    pub family: Family,
    pub table: &'a str,
    pub name: &'a str,
    pub id: Option<u32>,
}

impl Set {
    /// How element messages refer to this set.
    pub fn set_ref(&self) -> SetRef<'_> {
        SetRef {
            family: self.family,
            table: &self.table,
            name: &self.name,
            id: self.id,
        }
    }
}

/// One element as the kernel keeps it (intervals: a start element and an end element).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Elem {
    /// The key's bytes as the kernel keeps them (see [`crate::types`]).
    pub key: Vec<u8>,
    /// `NFTA_SET_ELEM_KEY_END`: the last key of the range, in a concatenated interval
    /// set (equal to `key` for a single value).
    pub key_end: Option<Vec<u8>>,
    pub data: Option<ElemData>,
    /// `NFT_SET_ELEM_INTERVAL_END`.
    pub end: bool,
    /// An interval that runs to the type's maximum (nft marks it in user data).
    pub open: bool,
    /// `(packets, bytes)` of the element's own counter: read back, or the count a new
    /// element starts from; `None` on write: the set's counter, from 0.
    pub counter: Option<(u64, u64)>,
}

impl Elem {
    /// A plain element of a set.
    pub fn key(key: Vec<u8>) -> Elem {
        Elem {
            key,
            key_end: None,
            data: None,
            end: false,
            open: false,
            counter: None,
        }
    }

    /// The end element of an interval (`key` one past its last value).
    pub fn end(key: Vec<u8>) -> Elem {
        Elem {
            end: true,
            ..Elem::key(key)
        }
    }
}

/// One element's data: a map value or a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ElemData {
    Value(Vec<u8>),
    Verdict(Verdict),
}
