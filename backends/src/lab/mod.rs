//! The lab: throwaway network namespaces wired like a Xen host, for `brouter demo`.
//!
//! This is product code (the demo ships in the `brouter` binary), so it follows brouter's
//! own rules: namespaces, links, addresses and routes go through syscalls and rtnetlink,
//! never through `ip` processes; every namespace is named (`ip netns exec` reaches it
//! while it exists) and removed when its owner drops. It never touches the namespace the
//! process runs in.

pub mod links;
pub mod netns;
pub mod probe;

pub use netns::{is_root, sweep_stale, LabNetns, NsHandle};
pub use probe::{connect, Listener, Outcome};
