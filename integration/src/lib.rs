//! The test harness: throwaway namespaces, topologies, traffic probes, snapshots.
//! Only tests use this crate.

pub mod netns;

pub use netns::{root_or_skip, Netns};
