//! The counters of brouter's firewall, read over nfnetlink and named for `status`.
//!
//! The renderer puts a `counter` on every verdict rule of a pair chain, on each judge
//! chain's final drop and on each log rule, and per-element counters on the forward maps
//! and the `<proto>_fwd_traffic` sets (see `render`'s module doc). This file reads them
//! back with two kinds of dumps of `inet brouter` — its rules, and the elements of the six
//! counted sets — and says which forward, zone pair and verdict each count belongs to,
//! from the chain names (`pair.<from>.<to>[.reject]`, `log.<from>.<to>`), the rules'
//! verdicts and log prefixes, and the judge drops' comment.

use std::collections::BTreeMap;
use std::io;

use brouter_engine::config::{Action, PortRange, Proto};
use brouter_engine::{FirewallCounters, ForwardHits, Hits, LogHits, PolicyHits};

use super::nfnl::{
    self, comment, cstr, parse_attrs, Socket, ATTR_TABLE, NFTA_DATA_VALUE, NFTA_LIST_ELEM,
    NFTA_RULE_USERDATA, NFTA_SET_ELEM_KEY, NFTA_SET_ELEM_LIST_ELEMENTS, NFTA_SET_ELEM_LIST_SET,
    NFT_MSG_GETRULE, NFT_MSG_GETSETELEM, NLM_F_DUMP,
};
use super::render::{counts_elements, fwd_set, traffic_set, Shape, TABLE, UNLISTED};

const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_COUNTER_BYTES: u16 = 1;
const NFTA_COUNTER_PACKETS: u16 = 2;
const NFTA_IMMEDIATE_DATA: u16 = 2;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_LOG_PREFIX: u16 = 2;
const NFTA_SET_ELEM_FLAGS: u16 = 3;
const NFTA_SET_ELEM_EXPR: u16 = 7;
const NFTA_SET_ELEM_EXPRESSIONS: u16 = 11;
const NFT_SET_ELEM_INTERVAL_END: u32 = 1;
const NF_DROP: i32 = 0;
const NF_ACCEPT: i32 = 1;

/// What one rule of `inet brouter` says about itself, as far as counting goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleFacts {
    pub chain: String,
    pub comment: Option<String>,
    /// Accept, drop or reject, when the rule ends in one of them.
    pub verdict: Option<Action>,
    pub log_prefix: Option<String>,
    pub counter: Option<Hits>,
}

/// One element of a counted set or map: its key (raw, network order), whether it ends
/// an interval (the key is then one past the interval's last port), and its counter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElemFacts {
    pub key: Vec<u8>,
    pub interval_end: bool,
    pub counter: Option<Hits>,
}

/// Read and name the counters in the namespace of the calling thread; `None` when
/// brouter's `inet` table does not exist.
pub fn read_here() -> io::Result<Option<FirewallCounters>> {
    let sock = Socket::open()?;
    if !sock.table_exists(nfnl::NFPROTO_INET)? {
        return Ok(None);
    }
    let rules = rules(&sock)?;
    let mut elements = BTreeMap::new();
    for name in counted_sets() {
        let elems = set_elements(&sock, &name)?;
        elements.insert(name, elems);
    }
    Ok(Some(name_counters(&rules, &elements)))
}

/// The counts of brouter's tables as they are, for the tables that replace them to start
/// from (see [`super::batch::Carry`]); empty if `inet brouter` does not exist.
pub(super) fn carry_on(sock: &Socket) -> io::Result<super::batch::Carry> {
    let mut carry = super::batch::Carry::default();
    if !sock.table_exists(nfnl::NFPROTO_INET)? {
        return Ok(carry);
    }
    let mut seen: std::collections::HashMap<super::batch::RuleId, usize> = Default::default();
    for r in rules(sock)? {
        let Some(hits) = r.counter else { continue };
        let mut id = super::batch::RuleId {
            chain: r.chain,
            comment: r.comment,
            verdict: r.verdict.map(|v| match v {
                Action::Accept => "accept",
                Action::Drop => "drop",
                Action::Reject => "reject",
            }),
            logs: r.log_prefix.is_some(),
            ordinal: 0,
        };
        let n = seen.entry(id.clone()).or_insert(0);
        id.ordinal = *n;
        *n += 1;
        // A new counter starts from zero anyway.
        if hits.packets != 0 || hits.bytes != 0 {
            carry.rules.insert(id, (hits.packets, hits.bytes));
        }
    }
    for name in counted_sets() {
        for e in set_elements(sock, &name)? {
            let counted = e.counter.filter(|h| h.packets != 0 || h.bytes != 0);
            if let (false, Some(h)) = (e.interval_end, counted) {
                carry.elements.insert((name.clone(), e.key), (h.packets, h.bytes));
            }
        }
    }
    Ok(carry)
}

