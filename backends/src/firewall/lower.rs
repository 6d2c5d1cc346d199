//! brouter's tables (the `nftables` crate's typed model from [`render`]) and the
//! anti-spoofing bindings, lowered into nf_tables objects ([`nft_codec`]) and written as
//! one batch.
//!
//! Lowering is what nft 1.0.6 does with the same statements: expressions linearised into
//! registers with nft's protocol dependencies ([`expr`]), sets and maps with nft's types
//! and user data ([`set`]), element keys laid out as the kernel keeps them ([`value`]),
//! anonymous sets for inline set literals — so `nft list` prints the same tables. The
//! counts of the tables being replaced carry over ([`Carry`], [`RuleId`]).

mod expr;
mod field;
mod set;
mod value;

use std::collections::{HashMap, HashSet};
use std::fmt;

use brouter_engine::firewall::Binding;
use nft_codec::types::Key;
use nft_codec::{
    udata, BaseChain, Batch, ElemData, Expr, Family, Mode, Transaction, Verdict, NFT_SET_INTERVAL,
    NFT_SET_MAP,
};
use nftables::expr::Expression;
use nftables::schema::{Chain, Element, Map, NfListObject, Rule, Set, SetFlag, SetTypeValue};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use super::render::{self, Tables, TABLE};
use set::{Data, SetDef};
use value::{key_of, kind_of};

/// Something the typed model holds that this encoder cannot translate: never dropped
/// silently, always refused with the object and the construct named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError(pub String);

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EncodeError {}

/// Counts for the counters of the tables a transaction writes, read from the tables it
/// replaces: a `start` that rewrites the firewall (a changed config, a re-apply) would
/// otherwise set every forward's and policy's counts back to zero in `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Carry {
    /// `(packets, bytes)` of the counted rules of `inet brouter`.
    pub rules: HashMap<RuleId, (u64, u64)>,
    /// `(packets, bytes)` of the elements of its counted sets, by (set, key bytes).
    pub elements: HashMap<(String, Vec<u8>), (u64, u64)>,
}

/// Which counted rule of `inet brouter` a count belongs to: its chain, comment, verdict
/// and whether it logs, and the how-manyth such rule of the chain it is. A rule keeps its
/// identity when other rules come or go (a policy's services change), so the totals
/// `status` shows per zone pair and verdict carry over.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RuleId {
    pub chain: String,
    pub comment: Option<String>,
    /// `accept`, `drop`, `reject`, or `None` for a rule without a verdict.
    pub verdict: Option<&'static str>,
    pub logs: bool,
    pub ordinal: usize,
}

/// Encode a transaction on brouter's two tables, the new counters starting from
/// `carry`'s counts where a rule or an element of a counted set matches. `tables` (for
/// `Create`/`Replace`) are added in order after the table commands, then `bindings` as
/// elements of the bridge table's binding sets. `Delete` ignores both.
pub fn encode_with(
    mode: Mode,
    tables: Option<&Tables>,
    bindings: &[Binding],
    carry: Carry,
) -> Result<Transaction, EncodeError> {
    let mut e = Encoder {
        batch: Batch::new(),
        sets: HashMap::new(),
        next_id: 1,
        carry,
        counted: HashMap::new(),
    };
    let empty: (Vec<NfListObject<'static>>, Vec<NfListObject<'static>>) = (vec![], vec![]);
    let (inet, bridge) = match (mode, tables) {
        (Mode::Delete, _) | (_, None) => (&empty.0, &empty.1),
        (_, Some(t)) => (&t.inet, &t.bridge),
    };
    for (family, objects) in [(Family::Inet, inet), (Family::Bridge, bridge)] {
        e.batch.table(mode, &table(family, TABLE));
        if mode == Mode::Delete {
            continue;
        }
        let mut rules_in: HashMap<String, usize> = HashMap::new();
        for o in objects {
            e.object(family, o, &mut rules_in).map_err(EncodeError)?;
        }
    }
    if mode != Mode::Delete {
        for b in bindings {
            for el in render::binding_elements(b) {
                e.element(&el)
                    .map_err(|m| EncodeError(format!("binding of {}: {m}", b.vif)))?;
            }
        }
    }
    Ok(e.batch.finish())
}

fn table(family: Family, name: &str) -> nft_codec::Table {
    nft_codec::Table {
        family,
        name: name.to_string(),
        flags: 0,
    }
}

