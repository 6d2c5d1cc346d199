//! The test harness: throwaway namespaces, topologies, traffic probes, snapshots.
//! Only tests use this crate.

pub mod addr_dump;
pub mod arp;
pub mod binary;
pub mod cluster_lab;
pub mod dnsmasq_procs;
pub mod drift_lab;
pub mod drop_proof;
pub mod fake_xenstore;
pub mod fake_xenstored;
pub mod fixture_lab;
pub mod frames;
pub mod netns;
pub mod probe;
pub mod skip;
pub mod snapshot;
pub mod state_dir;
pub mod topology;

pub use netns::{root_or_skip, Netns};
pub use probe::{Flow, Outcome, Proto};
pub use skip::{skip, tool_or_skip};
pub use snapshot::{assert_same, Snapshot};
pub use state_dir::use_temp_state_dir;
pub use topology::{DomU, Topology};
