//! Small constructors for the `nftables` crate's typed JSON model, so the renderer reads
//! like the rules it builds (`eq(meta(Iifname), set_ref("bridges"))`) instead of nested
//! struct literals. Everything is `'static`: the renderer owns its strings.

use std::borrow::Cow;
use std::collections::HashSet;

use nftables::expr::{
    Expression, Fib, FibFlag, FibResult, Map, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix,
    Range, SetItem, CT,
};
use nftables::stmt::{Counter, JumpTarget, Match, Operator, Statement, VerdictMap};

pub type Expr = Expression<'static>;
pub type Stmt = Statement<'static>;

pub fn str(s: impl Into<String>) -> Expr {
    Expression::String(Cow::Owned(s.into()))
}

pub fn num(n: u32) -> Expr {
    Expression::Number(n)
}

/// A reference to a named set or map: `@name`.
pub fn set_ref(name: &str) -> Expr {
    str(format!("@{name}"))
}

pub fn meta(key: MetaKey) -> Expr {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

/// A header field, e.g. `payload("tcp", "dport")`, `payload("arp", "saddr ip")`.
pub fn payload(protocol: &'static str, field: &'static str) -> Expr {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(PayloadField {
        protocol: protocol.into(),
        field: field.into(),
    })))
}

pub fn ct(key: &'static str) -> Expr {
    Expression::Named(NamedExpression::CT(CT {
        key: key.into(),
        family: None,
        dir: None,
    }))
}

/// `ct original <key>`: a field of the connection as its first packet had it (before
/// DNAT), the same for every packet of the connection in both directions.
pub fn ct_original(key: &'static str) -> Expr {
    Expression::Named(NamedExpression::CT(CT {
        key: key.into(),
        family: None,
        dir: Some(nftables::expr::CTDir::Original),
    }))
}

/// `fib daddr type`: how the routing table classifies the destination (`local`, …).
pub fn fib_daddr_type() -> Expr {
    Expression::Named(NamedExpression::Fib(Fib {
        result: FibResult::Type,
        flags: HashSet::from([FibFlag::Daddr]),
    }))
}

pub fn concat(parts: Vec<Expr>) -> Expr {
    Expression::Named(NamedExpression::Concat(parts))
}

/// An anonymous set `{ a, b }`.
pub fn anon_set(items: Vec<Expr>) -> Expr {
    Expression::Named(NamedExpression::Set(
        items.into_iter().map(SetItem::Element).collect(),
    ))
}

/// An anonymous verdict map `{ k : verdict, … }`. The verdicts are statements because
/// nft's JSON wants `{"accept": null}`, which the crate's verdict *expression* does not
/// produce for `accept`/`drop` (it writes a bare string nft rejects).
pub fn anon_vmap(items: Vec<(Expr, Stmt)>) -> Expr {
    Expression::Named(NamedExpression::Set(
        items
            .into_iter()
            .map(|(k, v)| SetItem::MappingStatement(k, v))
            .collect(),
    ))
}

/// `key map @name`: a lookup whose result is data.
pub fn map_lookup(key: Expr, map: &str) -> Expr {
    Expression::Named(NamedExpression::Map(Box::new(Map {
        key,
        data: set_ref(map),
    })))
}

pub fn range(first: u32, last: u32) -> Expr {
    Expression::Range(Box::new(Range {
        range: [num(first), num(last)],
    }))
}

/// A port or a port range as a set element.
pub fn port_elem(first: u16, last: u16) -> Expr {
    if first == last {
        num(u32::from(first))
    } else {
        range(u32::from(first), u32::from(last))
    }
}

pub fn prefix(addr: String, len: u8) -> Expr {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(str(addr)),
        len: u32::from(len),
    }))
}

/// A map element `[key, value]` for a named map's `elem` list.
pub fn map_elem(key: Expr, value: Expr) -> Expr {
    Expression::List(vec![key, value])
}

fn rel(left: Expr, op: Operator, right: Expr) -> Stmt {
    Statement::Match(Match { left, right, op })
}

pub fn eq(left: Expr, right: Expr) -> Stmt {
    rel(left, Operator::EQ, right)
}

pub fn ne(left: Expr, right: Expr) -> Stmt {
    rel(left, Operator::NEQ, right)
}

/// `left in right`: flag tests (`ct state established,related`).
pub fn is_in(left: Expr, right: Expr) -> Stmt {
    rel(left, Operator::IN, right)
}

/// `ct state a,b,…`.
pub fn ct_state(states: &[&'static str]) -> Stmt {
    is_in(
        ct("state"),
        Expression::List(states.iter().map(|s| str(*s)).collect()),
    )
}

pub fn accept() -> Stmt {
    Statement::Accept(None)
}

pub fn drop() -> Stmt {
    Statement::Drop(None)
}

/// An anonymous `counter`: packets and bytes of the rule, read back for `status`.
pub fn counter() -> Stmt {
    Statement::Counter(Counter::Anonymous(None))
}

pub fn jump(chain: &str) -> Stmt {
    Statement::Jump(JumpTarget {
        target: chain.to_string().into(),
    })
}

pub fn goto(chain: &str) -> Stmt {
    Statement::Goto(JumpTarget {
        target: chain.to_string().into(),
    })
}

pub fn vmap(key: Expr, map: Expr) -> Stmt {
    Statement::VerdictMap(VerdictMap { key, data: map })
}
