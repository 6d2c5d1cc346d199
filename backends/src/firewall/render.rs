//! The firewall IR → brouter's two nftables tables, as the `nftables` crate's typed model.
//!
//! Layout (each stage mirrors one stage of `brouter_engine::firewall::explain`):
//!
//! * `inet brouter`
//!   - `forward` / `input` / `output` base chains (policy accept) judge only traffic that
//!     touches a brouter bridge (or, when a policy names it, the host's own uplink
//!     traffic) by `goto` into `fwd_judge` / `in_judge` / `out_judge`; all else passes.
//!   - `forward` first sends DNAT'd connections to `fwd_dnat`, which counts and accepts
//!     them (a forward implies its accept), and accepts established/related traffic,
//!     before any interface lookup; the judge chains drop invalid (`in_judge` and
//!     `out_judge` accept established/related first), then dispatch new connections by a
//!     verdict map on `iifname . oifname` to one chain per listed zone pair; what no
//!     element matches is an unlisted pair and drops. With `[log] drops`, unlisted
//!     pairs' elements `jump` to a one-rule chain (`log.<from>.<to>`) that logs and
//!     returns to that drop.
//!   - every verdict rule of a pair chain, and each judge's final drop, has a `counter`
//!     (`status` reads them as policy hits); a logged pair verdict has one rate-limited
//!     `log` rule (`brouter drop dmz->data `) placed so only what is refused is logged.
//!   - `fwd_dnat` counts forwarded connections' traffic by their original port
//!     (`<proto>_fwd_traffic`), and the DNAT maps count connections: per-element
//!     counters of named sets (see [`counts_elements`]), not rules.
//!   - `prerouting` (dstnat) DNATs through port-keyed maps (`tcp_fwd_addr` +
//!     `tcp_fwd_port`, or `tcp_fwd_keep` when the port is kept; same for udp): two
//!     maps, because nft 1.0.6 breaks maps whose data is a concatenation.
//!   - every forward set and map exists twice: hash sets for single ports
//!     (`tcp_fwd_*`) and interval sets for port ranges (`tcp_range_fwd_*`), see [`Shape`].
//!   - `postrouting` (srcnat) masquerades hairpin traffic to the server's bridge and
//!     the masquerading networks' traffic leaving through `external`.
//! * `bridge brouter`: bound vifs (`ports`) are checked against `mac_bind` and
//!   `ip_bind` (Ethernet source, IP source, ARP sender); the sets are filled per vif.
//!
//! The number of rules depends on the zones and policies only: forwards, hosts and
//! bindings are elements of named sets and maps.

use std::borrow::Cow;
use std::collections::HashSet;

use brouter_engine::config::{Action, Proto, Service, ZONE_DOM0, ZONE_EXTERNAL};
use brouter_engine::firewall::log_prefix;
use brouter_engine::firewall::{Binding, External, PairDecision, PairPolicy, Ruleset};
use nftables::expr::MetaKey;
use nftables::schema::{Chain, Element, Map, NfListObject, Rule, Set, SetFlag, SetType, SetTypeValue, Table};
use nftables::stmt::{Limit, Log, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use super::expr::*;

/// brouter's table name in both families.
pub const TABLE: &str = "brouter";
/// The rule comment that carries the ruleset's fingerprint (`<prefix><fingerprint>`).
pub const FINGERPRINT_PREFIX: &str = "brouter ruleset ";

/// The bridge-family sets the bindings live in.
pub const PORTS: &str = "ports";
pub const MAC_BIND: &str = "mac_bind";
pub const IP_BIND: &str = "ip_bind";

const BRIDGES: &str = "bridges";
/// Where `fwd_judge` sends forwarded (DNAT'd) connections: counted and accepted.
const FWD_DNAT: &str = "fwd_dnat";
const IN_IFACES: &str = "in_ifaces";
const OUT_IFACES: &str = "out_ifaces";
const BRIDGE_ADDRS: &str = "bridge_addrs";
const NET_SUBNETS: &str = "net_subnets";
const MASQ_SOURCES: &str = "masq_sources";

/// Whether a named set or map of `inet brouter` keeps a counter per element: the DNAT
/// maps that name a forward's target (`<proto>_fwd_addr`, `<proto>_fwd_keep`: connections)
/// and `<proto>_fwd_traffic` (every packet of those connections), and their
/// `<proto>_range_fwd_*` twins for port ranges. The crate's typed `Set`
/// has no field for nft's set-level `counter` statement, so the JSON transaction adds it
/// for these names (`firewall::add_element_counters`) and the text printer prints it.
pub fn counts_elements(name: &str) -> bool {
    ["tcp_", "udp_"].iter().any(|p| name.starts_with(p))
        && ["_fwd_addr", "_fwd_keep", "_fwd_traffic"]
            .iter()
            .any(|s| name.ends_with(s))
}

/// How a forward's external ports are keyed. Single ports go to hash sets and maps:
/// constant-time lookups on the packet path and the cheapest to load (10,000 forwards);
/// port ranges need interval sets (an rbtree in the kernel). Both kinds always exist, so
/// the rule count does not depend on the forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Port,
    Range,
}

