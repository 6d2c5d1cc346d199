//! Targeting a network namespace.
//!
//! A netlink socket stays bound to the namespace of the thread that opened it, and a
//! child process (`nft`) inherits the namespace of the thread that spawns it. So
//! everything that must act inside `--netns NAME` runs on a throwaway OS thread that has
//! entered the namespace with `setns(2)`; async code never switches namespaces itself.

use std::fs::File;
use std::io;
use std::path::PathBuf;

use nix::sched::{setns, CloneFlags};

/// Which network namespace brouter works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetnsTarget {
    /// The namespace of the calling process (a dom0, or inside `ip netns exec`).
    Current,
    /// A named namespace under `/run/netns/NAME` (as `ip netns add` creates).
    Named(String),
}

impl NetnsTarget {
    /// The path of the namespace file, if named.
    pub fn path(&self) -> Option<PathBuf> {
        match self {
            NetnsTarget::Current => None,
            NetnsTarget::Named(n) => Some(PathBuf::from("/run/netns").join(n)),
        }
    }

    /// A short label for state paths and messages (`current` or the name).
    pub fn label(&self) -> &str {
        match self {
            NetnsTarget::Current => "current",
            NetnsTarget::Named(n) => n,
        }
    }

    /// Run `f` on a fresh OS thread inside this namespace and return its result.
    /// For `Current`, `f` still runs on its own thread so callers behave the same.
    pub fn run<R, F>(&self, f: F) -> io::Result<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let file =
            match self.path() {
                None => None,
                Some(p) => Some(File::open(&p).map_err(|e| {
                    io::Error::new(e.kind(), format!("network namespace {}: {e}", p.display()))
                })?),
            };
        let handle = std::thread::spawn(move || -> io::Result<R> {
            if let Some(f) = file {
                setns(f, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            }
            Ok(f())
        });
        handle
            .join()
            .map_err(|_| io::Error::other("thread inside the network namespace panicked"))?
    }
}
