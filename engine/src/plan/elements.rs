//! Element-level firewall updates: what the read-back found between brouter's tables and
//! what the desired ruleset installs, when only the elements of named sets and maps
//! differ.
//!
//! Why: forwards, hosts and the like are elements of named sets and maps, so a change to
//! one of them (or an element somebody edited) needs only those elements added and
//! deleted, in one transaction: the table, its chains, its rules and their counters stay.
//! Rewriting the whole table for it costs a full reload (10,000 forwards: tens of ms, and
//! every counter). The backend translates its tables into this vocabulary (which set,
//! which elements, readable and in its own wire form); the planner decides between this
//! and a replacement.

use serde::{Deserialize, Serialize};

use crate::config::Proto;

/// What brouter's tables hold against what the desired ruleset installs, as the backend
/// read it back. Made only when brouter's tables exist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallDelta {
    /// Something elements cannot repair differs: a table, chain, rule or set definition
    /// (then the tables are replaced).
    pub structural: bool,
    /// The element changes, one entry per set or map that differs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sets: Vec<SetDelta>,
    /// The forwards (protocol and first external port) whose elements the update adds or
    /// changes: new or changed in this apply, so their stale flows are forgotten.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forwards: Vec<(Proto, u16)>,
    /// Every difference in the backend's words, one line each (what `status` names as
    /// drift while the tables carry the desired fingerprint).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
}

impl FirewallDelta {
    /// Whether element updates can take the tables to the desired ruleset.
    pub fn elements_only(&self) -> bool {
        !self.structural
    }

    /// How many elements the update adds and deletes.
    pub fn counts(&self) -> (usize, usize) {
        self.sets
            .iter()
            .fold((0, 0), |(a, d), s| (a + s.add.len(), d + s.delete.len()))
    }
}

/// The elements of one named set or map to delete, then add (a changed map element is
/// both: the kernel does not overwrite an element's data).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetDelta {
    /// The table's family (`inet`, `bridge`; the simulator's own name in the sim).
    pub family: String,
    pub set: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<Element>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delete: Vec<Element>,
}

/// One element: how it reads (`8080 : 10.1.0.5`) and the backend's own encoding of it,
/// which only the backend that read it interprets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Element {
    pub shown: String,
    pub wire: String,
}

/// At most this many elements of one set are spelled out in a plan line.
const SHOWN: usize = 3;

/// `set inet tcp_fwd_addr: +8081 : 10.1.0.5, -8080 : 10.1.0.5` (a long list cut short).
pub fn describe(s: &SetDelta) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (sign, list) in [("-", &s.delete), ("+", &s.add)] {
        parts.extend(list.iter().take(SHOWN).map(|e| format!("{sign}{}", e.shown)));
        if list.len() > SHOWN {
            parts.push(format!("{sign}{} more", list.len() - SHOWN));
        }
    }
    format!("{} {}: {}", s.family, s.set, parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(s: &str) -> Element {
        Element {
            shown: s.into(),
            wire: String::new(),
        }
    }

    #[test]
    fn a_set_delta_reads_as_its_elements_and_long_lists_are_cut() {
        let s = SetDelta {
            family: "inet".into(),
            set: "tcp_fwd_addr".into(),
            add: vec![el("8081 : 10.1.0.5")],
            delete: vec![el("1"), el("2"), el("3"), el("4"), el("5")],
        };
        assert_eq!(
            describe(&s),
            "inet tcp_fwd_addr: -1, -2, -3, -2 more, +8081 : 10.1.0.5"
        );
    }
}
