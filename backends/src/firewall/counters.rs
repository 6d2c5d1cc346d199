//! The counters of brouter's firewall, read over nfnetlink and named for `status`.
//!
//! The renderer puts a `counter` on every verdict rule of a pair chain, on each judge
//! chain's final drop and on each log rule, and per-element counters on the forward maps
//! and the `<proto>_fwd_traffic` sets (see `render`'s module doc). This file reads them
//! back with two kinds of dumps of `inet brouter` — its rules, and the elements of the six
//! counted sets — and says which forward, zone pair and verdict each count belongs to,
//! from the chain names (`pair.<from>.<to>[.reject]`, `log.<from>.<to>`), the rules'
//! verdicts and log prefixes, and the judge drops' comment.

use std::collections::{BTreeMap, HashMap};
use std::io;

use brouter_engine::config::{Action, PortRange, Proto};
use brouter_engine::{FirewallCounters, ForwardHits, Hits, LogHits, PolicyHits};

use netlink_wire::Socket;
use nft_codec::{dump, Expr, Family, Verdict};

use super::nfnl::table_exists;
use super::render::{counts_elements, fwd_set, traffic_set, Shape, TABLE, UNLISTED};

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

/// One element of a counted set or map: the port its key starts with, whether it ends an
/// interval (the key is then one past the interval's last port), and its counter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElemFacts {
    pub port: Option<u16>,
    pub interval_end: bool,
    pub counter: Option<Hits>,
}

/// Read and name the counters in the namespace of the calling thread; `None` when
/// brouter's `inet` table does not exist.
pub fn read_here() -> io::Result<Option<FirewallCounters>> {
    let sock = nft_codec::open()?;
    if !table_exists(&sock, Family::Inet)? {
        return Ok(None);
    }
    let rules = rules(&sock)?;
    let mut elements = BTreeMap::new();
    for name in counted_sets() {
        let elems = set_elements(&sock, &name)?.iter().map(elem_facts).collect();
        elements.insert(name, elems);
    }
    Ok(Some(name_counters(&rules, &elements)))
}

/// The counts a dump of `inet brouter` carried (see [`super::drift::read_tables`]), not
/// yet named: [`Counts::named`] gives the same answer as [`read_here`], without dumping
/// the table a second time. Kept unnamed because only `status` asks for them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    rules: Vec<RuleFacts>,
    elements: BTreeMap<String, Vec<ElemFacts>>,
}

impl Counts {
    /// Take the counts out of a dump of `inet brouter`.
    pub(super) fn of_dump(inet: &nft_codec::snapshot::Dumped) -> Counts {
        Counts {
            rules: inet.rules().iter().map(rule_facts).collect(),
            elements: counted_sets()
                .map(|name| {
                    let elems = inet.elements(&name).map(elem_facts).collect();
                    (name, elems)
                })
                .collect(),
        }
    }

    /// Say what each count is (see [`name_counters`]).
    pub fn named(&self) -> FirewallCounters {
        name_counters(&self.rules, &self.elements)
    }
}

fn elem_facts(e: &nft_codec::Elem) -> ElemFacts {
    ElemFacts {
        port: port(&e.key),
        interval_end: e.end,
        counter: e.counter.map(|(packets, bytes)| Hits { packets, bytes }),
    }
}

/// The counts of brouter's tables as they are, for the tables that replace them to start
/// from (see [`super::batch::Carry`]); empty if `inet brouter` does not exist.
pub(super) fn carry_on(sock: &Socket) -> io::Result<super::batch::Carry> {
    if !table_exists(sock, Family::Inet)? {
        return Ok(super::batch::Carry::default());
    }
    let mut elements = BTreeMap::new();
    for name in counted_sets() {
        let elems = set_elements(sock, &name)?;
        elements.insert(name, elems);
    }
    Ok(carry(&rules(sock)?, |name| {
        elements.get(name).into_iter().flatten().collect()
    }))
}

/// [`carry_on`] from a dump of `inet brouter` already made (the read-back `start` compared
/// the tables with): a replace that follows needs no second dump of 60,000 elements at
/// 10,000 forwards (~19 ms). What is counted between that read and the replace is lost,
/// as what is counted between a fresh dump and the replace always was.
pub fn carry_of_dump(inet: &nft_codec::snapshot::Dumped) -> super::batch::Carry {
    let rules: Vec<RuleFacts> = inet.rules().iter().map(rule_facts).collect();
    carry(&rules, |name| inet.elements(name).collect())
}