/// The sets and maps of `inet brouter` whose elements count (see `render::counts_elements`).
fn counted_sets() -> impl Iterator<Item = String> {
    [Proto::Tcp, Proto::Udp].into_iter().flat_map(|proto| {
        Shape::ALL.into_iter().flat_map(move |shape| {
            ["addr", "keep", "traffic"].into_iter().map(move |what| {
                let name = fwd_set(proto, shape, what);
                debug_assert!(counts_elements(&name));
                name
            })
        })
    })
}

fn rules(sock: &Socket) -> io::Result<Vec<RuleFacts>> {
    let attrs = [(ATTR_TABLE, cstr(TABLE))];
    let mut out = Vec::new();
    for msg in sock.exchange(NFT_MSG_GETRULE, NLM_F_DUMP, nfnl::NFPROTO_INET, &attrs)? {
        let mut r = RuleFacts::default();
        for (ty, data) in parse_attrs(&msg) {
            match ty {
                NFTA_RULE_CHAIN => r.chain = text(data),
                NFTA_RULE_USERDATA => r.comment = comment(data).map(String::from),
                NFTA_RULE_EXPRESSIONS => expressions(data, &mut r),
                _ => {}
            }
        }
        out.push(r);
    }
    Ok(out)
}

/// The counter, verdict and log prefix among a rule's expressions.
fn expressions(list: &[u8], r: &mut RuleFacts) {
    for (ty, expr) in parse_attrs(list) {
        if ty != NFTA_LIST_ELEM {
            continue;
        }
        let (name, data) = name_and_data(expr);
        match name.as_str() {
            "counter" => r.counter = Some(counter(data)),
            "reject" => r.verdict = Some(Action::Reject),
            "log" => r.log_prefix = attr(data, NFTA_LOG_PREFIX).map(text),
            "immediate" => {
                let code = attr(data, NFTA_IMMEDIATE_DATA)
                    .and_then(|d| attr(d, NFTA_DATA_VERDICT))
                    .and_then(|v| attr(v, NFTA_VERDICT_CODE))
                    .and_then(|c| c.get(..4))
                    .map(|c| i32::from_be_bytes(c.try_into().expect("4 bytes")));
                r.verdict = match code {
                    Some(NF_ACCEPT) => Some(Action::Accept),
                    Some(NF_DROP) => Some(Action::Drop),
                    _ => r.verdict,
                };
            }
            _ => {}
        }
    }
}

fn set_elements(sock: &Socket, set: &str) -> io::Result<Vec<ElemFacts>> {
    let attrs = [(ATTR_TABLE, cstr(TABLE)), (NFTA_SET_ELEM_LIST_SET, cstr(set))];
    let mut out = Vec::new();
    let msgs = match sock.exchange(NFT_MSG_GETSETELEM, NLM_F_DUMP, nfnl::NFPROTO_INET, &attrs) {
        Ok(m) => m,
        // Tables written before brouter counted forwards lack the traffic sets.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(out),
        Err(e) => return Err(e),
    };
    for msg in msgs {
        for (ty, list) in parse_attrs(&msg) {
            if ty != NFTA_SET_ELEM_LIST_ELEMENTS {
                continue;
            }
            for (ty, elem) in parse_attrs(list) {
                if ty == NFTA_LIST_ELEM {
                    out.push(element(elem));
                }
            }
        }
    }
    Ok(out)
}

fn element(elem: &[u8]) -> ElemFacts {
    let mut e = ElemFacts::default();
    for (ty, data) in parse_attrs(elem) {
        match ty {
            NFTA_SET_ELEM_KEY => e.key = attr(data, NFTA_DATA_VALUE).unwrap_or_default().to_vec(),
            NFTA_SET_ELEM_FLAGS => e.interval_end = be32(data) & NFT_SET_ELEM_INTERVAL_END != 0,
            NFTA_SET_ELEM_EXPR => e.counter = expr_counter(data).or(e.counter),
            NFTA_SET_ELEM_EXPRESSIONS => {
                for (ty, x) in parse_attrs(data) {
                    if ty == NFTA_LIST_ELEM {
                        e.counter = expr_counter(x).or(e.counter);
                    }
                }
            }
            _ => {}
        }
    }
    e
}

