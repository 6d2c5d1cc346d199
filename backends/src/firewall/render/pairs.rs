//! The zone pairs' chains: one chain per listed pair (its services with its action, the
//! rest dropped), a reject chain for a logged `reject` with services, and a one-rule log
//! chain per logged unlisted pair; and the verdict the judges' maps give each pair.

use brouter_engine::config::{Action, Service, ZONE_DOM0, ZONE_EXTERNAL};
use brouter_engine::firewall::log_prefix;
use brouter_engine::firewall::{PairDecision, PairPolicy, Ruleset, ZoneIndex};
use nftables::expr::MetaKey;
use nftables::stmt::{Limit, Log, Statement};

use super::builder::Builder;
use super::{log_chain, pair_chain, reject_chain};
use crate::firewall::expr::*;

/// Whether a listed pair needs its [`reject_chain`].
pub(super) fn needs_reject_chain(p: &PairPolicy) -> bool {
    p.log && p.action == Action::Reject && !p.services.is_empty()
}

/// The unlisted zone pairs whose drops are logged, in a stable order.
pub(super) fn logged_unlisted(rs: &Ruleset) -> Vec<(String, String)> {
    if !rs.log.drops {
        return vec![];
    }
    let ix = rs.index();
    let mut zones = vec![ZONE_EXTERNAL.to_string(), ZONE_DOM0.to_string()];
    zones.extend(rs.networks.iter().map(|n| n.name.clone()));
    let mut out = vec![];
    for f in &zones {
        for t in &zones {
            if matches!(ix.decide(f, t), PairDecision::Unlisted) {
                out.push((f.clone(), t.clone()));
            }
        }
    }
    out.sort();
    out
}

/// The vmap verdict of a zone pair: `goto` its chain, `accept` inside one zone; when
/// unlisted, `jump` to its log chain if its drops are logged (the judge chain's final
/// drop follows on return), else none (that drop applies directly).
pub(super) fn pair_verdict(ix: &ZoneIndex, from: &str, to: &str) -> Option<Stmt> {
    match ix.decide(from, to) {
        PairDecision::Listed(p) => Some(goto(&pair_chain(&p.from, &p.to))),
        PairDecision::SameZone | PairDecision::NotJudged => Some(accept()),
        PairDecision::Unlisted if ix.rs.log.drops => Some(jump(&log_chain(from, to))),
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

/// The log chain of an unlisted pair whose drops are logged: its one log rule.
pub(super) fn unlisted_log_rule(b: &mut Builder, rs: &Ruleset, from: &str, to: &str) {
    log_rule(b, rs, &log_chain(from, to), from, to, Action::Drop);
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
pub(super) fn pair_rules(b: &mut Builder, rs: &Ruleset, p: &PairPolicy) {
    let chain = pair_chain(&p.from, &p.to);
    let verdict = services_verdict(b, rs, p);
    let with = |mut m: Vec<Stmt>| {
        m.extend(verdict.iter().cloned());
        m
    };
    let (mut tcp, mut udp, mut icmp) = (vec![], vec![], false);
    for s in &p.services {
        match s {
            Service::Tcp(r) => tcp.push(port_elem(r.first, r.last)),
            Service::Udp(r) => udp.push(port_elem(r.first, r.last)),
            Service::Icmp => icmp = true,
        }
    }
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
        // `icmp` covers both ICMP versions.
        b.rule(&chain, with(vec![eq(meta(MetaKey::L4proto), str("icmp"))]), None);
        if rs.has_ipv6() {
            b.rule(
                &chain,
                with(vec![eq(meta(MetaKey::L4proto), str("icmpv6"))]),
                None,
            );
        }
    }
    if p.services.is_empty() {
        b.rule(&chain, with(vec![]), None);
    } else {
        if p.log && p.action != Action::Drop {
            log_rule(b, rs, &chain, p.from.as_str(), p.to.as_str(), Action::Drop);
        }
        b.rule(
            &chain,
            vec![counter(), drop()],
            Some("not among the policy's services".into()),
        );
    }
}

/// The statements that end a rule matching one of the pair's services: count and apply
/// the action. A logged refusal logs first: in the pair chain itself, or (a logged
/// `reject` with services) in its reject chain, whose rules this adds.
fn services_verdict(b: &mut Builder, rs: &Ruleset, p: &PairPolicy) -> Vec<Stmt> {
    let (from, to) = (p.from.as_str(), p.to.as_str());
    if !p.log || p.action == Action::Accept {
        return vec![counter(), action_stmt(p.action)];
    }
    if needs_reject_chain(p) {
        // Services are rejected, the rest dropped: each refusal logs under its own name.
        let sub = reject_chain(from, to);
        log_rule(b, rs, &sub, from, to, Action::Reject);
        b.rule(&sub, vec![counter(), action_stmt(Action::Reject)], None);
        vec![goto(&sub)]
    } else {
        // Everything this chain sees is refused with the action: log it first.
        log_rule(b, rs, &pair_chain(from, to), from, to, p.action);
        vec![counter(), action_stmt(p.action)]
    }
}