/// The non-zero counts of `rules` and of the counted sets' elements (`elements` lists a
/// set's), keyed as the encoder looks them up.
fn carry<'e>(
    rules: &[RuleFacts],
    elements: impl Fn(&str) -> Vec<&'e nft_codec::Elem>,
) -> super::batch::Carry {
    let mut carry = super::batch::Carry::default();
    let mut seen: HashMap<super::batch::RuleId, usize> = HashMap::new();
    for r in rules {
        let Some(hits) = r.counter else { continue };
        let mut id = super::batch::RuleId {
            chain: r.chain.clone(),
            comment: r.comment.clone(),
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
        for e in elements(&name) {
            let counted = e.counter.filter(|&(packets, bytes)| packets != 0 || bytes != 0);
            if let (false, Some(h)) = (e.end, counted) {
                carry.elements.insert((name.clone(), e.key.clone()), h);
            }
        }
    }
    carry
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

/// What each rule of `inet brouter` says about itself.
fn rules(sock: &Socket) -> io::Result<Vec<RuleFacts>> {
    Ok(dump::rules(sock, Family::Inet, TABLE)?
        .iter()
        .map(rule_facts)
        .collect())
}

/// The chain, comment, counter, verdict and log prefix of a rule.
fn rule_facts(rule: &nft_codec::Rule) -> RuleFacts {
    let mut r = RuleFacts {
        chain: rule.chain.clone(),
        comment: rule.comment().map(String::from),
        ..RuleFacts::default()
    };
    for e in &rule.exprs {
        match e {
            Expr::Counter { packets, bytes } => {
                r.counter = Some(Hits {
                    packets: *packets,
                    bytes: *bytes,
                })
            }
            Expr::Reject { .. } => r.verdict = Some(Action::Reject),
            Expr::Log { prefix } => r.log_prefix = prefix.clone(),
            Expr::Immediate(Verdict::Accept) => r.verdict = Some(Action::Accept),
            Expr::Immediate(Verdict::Drop) => r.verdict = Some(Action::Drop),
            _ => {}
        }
    }
    r
}

/// The elements of one counted set of `inet brouter` (none if the set does not exist).
fn set_elements(sock: &Socket, set: &str) -> io::Result<Vec<nft_codec::Elem>> {
    match dump::elements(sock, Family::Inet, TABLE, set) {
        Ok(e) => Ok(e),
        // Tables written before brouter counted forwards lack the traffic sets.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(vec![]),
        Err(e) => Err(e),
    }
}

fn port(key: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(key.get(..2)?.try_into().ok()?))
}

/// Say what each count is: forwards from the counted sets, policy hits and log lines from
/// the pair and log chains, unlisted drops from the judges' final rules.
pub fn name_counters(rules: &[RuleFacts], elements: &BTreeMap<String, Vec<ElemFacts>>) -> FirewallCounters {
    let mut c = FirewallCounters::default();
    name_rules(rules, &mut c);
    for proto in [Proto::Tcp, Proto::Udp] {
        c.forwards.extend(forwards(proto, elements));
    }
    c.forwards.sort_by_key(|f| (f.proto, f.ports));
    c
}

/// Policy hits, log lines and unlisted drops from the counted rules.
fn name_rules(rules: &[RuleFacts], c: &mut FirewallCounters) {
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
}

/// The forwards of `proto`: traffic from the `_fwd_traffic` sets, connections from the
/// DNAT maps' element counters (by first port).
fn forwards(proto: Proto, elements: &BTreeMap<String, Vec<ElemFacts>>) -> Vec<ForwardHits> {
    let empty = Vec::new();
    let get = |name: String| elements.get(&name).unwrap_or(&empty);
    // By first port; a hash map: 10,000 forwards.
    let mut connections: HashMap<u16, u64> = HashMap::new();
    for shape in Shape::ALL {
        for name in [fwd_set(proto, shape, "addr"), fwd_set(proto, shape, "keep")] {
            for e in get(name).iter().filter(|e| !e.interval_end) {
                if let (Some(p), Some(h)) = (e.port, e.counter) {
                    *connections.entry(p).or_default() += h.packets;
                }
            }
        }
    }
    let forward = |first: u16, last: u16, e: &ElemFacts| ForwardHits {
        proto,
        ports: PortRange { first, last },
        connections: connections.get(&first).copied().unwrap_or(0),
        traffic: e.counter.unwrap_or_default(),
    };
    let mut out = vec![];
    // Single ports: one element each.
    for e in get(traffic_set(proto, Shape::Port)).iter() {
        let Some(p) = e.port else { continue };
        out.push(forward(p, p, e));
    }
    // Ranges: an interval's start element, and its end one past the last port.
    let traffic = get(traffic_set(proto, Shape::Range));
    let mut ends: Vec<u32> = traffic
        .iter()
        .filter(|e| e.interval_end)
        .filter_map(|e| e.port.map(u32::from))
        .collect();
    ends.sort_unstable();
    for e in traffic.iter().filter(|e| !e.interval_end) {
        let Some(first) = e.port else { continue };
        // A range up to 65535 has no end element.
        let last = ends
            .iter()
            .find(|&&end| end > u32::from(first))
            .map(|end| (end - 1) as u16)
            .unwrap_or(u16::MAX);
        out.push(forward(first, last, e));
    }
    out
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
            port: Some(port),
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
