//! A table's objects in the order they must be added, built one set, map, chain or
//! rule at a time (every object names the same table and family).

use std::borrow::Cow;
use std::collections::HashSet;

use nftables::schema::{Chain, Map, NfListObject, Rule, Set, SetFlag, SetType, SetTypeValue};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use super::{table, TABLE};
use crate::firewall::expr::{Expr, Stmt};

/// The objects of one of brouter's tables, its `table` object first.
pub(super) struct Builder {
    family: NfFamily,
    pub(super) objects: Vec<NfListObject<'static>>,
}

impl Builder {
    pub(super) fn new(family: NfFamily) -> Builder {
        Builder {
            family,
            objects: vec![NfListObject::Table(table(family))],
        }
    }

    pub(super) fn set(&mut self, name: &str, ty: SetTypeValue<'static>, interval: bool, elems: Vec<Expr>) {
        self.objects.push(NfListObject::Set(Box::new(Set {
            family: self.family,
            table: TABLE.into(),
            name: name.to_string().into(),
            handle: None,
            set_type: ty,
            policy: None,
            flags: interval.then(|| HashSet::from([SetFlag::Interval])),
            elem: (!elems.is_empty()).then(|| Cow::Owned(elems)),
            timeout: None,
            gc_interval: None,
            size: None,
            comment: None,
        })));
    }

    pub(super) fn map(&mut self, name: &str, key: SetType, data: SetType, interval: bool, elems: Vec<Expr>) {
        self.objects.push(NfListObject::Map(Box::new(Map {
            family: self.family,
            table: TABLE.into(),
            name: name.to_string().into(),
            handle: None,
            set_type: SetTypeValue::Single(key),
            map: SetTypeValue::Single(data),
            policy: None,
            flags: interval.then(|| HashSet::from([SetFlag::Interval])),
            elem: (!elems.is_empty()).then(|| Cow::Owned(elems)),
            timeout: None,
            gc_interval: None,
            size: None,
            comment: None,
        })));
    }

    pub(super) fn base_chain(&mut self, name: &str, ty: NfChainType, hook: NfHook, prio: i32) {
        self.objects.push(NfListObject::Chain(Chain {
            family: self.family,
            table: TABLE.into(),
            name: name.to_string().into(),
            newname: None,
            handle: None,
            _type: Some(ty),
            hook: Some(hook),
            prio: Some(prio),
            dev: None,
            policy: Some(NfChainPolicy::Accept),
        }));
    }

    pub(super) fn chain(&mut self, name: &str) {
        self.objects.push(NfListObject::Chain(Chain {
            family: self.family,
            table: TABLE.into(),
            name: name.to_string().into(),
            ..Chain::default()
        }));
    }

    pub(super) fn rule(&mut self, chain: &str, expr: Vec<Stmt>, comment: Option<String>) {
        self.objects.push(NfListObject::Rule(Rule {
            family: self.family,
            table: TABLE.into(),
            chain: chain.to_string().into(),
            expr: Cow::Owned(expr),
            handle: None,
            index: None,
            comment: comment.map(Cow::Owned),
        }));
    }
}

/// A set type of one field.
pub(super) fn single(t: SetType) -> SetTypeValue<'static> {
    SetTypeValue::Single(t)
}
