//! Targeting a network namespace.
//!
//! A netlink socket stays bound to the namespace of the thread that opened it, and a
//! child process (`nft`) inherits the namespace of the thread that spawns it. So
//! everything that must act inside `--netns NAME` runs on a throwaway OS thread that has
//! entered the namespace with `setns(2)`; async code never switches namespaces itself.
//!
//! Namespaces are opened and entered through `netns-rs` ([`open`], [`enter`]), here and
//! in the lab that creates them, so "how a namespace is entered" has one answer. Its own
//! `NetNs::run` is not used: it switches the *calling* thread and back, which would move
//! a runtime's worker thread between namespaces.

use std::io;
use std::path::PathBuf;

use netns_rs::{Env, NetNs};

/// iproute2's `NETNS_RUN_DIR`, where named namespaces live.
pub const NETNS_DIR: &str = "/run/netns";

/// The namespace environment of `ip netns`: names under [`NETNS_DIR`]. netns-rs's
/// `DefaultEnv` says `/var/run/netns`, which is the same directory only where `/var/run`
/// is a symlink to `/run`; brouter names `/run/netns` as iproute2 does.
#[derive(Debug, Clone, Copy, Default)]
pub struct IpNetnsDir;

impl Env for IpNetnsDir {
    fn persist_dir(&self) -> PathBuf {
        PathBuf::from(NETNS_DIR)
    }
}

/// A named namespace opened for entering (its file stays open while this lives).
pub type NamedNetns = NetNs<IpNetnsDir>;

/// Open the namespace `/run/netns/NAME`; the error names it and keeps the kind
/// (`NotFound` when it does not exist).
pub fn open(name: &str) -> io::Result<NamedNetns> {
    NetNs::get_from_env(name, IpNetnsDir).map_err(|e| to_io(name, e))
}

/// Make the calling thread enter `ns`. Call it only on a thread of your own that ends
/// with the work it does there (see the module docs).
pub fn enter(name: &str, ns: &NamedNetns) -> io::Result<()> {
    ns.enter().map_err(|e| to_io(name, e))
}

/// A netns-rs error as an `io::Error` saying which namespace, with the errno's kind.
pub fn to_io(name: &str, e: netns_rs::Error) -> io::Error {
    use netns_rs::Error as E;
    let kind = match &e {
        E::CreateNsDirError(err) | E::CreateNsError(err) | E::OpenNsError(_, err) => err.kind(),
        E::CloseNsError(n)
        | E::MountError(_, n)
        | E::UnmountError(_, n)
        | E::UnshareError(n)
        | E::SetnsError(n) => io::Error::from(*n).kind(),
        E::JoinThreadError(_) => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("network namespace {name}: {e}"))
}

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
            NetnsTarget::Named(n) => Some(IpNetnsDir.persist_dir().join(n)),
        }
    }

    /// A short label for state paths and messages (`current` or the name).
    pub fn label(&self) -> &str {
        match self {
            NetnsTarget::Current => "current",
            NetnsTarget::Named(n) => n,
        }
    }

    /// Run `f` inside this namespace and return its result: on a fresh OS thread for a
    /// named namespace (`setns` moves only the calling thread, and the caller's must stay
    /// where it is), on the caller's own thread for `Current` — the Xen hook opens its
    /// sockets this way on every vif, and a thread costs it a stack mapping and a join.
    pub fn run<R, F>(&self, f: F) -> io::Result<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (name, ns) = match self {
            NetnsTarget::Current => return Ok(f()),
            NetnsTarget::Named(name) => (name.clone(), open(name)?),
        };
        let handle = std::thread::spawn(move || -> io::Result<R> {
            enter(&name, &ns)?;
            Ok(f())
        });
        handle
            .join()
            .map_err(|_| io::Error::other("thread inside the network namespace panicked"))?
    }

    /// [`Self::run`] without waiting: `f` runs on a new thread inside the namespace while
    /// the caller goes on; join the handle for its answer.
    pub fn spawn<R, F>(&self, f: F) -> io::Result<std::thread::JoinHandle<io::Result<R>>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let ns = match self {
            NetnsTarget::Current => None,
            NetnsTarget::Named(name) => Some((name.clone(), open(name)?)),
        };
        Ok(std::thread::spawn(move || -> io::Result<R> {
            if let Some((name, ns)) = ns {
                enter(&name, &ns)?;
            }
            Ok(f())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_namespace_is_not_found_and_named() {
        let e = open("brouter-no-such-namespace").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("brouter-no-such-namespace"), "{e}");
    }
}