impl Shape {
    pub const ALL: [Shape; 2] = [Shape::Port, Shape::Range];

    /// The shape of a forward of `first..=last`.
    pub fn of(first: u16, last: u16) -> Shape {
        if first == last {
            Shape::Port
        } else {
            Shape::Range
        }
    }
}

/// The name of a forward set or map: `<proto>_fwd_<what>` for single ports,
/// `<proto>_range_fwd_<what>` for ranges (`what`: `addr`, `port`, `keep`, `traffic`).
pub fn fwd_set(proto: Proto, shape: Shape, what: &str) -> String {
    match shape {
        Shape::Port => format!("{proto}_fwd_{what}"),
        Shape::Range => format!("{proto}_range_fwd_{what}"),
    }
}

/// The set whose per-element counters hold the traffic of `proto`'s forwards of `shape`.
pub fn traffic_set(proto: Proto, shape: Shape) -> String {
    fwd_set(proto, shape, "traffic")
}

/// The objects of both tables, in the order they must be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub inet: Vec<NfListObject<'static>>,
    pub bridge: Vec<NfListObject<'static>>,
}

impl Tables {
    /// How many rules both tables hold (the number that must not grow with forwards,
    /// hosts or vifs).
    pub fn rule_count(&self) -> usize {
        self.inet
            .iter()
            .chain(&self.bridge)
            .filter(|o| matches!(o, NfListObject::Rule(_)))
            .count()
    }
}

pub fn table(family: NfFamily) -> Table<'static> {
    Table {
        family,
        name: TABLE.into(),
        handle: None,
    }
}

/// Render the IR. `fingerprint` is stored as a rule comment in both tables.
pub fn render(rs: &Ruleset, fingerprint: &str) -> Tables {
    Tables {
        inet: inet(rs, fingerprint),
        bridge: bridge(fingerprint),
    }
}

struct Builder {
    family: NfFamily,
    objects: Vec<NfListObject<'static>>,
}

impl Builder {
    fn new(family: NfFamily) -> Builder {
        Builder {
            family,
            objects: vec![NfListObject::Table(table(family))],
        }
    }

