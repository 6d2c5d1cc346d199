//! brouter's kernel backend (`NetlinkBackend`) and the namespace targeting it needs.

pub mod conntrack;
mod daemon;
pub mod dnsmasq;
pub mod firewall;
pub mod frr;
pub mod host_facts;
pub mod memory;
pub mod netlink;
pub mod netns;
pub mod state_file;
pub mod sysctl;

pub use netlink::NetlinkBackend;
pub use netns::NetnsTarget;
