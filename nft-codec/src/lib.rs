//! The nf_tables codec: a typed model of nf_tables objects — tables, chains, rules with
//! register-level expressions, sets and maps, elements — encoded into one batch
//! transaction ([`Batch`] → [`Transaction`], sent by [`send`]) and decoded from dump
//! answers ([`decode`], [`dump`]).
//!
//! Why its own crate: the model is nf_tables' netlink API and nothing else; it knows
//! nothing of zones, brouter, fingerprints or bindings. What a ruleset *means* is lowered
//! into it elsewhere (brouter's `firewall::lower`), and read back from it there.
//! Attributes are written in place by `netlink-wire`'s `Writer` (see its doc for why), in
//! the order nft 1.0.6 (libnftnl) writes them, so the batch matches `nft --debug=mnl`
//! byte for byte and `nft list` prints what nft itself would have written.

mod batch;
pub mod decode;
pub mod diff;
pub mod dump;
mod elem;
pub mod expr;
mod model;
mod send;
pub mod snapshot;
pub mod types;
pub mod udata;
mod wire;

pub use batch::{Batch, Mode, Transaction, NEST_LIMIT};
pub use diff::{diff, Difference};
pub use elem::{intervals, Interval};
pub use expr::Expr;
pub use model::{
    BaseChain, Chain, Elem, ElemData, Family, Rule, Set, SetRef, SetType, Table, Verdict, NFT_DATA_VERDICT,
    NFT_SET_CONCAT,
};
pub use send::{open, send, ApplyError};
pub use snapshot::TableContents;

/// `NFT_SET_*` flags.
pub const NFT_SET_ANONYMOUS: u32 = 0x1;
pub const NFT_SET_CONSTANT: u32 = 0x2;
pub const NFT_SET_INTERVAL: u32 = 0x4;
pub const NFT_SET_MAP: u32 = 0x8;

#[cfg(test)]
mod tests;
