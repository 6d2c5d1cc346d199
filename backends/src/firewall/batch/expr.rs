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

use nftables::expr::{CTDir, Expression, FibFlag, FibResult, MetaKey, NamedExpression, Payload, SetItem};
use nftables::stmt::{Counter, Match, Operator, Statement, NAT};

use super::set::{
    Data, ElemData, Key, Kind, SetDef, EXPR_CONCAT, EXPR_VERDICT, NFT_SET_ANONYMOUS, NFT_SET_CONSTANT,
    NFT_SET_INTERVAL, NFT_SET_MAP, UDATA_SET_DATABYTEORDER, UDATA_SET_DATA_INTERVAL, UDATA_SET_DATA_TYPEOF,
    UDATA_SET_KEYBYTEORDER, UDATA_SET_KEY_TYPEOF, UDATA_SET_MERGE_ELEMENTS,
};
use super::wire::{udata, udata_nest, udata_u32, Buf};
use super::{Family, Verdict};

const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFT_REG_VERDICT: u32 = 0;
const NFT_REG32_00: u32 = 8;
const NFT_CMP_EQ: u32 = 0;
const NFT_CMP_NEQ: u32 = 1;
const NFT_LOOKUP_F_INV: u32 = 1;
const NFT_PAYLOAD_LL_HEADER: u32 = 0;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
/// nft's expression type ids in typeof user data.
const EXPR_PAYLOAD: u32 = 7;
const EXPR_META: u32 = 9;

/// One kernel expression, as nft's `--debug=netlink` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum KExpr {
    Meta {
        key: u32,
        dreg: u32,
    },
    Payload {
        base: u32,
        offset: u32,
        len: u32,
        dreg: u32,
    },
    Ct {
        key: u32,
        dreg: u32,
        dir: Option<u8>,
    },
    Fib {
        flags: u32,
        result: u32,
        dreg: u32,
    },
    Cmp {
        sreg: u32,
        op: u32,
        data: Vec<u8>,
    },
    Bitwise {
        sreg: u32,
        dreg: u32,
        mask: Vec<u8>,
        xor: Vec<u8>,
    },
    Lookup {
        sreg: u32,
        dreg: Option<u32>,
        set: String,
        id: u32,
        inv: bool,
    },
    Immediate(Verdict),
    Counter,
    /// A counter that starts from `(packets, bytes)`: carried over from the tables being
    /// replaced (see `batch::Carry`).
    CounterFrom {
        packets: u64,
        bytes: u64,
    },
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
    Nat {
        ty: u32,
        family: u32,
        addr: Option<u32>,
        proto: Option<u32>,
        flags: u32,
    },
    Masq,
}

