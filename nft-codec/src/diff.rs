//! What differs between two [`TableContents`]: the chains, rules, sets and elements one
//! has and the other lacks or holds differently.
//!
//! Why: a tool that owns a table must notice when somebody edited it — a rule inserted
//! at the top of a chain, a set flushed, a map element changed — and name each change,
//! not only say "different". Rules are compared as sequences (order is meaning in a
//! chain), elements as sorted sets keyed by their key bytes.

use std::fmt;

use crate::model::{Elem, ElemData, Rule, Verdict};
use crate::snapshot::{hex, TableContents};
use crate::Expr;

/// One difference between what a table should hold (`want`) and what it holds (`have`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    ChainMissing(String),
    ChainExtra(String),
    /// Same name, another type, hook, priority or policy.
    ChainChanged(String),
    /// A wanted rule not found at (or around) position `index` (0-based) of `chain`.
    RuleMissing {
        chain: String,
        index: usize,
        rule: Rule,
    },
    /// A rule nobody wanted, at position `index` of `chain` as found.
    RuleExtra {
        chain: String,
        index: usize,
        rule: Rule,
    },
    SetMissing(String),
    SetExtra(String),
    /// Same name, another key type, data type or flags.
    SetChanged(String),
    ElemMissing {
        set: String,
        elem: Elem,
    },
    ElemExtra {
        set: String,
        elem: Elem,
    },
    /// Same key, other data.
    ElemChanged {
        set: String,
        want: Elem,
        have: Elem,
    },
}

impl Difference {
    /// The set an element difference is about.
    pub fn set(&self) -> Option<&str> {
        match self {
            Difference::ElemMissing { set, .. }
            | Difference::ElemExtra { set, .. }
            | Difference::ElemChanged { set, .. } => Some(set),
            _ => None,
        }
    }
}

/// Every difference between `want` and `have`; `compare_elements` says which sets'
/// elements to compare (the others' definitions are still compared).
pub fn diff(
    want: &TableContents,
    have: &TableContents,
    compare_elements: &dyn Fn(&str) -> bool,
) -> Vec<Difference> {
    let mut out = vec![];
    for (name, c) in &want.chains {
        match have.chains.get(name) {
            None => out.push(Difference::ChainMissing(name.clone())),
            Some(h) if h.base != c.base => out.push(Difference::ChainChanged(name.clone())),
            Some(_) => {}
        }
    }
    for name in have.chains.keys().filter(|n| !want.chains.contains_key(*n)) {
        out.push(Difference::ChainExtra(name.clone()));
    }
    let empty = vec![];
    for (chain, w) in &want.rules {
        if !have.chains.contains_key(chain) {
            continue;
        }
        rules(chain, w, have.rules.get(chain).unwrap_or(&empty), &mut out);
    }
    for (name, s) in &want.sets {
        match have.sets.get(name) {
            None => {
                out.push(Difference::SetMissing(name.clone()));
                continue;
            }
            Some(h)
                if (h.flags, h.key, h.data, &h.udata, h.counter)
                    != (s.flags, s.key, s.data, &s.udata, s.counter) =>
            {
                out.push(Difference::SetChanged(name.clone()));
                continue;
            }
            Some(_) => {}
        }
        if compare_elements(name) {
            elements(
                name,
                want.elements.get(name).unwrap_or(&vec![]),
                have.elements.get(name).unwrap_or(&vec![]),
                &mut out,
            );
        }
    }
    for name in have.sets.keys().filter(|n| !want.sets.contains_key(*n)) {
        out.push(Difference::SetExtra(name.clone()));
    }
    out
}

/// The rules of one chain, as sequences: what a longest common subsequence leaves over.
fn rules(chain: &str, want: &[Rule], have: &[Rule], out: &mut Vec<Difference>) {
    if want == have {
        return;
    }
    let (n, m) = (want.len(), have.len());
    // lcs[i][j]: the longest common subsequence of want[i..] and have[j..].
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if want[i] == have[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && want[i] == have[j] {
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(Difference::RuleExtra {
                chain: chain.to_string(),
                index: j,
                rule: have[j].clone(),
            });
            j += 1;
        } else {
            out.push(Difference::RuleMissing {
                chain: chain.to_string(),
                index: i,
                rule: want[i].clone(),
            });
            i += 1;
        }
    }
}

/// The elements of one set, both sorted by key: a merge.
fn elements(set: &str, want: &[Elem], have: &[Elem], out: &mut Vec<Difference>) {
    if want == have {
        return;
    }
    let key = |e: &Elem| (e.key.clone(), e.end);
    let (mut i, mut j) = (0, 0);
    while i < want.len() || j < have.len() {
        let order = match (want.get(i), have.get(j)) {
            (Some(w), Some(h)) => key(w).cmp(&key(h)),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                out.push(Difference::ElemMissing {
                    set: set.to_string(),
                    elem: want[i].clone(),
                });
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(Difference::ElemExtra {
                    set: set.to_string(),
                    elem: have[j].clone(),
                });
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                if want[i] != have[j] {
                    out.push(Difference::ElemChanged {
                        set: set.to_string(),
                        want: want[i].clone(),
                        have: have[j].clone(),
                    });
                }
                i += 1;
                j += 1;
            }
        }
    }
}

