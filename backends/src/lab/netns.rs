//! Named network namespaces made the way `ip netns add` makes them, deleted on drop.
//!
//! A namespace is created by `unshare(CLONE_NEWNET)` on a throwaway thread and kept alive
//! by bind-mounting that thread's `/proc/thread-self/ns/net` onto `/run/netns/NAME`, so
//! `ip netns exec NAME …` and `brouter --netns NAME` reach it while it exists. Dropping a
//! [`LabNetns`] unmounts and removes the name (also while unwinding a panic); the kernel
//! frees the namespace, and every veth in it, once nothing refers to it any more.
//! [`sweep_stale`] removes names a killed process left behind.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::NetnsTarget;

/// Where named namespaces live (iproute2's `NETNS_RUN_DIR`).
pub const NETNS_DIR: &str = "/run/netns";

/// A named network namespace that exists for as long as this value does.
#[derive(Debug)]
pub struct LabNetns {
    handle: NsHandle,
    path: PathBuf,
}

/// A way into a namespace that does not own its name: threads (probes, servers) hold
/// this, so a namespace's name is removed when its [`LabNetns`] drops even if one of
/// them is still running.
#[derive(Debug, Clone)]
pub struct NsHandle {
    name: Arc<str>,
    file: Arc<File>,
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
        prepare_netns_dir()?;
        let path = Path::new(NETNS_DIR).join(name);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o000)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("create {}: {e}", path.display())))?;
        let mount_point = path.clone();
        let made = std::thread::spawn(move || -> io::Result<File> {
            unshare(CloneFlags::CLONE_NEWNET).map_err(|e| errno("unshare(CLONE_NEWNET)", e))?;
            mount(
                Some("/proc/thread-self/ns/net"),
                &mount_point,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| {
                errno(
                    &format!("bind-mount the namespace on {}", mount_point.display()),
                    e,
                )
            })?;
            File::open("/proc/thread-self/ns/net")
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")));
        match made {
            Ok(file) => Ok(LabNetns {
                handle: NsHandle {
                    name: name.into(),
                    file: Arc::new(file),
                },
                path,
            }),
            Err(e) => {
                remove_name(&path);
                Err(e)
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.handle.name
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
        self.handle.file.as_raw_fd()
    }
}

impl Drop for LabNetns {
    fn drop(&mut self) {
        remove_name(&self.path);
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
        let file = Arc::clone(&self.file);
        let name = Arc::clone(&self.name);
        std::thread::spawn(move || {
            setns(&*file, CloneFlags::CLONE_NEWNET)
                .map_err(|e| errno(&format!("enter namespace {name}"), e))?;
            Ok(f())
        })
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

    /// `nft list ruleset` of this namespace (the `nft` process inherits the namespace of
    /// the thread that starts it).
    pub fn nft_ruleset(&self) -> io::Result<String> {
        let out = self.run(|| Command::new("nft").args(["list", "ruleset"]).output())??;
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

/// Make `/run/netns` exist and be a shared mount point, as iproute2 does, so a name
/// unmounted here also disappears from mount namespaces that `ip netns exec` created.
fn prepare_netns_dir() -> io::Result<()> {
    fs::create_dir_all(NETNS_DIR)
        .map_err(|e| io::Error::new(e.kind(), format!("create {NETNS_DIR}: {e}")))?;
    let mut bound = false;
    loop {
        match mount(
            Some(""),
            NETNS_DIR,
            Some("none"),
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Ok(()) => return Ok(()),
            // Not a mount point yet: bind it onto itself once, then share it.
            Err(Errno::EINVAL) if !bound => {
                mount(
                    Some(NETNS_DIR),
                    NETNS_DIR,
                    Some("none"),
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(|e| errno(&format!("bind-mount {NETNS_DIR}"), e))?;
                bound = true;
            }
            Err(e) => return Err(errno(&format!("make {NETNS_DIR} a shared mount"), e)),
        }
    }
}

/// What `ip netns delete` does: lazily unmount the name, then remove the file.
fn remove_name(path: &Path) {
    let _ = umount2(path, MntFlags::MNT_DETACH);
    let _ = fs::remove_file(path);
}

/// Remove `/run/netns/<prefix><pid>-…` names whose process `<pid>` is gone (a demo killed
/// by SIGKILL could not clean up). Returns the names removed.
pub fn sweep_stale(prefix: &str) -> Vec<String> {
    let Ok(entries) = fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if !process_alive(pid) {
                remove_name(&e.path());
                removed.push(name);
            }
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

fn errno(what: &str, e: Errno) -> io::Error {
    let err = io::Error::from(e);
    io::Error::new(err.kind(), format!("{what}: {err}"))
}
