//! brouter's tables applied as one nf_tables netlink batch, sent in-process.
//!
//! Why: `nft -j -f -` spends ~600 ms parsing the JSON of a 10,000-forward ruleset (and
//! ~40 MB), plus a process per apply, while the kernel's own share is ~100 ms. Here the
//! same typed model ([`render::Tables`], the anti-spoofing bindings) is translated into
//! the messages nft 1.0.6 would send for it — same expressions, registers, set flags,
//! user data — so `nft list` prints the same tables, and sent in one `send`:
//! `BATCH_BEGIN`, the commands, `BATCH_END`, all or nothing. Leaving `BATCH_END` out
//! makes the kernel validate everything and abort (how `nft -c` checks).
//!
//! Every command asks for an acknowledgement; the kernel runs the whole batch inside
//! `send` and queues one answer per command, so they are read without waiting. A refusal
//! names the object (table, set, chain, or rule by chain and position), the errno, and
//! the kernel's extended-ack message when it gives one.

mod expr;
mod set;
mod wire;

use std::collections::HashMap;
use std::fmt;
use std::io;

use brouter_engine::firewall::Binding;
use brouter_engine::{BackendError, ErrorKind};
use nftables::expr::Expression;
use nftables::schema::{Chain, Element, NfListObject, Rule, SetFlag, SetTypeValue};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use super::render::{self, Tables, TABLE};
use crate::nfnetlink::{self, NLMSG_ERROR};
use crate::NetnsTarget;
use set::{Data, ElemData, Key, Kind, SetDef, NFT_SET_INTERVAL, NFT_SET_MAP};
use wire::{
    Buf, NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, NFNL_SUBSYS_NFTABLES, NLM_F_APPEND, NLM_F_CREATE,
    NLM_F_EXCL,
};

const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_FLAGS: u16 = 2;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_RULE_USERDATA: u16 = 7;
/// `NFTNL_UDATA_RULE_COMMENT`, as `nfnl::comment` reads it back.
const UDATA_RULE_COMMENT: u8 = 0;
const SOL_NETLINK: libc::c_int = 270;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;

/// What a transaction does to brouter's two tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Create the tables, failing (changing nothing) if either exists: saves the table
    /// deletion's grace period on a host that has none.
    Create,
    /// Add, delete and re-add each table, then fill it: works whether or not it exists.
    Replace,
    /// Add and delete each table: gone afterwards whether or not it existed.
    Delete,
}

/// A table family brouter's encoder knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Family {
    Inet,
    Bridge,
}

impl Family {
    fn of(f: NfFamily) -> Result<Family, String> {
        match f {
            NfFamily::INet => Ok(Family::Inet),
            NfFamily::Bridge => Ok(Family::Bridge),
            other => Err(format!("table family {other:?}")),
        }
    }

    fn nfproto(self) -> u8 {
        match self {
            Family::Inet => 1,
            Family::Bridge => 7,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Bridge => "bridge",
        }
    }
}

/// A rule's or verdict map element's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Accept,
    Drop,
    Return,
    Jump(String),
    Goto(String),
}

impl Verdict {
    fn code(&self) -> i32 {
        match self {
            Verdict::Drop => 0,
            Verdict::Accept => 1,
            Verdict::Jump(_) => -3,
            Verdict::Goto(_) => -4,
            Verdict::Return => -5,
        }
    }

    fn chain(&self) -> Option<&str> {
        match self {
            Verdict::Jump(c) | Verdict::Goto(c) => Some(c),
            _ => None,
        }
    }
}

/// A transaction, encoded: the batch bytes and what each command writes.
#[derive(Debug)]
pub struct Transaction {
    buf: Buf,
    /// Where `BATCH_END` starts (a check sends only what is before it).
    end_at: usize,
    begin_seq: u32,
}

impl Transaction {
    /// The size of the batch in bytes.
    pub fn len(&self) -> usize {
        self.buf.bytes.len()
    }

    /// Whether the batch holds no command (never: it always touches the tables).
    pub fn is_empty(&self) -> bool {
        self.buf.what.is_empty()
    }

    /// The number of commands between the batch markers.
    pub fn commands(&self) -> usize {
        self.buf.what.len()
    }

