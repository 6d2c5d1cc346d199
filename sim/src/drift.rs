//! Drift in brouter's own nftables objects, as an admin, a firewall service or a foreign
//! script makes it — and what the kernel backend's read-back then says.
//!
//! The simulator keeps brouter's tables as the engine's IR (not as nf_tables objects), so
//! an edit here is recorded as the line the kernel backend's read-back would print for it
//! (`backends/src/firewall/drift.rs`, the grammar of `nft_codec::Difference`): `status`
//! names it, `start` sees the tables differ and rewrites them, and a rewrite or delete
//! ends it — exactly the cycle the real tables go through. Element drift in the binding
//! sets is not a line: the kernel backend reads bindings back as [`Observed::bindings`],
//! so here it edits [`Kernel::bindings`] itself.
//!
//! [`Observed::bindings`]: brouter_engine::Observed::bindings

use serde::{Deserialize, Serialize};

use crate::kernel::Kernel;

/// One of brouter's two tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Family {
    Inet,
    Bridge,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Bridge => "bridge",
        }
    }
}

/// One edit somebody else makes inside brouter's tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FirewallDrift {
    /// `nft delete table <family> brouter`: the other table stays, so the two no longer
    /// carry the same fingerprint.
    TableDeleted(Family),
    /// `nft flush ruleset`: both tables gone, and the bindings with them.
    RulesetFlushed,
    /// A chain nobody wanted (`nft add chain inet brouter extra`).
    ChainAdded { family: Family, chain: String },
    /// A base chain given another hook, priority or policy (`policy drop`).
    ChainChanged { family: Family, chain: String },
    /// A rule inserted at the top of a chain (`nft insert rule … accept`).
    RuleInserted {
        family: Family,
        chain: String,
        rule: String,
    },
    /// The `index`-th (0-based) rule of a chain deleted.
    RuleDeleted {
        family: Family,
        chain: String,
        index: usize,
        rule: String,
    },
    /// A set or map nobody wanted.
    SetAdded { family: Family, set: String },
    /// An element deleted from a set or map (one `elem` of `nft flush set`).
    ElementDeleted {
        family: Family,
        set: String,
        elem: String,
    },
    /// An element nobody wanted added to a set or map.
    ElementAdded {
        family: Family,
        set: String,
        elem: String,
    },
    /// A map element given other data (a DNAT target changed): `elem` and `to` as the
    /// read-back describes an element (`key -> data`).
    ElementChanged {
        family: Family,
        set: String,
        elem: String,
        to: String,
    },
    /// A vif's anti-spoofing binding deleted from the binding sets.
    BindingDeleted { vif: String },
    /// A vif's binding replaced by one with another MAC (what a spoofer would want).
    BindingChanged { vif: String, mac: String },
}

impl FirewallDrift {
    /// The read-back's line for this edit (`None` for edits that are not lines: tables
    /// gone show as a fingerprint, bindings as [`Kernel::bindings`]).
    pub fn line(&self) -> Option<String> {
        let t = |f: &Family| format!("table {} brouter", f.name());
        Some(match self {
            FirewallDrift::TableDeleted(_)
            | FirewallDrift::RulesetFlushed
            | FirewallDrift::BindingDeleted { .. }
            | FirewallDrift::BindingChanged { .. } => return None,
            FirewallDrift::ChainAdded { family, chain } => format!("{}: chain {chain} was added", t(family)),
            FirewallDrift::ChainChanged { family, chain } => {
                format!(
                    "{}: chain {chain} has another hook, priority or policy",
                    t(family)
                )
            }
            FirewallDrift::RuleInserted { family, chain, rule } => {
                format!("{}: chain {chain}: rule 1 ({rule}) was added", t(family))
            }
            FirewallDrift::RuleDeleted {
                family,
                chain,
                index,
                rule,
            } => {
                format!(
                    "{}: chain {chain}: rule {} ({rule}) is missing",
                    t(family),
                    index + 1
                )
            }
            FirewallDrift::SetAdded { family, set } => format!("{}: set {set} was added", t(family)),
            FirewallDrift::ElementDeleted { family, set, elem } => {
                format!("{}: set {set}: element {elem} is missing", t(family))
            }
            FirewallDrift::ElementAdded { family, set, elem } => {
                format!("{}: set {set}: element {elem} was added", t(family))
            }
            FirewallDrift::ElementChanged {
                family,
                set,
                elem,
                to,
            } => {
                format!("{}: set {set}: element {elem} was changed to {to}", t(family))
            }
        })
    }
}