/// The counts of a `counter` expression (`None` for any other expression).
fn expr_counter(expr: &[u8]) -> Option<Hits> {
    let (name, data) = name_and_data(expr);
    (name == "counter").then(|| counter(data))
}

fn name_and_data(expr: &[u8]) -> (String, &[u8]) {
    let attrs = parse_attrs(expr);
    let name = attrs
        .iter()
        .find(|(t, _)| *t == NFTA_EXPR_NAME)
        .map(|(_, d)| text(d))
        .unwrap_or_default();
    let data = attrs
        .iter()
        .find(|(t, _)| *t == NFTA_EXPR_DATA)
        .map(|(_, d)| *d)
        .unwrap_or_default();
    (name, data)
}

fn counter(data: &[u8]) -> Hits {
    let get = |t| attr(data, t).map(be64).unwrap_or(0);
    Hits {
        packets: get(NFTA_COUNTER_PACKETS),
        bytes: get(NFTA_COUNTER_BYTES),
    }
}

fn attr(buf: &[u8], ty: u16) -> Option<&[u8]> {
    parse_attrs(buf)
        .into_iter()
        .find(|(t, _)| *t == ty)
        .map(|(_, d)| d)
}

fn text(data: &[u8]) -> String {
    let s = data.split(|b| *b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(s).into_owned()
}

fn be32(d: &[u8]) -> u32 {
    d.get(..4)
        .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")))
        .unwrap_or(0)
}

fn be64(d: &[u8]) -> u64 {
    d.get(..8)
        .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
        .unwrap_or(0)
}

fn port(key: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(key.get(..2)?.try_into().ok()?))
}

