//! The lab: throwaway network namespaces wired like a Xen host, veth "domUs" and traffic
//! probes — for the root tests, the bench and `brouter demo`.
//!
//! Not part of brouter's library crates (engine, backends, sim): only the test harness,
//! the bench and the `brouter` binary's `demo` command (cargo feature `demo`) build it.
//! It follows brouter's own rules all the same: namespaces, links, addresses and routes
//! go through syscalls and rtnetlink, never through `ip` processes; every namespace is
//! named (`ip netns exec` reaches it while it exists) and removed when its owner drops.
//! It never touches the namespace the process runs in.

pub mod dhcp_client;
pub mod links;
pub mod netns;
pub mod probe;

pub use netns::{is_root, sweep_stale, LabNetns, NsHandle};
pub use probe::listener::{connect, Listener, Reply};
