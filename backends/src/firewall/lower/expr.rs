//! A rule's statements → nf_tables expressions, with the registers, dependencies and
//! anonymous sets nft 1.0.6 would use for the same statements (so `nft list` prints the
//! same rule).
//!
//! What nft adds that the statements do not say: a protocol dependency before a header
//! field (`meta l4proto tcp` before `tcp dport`, `meta nfproto ipv4` before `ip saddr`
//! in `inet`; `meta protocol ip` / `ether type arp` in `bridge`), once per rule; an
//! anonymous set of one plain value becomes a comparison; a flag test (`ct state
//! established,related`) is `bitwise` + `cmp neq 0`. Registers are counted in 32-bit
//! units as nft does: each separately loaded value takes a 128-bit register, the parts
//! of a concatenation follow each other.

use std::collections::BTreeSet;

use nft_codec::expr::{NFT_CMP_EQ, NFT_CMP_NEQ, NFT_PAYLOAD_LL_HEADER, NFT_REG32_00, NFT_REG_VERDICT};
use nft_codec::types::{DataType as Kind, Key};
use nft_codec::udata::{self, EXPR_CONCAT, EXPR_VERDICT};
use nft_codec::{
    Elem, ElemData, Expr, Family, Verdict, NFT_SET_ANONYMOUS, NFT_SET_CONSTANT, NFT_SET_INTERVAL, NFT_SET_MAP,
};
use nftables::expr::{Expression, NamedExpression, SetItem};
use nftables::stmt::{Counter, Match, Operator, Statement, NAT};

use super::field::{self, Dep, Field, Load};
use super::set::{Data, SetDef};
use super::value::value;

/// `NFT_NAT_SNAT` and `NFT_NAT_DNAT` (`enum nft_nat_types`).
const NFT_NAT_SNAT: u32 = 0;
const NFT_NAT_DNAT: u32 = 1;

/// What a rule needs the batch to hold first: its anonymous sets.
#[derive(Debug)]
pub(super) struct Compiled {
    pub exprs: Vec<Expr>,
    /// Anonymous sets with their elements, created before the rule.
    pub sets: Vec<(SetDef, Vec<Elem>)>,
}

/// Resolves named sets (and numbers new anonymous ones) for the rule being compiled.
pub(super) trait Sets {
    /// `(id, key, data)` of the named set `name` of the rule's table.
    fn named(&self, name: &str) -> Option<(u32, Key, Option<Data>)>;
    fn next_id(&mut self) -> u32;
}

/// Compile one rule's statements.
pub(super) fn compile(
    family: Family,
    table: &str,
    stmts: &[Statement<'_>],
    sets: &mut dyn Sets,
) -> Result<Compiled, String> {
    let mut c = Compiler {
        family,
        table: table.to_string(),
        sets,
        out: Compiled {
            exprs: vec![],
            sets: vec![],
        },
        deps: BTreeSet::new(),
        reg_low: 0,
    };
    for s in stmts {
        c.stmt(s)?;
    }
    Ok(c.out)
}

struct Compiler<'s> {
    family: Family,
    table: String,
    sets: &'s mut dyn Sets,
    out: Compiled,
    deps: BTreeSet<Dep>,
    /// The next free register, in 32-bit units.
    reg_low: u32,
}

/// A register number as nft writes it: the 128-bit register when aligned, else the
/// 32-bit one.
fn reg(unit: u32) -> u32 {
    if unit.is_multiple_of(4) {
        1 + unit / 4
    } else {
        NFT_REG32_00 + unit
    }
}

fn units(len: usize) -> u32 {
    len.div_ceil(4) as u32
}

