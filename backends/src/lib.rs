//! brouter's kernel backend (`NetlinkBackend`) and the namespace targeting it needs.

pub mod firewall;
pub mod netns;

pub use netns::NetnsTarget;
