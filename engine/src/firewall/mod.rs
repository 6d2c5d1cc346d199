//! The zone firewall as a backend-neutral model, and the evaluator that walks it.
//!
//! [`compile`] turns a validated config into a [`Ruleset`] (the IR); the nftables backend
//! renders it, the simulator holds it, and [`explain`] walks one flow through it the way
//! the kernel would. Anti-spoofing [`Binding`]s are dynamic (Xen hotplug) and live beside
//! the ruleset, not in it, so a `vif online` never rewrites the tables.

mod compile;
mod eval;
mod flow;
mod ir;
mod trace;

pub use compile::{binding_for, bindings_to_keep, compile};
pub use eval::{explain, ExplainError, EXTERNAL_EXAMPLE};
pub use flow::{Address, ExplainContext, Flow};
pub use ir::{
    log_prefix, service_matches, Binding, DeclaredHost, External, FlowProto, NetZone, PairDecision,
    PairPolicy, PortForward, Ruleset,
};
pub use trace::{Delivery, Step, StepKind, Trace};

/// FNV-1a, 64 bit: stable across Rust versions (unlike `DefaultHasher`).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}
