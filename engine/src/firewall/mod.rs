//! The zone firewall as a backend-neutral model, and the evaluator that walks it.
//!
//! [`compile`] turns a validated config into a [`Ruleset`] (the IR); the nftables backend
//! renders it, the simulator holds it, and [`explain`] walks one flow through it the way
//! the kernel would. Anti-spoofing [`Binding`]s are dynamic (Xen hotplug) and live beside
//! the ruleset, not in it, so a `vif online` never rewrites the tables.

mod compile;
mod eval;
mod flow;
mod index;
mod ir;
mod trace;

pub use compile::{binding_for, bindings_to_keep, compile, declares, refreshed, slaac_address};
pub use eval::{explain, explain_live, ExplainError, EXTERNAL_EXAMPLE, EXTERNAL_EXAMPLE6};
pub use flow::{Address, ExplainContext, Flow};
pub use index::ZoneIndex;
pub use ir::{
    log_prefix, parse_entry, service_matches, show_entry, Binding, DeclaredHost, External, FlowProto,
    NetZone, Overlay, PairDecision, PairPolicy, PortForward, Ruleset,
};
pub use trace::{Delivery, Step, StepKind, Trace};

/// A 64-bit digest (XXH3): stable across Rust versions and releases (unlike
/// `DefaultHasher`), and fast enough that hashing a config file of 10,000 forwards on every
/// converged `start` costs microseconds (FNV-1a, byte by byte, cost ~0.6 ms there).
pub fn digest64(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}
