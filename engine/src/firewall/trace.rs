//! The answer `explain` gives: named steps, Batfish style, and a disposition.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::flow::{Address, Flow};
use crate::config::Action;

/// Which stage of the kernel's path a step describes, in the order a packet meets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Where the packet enters, with which source.
    Enter,
    /// The bridge-family anti-spoofing check of a bound vif.
    AntiSpoof,
    /// Switched inside one network's bridge.
    Bridged,
    /// Prerouting destination NAT (a port forward).
    Dnat,
    /// The routing decision: local delivery or the outgoing interface and zone.
    Route,
    /// The filter hook's decision: which policy or rule matched.
    Filter,
    /// Postrouting source NAT (masquerade, hairpin).
    Snat,
    /// Where it arrives and what the receiver sees.
    Deliver,
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StepKind::Enter => "enter",
            StepKind::AntiSpoof => "anti-spoof",
            StepKind::Bridged => "bridge",
            StepKind::Dnat => "dnat",
            StepKind::Route => "route",
            StepKind::Filter => "filter",
            StepKind::Snat => "snat",
            StepKind::Deliver => "deliver",
        })
    }
}

/// One step of the path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub kind: StepKind,
    pub detail: String,
}

/// Where an accepted flow arrives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The receiving zone (`dom0` for local delivery).
    pub zone: String,
    /// The destination after DNAT.
    pub addr: Address,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The source address the receiver sees (after SNAT).
    pub source: Address,
}

/// The whole answer for one flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    pub flow: Flow,
    pub steps: Vec<Step>,
    pub verdict: Action,
    /// Set when the verdict is accept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered: Option<Delivery>,
}

impl Trace {
    /// The source address the receiver sees, if the flow gets there.
    pub fn seen_source(&self) -> Option<Address> {
        self.delivered.as_ref().map(|d| d.source)
    }

    /// The step of a kind, if the flow met it.
    pub fn step(&self, kind: StepKind) -> Option<&Step> {
        self.steps.iter().find(|s| s.kind == kind)
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "flow: {}", self.flow)?;
        for (i, s) in self.steps.iter().enumerate() {
            writeln!(f, "  {:>2}. {:<10} {}", i + 1, s.kind.to_string(), s.detail)?;
        }
        write!(f, "verdict: {}", self.verdict.to_string().to_uppercase())?;
        if let Some(d) = &self.delivered {
            write!(f, " — arrives in {} at {}", d.zone, d.addr.with_port(d.port))?;
            write!(f, ", seen from {}", d.source)?;
        }
        Ok(())
    }
}