/// A table family brouter's encoder knows.
fn family_of(f: NfFamily) -> Result<Family, String> {
    match f {
        NfFamily::INet => Ok(Family::Inet),
        NfFamily::Bridge => Ok(Family::Bridge),
        other => Err(format!("table family {other:?}")),
    }
}

struct Encoder {
    batch: Batch,
    /// The sets of this batch by (family, table, name).
    sets: HashMap<(Family, String, String), SetDef>,
    next_id: u32,
    /// Counts the new counters start from.
    carry: Carry,
    /// How many counted rules of each [`RuleId`] shape came so far (its `ordinal`).
    counted: HashMap<RuleId, usize>,
}

/// The named sets of one table, for the rule compiler.
struct TableSets<'a> {
    sets: &'a HashMap<(Family, String, String), SetDef>,
    family: Family,
    table: &'a str,
    next_id: &'a mut u32,
}

impl expr::Sets for TableSets<'_> {
    fn named(&self, name: &str) -> Option<(u32, Key, Option<Data>)> {
        self.sets
            .get(&(self.family, self.table.to_string(), name.to_string()))
            .map(|s| (s.id, s.key.clone(), s.data.clone()))
    }

    fn next_id(&mut self) -> u32 {
        let id = *self.next_id;
        *self.next_id += 1;
        id
    }
}

/// The options of a set or map this encoder does not translate.
fn unsupported_options(what: &str, has_any: bool) -> Result<(), String> {
    if has_any {
        return Err(format!("{what}: policy, timeout, gc-interval, size or comment"));
    }
    Ok(())
}

impl Encoder {
    fn object(
        &mut self,
        family: Family,
        o: &NfListObject<'_>,
        rules_in: &mut HashMap<String, usize>,
    ) -> Result<(), String> {
        let check = |f: NfFamily| -> Result<(), String> {
            if family_of(f)? == family {
                Ok(())
            } else {
                Err(format!("a {f:?} object among the {} table's", family.name()))
            }
        };
        match o {
            NfListObject::Table(t) => {
                check(t.family)?;
                if t.name != TABLE {
                    self.batch.new_table(&table(family, &t.name), false);
                }
                Ok(())
            }
            NfListObject::Set(s) => {
                check(s.family)?;
                self.set(family, s)
            }
            NfListObject::Map(m) => {
                check(m.family)?;
                self.map(family, m)
            }
            NfListObject::Chain(c) => {
                check(c.family)?;
                self.chain(family, c)
            }
            NfListObject::Rule(r) => {
                check(r.family)?;
                let n = rules_in.entry(r.chain.to_string()).or_insert(0);
                *n += 1;
                let n = *n;
                self.rule(family, r, n)
            }
            NfListObject::Element(e) => {
                check(e.family)?;
                self.element(e)
            }
            other => Err(format!("object {other:?}")),
        }
    }

