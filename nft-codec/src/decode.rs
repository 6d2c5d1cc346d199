//! Dump answers → the model: tables, chains, rules with their expressions, sets,
//! elements. Each function takes one message body (after `nlmsghdr`: `nfgenmsg`, then
//! attributes) and returns `None` for a body too short to be one.

use netlink_wire::{attrs, be32, be64, find, text};

use crate::batch::*;
use crate::expr::expressions;
use crate::model::{BaseChain, Chain, Elem, Family, Rule, Set, SetType, Table, Verdict};

/// The family of a body, and its attributes.
fn split(body: &[u8]) -> Option<(Family, &[u8])> {
    Some((Family::of(*body.first()?), body.get(4..)?))
}

/// A table of a `NFT_MSG_NEWTABLE` answer.
pub fn table(body: &[u8]) -> Option<Table> {
    let (family, a) = split(body)?;
    Some(Table {
        family,
        name: text(find(a, ATTR_TABLE)?),
        flags: find(a, NFTA_TABLE_FLAGS).map_or(0, be32),
    })
}

/// A chain of a `NFT_MSG_NEWCHAIN` answer.
pub fn chain(body: &[u8]) -> Option<Chain> {
    let (family, a) = split(body)?;
    let base = find(a, NFTA_CHAIN_HOOK).map(|h| BaseChain {
        ty: find(a, NFTA_CHAIN_TYPE).map(text).unwrap_or_default(),
        hook: find(h, NFTA_HOOK_HOOKNUM).map_or(0, be32),
        priority: find(h, NFTA_HOOK_PRIORITY).map_or(0, be32) as i32,
        policy: Verdict::of(find(a, NFTA_CHAIN_POLICY).map_or(1, be32) as i32, None),
    });
    Some(Chain {
        family,
        table: text(find(a, ATTR_TABLE)?),
        name: text(find(a, NFTA_CHAIN_NAME)?),
        base,
    })
}

/// A rule of a `NFT_MSG_NEWRULE` answer, with its expressions.
pub fn rule(body: &[u8]) -> Option<Rule> {
    let (family, a) = split(body)?;
    let mut r = Rule {
        family,
        table: String::new(),
        chain: String::new(),
        handle: None,
        exprs: vec![],
        userdata: None,
    };
    for (ty, data) in attrs(a) {
        match ty {
            ATTR_TABLE => r.table = text(data),
            NFTA_RULE_CHAIN => r.chain = text(data),
            NFTA_RULE_HANDLE => r.handle = Some(be64(data)),
            NFTA_RULE_EXPRESSIONS => r.exprs = expressions(data),
            NFTA_RULE_USERDATA => r.userdata = Some(data.to_vec()),
            _ => {}
        }
    }
    Some(r)
}

/// A set of a `NFT_MSG_NEWSET` answer.
pub fn set(body: &[u8]) -> Option<Set> {
    let (family, a) = split(body)?;
    let num = |t| find(a, t).map(be32);
    let data = num(NFTA_SET_DATA_TYPE).map(|type_id| SetType {
        type_id,
        len: num(NFTA_SET_DATA_LEN).unwrap_or(0),
    });
    let counter = find(a, NFTA_SET_EXPR)
        .is_some_and(|e| find(e, crate::wire::NFTA_EXPR_NAME).map(text).as_deref() == Some("counter"));
    Some(Set {
        family,
        table: text(find(a, ATTR_TABLE)?),
        name: text(find(a, NFTA_SET_NAME)?),
        id: num(NFTA_SET_ID),
        flags: num(NFTA_SET_FLAGS).unwrap_or(0),
        key: SetType {
            type_id: num(NFTA_SET_KEY_TYPE).unwrap_or(0),
            len: num(NFTA_SET_KEY_LEN).unwrap_or(0),
        },
        data,
        size: find(a, NFTA_SET_DESC)
            .and_then(|d| find(d, NFTA_SET_DESC_SIZE))
            .map(be32),
        fields: find(a, NFTA_SET_DESC)
            .and_then(|d| find(d, crate::batch::NFTA_SET_DESC_CONCAT))
            .map(|c| {
                netlink_wire::attrs(c)
                    .filter_map(|(_, f)| find(f, crate::batch::NFTA_SET_FIELD_LEN).map(be32))
                    .collect()
            })
            .unwrap_or_default(),
        udata: find(a, NFTA_SET_USERDATA).unwrap_or_default().to_vec(),
        counter,
    })
}

/// The set (by name) and elements of a `NFT_MSG_NEWSETELEM` answer.
pub fn elements(body: &[u8]) -> Option<(String, Vec<Elem>)> {
    let (_, a) = split(body)?;
    let name = find(a, NFTA_SET_ELEM_LIST_SET).map(text).unwrap_or_default();
    let elems = find(a, NFTA_SET_ELEM_LIST_ELEMENTS)
        .map(|l| crate::elem::read_list(l).collect())
        .unwrap_or_default();
    Some((name, elems))
}