/// A header field or packet property a rule loads into a register.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    load: Load,
    kind: Kind,
    /// The protocol nft makes sure of first.
    dep: Option<Dep>,
    /// nft's typeof description of the field, for an anonymous set's user data.
    typeof_: Option<(u32, Vec<(u8, u32)>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Load {
    Meta(u32),
    Payload { base: u32, offset: u32 },
    Ct { key: u32, dir: Option<u8> },
    Fib { flags: u32, result: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dep {
    L4(u8),
    Ipv4,
    Arp,
}

/// What a rule needs the batch to hold first: its anonymous sets.
#[derive(Debug)]
pub(super) struct Compiled {
    pub exprs: Vec<KExpr>,
    /// Anonymous sets with their elements, created before the rule.
    pub sets: Vec<(SetDef, Vec<super::set::Elem>)>,
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
    fn push(&mut self, e: KExpr) {
        self.out.exprs.push(e);
    }

    fn stmt(&mut self, s: &Statement<'_>) -> Result<(), String> {
        match s {
            Statement::Accept(None) => self.push(KExpr::Immediate(Verdict::Accept)),
            Statement::Drop(None) => self.push(KExpr::Immediate(Verdict::Drop)),
            Statement::Return(None) => self.push(KExpr::Immediate(Verdict::Return)),
            Statement::Jump(t) => self.push(KExpr::Immediate(Verdict::Jump(t.target.to_string()))),
            Statement::Goto(t) => self.push(KExpr::Immediate(Verdict::Goto(t.target.to_string()))),
            Statement::Counter(Counter::Anonymous(None)) => self.push(KExpr::Counter),
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
                self.push(KExpr::Limit {
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
                self.push(KExpr::Log { prefix });
            }
            Statement::Reject(None) => {
                // nft's default: ICMPX port unreachable in inet and bridge tables.
                if !matches!(self.family, Family::Inet | Family::Bridge) {
                    return Err("reject outside inet and bridge tables".into());
                }
                self.push(KExpr::Reject { ty: 2, code: 1 });
            }
            Statement::DNAT(Some(nat)) => self.dnat(nat)?,
            Statement::Masquerade(None) => self.push(KExpr::Masq),
            other => return Err(format!("statement {other:?}")),
        }
        Ok(())
    }

    /// The field(s) an expression loads: one, or a concatenation's parts.
    fn fields(&self, e: &Expression<'_>) -> Result<Vec<Field>, String> {
        match e {
            Expression::Named(NamedExpression::Concat(parts)) => {
                parts.iter().map(|p| self.field(p)).collect()
            }
            _ => Ok(vec![self.field(e)?]),
        }
    }

    fn field(&self, e: &Expression<'_>) -> Result<Field, String> {
        let meta = |key: u32, kind: Kind| Field {
            load: Load::Meta(key),
            kind,
            dep: None,
            typeof_: Some((EXPR_META, vec![(0, key)])),
        };
        match e {
            Expression::Named(NamedExpression::Meta(m)) => Ok(match m.key {
                MetaKey::Protocol => meta(1, Kind::Ethertype),
                MetaKey::Iifname => meta(6, Kind::Ifname),
                MetaKey::Oifname => meta(7, Kind::Ifname),
                MetaKey::Nfproto => meta(15, Kind::NfProto),
                MetaKey::L4proto => meta(16, Kind::InetProto),
                other => return Err(format!("meta {other:?}")),
            }),
            Expression::Named(NamedExpression::Payload(Payload::PayloadField(p))) => {
                let pay = |base, offset, kind, dep, typeof_: Option<(u32, u32)>| Field {
                    load: Load::Payload { base, offset },
                    kind,
                    dep,
                    typeof_: typeof_.map(|(desc, field)| (EXPR_PAYLOAD, vec![(0, desc), (1, field)])),
                };
                // nft 1.0.6's proto_desc ids in typeof user data: udp 6, tcp 8.
                let l4 = |proto: u8, desc| match p.field.as_ref() {
                    "sport" => Ok(pay(
                        NFT_PAYLOAD_TRANSPORT_HEADER,
                        0,
                        Kind::InetService,
                        Some(Dep::L4(proto)),
                        Some((desc, 1)),
                    )),
                    "dport" => Ok(pay(
                        NFT_PAYLOAD_TRANSPORT_HEADER,
                        2,
                        Kind::InetService,
                        Some(Dep::L4(proto)),
                        Some((desc, 2)),
                    )),
                    f => Err(format!("payload {} {f}", p.protocol)),
                };
                match (p.protocol.as_ref(), p.field.as_ref()) {
                    ("tcp", _) => l4(6, 8),
                    ("udp", _) => l4(17, 6),
                    ("ip", "saddr") => Ok(pay(
                        NFT_PAYLOAD_NETWORK_HEADER,
                        12,
                        Kind::Ipv4,
                        Some(Dep::Ipv4),
                        None,
                    )),
                    ("ip", "daddr") => Ok(pay(
                        NFT_PAYLOAD_NETWORK_HEADER,
                        16,
                        Kind::Ipv4,
                        Some(Dep::Ipv4),
                        None,
                    )),
                    ("ether", "saddr") if self.family == Family::Bridge => {
                        Ok(pay(NFT_PAYLOAD_LL_HEADER, 6, Kind::Ether, None, None))
                    }
                    ("ether", "daddr") if self.family == Family::Bridge => {
                        Ok(pay(NFT_PAYLOAD_LL_HEADER, 0, Kind::Ether, None, None))
                    }
                    ("arp", "saddr ip") => Ok(pay(
                        NFT_PAYLOAD_NETWORK_HEADER,
                        14,
                        Kind::Ipv4,
                        Some(Dep::Arp),
                        None,
                    )),
                    ("arp", "saddr ether") => Ok(pay(
                        NFT_PAYLOAD_NETWORK_HEADER,
                        8,
                        Kind::Ether,
                        Some(Dep::Arp),
                        None,
                    )),
                    (proto, f) => Err(format!("payload {proto} {f} in a {:?} table", self.family)),
                }
            }
            Expression::Named(NamedExpression::CT(ct)) => {
                if ct.family.is_some() {
                    return Err(format!("ct with a family ({ct:?})"));
                }
                let dir = match ct.dir {
                    None => None,
                    Some(CTDir::Original) => Some(0),
                    Some(CTDir::Reply) => Some(1),
                };
                let (key, kind) = match (ct.key.as_ref(), dir) {
                    ("state", None) => (0, Kind::CtState),
                    ("status", None) => (2, Kind::CtStatus),
                    ("proto-dst", Some(_)) => (12, Kind::InetService),
                    ("proto-src", Some(_)) => (11, Kind::InetService),
                    (k, _) => return Err(format!("ct {k} (direction {:?})", ct.dir)),
                };
                Ok(Field {
                    load: Load::Ct { key, dir },
                    kind,
                    dep: None,
                    typeof_: None,
                })
            }
            Expression::Named(NamedExpression::Fib(f)) => {
                let mut flags = 0;
                for fl in &f.flags {
                    flags |= match fl {
                        FibFlag::Saddr => 1,
                        FibFlag::Daddr => 2,
                        FibFlag::Mark => 4,
                        FibFlag::Iif => 8,
                        FibFlag::Oif => 16,
                    };
                }
                match f.result {
                    FibResult::Type => Ok(Field {
                        load: Load::Fib { flags, result: 3 },
                        kind: Kind::FibAddrType,
                        dep: None,
                        typeof_: None,
                    }),
                    other => Err(format!("fib {other:?}")),
                }
            }
            other => Err(format!("expression {other:?} on the left of a match")),
        }
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
                Load::Meta(key) => KExpr::Meta { key, dreg },
                Load::Payload { base, offset } => KExpr::Payload {
                    base,
                    offset,
                    len: len as u32,
                    dreg,
                },
                Load::Ct { key, dir } => KExpr::Ct { key, dreg, dir },
                Load::Fib { flags, result } => KExpr::Fib { flags, result, dreg },
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
            (Dep::L4(p), Family::Inet) => (KExpr::Meta { key: 16, dreg: r }, vec![p]),
            (Dep::Ipv4, Family::Inet) => (KExpr::Meta { key: 15, dreg: r }, vec![2]),
            (Dep::Ipv4, Family::Bridge) => (KExpr::Meta { key: 1, dreg: r }, vec![0x08, 0x00]),
            (Dep::Arp, Family::Bridge) => (
                KExpr::Payload {
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
        self.push(KExpr::Cmp {
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
                if let Ok(v) = Kind::InetProto.value(&Expression::String(s.clone())) {
                    self.deps.insert(Dep::L4(v[0]));
                }
            }
        }
        match &m.right {
            Expression::String(s) if s.starts_with('@') => {
                let r = self.load(&fields)?;
                let (id, _, _) = self.named(&s[1..])?;
                self.push(KExpr::Lookup {
                    sreg: reg(r),
                    dreg: None,
                    set: s[1..].to_string(),
                    id,
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
                    let data = fields[0].kind.value(e)?;
                    self.cmp(r, inv, data);
                } else {
                    let (name, id) = self.anon_set(&fields, items)?;
                    self.push(KExpr::Lookup {
                        sreg: reg(r),
                        dreg: None,
                        set: name,
                        id,
                        inv,
                    });
                }
                self.release(r);
            }
            right => {
                let [f] = fields.as_slice() else {
                    return Err(format!("a concatenation compared with {right:?}"));
                };
                let kind = f.kind;
                let r = self.load(&fields)?;
                let data = kind.value(right)?;
                if kind.is_flags() && matches!(op, Operator::IN) {
                    // `ct state established,related`: any of the bits.
                    self.push(KExpr::Bitwise {
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
        self.push(KExpr::Cmp {
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
        self.push(KExpr::Lookup {
            sreg: reg(r),
            dreg: Some(NFT_REG_VERDICT),
            set,
            id,
            inv: false,
        });
        self.release(r);
        Ok(())
    }

    /// `dnat ip to <key> map @a [: <key> map @b]`.
    fn dnat(&mut self, nat: &NAT<'_>) -> Result<(), String> {
        if nat.flags.is_some() {
            return Err(format!("dnat flags ({nat:?})"));
        }
        let family = match nat.family {
            Some(nftables::stmt::NATFamily::IP) => 2,
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
            c.push(KExpr::Lookup {
                sreg: reg(r),
                dreg: Some(reg(r)),
                set: name.to_string(),
                id,
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
        self.push(KExpr::Nat {
            ty: 1,
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
            family: self.family.nfproto(),
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
    udata_u32(&mut u, UDATA_SET_KEYBYTEORDER, key.byteorder());
    if data.is_some() {
        udata_u32(&mut u, UDATA_SET_DATABYTEORDER, 0);
    }
    if interval {
        udata_u32(&mut u, UDATA_SET_MERGE_ELEMENTS, 1);
    }
    let typeof_ = |f: &Field| {
        f.typeof_
            .clone()
            .ok_or_else(|| format!("an anonymous set keyed by {:?}", f.load))
    };
    if data.is_none() || key.concat() {
        if let [f] = fields {
            let (ty, attrs) = typeof_(f)?;
            udata_nest(&mut u, UDATA_SET_KEY_TYPEOF, |v| typeof_tlv(v, ty, &attrs));
        } else {
            let parts = fields.iter().map(typeof_).collect::<Result<Vec<_>, _>>()?;
            udata_nest(&mut u, UDATA_SET_KEY_TYPEOF, |v| {
                udata_u32(v, 0, EXPR_CONCAT);
                udata_nest(v, 1, |v| {
                    for (i, (ty, attrs)) in parts.iter().enumerate() {
                        udata_nest(v, i as u8, |v| typeof_tlv(v, *ty, attrs));
                    }
                });
            });
        }
    }
    if let Some(Data::Verdict) = data {
        udata_nest(&mut u, UDATA_SET_DATA_TYPEOF, |v| {
            udata_u32(v, 0, EXPR_VERDICT);
            udata(v, 1, &[]);
        });
    }
    if data.is_some() {
        udata_u32(&mut u, UDATA_SET_DATA_INTERVAL, 0);
    }
    Ok(u)
}

fn typeof_tlv(v: &mut Vec<u8>, ty: u32, attrs: &[(u8, u32)]) {
    udata_u32(v, 0, ty);
    udata_nest(v, 1, |v| {
        for (t, x) in attrs {
            udata_u32(v, *t, *x);
        }
    });
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

impl KExpr {
    /// Append this expression (`NFTA_LIST_ELEM`) to a rule's expression list.
    pub fn write(&self, buf: &mut Buf) {
        let e = buf.nest(NFTA_LIST_ELEM);
        buf.put_str(NFTA_EXPR_NAME, self.name());
        let d = buf.nest(NFTA_EXPR_DATA);
        match self {
            KExpr::Meta { key, dreg } => {
                buf.put_u32(2, *key);
                buf.put_u32(1, *dreg);
            }
            KExpr::Payload {
                base,
                offset,
                len,
                dreg,
            } => {
                buf.put_u32(1, *dreg);
                buf.put_u32(2, *base);
                buf.put_u32(3, *offset);
                buf.put_u32(4, *len);
            }
            KExpr::Ct { key, dreg, dir } => {
                buf.put_u32(2, *key);
                buf.put_u32(1, *dreg);
                if let Some(dir) = dir {
                    buf.put(3, &[*dir]);
                }
            }
            KExpr::Fib { flags, result, dreg } => {
                buf.put_u32(3, *flags);
                buf.put_u32(2, *result);
                buf.put_u32(1, *dreg);
            }
            KExpr::Cmp { sreg, op, data } => {
                buf.put_u32(1, *sreg);
                buf.put_u32(2, *op);
                buf.put_value(3, data);
            }
            KExpr::Bitwise {
                sreg,
                dreg,
                mask,
                xor,
            } => {
                buf.put_u32(1, *sreg);
                buf.put_u32(2, *dreg);
                buf.put_u32(3, mask.len() as u32);
                buf.put_value(4, mask);
                buf.put_value(5, xor);
            }
            KExpr::Lookup {
                sreg,
                dreg,
                set,
                id,
                inv,
            } => {
                buf.put_u32(2, *sreg);
                if let Some(dreg) = dreg {
                    buf.put_u32(3, *dreg);
                }
                buf.put_str(1, set);
                buf.put_u32(4, *id);
                if *inv {
                    buf.put_u32(5, NFT_LOOKUP_F_INV);
                }
            }
            KExpr::Immediate(v) => {
                buf.put_u32(1, NFT_REG_VERDICT);
                let n = buf.nest(2);
                super::set::write_verdict(buf, v);
                buf.end(n);
            }
            KExpr::Counter | KExpr::Masq => {}
            KExpr::CounterFrom { packets, bytes } => {
                buf.put_u64(super::set::NFTA_COUNTER_BYTES, *bytes);
                buf.put_u64(super::set::NFTA_COUNTER_PACKETS, *packets);
            }
            KExpr::Limit {
                rate,
                unit,
                burst,
                flags,
            } => {
                buf.put_u64(1, *rate);
                buf.put_u64(2, *unit);
                buf.put_u32(3, *burst);
                buf.put_u32(4, 0); // NFT_LIMIT_PKTS
                buf.put_u32(5, *flags);
            }
            KExpr::Log { prefix } => {
                if let Some(p) = prefix {
                    buf.put_str(2, p);
                }
            }
            KExpr::Reject { ty, code } => {
                buf.put_u32(1, *ty);
                buf.put(2, &[*code]);
            }
            KExpr::Nat {
                ty,
                family,
                addr,
                proto,
                flags,
            } => {
                buf.put_u32(1, *ty);
                buf.put_u32(2, *family);
                if let Some(r) = addr {
                    buf.put_u32(3, *r);
                }
                if let Some(r) = proto {
                    buf.put_u32(5, *r);
                }
                if *flags != 0 {
                    buf.put_u32(7, *flags);
                }
            }
        }
        buf.end(d);
        buf.end(e);
    }

    fn name(&self) -> &'static str {
        match self {
            KExpr::Meta { .. } => "meta",
            KExpr::Payload { .. } => "payload",
            KExpr::Ct { .. } => "ct",
            KExpr::Fib { .. } => "fib",
            KExpr::Cmp { .. } => "cmp",
            KExpr::Bitwise { .. } => "bitwise",
            KExpr::Lookup { .. } => "lookup",
            KExpr::Immediate(_) => "immediate",
            KExpr::Counter | KExpr::CounterFrom { .. } => "counter",
            KExpr::Limit { .. } => "limit",
            KExpr::Log { .. } => "log",
            KExpr::Reject { .. } => "reject",
            KExpr::Nat { .. } => "nat",
            KExpr::Masq => "masq",
        }
    }
}