/// A rule in a few words: its comment, else its expressions' names and its verdict.
pub fn describe_rule(r: &Rule) -> String {
    if let Some(c) = r.comment() {
        return format!("\"{c}\"");
    }
    let parts: Vec<String> = r
        .exprs
        .iter()
        .map(|e| match e {
            Expr::Immediate(v) => verdict(v),
            Expr::Lookup { set, .. } if !set.starts_with('{') => format!("lookup @{set}"),
            other => other.name().to_string(),
        })
        .collect();
    parts.join(" ")
}

fn verdict(v: &Verdict) -> String {
    match v {
        Verdict::Accept => "accept".into(),
        Verdict::Drop => "drop".into(),
        Verdict::Continue => "continue".into(),
        Verdict::Return => "return".into(),
        Verdict::Jump(c) => format!("jump {c}"),
        Verdict::Goto(c) => format!("goto {c}"),
        Verdict::Other(c) => format!("verdict {c}"),
    }
}

/// An element in hex (`key` and `-> data`).
pub fn describe_elem(e: &Elem) -> String {
    let mut s = hex(&e.key);
    if e.end {
        s.push_str(" (interval end)");
    }
    match &e.data {
        Some(ElemData::Value(v)) => s.push_str(&format!(" -> {}", hex(v))),
        Some(ElemData::Verdict(v)) => s.push_str(&format!(" -> {}", verdict(v))),
        None => {}
    }
    s
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::ChainMissing(c) => write!(f, "chain {c} is missing"),
            Difference::ChainExtra(c) => write!(f, "chain {c} was added"),
            Difference::ChainChanged(c) => write!(f, "chain {c} has another hook, priority or policy"),
            Difference::RuleMissing { chain, index, rule } => {
                write!(
                    f,
                    "chain {chain}: rule {} ({}) is missing",
                    index + 1,
                    describe_rule(rule)
                )
            }
            Difference::RuleExtra { chain, index, rule } => {
                write!(
                    f,
                    "chain {chain}: rule {} ({}) was added",
                    index + 1,
                    describe_rule(rule)
                )
            }
            Difference::SetMissing(s) => write!(f, "set {s} is missing"),
            Difference::SetExtra(s) => write!(f, "set {s} was added"),
            Difference::SetChanged(s) => write!(f, "set {s} has another type or flags"),
            Difference::ElemMissing { set, elem } => {
                write!(f, "set {set}: element {} is missing", describe_elem(elem))
            }
            Difference::ElemExtra { set, elem } => {
                write!(f, "set {set}: element {} was added", describe_elem(elem))
            }
            Difference::ElemChanged { set, want, have } => write!(
                f,
                "set {set}: element {} was changed to {}",
                describe_elem(want),
                describe_elem(have)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Family, Set, SetType};

    fn rule(chain: &str, v: Verdict) -> Rule {
        Rule {
            family: Family::Inet,
            table: "t".into(),
            chain: chain.into(),
            handle: None,
            exprs: vec![Expr::Immediate(v)],
            userdata: None,
        }
    }

    fn table() -> TableContents {
        let mut t = TableContents::default();
        t.chains.insert(
            "c".into(),
            crate::model::Chain {
                family: Family::Inet,
                table: "t".into(),
                name: "c".into(),
                base: None,
            },
        );
        t.rules.insert(
            "c".into(),
            vec![rule("c", Verdict::Drop), rule("c", Verdict::Return)],
        );
        t.sets.insert(
            "s".into(),
            Set {
                family: Family::Inet,
                table: "t".into(),
                name: "s".into(),
                id: None,
                flags: 0,
                key: SetType { type_id: 7, len: 4 },
                data: None,
                size: None,
                fields: vec![],
                udata: vec![],
                counter: false,
            },
        );
        t.elements
            .insert("s".into(), vec![Elem::key(vec![1]), Elem::key(vec![2])]);
        t
    }

    #[test]
    fn identical_tables_differ_in_nothing() {
        assert!(diff(&table(), &table(), &|_| true).is_empty());
    }

    #[test]
    fn an_inserted_top_rule_is_named_as_added_at_position_one() {
        let mut have = table();
        have.rules
            .get_mut("c")
            .unwrap()
            .insert(0, rule("c", Verdict::Accept));
        let d = diff(&table(), &have, &|_| true);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].to_string(), "chain c: rule 1 (accept) was added");
    }

    #[test]
    fn flushed_changed_and_added_elements_are_each_named() {
        let mut have = table();
        have.elements
            .insert("s".into(), vec![Elem::key(vec![2]), Elem::key(vec![3])]);
        let d = diff(&table(), &have, &|_| true);
        assert_eq!(
            d.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["set s: element 01 is missing", "set s: element 03 was added"]
        );
        assert!(
            diff(&table(), &have, &|s| s != "s").is_empty(),
            "elements not compared"
        );
        let mut changed = table();
        changed.elements.get_mut("s").unwrap()[0].data = Some(ElemData::Value(vec![9]));
        let d = diff(&table(), &changed, &|_| true);
        assert!(matches!(d[0], Difference::ElemChanged { .. }), "{d:?}");
    }

    #[test]
    fn a_deleted_rule_and_a_deleted_chain_are_missing() {
        let mut have = table();
        have.rules.get_mut("c").unwrap().remove(1);
        let d = diff(&table(), &have, &|_| true);
        assert_eq!(d[0].to_string(), "chain c: rule 2 (return) is missing");
        have.chains.clear();
        let d = diff(&table(), &have, &|_| true);
        assert_eq!(d, vec![Difference::ChainMissing("c".into())]);
    }
}