    fn set(&mut self, family: Family, s: &Set<'_>) -> Result<(), String> {
        let what = format!("set {} of table {} {}", s.name, family.name(), s.table);
        let options = s.policy.is_some()
            || s.timeout.is_some()
            || s.gc_interval.is_some()
            || s.size.is_some()
            || s.comment.is_some();
        unsupported_options(&what, options)?;
        let key = key_of(&s.set_type).map_err(|m| format!("{what}: {m}"))?;
        let flags = set_flags(s.flags.as_ref()).map_err(|m| format!("{what}: {m}"))?;
        let elems: Vec<(&Expression<'_>, Option<ElemData>)> =
            s.elem.iter().flat_map(|e| e.iter()).map(|e| (e, None)).collect();
        let def = self.set_def(family, &s.table, &s.name, key, None, flags);
        self.named_set(def, &elems, what)
    }

    fn map(&mut self, family: Family, m: &Map<'_>) -> Result<(), String> {
        let what = format!("map {} of table {} {}", m.name, family.name(), m.table);
        let options = m.policy.is_some()
            || m.timeout.is_some()
            || m.gc_interval.is_some()
            || m.size.is_some()
            || m.comment.is_some();
        unsupported_options(&what, options)?;
        let key = key_of(&m.set_type).map_err(|e| format!("{what}: {e}"))?;
        let data = match &m.map {
            SetTypeValue::Single(t) => kind_of(t).map_err(|e| format!("{what}: data {e}"))?,
            other => return Err(format!("{what}: concatenated data {other:?}")),
        };
        let flags = set_flags(m.flags.as_ref()).map_err(|e| format!("{what}: {e}"))? | NFT_SET_MAP;
        let mut elems = vec![];
        for e in m.elem.iter().flat_map(|e| e.iter()) {
            let Expression::List(kv) = e else {
                return Err(format!("{what}: element {e:?} is not a [key, value] pair"));
            };
            let [k, v] = kv.as_slice() else {
                return Err(format!("{what}: element {e:?} is not a [key, value] pair"));
            };
            let value = value::value(data, v).map_err(|e| format!("{what}: {e}"))?;
            elems.push((k, Some(ElemData::Value(value))));
        }
        let def = self.set_def(family, &m.table, &m.name, key, Some(Data::Value(data)), flags);
        self.named_set(def, &elems, what)
    }

    /// A named set of this batch, numbered.
    fn set_def(
        &mut self,
        family: Family,
        table: &str,
        name: &str,
        key: Key,
        data: Option<Data>,
        flags: u32,
    ) -> SetDef {
        let def = SetDef {
            family,
            table: table.to_string(),
            name: name.to_string(),
            id: self.next_id,
            udata: udata::named_set(&key, data.as_ref().map(Data::byteorder)),
            key,
            data,
            flags,
            size: None,
            // The set-level `counter` (see `firewall::add_element_counters`).
            counter: family == Family::Inet && render::counts_elements(name),
        };
        self.next_id += 1;
        def
    }

    /// Write a named set and its elements (their counters carried over).
    fn named_set(
        &mut self,
        def: SetDef,
        elems: &[(&Expression<'_>, Option<ElemData>)],
        what: String,
    ) -> Result<(), String> {
        let mut encoded = def.elements(elems).map_err(|e| format!("{what}: {e}"))?;
        if def.counter && !self.carry.elements.is_empty() {
            for el in encoded.iter_mut().filter(|el| !el.end) {
                el.counter = self
                    .carry
                    .elements
                    .get(&(def.name.clone(), el.key.clone()))
                    .copied();
            }
        }
        self.batch.new_set(&def.to_set()?, what.clone());
        self.batch
            .new_elements(def.set_ref(), &encoded, &format!("elements of {what}"));
        self.sets
            .insert((def.family, def.table.clone(), def.name.clone()), def);
        Ok(())
    }

    fn element(&mut self, e: &Element<'_>) -> Result<(), String> {
        let family = family_of(e.family)?;
        let what = format!(
            "elements of set {} of table {} {}",
            e.name,
            family.name(),
            e.table
        );
        let def = self
            .sets
            .get(&(family, e.table.to_string(), e.name.to_string()))
            .ok_or_else(|| format!("{what}: the set is not created in this transaction"))?;
        let mut items = vec![];
        for x in e.elem.iter() {
            match (&def.data, x) {
                (None, _) => items.push((x, None)),
                (Some(Data::Value(k)), Expression::List(kv)) if kv.len() == 2 => {
                    let v = value::value(*k, &kv[1]).map_err(|m| format!("{what}: {m}"))?;
                    items.push((&kv[0], Some(ElemData::Value(v))));
                }
                _ => return Err(format!("{what}: element {x:?}")),
            }
        }
        let encoded = def.elements(&items).map_err(|m| format!("{what}: {m}"))?;
        self.batch.new_elements(def.set_ref(), &encoded, &what);
        Ok(())
    }

    fn chain(&mut self, family: Family, c: &Chain<'_>) -> Result<(), String> {
        let what = format!("chain {} of table {} {}", c.name, family.name(), c.table);
        if c.newname.is_some() || c.handle.is_some() || c.dev.is_some() {
            return Err(format!("{what}: newname, handle or device"));
        }
        let base = match (c._type, c.hook, c.prio) {
            (None, None, None) if c.policy.is_none() => None,
            (Some(t), Some(h), Some(p)) => {
                Some(base_chain(t, h, p, c.policy).map_err(|e| format!("{what}: {e}"))?)
            }
            _ => {
                return Err(format!(
                    "{what}: a base chain needs a type, a hook and a priority"
                ))
            }
        };
        let chain = nft_codec::Chain {
            family,
            table: c.table.to_string(),
            name: c.name.to_string(),
            base,
        };
        self.batch.new_chain(&chain, what);
        Ok(())
    }

    fn rule(&mut self, family: Family, r: &Rule<'_>, n: usize) -> Result<(), String> {
        let mut what = format!(
            "rule {n} of chain {} in table {} {}",
            r.chain,
            family.name(),
            r.table
        );
        if let Some(c) = &r.comment {
            what.push_str(&format!(" (comment {c:?})"));
        }
        if r.handle.is_some() || r.index.is_some() {
            return Err(format!("{what}: a handle or index"));
        }
        let mut sets = TableSets {
            sets: &self.sets,
            family,
            table: &r.table,
            next_id: &mut self.next_id,
        };
        let mut compiled =
            expr::compile(family, &r.table, &r.expr, &mut sets).map_err(|e| format!("{what}: {e}"))?;
        if family == Family::Inet {
            self.carry_rule_counter(r, &mut compiled.exprs);
        }
        for (def, elems) in &compiled.sets {
            let w = format!("anonymous set of {what}");
            let set = def.to_set().map_err(|e| format!("{w}: {e}"))?;
            self.batch.new_set(&set, w.clone());
            self.batch
                .new_elements(def.set_ref(), elems, &format!("elements of the {w}"));
        }
        let userdata = match &r.comment {
            Some(c) => Some(udata::rule_comment(c).map_err(|e| format!("{what}: {e}"))?),
            None => None,
        };
        let rule = nft_codec::Rule {
            family,
            table: r.table.to_string(),
            chain: r.chain.to_string(),
            handle: None,
            exprs: compiled.exprs,
            userdata,
        };
        self.batch.new_rule(&rule, what);
        Ok(())
    }

    /// Start a counted rule's counter from the count [`Carry`] has for its [`RuleId`].
    fn carry_rule_counter(&mut self, r: &Rule<'_>, exprs: &mut [Expr]) {
        let Some(i) = exprs.iter().position(|x| matches!(x, Expr::Counter { .. })) else {
            return;
        };
        let mut id = rule_id(r);
        let n = self.counted.entry(id.clone()).or_insert(0);
        id.ordinal = *n;
        *n += 1;
        if let Some(&(packets, bytes)) = self.carry.rules.get(&id) {
            exprs[i] = Expr::Counter { packets, bytes };
        }
    }
}

/// A base chain's type, hook, priority and policy, as nf_tables numbers them.
fn base_chain(
    ty: NfChainType,
    hook: NfHook,
    prio: i32,
    policy: Option<NfChainPolicy>,
) -> Result<BaseChain, String> {
    let ty = match ty {
        NfChainType::Filter => "filter",
        NfChainType::NAT => "nat",
        NfChainType::Route => "route",
    };
    let hook: u32 = match hook {
        NfHook::Prerouting => 0,
        NfHook::Input => 1,
        NfHook::Forward => 2,
        NfHook::Output => 3,
        NfHook::Postrouting => 4,
        other => return Err(format!("hook {other:?}")),
    };
    let policy = match policy.unwrap_or(NfChainPolicy::Accept) {
        NfChainPolicy::Accept => Verdict::Accept,
        NfChainPolicy::Drop => Verdict::Drop,
    };
    Ok(BaseChain {
        ty: ty.to_string(),
        hook,
        priority: prio,
        policy,
    })
}

/// A rule's [`RuleId`] (ordinal 0: the caller numbers rules of the same shape).
fn rule_id(r: &Rule<'_>) -> RuleId {
    let mut verdict = None;
    let mut logs = false;
    for st in r.expr.iter() {
        match st {
            nftables::stmt::Statement::Accept(_) => verdict = Some("accept"),
            nftables::stmt::Statement::Drop(_) => verdict = Some("drop"),
            nftables::stmt::Statement::Reject(_) => verdict = Some("reject"),
            nftables::stmt::Statement::Log(_) => logs = true,
            _ => {}
        }
    }
    RuleId {
        chain: r.chain.to_string(),
        comment: r.comment.as_ref().map(|c| c.to_string()),
        verdict,
        logs,
        ordinal: 0,
    }
}

fn set_flags(flags: Option<&HashSet<SetFlag>>) -> Result<u32, String> {
    let mut out = 0;
    for f in flags.into_iter().flatten() {
        match f {
            SetFlag::Interval => out |= NFT_SET_INTERVAL,
            other => return Err(format!("set flag {other:?}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