    fn set(&mut self, name: &str, ty: SetTypeValue<'static>, interval: bool, elems: Vec<Expr>) {
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

    fn map(&mut self, name: &str, key: SetType, data: SetType, interval: bool, elems: Vec<Expr>) {
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

    fn base_chain(&mut self, name: &str, ty: NfChainType, hook: NfHook, prio: i32) {
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

    fn chain(&mut self, name: &str) {
        self.objects.push(NfListObject::Chain(Chain {
            family: self.family,
            table: TABLE.into(),
            name: name.to_string().into(),
            ..Chain::default()
        }));
    }

    fn rule(&mut self, chain: &str, expr: Vec<Stmt>, comment: Option<String>) {
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

fn single(t: SetType) -> SetTypeValue<'static> {
    SetTypeValue::Single(t)
}

/// The chain that decides one listed zone pair. Zone names cannot contain `.`, so the
/// name is unique.
pub fn pair_chain(from: &str, to: &str) -> String {
    format!("pair.{from}.{to}")
}

/// The chain that logs and rejects a logged `reject` policy's services (the rest of the
/// pair chain logs and drops what is not among them).
pub fn reject_chain(from: &str, to: &str) -> String {
    format!("pair.{from}.{to}.reject")
}

/// The one-rule chain that logs an unlisted pair's drop (`[log] drops = true`).
pub fn log_chain(from: &str, to: &str) -> String {
    format!("log.{from}.{to}")
}

/// Whether a listed pair needs its [`reject_chain`].
fn needs_reject_chain(p: &PairPolicy) -> bool {
    p.log && p.action == Action::Reject && !p.services.is_empty()
}

/// The unlisted zone pairs whose drops are logged, in a stable order.
fn logged_unlisted(rs: &Ruleset) -> Vec<(String, String)> {
    if !rs.log.drops {
        return vec![];
    }
    let mut zones = vec![ZONE_EXTERNAL.to_string(), ZONE_DOM0.to_string()];
    zones.extend(rs.networks.iter().map(|n| n.name.clone()));
    let mut out = vec![];
    for f in &zones {
        for t in &zones {
            if matches!(rs.decide(f, t), PairDecision::Unlisted) {
                out.push((f.clone(), t.clone()));
            }
        }
    }
    out.sort();
    out
}

fn inet(rs: &Ruleset, fingerprint: &str) -> Vec<NfListObject<'static>> {
    let mut b = Builder::new(NfFamily::INet);
    let bridges: Vec<&str> = rs.networks.iter().map(|n| n.bridge.as_str()).collect();
    let uplink = rs.uplink();
    let host_in = uplink.filter(|_| rs.judges_host_uplink(ZONE_EXTERNAL, ZONE_DOM0));
    let host_out = uplink.filter(|_| rs.judges_host_uplink(ZONE_DOM0, ZONE_EXTERNAL));

    // Sets.
    let ifname_set = |extra: Option<&str>| bridges.iter().copied().chain(extra).map(str).collect::<Vec<_>>();
    b.set(BRIDGES, single(SetType::Ifname), false, ifname_set(None));
    b.set(IN_IFACES, single(SetType::Ifname), false, ifname_set(host_in));
    b.set(OUT_IFACES, single(SetType::Ifname), false, ifname_set(host_out));
    let addrs = rs
        .networks
        .iter()
        .map(|n| str(n.address.addr().to_string()))
        .collect();
    b.set(BRIDGE_ADDRS, single(SetType::Ipv4Addr), false, addrs);
    let subnets = rs
        .networks
        .iter()
        .map(|n| prefix(n.subnet.network().to_string(), n.subnet.prefix_len()))
        .collect();
    b.set(NET_SUBNETS, single(SetType::Ipv4Addr), true, subnets);
    let masq = rs
        .masquerade_sources()
        .map(|s| prefix(s.network().to_string(), s.prefix_len()))
        .collect();
    b.set(MASQ_SOURCES, single(SetType::Ipv4Addr), true, masq);

    // Forward maps, keyed by external port: single ports and ranges apart (see [`Shape`]).
    for proto in [Proto::Tcp, Proto::Udp] {
        for shape in Shape::ALL {
            let fwds: Vec<_> = rs
                .forwards
                .iter()
                .filter(|f| f.proto == proto && Shape::of(f.ports.first, f.ports.last) == shape)
                .collect();
            let (mut addr, mut port, mut keep) = (vec![], vec![], vec![]);
            for f in &fwds {
                let key = || port_elem(f.ports.first, f.ports.last);
                match f.to_port {
                    Some(p) => {
                        addr.push(map_elem(key(), str(f.addr.to_string())));
                        port.push(map_elem(key(), num(u32::from(p))));
                    }
                    None => keep.push(map_elem(key(), str(f.addr.to_string()))),
                }
            }
            let interval = shape == Shape::Range;
            let name = |what: &str| fwd_set(proto, shape, what);
            b.map(
                &name("addr"),
                SetType::InetService,
                SetType::Ipv4Addr,
                interval,
                addr,
            );
            b.map(
                &name("port"),
                SetType::InetService,
                SetType::InetService,
                interval,
                port,
            );
            b.map(
                &name("keep"),
                SetType::InetService,
                SetType::Ipv4Addr,
                interval,
                keep,
            );
            let ports = fwds
                .iter()
                .map(|f| port_elem(f.ports.first, f.ports.last))
                .collect();
            b.set(
                &traffic_set(proto, shape),
                single(SetType::InetService),
                interval,
                ports,
            );
        }
    }

    // Filter: base chains judge only brouter's traffic.
    b.base_chain("forward", NfChainType::Filter, NfHook::Forward, 0);
    b.base_chain("input", NfChainType::Filter, NfHook::Input, 0);
    b.base_chain("output", NfChainType::Filter, NfHook::Output, 0);
    b.chain("fwd_judge");
    b.chain(FWD_DNAT);
    b.chain("in_judge");
    b.chain("out_judge");
    let mut pair_chains: Vec<&PairPolicy> = rs.policies.iter().collect();
    pair_chains.sort_by(|a, c| (&a.from, &a.to).cmp(&(&c.from, &c.to)));
    for p in &pair_chains {
        b.chain(&pair_chain(&p.from, &p.to));
        if needs_reject_chain(p) {
            b.chain(&reject_chain(&p.from, &p.to));
        }
    }
    let unlisted_logged = logged_unlisted(rs);
    for (f, t) in &unlisted_logged {
        b.chain(&log_chain(f, t));
    }
    b.base_chain("prerouting", NfChainType::NAT, NfHook::Prerouting, -100);
    b.base_chain("postrouting", NfChainType::NAT, NfHook::Postrouting, 100);

    let fp = Some(format!("{FINGERPRINT_PREFIX}{fingerprint}"));
    // Established traffic first, before any interface lookup: it is most of the packets,
    // and accepting it is what the base chain's policy would do anyway for traffic that is
    // not brouter's. DNAT'd connections go to `fwd_dnat`, which counts them per forward
    // (a foreign DNAT is counted only if it shares a forward's port, which brouter's own
    // DNAT of that port would already contest) and accepts: a forward implies its accept.
    b.rule(
        "forward",
        vec![is_in(ct("status"), str("dnat")), goto(FWD_DNAT)],
        Some("a forward implies its accept".into()),
    );
    b.rule(
        "forward",
        vec![ct_state(&["established", "related"]), accept()],
        None,
    );
    b.rule(
        "forward",
        vec![eq(meta(MetaKey::Iifname), set_ref(BRIDGES)), goto("fwd_judge")],
        fp.clone(),
    );
    b.rule(
        "forward",
        vec![eq(meta(MetaKey::Oifname), set_ref(BRIDGES)), goto("fwd_judge")],
        None,
    );
    b.rule(
        "input",
        vec![eq(meta(MetaKey::Iifname), set_ref(IN_IFACES)), goto("in_judge")],
        None,
    );
    b.rule(
        "output",
        vec![eq(meta(MetaKey::Oifname), set_ref(OUT_IFACES)), goto("out_judge")],
        None,
    );

    // fwd_dnat: the forwarded (DNAT'd) connections' traffic, in both directions, counted
    // per forward by the port the client connected to, and accepted in the same rule.
    for proto in [Proto::Tcp, Proto::Udp] {
        for shape in Shape::ALL {
            b.rule(
                FWD_DNAT,
                vec![
                    eq(meta(MetaKey::L4proto), str(proto.to_string())),
                    eq(ct_original("proto-dst"), set_ref(&traffic_set(proto, shape))),
                    accept(),
                ],
                Some(match shape {
                    Shape::Port => format!("count {proto} forwards' traffic"),
                    Shape::Range => format!("count {proto} range forwards' traffic"),
                }),
            );
        }
    }
    b.rule(FWD_DNAT, vec![accept()], Some("DNAT'd by another table".into()));
    // fwd_judge: new (or invalid) traffic that touches a bridge.
    b.rule("fwd_judge", vec![ct_state(&["invalid"]), drop()], None);
    // Named interfaces: the bridges, and the uplink when there is one.
    let named: Vec<(&str, &str)> = rs
        .networks
        .iter()
        .map(|n| (n.bridge.as_str(), n.name.as_str()))
        .chain(uplink.map(|u| (u, ZONE_EXTERNAL)))
        .collect();
    let mut pairs = vec![];
    for (i_if, i_zone) in &named {
        for (o_if, o_zone) in &named {
            let touches_bridge = rs.network(i_zone).is_some() || rs.network(o_zone).is_some();
            if !touches_bridge {
                continue;
            }
            if let Some(v) = pair_verdict(rs, i_zone, o_zone) {
                pairs.push((concat(vec![str(*i_if), str(*o_if)]), v));
            }
        }
    }
    if !pairs.is_empty() {
        let key = concat(vec![meta(MetaKey::Iifname), meta(MetaKey::Oifname)]);
        b.rule("fwd_judge", vec![vmap(key, anon_vmap(pairs))], None);
    }
    if matches!(rs.external, External::AnyOther) {
        let to_ext: Vec<_> = rs
            .networks
            .iter()
            .filter_map(|n| pair_verdict(rs, &n.name, ZONE_EXTERNAL).map(|v| (str(n.bridge.clone()), v)))
            .collect();
        if !to_ext.is_empty() {
            b.rule(
                "fwd_judge",
                vec![
                    ne(meta(MetaKey::Oifname), set_ref(BRIDGES)),
                    vmap(meta(MetaKey::Iifname), anon_vmap(to_ext)),
                ],
                Some("external: any interface that is not a bridge".into()),
            );
        }
        let from_ext: Vec<_> = rs
            .networks
            .iter()
            .filter_map(|n| pair_verdict(rs, ZONE_EXTERNAL, &n.name).map(|v| (str(n.bridge.clone()), v)))
            .collect();
        if !from_ext.is_empty() {
            b.rule(
                "fwd_judge",
                vec![
                    ne(meta(MetaKey::Iifname), set_ref(BRIDGES)),
                    vmap(meta(MetaKey::Oifname), anon_vmap(from_ext)),
                ],
                Some("external: any interface that is not a bridge".into()),
            );
        }
    }
    b.rule("fwd_judge", vec![counter(), drop()], Some(UNLISTED.into()));

    // in_judge / out_judge: one side is the dom0.
    let side = |zone_is_from: bool| -> Vec<(Expr, Stmt)> {
        let mut v = vec![];
        for n in &rs.networks {
            let (f, t) = if zone_is_from {
                (n.name.as_str(), ZONE_DOM0)
            } else {
                (ZONE_DOM0, n.name.as_str())
            };
            if let Some(verdict) = pair_verdict(rs, f, t) {
                v.push((str(n.bridge.clone()), verdict));
            }
        }
        let host = if zone_is_from { host_in } else { host_out };
        if let Some(u) = host {
            let (f, t) = if zone_is_from {
                (ZONE_EXTERNAL, ZONE_DOM0)
            } else {
                (ZONE_DOM0, ZONE_EXTERNAL)
            };
            if let Some(verdict) = pair_verdict(rs, f, t) {
                v.push((str(u), verdict));
            }
        }
        v
    };
    b.rule(
        "in_judge",
        vec![ct_state(&["established", "related"]), accept()],
        None,
    );
    b.rule("in_judge", vec![ct_state(&["invalid"]), drop()], None);
    let ins = side(true);
    if !ins.is_empty() {
        b.rule(
            "in_judge",
            vec![vmap(meta(MetaKey::Iifname), anon_vmap(ins))],
            None,
        );
    }
    b.rule("in_judge", vec![counter(), drop()], Some(UNLISTED.into()));
    b.rule(
        "out_judge",
        vec![
            ct_state(&["established", "related", "invalid", "untracked"]),
            accept(),
        ],
        Some("the host's replies and its ICMP errors".into()),
    );
    let outs = side(false);
    if !outs.is_empty() {
        b.rule(
            "out_judge",
            vec![vmap(meta(MetaKey::Oifname), anon_vmap(outs))],
            None,
        );
    }
    b.rule("out_judge", vec![counter(), drop()], Some(UNLISTED.into()));

    for p in &pair_chains {
        pair_rules(&mut b, rs, p);
    }
    for (f, t) in &unlisted_logged {
        log_rule(&mut b, rs, &log_chain(f, t), f, t, Action::Drop);
    }

    // NAT.
    for proto in [Proto::Tcp, Proto::Udp] {
        for shape in Shape::ALL {
            let local = || {
                vec![
                    eq(fib_daddr_type(), str("local")),
                    ne(payload("ip", "daddr"), set_ref(BRIDGE_ADDRS)),
                ]
            };
            let p = if proto == Proto::Tcp { "tcp" } else { "udp" };
            let lookup = |what: &str| Some(map_lookup(payload(p, "dport"), &fwd_set(proto, shape, what)));
            let kind = match shape {
                Shape::Port => format!("{proto} forwards"),
                Shape::Range => format!("{proto} range forwards"),
            };
            let mut translated = local();
            translated.push(Statement::DNAT(Some(NAT {
                addr: lookup("addr"),
                family: Some(nftables::stmt::NATFamily::IP),
                port: lookup("port"),
                flags: None,
            })));
            b.rule(
                "prerouting",
                translated,
                Some(format!("{kind} with port translation")),
            );
            let mut kept = local();
            kept.push(Statement::DNAT(Some(NAT {
                addr: lookup("keep"),
                family: Some(nftables::stmt::NATFamily::IP),
                port: None,
                flags: None,
            })));
            b.rule("prerouting", kept, Some(format!("{kind} keeping the port")));
        }
    }
    b.rule(
        "postrouting",
        vec![
            is_in(ct("status"), str("dnat")),
            eq(payload("ip", "saddr"), set_ref(NET_SUBNETS)),
            eq(meta(MetaKey::Oifname), set_ref(BRIDGES)),
            Statement::Masquerade(None),
        ],
        Some("hairpin: replies must come back through the dom0".into()),
    );
    let out_external = match uplink {
        Some(u) => eq(meta(MetaKey::Oifname), str(u)),
        None => ne(meta(MetaKey::Oifname), set_ref(BRIDGES)),
    };
    b.rule(
        "postrouting",
        vec![
            out_external,
            eq(payload("ip", "saddr"), set_ref(MASQ_SOURCES)),
            Statement::Masquerade(None),
        ],
        Some("masquerade to the outside".into()),
    );
    b.objects
}

/// The comment of each judge chain's final drop (read back as the unlisted pairs' hits).
pub const UNLISTED: &str = "unlisted zone pair";

/// The vmap verdict of a zone pair: `goto` its chain, `accept` inside one zone; when
/// unlisted, `jump` to its log chain if its drops are logged (the judge chain's final
/// drop follows on return), else none (that drop applies directly).
fn pair_verdict(rs: &Ruleset, from: &str, to: &str) -> Option<Stmt> {
    match rs.decide(from, to) {
        PairDecision::Listed(p) => Some(goto(&pair_chain(&p.from, &p.to))),
        PairDecision::SameZone | PairDecision::NotJudged => Some(accept()),
        PairDecision::Unlisted if rs.log.drops => Some(jump(&log_chain(from, to))),
        PairDecision::Unlisted => None,
    }
}

fn action_stmt(a: Action) -> Stmt {
    match a {
        Action::Accept => accept(),
        Action::Drop => drop(),
        Action::Reject => Statement::Reject(None),
    }
}

/// One rate-limited log rule: `limit rate 5/minute counter log prefix "brouter drop a->b "`.
/// The counter sits after the limit, so it counts the lines written to the kernel log.
fn log_rule(b: &mut Builder, rs: &Ruleset, chain: &str, from: &str, to: &str, action: Action) {
    let limit = Statement::Limit(Limit {
        rate: rs.log.rate.count,
        rate_unit: None,
        per: Some(rs.log.rate.per.to_string().into()),
        burst: None,
        burst_unit: None,
        inv: None,
    });
    let mut log = Log::new(None);
    log.prefix = Some(log_prefix(from, to, action).into());
    b.rule(chain, vec![limit, counter(), Statement::Log(Some(log))], None);
}

/// One zone pair's chain: its services with its action, then the rest (dropped). Every
/// verdict rule counts; a logged pair logs exactly what it refuses, with one log rule per
/// refusing verdict.
fn pair_rules(b: &mut Builder, rs: &Ruleset, p: &PairPolicy) {
    let chain = pair_chain(&p.from, &p.to);
    let (from, to) = (p.from.as_str(), p.to.as_str());
    let mut verdict = vec![counter(), action_stmt(p.action)];
    if p.log && p.action != Action::Accept {
        if needs_reject_chain(p) {
            // Services are rejected, the rest dropped: each refusal logs under its own name.
            let sub = reject_chain(from, to);
            log_rule(b, rs, &sub, from, to, Action::Reject);
            b.rule(&sub, vec![counter(), action_stmt(Action::Reject)], None);
            verdict = vec![goto(&sub)];
        } else {
            // Everything this chain sees is refused with the action: log it first.
            log_rule(b, rs, &chain, from, to, p.action);
        }
    }
    let (mut tcp, mut udp, mut icmp) = (vec![], vec![], false);
    for s in &p.services {
        match s {
            Service::Tcp(r) => tcp.push(port_elem(r.first, r.last)),
            Service::Udp(r) => udp.push(port_elem(r.first, r.last)),
            Service::Icmp => icmp = true,
        }
    }
    let with = |mut m: Vec<Stmt>| {
        m.extend(verdict.iter().cloned());
        m
    };
    for (proto, ports) in [("tcp", tcp), ("udp", udp)] {
        if !ports.is_empty() {
            b.rule(
                &chain,
                with(vec![eq(payload(proto, "dport"), anon_set(ports))]),
                None,
            );
        }
    }
    if icmp {
        b.rule(&chain, with(vec![eq(meta(MetaKey::L4proto), str("icmp"))]), None);
    }
    if p.services.is_empty() {
        b.rule(&chain, with(vec![]), None);
    } else {
        if p.log && p.action != Action::Drop {
            log_rule(b, rs, &chain, from, to, Action::Drop);
        }
        b.rule(
            &chain,
            vec![counter(), drop()],
            Some("not among the policy's services".into()),
        );
    }
}

fn bridge(fingerprint: &str) -> Vec<NfListObject<'static>> {
    let mut b = Builder::new(NfFamily::Bridge);
    b.set(PORTS, single(SetType::Ifname), false, vec![]);
    b.set(
        MAC_BIND,
        SetTypeValue::Concatenated(Cow::Owned(vec![SetType::Ifname, SetType::EtherAddr])),
        false,
        vec![],
    );
    b.set(
        IP_BIND,
        SetTypeValue::Concatenated(Cow::Owned(vec![SetType::Ifname, SetType::Ipv4Addr])),
        false,
        vec![],
    );
    b.base_chain("prerouting", NfChainType::Filter, NfHook::Prerouting, -200);
    b.chain("antispoof");
    b.rule(
        "prerouting",
        vec![eq(meta(MetaKey::Iifname), set_ref(PORTS)), goto("antispoof")],
        Some(format!("{FINGERPRINT_PREFIX}{fingerprint}")),
    );
    let iif = || meta(MetaKey::Iifname);
    b.rule(
        "antispoof",
        vec![
            ne(concat(vec![iif(), payload("ether", "saddr")]), set_ref(MAC_BIND)),
            drop(),
        ],
        Some("spoofed MAC".into()),
    );
    b.rule(
        "antispoof",
        vec![
            ne(meta(MetaKey::Protocol), anon_set(vec![str("ip"), str("arp")])),
            drop(),
        ],
        Some("only IPv4 and ARP".into()),
    );
    b.rule(
        "antispoof",
        vec![
            ne(concat(vec![iif(), payload("ip", "saddr")]), set_ref(IP_BIND)),
            drop(),
        ],
        Some("spoofed IP".into()),
    );
    b.rule(
        "antispoof",
        vec![
            ne(concat(vec![iif(), payload("arp", "saddr ip")]), set_ref(IP_BIND)),
            drop(),
        ],
        Some("spoofed ARP sender IP".into()),
    );
    b.rule(
        "antispoof",
        vec![
            ne(
                concat(vec![iif(), payload("arp", "saddr ether")]),
                set_ref(MAC_BIND),
            ),
            drop(),
        ],
        Some("spoofed ARP sender MAC".into()),
    );
    b.objects
}

/// The set elements of one binding, per set (empty lists left out).
pub fn binding_elements(bd: &Binding) -> Vec<Element<'static>> {
    let el = |name: &str, elem: Vec<Expr>| Element {
        family: NfFamily::Bridge,
        table: TABLE.into(),
        name: name.to_string().into(),
        elem: Cow::Owned(elem),
    };
    let mut out = vec![el(PORTS, vec![str(bd.vif.clone())])];
    if !bd.mac.is_empty() {
        out.push(el(
            MAC_BIND,
            vec![concat(vec![str(bd.vif.clone()), str(bd.mac.clone())])],
        ));
    }
    if !bd.addrs.is_empty() {
        let ips = bd
            .addrs
            .iter()
            .map(|a| concat(vec![str(bd.vif.clone()), str(a.to_string())]))
            .collect();
        out.push(el(IP_BIND, ips));
    }
    out
}