    /// The raw batch (for tests comparing with what nft sends).
    pub fn bytes(&self) -> &[u8] {
        &self.buf.bytes
    }
}

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

/// The kernel's refusal of a transaction (nothing of it was applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyError {
    /// The positive errno.
    pub errno: i32,
    /// The command it answers (`rule 3 of chain fwd_judge in table inet brouter`).
    pub what: String,
    /// The kernel's extended-ack text, if it gave one.
    pub message: Option<String>,
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = io::Error::from_raw_os_error(self.errno);
        write!(f, "{}: {e}", self.what)?;
        if let Some(m) = &self.message {
            write!(f, " ({m})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApplyError {}

/// Encode a transaction on brouter's two tables. `tables` (for `Create`/`Replace`) are
/// added in order after the table commands, then `bindings` as elements of the bridge
/// table's binding sets. `Delete` ignores both.
pub fn encode(mode: Mode, tables: Option<&Tables>, bindings: &[Binding]) -> Result<Transaction, EncodeError> {
    encode_with(mode, tables, bindings, Carry::default())
}

/// [`encode`], with the new counters starting from `carry`'s counts where a rule or an
/// element of a counted set matches.
pub fn encode_with(
    mode: Mode,
    tables: Option<&Tables>,
    bindings: &[Binding],
    carry: Carry,
) -> Result<Transaction, EncodeError> {
    let mut e = Encoder {
        buf: Buf::new(1),
        sets: HashMap::new(),
        next_id: 1,
        carry,
        counted: HashMap::new(),
    };
    let begin_seq = e.buf.peek_seq();
    let m = e
        .buf
        .begin_msg(NFNL_MSG_BATCH_BEGIN, 0, 0, NFNL_SUBSYS_NFTABLES, None);
    e.buf.end_msg(m);
    let empty: (Vec<NfListObject<'static>>, Vec<NfListObject<'static>>) = (vec![], vec![]);
    let (inet, bridge) = match (mode, tables) {
        (Mode::Delete, _) | (_, None) => (&empty.0, &empty.1),
        (_, Some(t)) => (&t.inet, &t.bridge),
    };
    for (family, objects) in [(Family::Inet, inet), (Family::Bridge, bridge)] {
        e.table_header(mode, family);
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
    let end_at = e.buf.bytes.len();
    let m = e
        .buf
        .begin_msg(NFNL_MSG_BATCH_END, 0, 0, NFNL_SUBSYS_NFTABLES, None);
    e.buf.end_msg(m);
    Ok(Transaction {
        buf: e.buf,
        end_at,
        begin_seq,
    })
}

struct Encoder {
    buf: Buf,
    /// The sets of this batch by (nfproto, table, name).
    sets: HashMap<(u8, String, String), SetDef>,
    next_id: u32,
    /// Counts the new counters start from.
    carry: Carry,
    /// How many counted rules of each [`RuleId`] shape came so far (its `ordinal`).
    counted: HashMap<RuleId, usize>,
}

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

/// The named sets of one table, for the rule compiler.
struct TableSets<'a> {
    sets: &'a HashMap<(u8, String, String), SetDef>,
    family: u8,
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

impl Encoder {
    fn table_msg(&mut self, cmd: u16, flags: u16, family: Family, name: &str) {
        let what = format!("table {} {name}", family.name());
        let what = if cmd == NFT_MSG_DELTABLE {
            format!("deleting {what}")
        } else {
            what
        };
        let m = self.buf.begin_cmd(cmd, flags, family.nfproto(), what);
        self.buf.put_str(NFTA_TABLE_NAME, name);
        if cmd == NFT_MSG_NEWTABLE {
            self.buf.put_u32(NFTA_TABLE_FLAGS, 0);
        }
        self.buf.end_msg(m);
    }

    fn table_header(&mut self, mode: Mode, family: Family) {
        match mode {
            Mode::Create => self.table_msg(NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, family, TABLE),
            Mode::Replace | Mode::Delete => {
                self.table_msg(NFT_MSG_NEWTABLE, NLM_F_CREATE, family, TABLE);
                self.table_msg(NFT_MSG_DELTABLE, 0, family, TABLE);
                if mode == Mode::Replace {
                    self.table_msg(NFT_MSG_NEWTABLE, NLM_F_CREATE, family, TABLE);
                }
            }
        }
    }

    fn object(
        &mut self,
        family: Family,
        o: &NfListObject<'_>,
        rules_in: &mut HashMap<String, usize>,
    ) -> Result<(), String> {
        let check = |f: NfFamily| -> Result<(), String> {
            if Family::of(f)? == family {
                Ok(())
            } else {
                Err(format!("a {f:?} object among the {} table's", family.name()))
            }
        };
        match o {
            NfListObject::Table(t) => {
                check(t.family)?;
                if t.name != TABLE {
                    self.table_msg(NFT_MSG_NEWTABLE, NLM_F_CREATE, family, &t.name);
                }
                Ok(())
            }
            NfListObject::Set(s) => {
                check(s.family)?;
                let what = format!("set {} of table {} {}", s.name, family.name(), s.table);
                let unsupported = s.policy.is_some()
                    || s.timeout.is_some()
                    || s.gc_interval.is_some()
                    || s.size.is_some()
                    || s.comment.is_some();
                if unsupported {
                    return Err(format!("{what}: policy, timeout, gc-interval, size or comment"));
                }
                let key = key_of(&s.set_type).map_err(|m| format!("{what}: {m}"))?;
                let flags = set_flags(s.flags.as_ref()).map_err(|m| format!("{what}: {m}"))?;
                let elems: Vec<(&Expression<'_>, Option<ElemData>)> =
                    s.elem.iter().flat_map(|e| e.iter()).map(|e| (e, None)).collect();
                self.named_set(family, &s.table, &s.name, key, None, flags, &elems, what)
            }
            NfListObject::Map(m) => {
                check(m.family)?;
                let what = format!("map {} of table {} {}", m.name, family.name(), m.table);
                let unsupported = m.policy.is_some()
                    || m.timeout.is_some()
                    || m.gc_interval.is_some()
                    || m.size.is_some()
                    || m.comment.is_some();
                if unsupported {
                    return Err(format!("{what}: policy, timeout, gc-interval, size or comment"));
                }
                let key = key_of(&m.set_type).map_err(|e| format!("{what}: {e}"))?;
                let data = match &m.map {
                    SetTypeValue::Single(t) => Kind::of(t).map_err(|e| format!("{what}: data {e}"))?,
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
                    let value = data.value(v).map_err(|e| format!("{what}: {e}"))?;
                    elems.push((k, Some(ElemData::Value(value))));
                }
                self.named_set(
                    family,
                    &m.table,
                    &m.name,
                    key,
                    Some(Data::Value(data)),
                    flags,
                    &elems,
                    what,
                )
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

    #[allow(clippy::too_many_arguments)]
    fn named_set(
        &mut self,
        family: Family,
        table: &str,
        name: &str,
        key: Key,
        data: Option<Data>,
        flags: u32,
        elems: &[(&Expression<'_>, Option<ElemData>)],
        what: String,
    ) -> Result<(), String> {
        let def = SetDef {
            family: family.nfproto(),
            table: table.to_string(),
            name: name.to_string(),
            id: self.next_id,
            udata: SetDef::named_udata(&key, data.as_ref()),
            key,
            data,
            flags,
            size: None,
            // The set-level `counter` (see `firewall::add_element_counters`).
            counter: family == Family::Inet && render::counts_elements(name),
        };
        self.next_id += 1;
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
        def.write(&mut self.buf, what.clone())?;
        def.write_elements(&mut self.buf, &encoded, &format!("elements of {what}"));
        self.sets
            .insert((def.family, def.table.clone(), def.name.clone()), def);
        Ok(())
    }

    fn element(&mut self, e: &Element<'_>) -> Result<(), String> {
        let family = Family::of(e.family)?;
        let what = format!(
            "elements of set {} of table {} {}",
            e.name,
            family.name(),
            e.table
        );
        let def = self
            .sets
            .get(&(family.nfproto(), e.table.to_string(), e.name.to_string()))
            .ok_or_else(|| format!("{what}: the set is not created in this transaction"))?
            .clone();
        let mut items = vec![];
        for x in e.elem.iter() {
            match (&def.data, x) {
                (None, _) => items.push((x, None)),
                (Some(Data::Value(k)), Expression::List(kv)) if kv.len() == 2 => {
                    let v = k.value(&kv[1]).map_err(|m| format!("{what}: {m}"))?;
                    items.push((&kv[0], Some(ElemData::Value(v))));
                }
                _ => return Err(format!("{what}: element {x:?}")),
            }
        }
        let encoded = def.elements(&items).map_err(|m| format!("{what}: {m}"))?;
        def.write_elements(&mut self.buf, &encoded, &what);
        Ok(())
    }

    fn chain(&mut self, family: Family, c: &Chain<'_>) -> Result<(), String> {
        let what = format!("chain {} of table {} {}", c.name, family.name(), c.table);
        if c.newname.is_some() || c.handle.is_some() || c.dev.is_some() {
            return Err(format!("{what}: newname, handle or device"));
        }
        let base = match (c._type, c.hook, c.prio) {
            (None, None, None) if c.policy.is_none() => None,
            (Some(t), Some(h), Some(p)) => Some((t, h, p)),
            _ => {
                return Err(format!(
                    "{what}: a base chain needs a type, a hook and a priority"
                ))
            }
        };
        let m = self
            .buf
            .begin_cmd(NFT_MSG_NEWCHAIN, NLM_F_CREATE, family.nfproto(), what.clone());
        self.buf.put_str(NFTA_CHAIN_TABLE, &c.table);
        self.buf.put_str(NFTA_CHAIN_NAME, &c.name);
        if let Some((ty, hook, prio)) = base {
            let ty = match ty {
                NfChainType::Filter => "filter",
                NfChainType::NAT => "nat",
                NfChainType::Route => "route",
            };
            let hooknum: u32 = match hook {
                NfHook::Prerouting => 0,
                NfHook::Input => 1,
                NfHook::Forward => 2,
                NfHook::Output => 3,
                NfHook::Postrouting => 4,
                other => return Err(format!("{what}: hook {other:?}")),
            };
            let policy: u32 = match c.policy.unwrap_or(NfChainPolicy::Accept) {
                NfChainPolicy::Accept => 1,
                NfChainPolicy::Drop => 0,
            };
            self.buf.put_str(NFTA_CHAIN_TYPE, ty);
            self.buf.put_u32(NFTA_CHAIN_POLICY, policy);
            let h = self.buf.nest(NFTA_CHAIN_HOOK);
            self.buf.put_u32(NFTA_HOOK_HOOKNUM, hooknum);
            self.buf.put_u32(NFTA_HOOK_PRIORITY, prio as u32);
            self.buf.end(h);
        }
        self.buf.end_msg(m);
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
            family: family.nfproto(),
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
            def.write(&mut self.buf, w.clone())
                .map_err(|e| format!("{w}: {e}"))?;
            def.write_elements(&mut self.buf, elems, &format!("elements of the {w}"));
        }
        let udata = match &r.comment {
            Some(c) => {
                if c.len() > 254 || c.contains('\0') {
                    return Err(format!("{what}: a comment longer than 254 bytes or with a NUL"));
                }
                let mut u = vec![UDATA_RULE_COMMENT, (c.len() + 1) as u8];
                u.extend_from_slice(c.as_bytes());
                u.push(0);
                Some(u)
            }
            None => None,
        };
        let m = self.buf.begin_cmd(
            NFT_MSG_NEWRULE,
            NLM_F_CREATE | NLM_F_APPEND,
            family.nfproto(),
            what,
        );
        self.buf.put_str(NFTA_RULE_TABLE, &r.table);
        self.buf.put_str(NFTA_RULE_CHAIN, &r.chain);
        let l = self.buf.nest(NFTA_RULE_EXPRESSIONS);
        for e in &compiled.exprs {
            e.write(&mut self.buf);
        }
        self.buf.end(l);
        if let Some(u) = udata {
            self.buf.put(NFTA_RULE_USERDATA, &u);
        }
        self.buf.end_msg(m);
        Ok(())
    }
}

impl Encoder {
    /// Start a counted rule's counter from the count [`Carry`] has for its [`RuleId`].
    fn carry_rule_counter(&mut self, r: &Rule<'_>, exprs: &mut [expr::KExpr]) {
        let Some(i) = exprs.iter().position(|x| matches!(x, expr::KExpr::Counter)) else {
            return;
        };
        let mut id = rule_id(r);
        let n = self.counted.entry(id.clone()).or_insert(0);
        id.ordinal = *n;
        *n += 1;
        if let Some(&(packets, bytes)) = self.carry.rules.get(&id) {
            exprs[i] = expr::KExpr::CounterFrom { packets, bytes };
        }
    }
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

fn key_of(t: &SetTypeValue<'_>) -> Result<Key, String> {
    let parts = match t {
        SetTypeValue::Single(t) => vec![Kind::of(t)?],
        SetTypeValue::Concatenated(ts) => ts.iter().map(Kind::of).collect::<Result<_, _>>()?,
    };
    Ok(Key { parts })
}

fn set_flags(flags: Option<&std::collections::HashSet<SetFlag>>) -> Result<u32, String> {
    let mut out = 0;
    for f in flags.into_iter().flatten() {
        match f {
            SetFlag::Interval => out |= NFT_SET_INTERVAL,
            other => return Err(format!("set flag {other:?}")),
        }
    }
    Ok(out)
}

/// Send `tx` over an nfnetlink socket opened in the calling thread's namespace and wait
/// for the kernel's verdict. `check_only`: validate, apply nothing.
pub fn send_here(tx: &Transaction, check_only: bool) -> Result<(), ApplyError> {
    let sock = nfnetlink::Socket::open().map_err(|e| io_error("opening a netfilter netlink socket", e))?;
    send_on(&sock, tx, check_only)
}

fn io_error(what: &str, e: io::Error) -> ApplyError {
    ApplyError {
        errno: e.raw_os_error().unwrap_or(libc::EIO),
        what: what.to_string(),
        message: None,
    }
}

/// [`send_here`] over an open socket (in whatever namespace it was opened): what a
/// backend that keeps one uses, so an apply costs no thread and no `setns`.
pub(crate) fn send_on(
    sock: &nfnetlink::Socket,
    tx: &Transaction,
    check_only: bool,
) -> Result<(), ApplyError> {
    let io_err = io_error;
    let bytes = if check_only {
        &tx.buf.bytes[..tx.end_at]
    } else {
        &tx.buf.bytes[..]
    };
    // Answers: an ack per command, carrying only the header of the command it answers
    // (CAP_ACK), plus the kernel's text on errors (EXT_ACK). Best effort: older kernels
    // without them still answer.
    let _ = sock.set_option(SOL_NETLINK, NETLINK_CAP_ACK, 1);
    let _ = sock.set_option(SOL_NETLINK, NETLINK_EXT_ACK, 1);
    // The kernel reads a batch from one datagram: the send buffer must hold it whole.
    let want = i32::try_from(bytes.len() + 64 * 1024).unwrap_or(i32::MAX);
    if sock
        .set_option(libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, want)
        .is_err()
    {
        let _ = sock.set_option(libc::SOL_SOCKET, libc::SO_SNDBUF, want);
    }
    let answers = i32::try_from(tx.commands() * 512 + 256 * 1024).unwrap_or(i32::MAX);
    if sock
        .set_option(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, answers)
        .is_err()
    {
        let _ = sock.set_option(libc::SOL_SOCKET, libc::SO_RCVBUF, answers);
    }
    sock.send(bytes).map_err(|e| {
        let what = format!("sending the nf_tables batch ({} bytes)", bytes.len());
        io_err(&what, e)
    })?;
    let what_of = |seq: u32| -> String {
        if seq == tx.begin_seq {
            return "the batch as a whole".into();
        }
        tx.buf
            .what
            .binary_search_by_key(&seq, |(s, _)| *s)
            .map(|i| tx.buf.what[i].1.clone())
            .unwrap_or_else(|_| format!("message {seq}"))
    };
    let mut answered = 0usize;
    let mut first_err: Option<ApplyError> = None;
    let mut rbuf = vec![0u8; 64 * 1024];
    while let Some(data) = sock
        .recv_nowait(&mut rbuf)
        .map_err(|e| io_err("reading the kernel's answers", e))?
    {
        for msg in nfnetlink::messages(data) {
            let nfnetlink::Message { ty, flags, seq, body } =
                msg.map_err(|e| io_err("reading the kernel's answers", e))?;
            if ty != NLMSG_ERROR {
                continue;
            }
            answered += 1;
            let errno = nfnetlink::errno(body);
            if errno == 0 {
                continue;
            }
            let err = ApplyError {
                errno,
                what: what_of(seq),
                message: ext_ack_message(body, flags),
            };
            // The batch-level refusal wins; else the first command refused.
            let replace = match &first_err {
                None => true,
                Some(_) => seq == tx.begin_seq,
            };
            if replace {
                first_err = Some(err);
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    if answered < tx.commands() {
        return Err(ApplyError {
            errno: libc::EIO,
            what: format!(
                "the nf_tables batch (the kernel answered {answered} of {} commands)",
                tx.commands()
            ),
            message: None,
        });
    }
    Ok(())
}

/// The `NLMSGERR_ATTR_MSG` of an error answer: after the errno and the echoed header
/// (the whole request unless `NETLINK_CAP_ACK` took effect).
fn ext_ack_message(body: &[u8], flags: u16) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 || body.len() < 20 {
        return None;
    }
    let echoed = u32::from_ne_bytes(body[4..8].try_into().ok()?) as usize;
    // NLM_F_CAPPED (0x100): only the header was echoed.
    let skip = if flags & 0x100 != 0 {
        16
    } else {
        nfnetlink::align4(echoed)
    };
    let tlvs = body.get(4 + skip..)?;
    super::nfnl::parse_attrs(tlvs)
        .into_iter()
        .find(|(t, _)| *t == NLMSGERR_ATTR_MSG)
        .map(|(_, v)| String::from_utf8_lossy(v.split(|b| *b == 0).next().unwrap_or_default()).into_owned())
        .filter(|m| !m.is_empty())
}

/// Encode and apply a transaction in `target`'s namespace: `what` names it for the admin.
pub fn apply(
    target: &NetnsTarget,
    mode: Mode,
    tables: Option<&Tables>,
    bindings: &[Binding],
    check_only: bool,
    what: &str,
) -> Result<(), BackendError> {
    let tx = encode_for(mode, tables, bindings, what)?;
    match target.run(move || send_here(&tx, check_only)) {
        Ok(sent) => sent.map_err(|e| refused(e, what, target.label())),
        Err(e) => Err(BackendError::new(
            kind_of(e.raw_os_error().unwrap_or(libc::EIO)),
            format!("cannot enter network namespace {}: {e}", target.label()),
        )),
    }
}

/// [`apply`] over an open socket of the namespace `label` names.
pub(crate) fn apply_on(
    sock: &nfnetlink::Socket,
    label: &str,
    mode: Mode,
    tables: Option<&Tables>,
    bindings: &[Binding],
    carry: Carry,
    what: &str,
) -> Result<(), BackendError> {
    let tx = encode_with(mode, tables, bindings, carry).map_err(|e| unsupported(e, what))?;
    send_on(sock, &tx, false).map_err(|e| refused(e, what, label))
}

fn encode_for(
    mode: Mode,
    tables: Option<&Tables>,
    bindings: &[Binding],
    what: &str,
) -> Result<Transaction, BackendError> {
    encode(mode, tables, bindings).map_err(|e| unsupported(e, what))
}

fn unsupported(e: EncodeError, what: &str) -> BackendError {
    BackendError::new(
        ErrorKind::Invalid,
        format!("cannot encode {what} for nf_tables: {e} is not supported by brouter's encoder"),
    )
}

fn refused(e: ApplyError, what: &str, label: &str) -> BackendError {
    BackendError::new(
        kind_of(e.errno),
        format!("the kernel refused {what} in network namespace {label}: {e}"),
    )
}

/// The error kind of a refusal: EPERM is a missing privilege; EOPNOTSUPP, and ENOENT
/// for an expression whose kernel module is missing, an unsupported kernel.
fn kind_of(errno: i32) -> ErrorKind {
    match errno {
        libc::EPERM | libc::EACCES => ErrorKind::Permission,
        libc::EOPNOTSUPP | libc::ENOENT | libc::EAFNOSUPPORT => ErrorKind::Unsupported,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests;