/// Say what each count is: forwards from the counted sets, policy hits and log lines from
/// the pair and log chains, unlisted drops from the judges' final rules.
pub fn name_counters(rules: &[RuleFacts], elements: &BTreeMap<String, Vec<ElemFacts>>) -> FirewallCounters {
    let mut c = FirewallCounters::default();
    let mut policies: BTreeMap<(String, String, String), PolicyHits> = BTreeMap::new();
    let mut logged: BTreeMap<(String, String, String), LogHits> = BTreeMap::new();
    for r in rules {
        let Some(hits) = r.counter else { continue };
        if r.comment.as_deref() == Some(UNLISTED) {
            c.unlisted += hits;
            continue;
        }
        let mut parts = r.chain.split('.');
        let (kind, from, to) = match (parts.next(), parts.next(), parts.next()) {
            (Some(k @ ("pair" | "log")), Some(f), Some(t)) => (k, f.to_string(), t.to_string()),
            _ => continue,
        };
        if let Some(prefix) = &r.log_prefix {
            let verdict = if prefix.starts_with("brouter reject ") {
                Action::Reject
            } else {
                Action::Drop
            };
            let key = (from.clone(), to.clone(), verdict.to_string());
            logged
                .entry(key)
                .or_insert(LogHits {
                    from,
                    to,
                    verdict,
                    lines: 0,
                })
                .lines += hits.packets;
            continue;
        }
        if let (Some(verdict), "pair") = (r.verdict, kind) {
            let key = (from.clone(), to.clone(), verdict.to_string());
            policies
                .entry(key)
                .or_insert(PolicyHits {
                    from,
                    to,
                    verdict,
                    hits: Hits::default(),
                })
                .hits += hits;
        }
    }
    c.policies = policies.into_values().collect();
    c.logged = logged.into_values().collect();
    for proto in [Proto::Tcp, Proto::Udp] {
        let empty = Vec::new();
        let get = |name: String| elements.get(&name).unwrap_or(&empty);
        let mut connections: BTreeMap<u16, u64> = BTreeMap::new();
        for shape in Shape::ALL {
            for name in [fwd_set(proto, shape, "addr"), fwd_set(proto, shape, "keep")] {
                for e in get(name).iter().filter(|e| !e.interval_end) {
                    if let (Some(p), Some(h)) = (port(&e.key), e.counter) {
                        *connections.entry(p).or_default() += h.packets;
                    }
                }
            }
        }
        // Single ports: one element each.
        for e in get(traffic_set(proto, Shape::Port)).iter() {
            let Some(p) = port(&e.key) else { continue };
            c.forwards.push(ForwardHits {
                proto,
                ports: PortRange { first: p, last: p },
                connections: connections.get(&p).copied().unwrap_or(0),
                traffic: e.counter.unwrap_or_default(),
            });
        }
        // Ranges: an interval's start element, and its end one past the last port.
        let traffic = get(traffic_set(proto, Shape::Range));
        let mut ends: Vec<u32> = traffic
            .iter()
            .filter(|e| e.interval_end)
            .filter_map(|e| port(&e.key).map(u32::from))
            .collect();
        ends.sort_unstable();
        for e in traffic.iter().filter(|e| !e.interval_end) {
            let Some(first) = port(&e.key) else { continue };
            // A range up to 65535 has no end element.
            let last = ends
                .iter()
                .find(|&&end| end > u32::from(first))
                .map(|end| (end - 1) as u16)
                .unwrap_or(u16::MAX);
            c.forwards.push(ForwardHits {
                proto,
                ports: PortRange { first, last },
                connections: connections.get(&first).copied().unwrap_or(0),
                traffic: e.counter.unwrap_or_default(),
            });
        }
    }
    c.forwards.sort_by_key(|f| (f.proto, f.ports));
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(chain: &str, verdict: Option<Action>, log: Option<&str>, packets: u64) -> RuleFacts {
        RuleFacts {
            chain: chain.into(),
            comment: None,
            verdict,
            log_prefix: log.map(String::from),
            counter: Some(Hits {
                packets,
                bytes: packets * 100,
            }),
        }
    }

    fn elem(port: u16, end: bool, packets: Option<u64>) -> ElemFacts {
        ElemFacts {
            key: port.to_be_bytes().to_vec(),
            interval_end: end,
            counter: packets.map(|p| Hits {
                packets: p,
                bytes: p * 60,
            }),
        }
    }

    #[test]
    fn rules_are_named_by_chain_verdict_and_log_prefix() {
        let mut unlisted = rule("fwd_judge", Some(Action::Drop), None, 7);
        unlisted.comment = Some(UNLISTED.into());
        let rules = vec![
            rule("pair.dmz.data", None, Some("brouter drop dmz->data "), 2),
            rule("pair.dmz.data", Some(Action::Accept), None, 3),
            rule("pair.dmz.data", Some(Action::Drop), None, 4),
            rule("pair.dmz.data.reject", Some(Action::Reject), None, 5),
            rule("pair.dmz.data.reject", None, Some("brouter reject dmz->data "), 1),
            rule("log.external.dmz", None, Some("brouter drop external->dmz "), 6),
            unlisted,
            rule("fwd_judge", Some(Action::Accept), None, 99),
        ];
        let c = name_counters(&rules, &BTreeMap::new());
        let hits: Vec<(&str, &str, Action, u64)> = c
            .policies
            .iter()
            .map(|p| (p.from.as_str(), p.to.as_str(), p.verdict, p.hits.packets))
            .collect();
        assert_eq!(
            hits,
            vec![
                ("dmz", "data", Action::Accept, 3),
                ("dmz", "data", Action::Drop, 4),
                ("dmz", "data", Action::Reject, 5)
            ]
        );
        let logs: Vec<(&str, Action, u64)> = c
            .logged
            .iter()
            .map(|l| (l.to.as_str(), l.verdict, l.lines))
            .collect();
        assert_eq!(
            logs,
            vec![
                ("data", Action::Drop, 2),
                ("data", Action::Reject, 1),
                ("dmz", Action::Drop, 6)
            ]
        );
        assert_eq!(c.unlisted.packets, 7);
    }

    #[test]
    fn forwards_take_their_range_from_interval_ends_and_connections_from_the_dnat_maps() {
        let mut elements = BTreeMap::new();
        elements.insert("tcp_fwd_traffic".to_string(), vec![elem(8080, false, Some(10))]);
        elements.insert(
            "tcp_range_fwd_traffic".to_string(),
            vec![
                elem(9011, true, None),
                elem(9000, false, Some(40)),
                elem(65000, false, Some(1)),
            ],
        );
        elements.insert("tcp_fwd_addr".to_string(), vec![elem(8080, false, Some(2))]);
        elements.insert(
            "tcp_range_fwd_keep".to_string(),
            vec![elem(9000, false, Some(3)), elem(9011, true, None)],
        );
        let c = name_counters(&[], &elements);
        let f: Vec<(String, u64, u64)> = c
            .forwards
            .iter()
            .map(|f| {
                (
                    format!("{}/{}", f.proto, f.ports),
                    f.connections,
                    f.traffic.packets,
                )
            })
            .collect();
        assert_eq!(
            f,
            vec![
                ("tcp/8080".to_string(), 2, 10),
                ("tcp/9000-9010".to_string(), 3, 40),
                ("tcp/65000-65535".to_string(), 0, 1)
            ]
        );
    }
}
