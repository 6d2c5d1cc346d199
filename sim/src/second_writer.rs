//! A second writer: another process (an admin's `ip`, a network manager, a firewall
//! service) changing the kernel between brouter's observe and its apply — the race a
//! lock cannot exclude, because the other process takes no lock.
//!
//! [`SimBackend::interleave`](crate::SimBackend::interleave) makes the edit just before
//! brouter's k-th operation, so that operation meets a kernel its plan did not see.

use brouter_engine::LinkKind;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::drift::FirewallDrift;
use crate::kernel::Kernel;

/// One change another process makes. Whatever it does not find, it leaves alone (its own
/// error is not brouter's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ForeignEdit {
    /// `ip link add NAME type bridge|veth` (up or not).
    AddLink { name: String, bridge: bool, up: bool },
    /// `ip link del NAME` — brouter's own bridge included.
    DeleteLink { name: String },
    /// `ip link set NAME up|down`.
    SetUp { name: String, up: bool },
    /// `ip addr add ADDR dev LINK` (with its prefix route).
    AddAddress { link: String, addr: Ipv4Net },
    /// `ip addr del ADDR dev LINK`, whoever added it.
    DeleteAddress { link: String, addr: Ipv4Net },
    /// An edit of brouter's tables.
    Firewall(FirewallDrift),
}

impl Kernel {
    /// Make `edit` as the other process would.
    pub fn foreign_edit(&mut self, edit: &ForeignEdit) {
        match edit {
            ForeignEdit::AddLink { name, bridge, up } => {
                if !self.links.contains_key(name) {
                    let kind = if *bridge { LinkKind::Bridge } else { LinkKind::Veth };
                    self.add_link(name, kind, *up);
                }
            }
            ForeignEdit::DeleteLink { name } => {
                let _ = self.delete_link(name);
            }
            ForeignEdit::SetUp { name, up } => {
                let _ = self.set_up(name, *up);
            }
            ForeignEdit::AddAddress { link, addr } => {
                let present = self.addresses.iter().any(|a| &a.link == link && a.addr == *addr);
                if self.links.contains_key(link) && !present {
                    self.add_foreign_address(link, *addr);
                }
            }
            ForeignEdit::DeleteAddress { link, addr } => {
                let _ = self.delete_address(link, *addr);
            }
            ForeignEdit::Firewall(d) => self.drift(d),
        }
    }
}
