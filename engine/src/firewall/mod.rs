//! The zone firewall as a backend-neutral model (filled in by the firewall work).
//!
//! The seam exists from the start so `Desired`, the planner and both backends already
//! carry a firewall: the planner replaces it as one operation when its fingerprint differs.

use serde::{Deserialize, Serialize};

/// brouter's whole firewall, as one value that is applied atomically.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ruleset {}

impl Ruleset {
    /// A stable digest of the ruleset; the backend stores it with the tables so a
    /// converged `start` can compare instead of rewriting.
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_string(self).expect("ruleset serialises");
        format!("{:016x}", fnv1a64(json.as_bytes()))
    }
}

/// FNV-1a, 64 bit: stable across Rust versions (unlike `DefaultHasher`).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}
