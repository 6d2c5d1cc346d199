//! Named network namespaces made the way `ip netns add` makes them, deleted on drop.
//!
//! netns-rs does the work: `NetNs::new_with_env` makes `/run/netns` a shared mount (as
//! iproute2 does), unshares a network namespace on a throwaway thread and bind-mounts it
//! onto `/run/netns/NAME`, so `ip netns exec NAME …` and `brouter --netns NAME` reach it
//! while it exists; `NetNs::remove` unmounts and removes the name. Threads enter it
//! through [`brouter_backends::netns::enter`], the one way brouter enters a namespace.
//!
//! This wraps netns-rs for what it does not do itself:
//! - it creates the name with `File::create`, which does not fail when the name is
//!   taken: [`LabNetns::create`] claims the name with `O_EXCL` first;
//! - a `NetNs` is not removed when dropped, and `NetNs::remove` keeps the file when the
//!   unmount fails: dropping a [`LabNetns`] removes it (also while a panic unwinds), the
//!   file in any case;
//! - its `NetNs::run` switches the calling thread into the namespace and back: here
//!   work runs on a new thread that enters and ends ([`NsHandle::spawn`]);
//! - names a killed process left behind are swept by [`sweep_stale`].
//!
//! The kernel frees a namespace, and every veth in it, once nothing refers to it any more.

use std::fs::{self, OpenOptions};
use std::io;
use std::ops::Deref;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use brouter_backends::netns::{self as target, IpNetnsDir, NamedNetns, NETNS_DIR};
use brouter_backends::NetnsTarget;
use netns_rs::{Env, NetNs};

/// A named network namespace that exists for as long as this value does. It derefs to
/// its [`NsHandle`], so probes and helpers take either.
#[derive(Debug)]
pub struct LabNetns {
    handle: NsHandle,
    /// The namespace as created; taken (and removed) on drop.
    owner: Option<NamedNetns>,
}

/// A way into a namespace that does not own its name: threads (probes, servers) hold
/// this, so a namespace's name is removed when its [`LabNetns`] drops even if one of
/// them is still running.
#[derive(Debug, Clone)]
pub struct NsHandle {
    name: Arc<str>,
    ns: Arc<NamedNetns>,
}

impl LabNetns {
    /// Create `/run/netns/NAME` holding a fresh network namespace with `lo` down (bring
    /// it up over netlink). Fails if the name is taken.
    pub fn create(name: &str) -> io::Result<LabNetns> {
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name:?} is not a namespace name"),
            ));
        }
        IpNetnsDir.init().map_err(|e| target::to_io(name, e))?;
        let path = Path::new(NETNS_DIR).join(name);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o000)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("create {}: {e}", path.display())))?;
        // netns-rs removes the file itself if it cannot mount the namespace on it.
        let owner = NetNs::new_with_env(name, IpNetnsDir).map_err(|e| target::to_io(name, e))?;
        let ns = match target::open(name) {
            Ok(ns) => ns,
            Err(e) => {
                remove(owner);
                return Err(e);
            }
        };
        Ok(LabNetns {
            handle: NsHandle {
                name: name.into(),
                ns: Arc::new(ns),
            },
            owner: Some(owner),
        })
    }

    /// The namespace as brouter's backend addresses it (`--netns NAME`).
    pub fn target(&self) -> NetnsTarget {
        NetnsTarget::Named(self.name().to_string())
    }

    /// A cloneable way into the namespace for threads.
    pub fn handle(&self) -> NsHandle {
        self.handle.clone()
    }

    /// A file descriptor of the namespace (for `IFLA_NET_NS_FD`), valid while `self` lives.
    pub fn fd(&self) -> RawFd {
        self.handle.ns.file().as_raw_fd()
    }
}

impl Deref for LabNetns {
    type Target = NsHandle;

    fn deref(&self) -> &NsHandle {
        &self.handle
    }
}

impl Drop for LabNetns {
    fn drop(&mut self) {
        if let Some(ns) = self.owner.take() {
            remove(ns);
        }
    }
}

/// What `ip netns delete` does: lazily unmount the name, then remove the file (also when
/// the unmount failed, e.g. a name that was never mounted).
fn remove(ns: NamedNetns) {
    let path = ns.path().to_path_buf();
    if ns.remove().is_err() {
        let _ = fs::remove_file(path);
    }
}

impl NsHandle {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Start `f` on a new OS thread inside this namespace.
    pub fn spawn<R, F>(&self, f: F) -> std::thread::JoinHandle<io::Result<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let ns = self.clone();
        std::thread::spawn(move || {
            ns.enter_this_thread()?;
            Ok(f())
        })
    }

    /// Make the calling thread enter this namespace, for good: call it only first thing
    /// on a thread of your own that ends with the work it does there.
    pub fn enter_this_thread(&self) -> io::Result<()> {
        target::enter(&self.name, &self.ns)
    }

    /// Run `f` on a new OS thread inside this namespace and wait for it.
    pub fn run<R, F>(&self, f: F) -> io::Result<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.spawn(f)
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("thread inside the namespace panicked")))
    }

    /// Run `prog args…` inside this namespace and return its output, success or not (the
    /// process inherits the namespace of the thread that starts it).
    pub fn output(&self, prog: &str, args: &[&str]) -> io::Result<Output> {
        let mut cmd = Command::new(prog);
        cmd.args(args);
        self.run(move || cmd.output())?
    }

    /// `nft list ruleset` of this namespace.
    pub fn nft_ruleset(&self) -> io::Result<String> {
        let out = self.output("nft", &["list", "ruleset"])?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "nft list ruleset in {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// The names under `/run/netns` that start with `prefix`.
pub fn names_with_prefix(prefix: &str) -> Vec<String> {
    fs::read_dir(NETNS_DIR)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// Remove `/run/netns/<prefix>…-<pid>-<suffix>` names (the pid is the next-to-last
/// `-` field: `brd-<pid>-<role>`, `brt-<tag>-<pid>-<n>`) whose process is gone — a run
/// killed by SIGKILL could not clean up. Returns the names removed.
pub fn sweep_stale(prefix: &str) -> Vec<String> {
    let mut removed = Vec::new();
    for name in names_with_prefix(prefix) {
        let pid = name[prefix.len()..]
            .rsplit('-')
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| !process_alive(pid)) {
            match target::open(&name) {
                Ok(ns) => remove(ns),
                Err(_) => {
                    let _ = fs::remove_file(Path::new(NETNS_DIR).join(&name));
                }
            }
            removed.push(name);
        }
    }
    removed
}

/// Whether `pid` is a running process: a zombie (killed, not yet reaped by its parent)
/// counts as gone, since it can no longer clean up.
fn process_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (comm) S …`: the state follows the last `)` (comm may contain one).
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next()),
            Some('Z' | 'X')
        ),
        Err(_) => false,
    }
}

/// Whether this process may create namespaces (root, or at least CAP_SYS_ADMIN).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}