/// What is left of somebody's edits until brouter rewrites or deletes its tables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftState {
    /// The read-back's lines, in the order the edits were made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
    /// The one table that is gone (the other is still there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_gone: Option<Family>,
}

impl DriftState {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.table_gone.is_none()
    }
}

impl Kernel {
    /// Make `edit` to brouter's tables as somebody else would. Nothing happens without the
    /// tables (there is nothing to edit), except that a flush of the ruleset is a flush.
    pub fn drift(&mut self, edit: &FirewallDrift) {
        if self.firewall.is_none() {
            return;
        }
        match edit {
            FirewallDrift::RulesetFlushed => self.delete_firewall(),
            FirewallDrift::TableDeleted(f) => match self.drift.table_gone {
                Some(gone) if gone != *f => self.delete_firewall(),
                _ => {
                    self.drift.table_gone = Some(*f);
                    if *f == Family::Bridge {
                        // The binding sets live in the bridge table.
                        self.bindings.clear();
                    }
                }
            },
            FirewallDrift::BindingDeleted { vif } => {
                self.bindings.remove(vif);
            }
            FirewallDrift::BindingChanged { vif, mac } => {
                if let Some(b) = self.bindings.get_mut(vif) {
                    b.mac = mac.clone();
                }
            }
            FirewallDrift::RuleInserted { family, chain, rule } if self.drift.table_gone != Some(*family) => {
                // Each rule inserted at the top pushes the earlier ones down: the read-back
                // names them rule 1, 2, … of the chain.
                let prefix = format!("table {} brouter: chain {chain}: rule ", family.name());
                let n = self
                    .drift
                    .lines
                    .iter()
                    .filter(|l| l.starts_with(&prefix) && l.ends_with(" was added"))
                    .count();
                self.drift
                    .lines
                    .push(format!("{prefix}{} ({rule}) was added", n + 1));
            }
            other => {
                let line = other.line().expect("an edit inside a table is a line");
                // Edits inside a table that is gone have nowhere to go.
                let family = family_of(other);
                if family.is_some() && family == self.drift.table_gone {
                    return;
                }
                if !self.drift.lines.contains(&line) {
                    self.drift.lines.push(line);
                }
            }
        }
    }

    /// The read-back's lines (the old single-line form included).
    pub fn drift_lines(&self) -> Vec<String> {
        self.firewall_edited
            .iter()
            .chain(&self.drift.lines)
            .cloned()
            .collect()
    }

    /// The fingerprint `observe` reports: the ruleset's, or — with one table gone — one
    /// no ruleset has, as the kernel backend reads two tables that disagree.
    pub(crate) fn observed_fingerprint(&self) -> Option<String> {
        let fp = self.firewall.as_ref()?.fingerprint();
        Some(match self.drift.table_gone {
            None => fp,
            Some(Family::Inet) => format!("inconsistent(inet None, bridge Some(Some({fp:?})))"),
            Some(Family::Bridge) => format!("inconsistent(inet Some(Some({fp:?})), bridge None)"),
        })
    }

    /// Whether the binding sets exist: they live in the bridge table.
    pub(crate) fn binding_sets_exist(&self) -> bool {
        self.firewall.is_some() && self.drift.table_gone != Some(Family::Bridge)
    }

    /// Whether anything inside the tables differs from what brouter wrote (for the digest).
    pub(crate) fn tables_edited(&self) -> bool {
        self.firewall_edited.is_some() || !self.drift.is_empty()
    }
}

fn family_of(d: &FirewallDrift) -> Option<Family> {
    match d {
        FirewallDrift::ChainAdded { family, .. }
        | FirewallDrift::ChainChanged { family, .. }
        | FirewallDrift::RuleInserted { family, .. }
        | FirewallDrift::RuleDeleted { family, .. }
        | FirewallDrift::SetAdded { family, .. }
        | FirewallDrift::ElementDeleted { family, .. }
        | FirewallDrift::ElementAdded { family, .. }
        | FirewallDrift::ElementChanged { family, .. } => Some(*family),
        _ => None,
    }
}
