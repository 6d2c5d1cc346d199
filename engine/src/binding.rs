//! The anti-spoofing binding of one vif: both a firewall input (what `start` re-inserts
//! with the tables) and observed state (what the kernel's sets hold). It lives apart from
//! `firewall` and `model` so that each can use it without using the other.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// A live anti-spoofing binding: the vif Xen attached, and the only MAC and IPv4
/// addresses it may use as source (Ethernet, IP and ARP sender). A bound vif whose
/// `addrs` is empty may send no IP and no ARP at all. Vifs without a binding are not
/// guarded: the hotplug hook binds every vif it attaches to an anti-spoofing network.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Binding {
    pub vif: String,
    /// Lower-case `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    pub addrs: Vec<Ipv4Addr>,
}