impl Compiler<'_> {
    fn push(&mut self, e: Expr) {
        self.out.exprs.push(e);
    }

    fn stmt(&mut self, s: &Statement<'_>) -> Result<(), String> {
        match s {
            Statement::Accept(None) => self.push(Expr::Immediate(Verdict::Accept)),
            Statement::Drop(None) => self.push(Expr::Immediate(Verdict::Drop)),
            Statement::Return(None) => self.push(Expr::Immediate(Verdict::Return)),
            Statement::Jump(t) => self.push(Expr::Immediate(Verdict::Jump(t.target.to_string()))),
            Statement::Goto(t) => self.push(Expr::Immediate(Verdict::Goto(t.target.to_string()))),
            Statement::Counter(Counter::Anonymous(None)) => self.push(Expr::COUNTER),
            Statement::Match(m) => self.matches(m)?,
            Statement::VerdictMap(v) => self.vmap(&v.key, &v.data)?,
            Statement::Limit(l) => {
                if l.rate_unit.as_deref().is_some_and(|u| u != "packets") || l.burst_unit.is_some() {
                    return Err(format!("a byte-rate limit ({l:?})"));
                }
                let unit = match l.per.as_deref().unwrap_or("second") {
                    "second" => 1,
                    "minute" => 60,
                    "hour" => 3600,
                    "day" => 86400,
                    "week" => 604800,
                    other => return Err(format!("limit per {other:?}")),
                };
                self.push(Expr::Limit {
                    rate: u64::from(l.rate),
                    unit,
                    // nft's default burst for packet limits.
                    burst: l.burst.unwrap_or(5),
                    flags: u32::from(l.inv == Some(true)),
                });
            }
            Statement::Log(log) => {
                let prefix = match log {
                    None => None,
                    Some(l) => {
                        if l.group.is_some()
                            || l.snaplen.is_some()
                            || l.queue_threshold.is_some()
                            || l.level.is_some()
                            || l.flags.is_some()
                        {
                            return Err(format!("log options other than a prefix ({l:?})"));
                        }
                        l.prefix.as_ref().map(|p| p.to_string())
                    }
                };
                self.push(Expr::Log { prefix });
            }
            Statement::Reject(None) => {
                // nft's default: ICMPX port unreachable in inet and bridge tables.
                if !matches!(self.family, Family::Inet | Family::Bridge) {
                    return Err("reject outside inet and bridge tables".into());
                }
                self.push(Expr::Reject { ty: 2, code: 1 });
            }
            Statement::DNAT(Some(nat)) => self.nat(nat, NFT_NAT_DNAT)?,
            Statement::SNAT(Some(nat)) => self.nat(nat, NFT_NAT_SNAT)?,
            Statement::Masquerade(None) => self.push(Expr::Masq),
            other => return Err(format!("statement {other:?}")),
        }
        Ok(())
    }

    /// The field(s) an expression loads: one, or a concatenation's parts.
    fn fields(&self, e: &Expression<'_>) -> Result<Vec<Field>, String> {
        field::fields(self.family, e)
    }

    /// Load `fields` (a value or a concatenation) into a fresh register, after their
    /// dependencies; returns the register's first unit.
    fn load(&mut self, fields: &[Field]) -> Result<u32, String> {
        for f in fields {
            if let Some(d) = f.dep {
                self.dependency(d)?;
            }
        }
        let base = self.reg_low;
        let mut at = base;
        for f in fields {
            let dreg = reg(at);
            let len = f.kind.len();
            self.push(match f.load {
                Load::Meta(key) => Expr::Meta { key, dreg },
                Load::Payload { base, offset } => Expr::Payload {
                    base,
                    offset,
                    len: len as u32,
                    dreg,
                },
                Load::Ct { key, dir } => Expr::Ct { key, dreg, dir },
                Load::Fib { flags, result } => Expr::Fib { flags, result, dreg },
            });
            at += units(len);
        }
        // A single value takes a whole 128-bit register, a concatenation its parts.
        self.reg_low += if fields.len() == 1 { 4 } else { at - base };
        Ok(base)
    }

    fn release(&mut self, unit: u32) {
        self.reg_low = unit;
    }

    /// What nft checks before a header field, once per rule.
    fn dependency(&mut self, d: Dep) -> Result<(), String> {
        if !self.deps.insert(d) {
            return Ok(());
        }
        let r = reg(self.reg_low);
        let (load, data) = match (d, self.family) {
            (Dep::L4(p), Family::Inet) => (Expr::Meta { key: 16, dreg: r }, vec![p]),
            (Dep::Ipv4, Family::Inet) => (Expr::Meta { key: 15, dreg: r }, vec![2]),
            (Dep::Ipv4, Family::Bridge) => (Expr::Meta { key: 1, dreg: r }, vec![0x08, 0x00]),
            (Dep::Ipv6, Family::Inet) => (Expr::Meta { key: 15, dreg: r }, vec![10]),
            (Dep::Ipv6, Family::Bridge) => (Expr::Meta { key: 1, dreg: r }, vec![0x86, 0xdd]),
            (Dep::L4(p), Family::Bridge) => (Expr::Meta { key: 16, dreg: r }, vec![p]),
            (Dep::Arp, Family::Bridge) => (
                Expr::Payload {
                    base: NFT_PAYLOAD_LL_HEADER,
                    offset: 12,
                    len: 2,
                    dreg: r,
                },
                vec![0x08, 0x06],
            ),
            (d, f) => return Err(format!("a {d:?} header field in a {f:?} table")),
        };
        self.push(load);
        self.push(Expr::Cmp {
            sreg: r,
            op: NFT_CMP_EQ,
            data,
        });
        Ok(())
    }

    fn matches(&mut self, m: &Match<'_>) -> Result<(), String> {
        let fields = self.fields(&m.left)?;
        let op = m.op;
        let inv = match op {
            Operator::EQ | Operator::IN => false,
            Operator::NEQ => true,
            other => return Err(format!("operator {other:?}")),
        };
        // An explicit `meta l4proto tcp` is the dependency `tcp dport` would add.
        if let ([f], Expression::String(s), Operator::EQ) = (fields.as_slice(), &m.right, op) {
            if f.load == Load::Meta(16) {
                if let Ok(v) = value(Kind::InetProto, &Expression::String(s.clone())) {
                    self.deps.insert(Dep::L4(v[0]));
                }
            }
        }
        match &m.right {
            Expression::String(s) if s.starts_with('@') => {
                let r = self.load(&fields)?;
                let (id, _, _) = self.named(&s[1..])?;
                self.push(Expr::Lookup {
                    sreg: reg(r),
                    dreg: None,
                    set: s[1..].to_string(),
                    id: Some(id),
                    inv,
                });
                self.release(r);
            }
            Expression::Named(NamedExpression::Set(items)) => {
                let single = match items.as_slice() {
                    [SetItem::Element(e)] if !matches!(e, Expression::Range(_)) && fields.len() == 1 => {
                        Some(e)
                    }
                    _ => None,
                };
                let r = self.load(&fields)?;
                if let Some(e) = single {
                    let data = value(fields[0].kind, e)?;
                    self.cmp(r, inv, data);
                } else {
                    let (name, id) = self.anon_set(&fields, items)?;
                    self.push(Expr::Lookup {
                        sreg: reg(r),
                        dreg: None,
                        set: name,
                        id: Some(id),
                        inv,
                    });
                }
                self.release(r);
            }
            Expression::Named(NamedExpression::Prefix(p)) => {
                // `ip6 saddr fe80::/10`: the field masked to the prefix, compared with it.
                let [f] = fields.as_slice() else {
                    return Err(format!("a concatenation compared with {p:?}"));
                };
                let (lo, hi) = super::value::interval(&Key { parts: vec![f.kind] }, &m.right)?;
                let mask: Vec<u8> = lo.iter().zip(&hi).map(|(l, h)| !(l ^ h)).collect();
                let r = self.load(&fields)?;
                self.push(Expr::Bitwise {
                    sreg: reg(r),
                    dreg: reg(r),
                    xor: vec![0; mask.len()],
                    mask,
                });
                self.cmp(r, inv, lo);
                self.release(r);
            }
            right => {
                let [f] = fields.as_slice() else {
                    return Err(format!("a concatenation compared with {right:?}"));
                };
                let kind = f.kind;
                let r = self.load(&fields)?;
                let data = value(kind, right)?;
                if kind.is_flags() && matches!(op, Operator::IN) {
                    // `ct state established,related`: any of the bits.
                    self.push(Expr::Bitwise {
                        sreg: reg(r),
                        dreg: reg(r),
                        xor: vec![0; data.len()],
                        mask: data.clone(),
                    });
                    self.cmp(r, true, vec![0; data.len()]);
                } else if matches!(op, Operator::IN) {
                    return Err(format!("`in` on {kind:?}"));
                } else {
                    self.cmp(r, inv, data);
                }
                self.release(r);
            }
        }
        Ok(())
    }

    fn cmp(&mut self, r: u32, neq: bool, data: Vec<u8>) {
        self.push(Expr::Cmp {
            sreg: reg(r),
            op: if neq { NFT_CMP_NEQ } else { NFT_CMP_EQ },
            data,
        });
    }

    fn named(&self, name: &str) -> Result<(u32, Key, Option<Data>), String> {
        self.sets.named(name).ok_or_else(|| {
            format!(
                "set @{name}, which is not defined in table {} of this batch",
                self.table
            )
        })
    }

    fn vmap(&mut self, key: &Expression<'_>, data: &Expression<'_>) -> Result<(), String> {
        let fields = self.fields(key)?;
        let r = self.load(&fields)?;
        let (set, id) = match data {
            Expression::String(s) if s.starts_with('@') => (s[1..].to_string(), self.named(&s[1..])?.0),
            Expression::Named(NamedExpression::Set(items)) => self.anon_set(&fields, items)?,
            other => return Err(format!("verdict map {other:?}")),
        };
        self.push(Expr::Lookup {
            sreg: reg(r),
            dreg: Some(NFT_REG_VERDICT),
            set,
            id: Some(id),
            inv: false,
        });
        self.release(r);
        Ok(())
    }

    /// `dnat ip to <key> map @a [: <key> map @b]`, or `snat` alike (`ty`).
    fn nat(&mut self, nat: &NAT<'_>, ty: u32) -> Result<(), String> {
        if nat.flags.is_some() {
            return Err(format!("dnat flags ({nat:?})"));
        }
        let family = match nat.family {
            Some(nftables::stmt::NATFamily::IP) => 2,
            Some(nftables::stmt::NATFamily::IP6) => 10,
            other => return Err(format!("dnat for family {other:?}")),
        };
        let start = self.reg_low;
        let map_reg = |c: &mut Self, e: &Expression<'_>| -> Result<u32, String> {
            let Expression::Named(NamedExpression::Map(m)) = e else {
                return Err(format!("dnat to {e:?} (only map lookups are supported)"));
            };
            let Expression::String(name) = &m.data else {
                return Err(format!("dnat map {:?}", m.data));
            };
            let name = name
                .strip_prefix('@')
                .ok_or_else(|| format!("dnat map {name:?}"))?;
            let fields = c.fields(&m.key)?;
            let r = c.load(&fields)?;
            let (id, _, _) = c.named(name)?;
            c.push(Expr::Lookup {
                sreg: reg(r),
                dreg: Some(reg(r)),
                set: name.to_string(),
                id: Some(id),
                inv: false,
            });
            Ok(reg(r))
        };
        let addr = match &nat.addr {
            Some(a) => Some(map_reg(self, a)?),
            None => None,
        };
        let proto = match &nat.port {
            Some(p) => Some(map_reg(self, p)?),
            None => None,
        };
        self.release(start);
        self.push(Expr::Nat {
            ty,
            family,
            addr,
            proto,
            // NF_NAT_RANGE_PROTO_SPECIFIED when a port is given.
            flags: if proto.is_some() { 2 } else { 0 },
        });
        Ok(())
    }

    /// An anonymous set (or verdict map) of `items` keyed like `fields`: its definition
    /// and elements go before the rule; returns the name and id the lookup uses.
    fn anon_set(&mut self, fields: &[Field], items: &[SetItem<'_>]) -> Result<(String, u32), String> {
        let key = Key {
            parts: fields.iter().map(|f| f.kind).collect(),
        };
        let map = items.iter().any(|i| !matches!(i, SetItem::Element(_)));
        let interval = items.iter().any(|i| {
            matches!(
                i,
                SetItem::Element(Expression::Range(_))
                    | SetItem::Element(Expression::Named(NamedExpression::Prefix(_)))
            )
        });
        let mut entries: Vec<(&Expression<'_>, Option<ElemData>)> = vec![];
        let mut data = None;
        for i in items {
            match i {
                SetItem::Element(e) if !map => entries.push((e, None)),
                SetItem::MappingStatement(k, s) => {
                    let v = verdict_of(s)?;
                    data = Some(Data::Verdict);
                    entries.push((k, Some(ElemData::Verdict(v))));
                }
                other => return Err(format!("anonymous set item {other:?}")),
            }
        }
        let mut flags = NFT_SET_ANONYMOUS | NFT_SET_CONSTANT;
        if interval {
            flags |= NFT_SET_INTERVAL;
        }
        if map {
            flags |= NFT_SET_MAP;
        }
        let udata = anon_udata(&key, fields, data.as_ref(), interval)?;
        let mut def = SetDef {
            family: self.family,
            table: self.table.clone(),
            name: if map { "__map%d" } else { "__set%d" }.into(),
            id: self.sets.next_id(),
            key,
            data,
            flags,
            udata,
            size: None,
            counter: false,
        };
        let elems = def.elements(&entries)?;
        def.size = Some(elems.len() as u32);
        let out = (def.name.clone(), def.id);
        self.out.sets.push((def, elems));
        Ok(out)
    }
}

/// The user data nft 1.0.6 writes for an anonymous set built from a rule: byte orders,
/// merge for intervals, the key's typeof (for sets, and for maps keyed by a
/// concatenation), a verdict map's data typeof.
fn anon_udata(key: &Key, fields: &[Field], data: Option<&Data>, interval: bool) -> Result<Vec<u8>, String> {
    let mut u = vec![];
    udata::put_u32(&mut u, udata::SET_KEYBYTEORDER, key.byteorder());
    if data.is_some() {
        udata::put_u32(&mut u, udata::SET_DATABYTEORDER, 0);
    }
    if interval {
        udata::put_u32(&mut u, udata::SET_MERGE_ELEMENTS, 1);
    }
    let typeof_ = |f: &Field| {
        f.typeof_
            .clone()
            .ok_or_else(|| format!("an anonymous set keyed by {:?}", f.load))
    };
    if data.is_none() || key.concat() {
        if let [f] = fields {
            let (ty, attrs) = typeof_(f)?;
            udata::nest(&mut u, udata::SET_KEY_TYPEOF, |v| {
                udata::typeof_expr(v, ty, &attrs)
            });
        } else {
            let parts = fields.iter().map(typeof_).collect::<Result<Vec<_>, _>>()?;
            udata::nest(&mut u, udata::SET_KEY_TYPEOF, |v| {
                udata::put_u32(v, 0, EXPR_CONCAT);
                udata::nest(v, 1, |v| {
                    for (i, (ty, attrs)) in parts.iter().enumerate() {
                        udata::nest(v, i as u8, |v| udata::typeof_expr(v, *ty, attrs));
                    }
                });
            });
        }
    }
    if let Some(Data::Verdict) = data {
        udata::nest(&mut u, udata::SET_DATA_TYPEOF, |v| {
            udata::put_u32(v, 0, EXPR_VERDICT);
            udata::put(v, 1, &[]);
        });
    }
    if data.is_some() {
        udata::put_u32(&mut u, udata::SET_DATA_INTERVAL, 0);
    }
    Ok(u)
}

/// A verdict statement of a verdict map element.
fn verdict_of(s: &Statement<'_>) -> Result<Verdict, String> {
    Ok(match s {
        Statement::Accept(None) => Verdict::Accept,
        Statement::Drop(None) => Verdict::Drop,
        Statement::Return(None) => Verdict::Return,
        Statement::Jump(t) => Verdict::Jump(t.target.to_string()),
        Statement::Goto(t) => Verdict::Goto(t.target.to_string()),
        other => return Err(format!("verdict map data {other:?}")),
    })
}
