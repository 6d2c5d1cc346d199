//! One change at a time per kernel network namespace: many domUs boot at once and each
//! runs `brouter vif online`, while a config-management run may call `start`; their
//! observe → plan → apply must not interleave (a `start` that rewrites the tables from
//! an observation taken before a hotplug would drop that vif's binding).
//!
//! The lock is keyed by the namespace's *kernel identity* — the device and inode of its
//! nsfs file (`/run/netns/NAME` for `--netns NAME`, `/proc/self/ns/net` otherwise) —
//! not by a name: `brouter --netns X` and `ip netns exec X brouter` are the same
//! namespace and exclude each other. Waiting is bounded (Xen fails a hotplug script
//! after 40 s; brouter gives up after [`DEFAULT_WAIT`], `BROUTER_LOCK_TIMEOUT` seconds
//! if set) and ends in an error naming the holder.
//!
//! The lock file (`/run/brouter/lock-ns-<dev>-<ino>`) holds the holder's pid and command
//! and is removed by its holder on release: no file is left behind by a command that
//! ends. One left by a killed command is harmless (an unlocked empty file, reused by the
//! next command and removed by it; `/run` is emptied at boot).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::exit::Failure;

/// How long a command waits for another to finish before giving up: well under Xen's
/// 40 s hotplug timeout, so a hook that cannot get the lock still reports why.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// Held for as long as the value lives: its drop removes the file, then the kernel
/// drops the lock with the descriptor.
pub struct Lock {
    file: File,
    path: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while still locked: a waiter that opened this inode finds, once it gets
        // the lock, that the path no longer names it and starts over (see [`lock`]).
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.set_len(0);
    }
}

/// Where the lock of a target lives: beside the simulator's state file (no root needed),
/// or under brouter's state directory, named by the namespace's nsfs identity.
pub fn path_for(sim: Option<&Path>, netns: Option<&str>) -> Result<PathBuf, Failure> {
    if let Some(state) = sim {
        return Ok(PathBuf::from(format!("{}.lock", state.display())));
    }
    let (dev, ino) = namespace_identity(netns)?;
    Ok(brouter_backends::memory::state_base().join(format!("lock-ns-{dev}-{ino}")))
}

/// The nsfs device and inode of the namespace a command works on: the same numbers
/// whether it was named (`--netns`) or entered (`ip netns exec`).
fn namespace_identity(netns: Option<&str>) -> Result<(u64, u64), Failure> {
    let path = match netns {
        Some(name) => Path::new(brouter_backends::netns::NETNS_DIR).join(name),
        None => PathBuf::from("/proc/self/ns/net"),
    };
    match std::fs::metadata(&path) {
        Ok(m) => Ok((m.dev(), m.ino())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && netns.is_some() => {
            let name = netns.unwrap_or_default();
            Err(Failure::op(format!(
                "network namespace {name} does not exist (no {}): create it with `ip netns add {name}` or fix --netns",
                path.display()
            )))
        }
        Err(e) => Err(Failure::op(format!("{}: {e}", path.display()))),
    }
}

/// How long to wait for the lock: `BROUTER_LOCK_TIMEOUT` (seconds) or [`DEFAULT_WAIT`].
fn wait_limit() -> Duration {
    std::env::var("BROUTER_LOCK_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_WAIT)
}

/// Take the exclusive lock at `path`, waiting at most [`wait_limit`] for its holder.
pub fn lock(path: &Path) -> Result<Lock, Failure> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Failure::op(format!("{}: {e}", dir.display())))?;
    }
    let limit = wait_limit();
    let started = Instant::now();
    loop {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| Failure::op(format!("{}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                if started.elapsed() >= limit {
                    return Err(busy(path, limit));
                }
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Failure::op(format!("cannot lock {}: {e}", path.display())))
            }
        }
        // The holder before may have removed the file between our open and our lock:
        // then this lock is on a file nobody else will find; start over.
        let same = match (file.metadata(), std::fs::metadata(path)) {
            (Ok(held), Ok(named)) => held.dev() == named.dev() && held.ino() == named.ino(),
            _ => false,
        };
        if !same {
            continue;
        }
        let mut lock = Lock {
            file,
            path: path.to_path_buf(),
        };
        let _ = lock.file.set_len(0);
        let _ = write!(lock.file, "pid {}: {}", std::process::id(), command_line());
        return Ok(lock);
    }
}

/// The error after waiting `limit` in vain, naming the holder when its file says who.
fn busy(path: &Path, limit: Duration) -> Failure {
    let mut holder = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.rewind();
        let _ = f.read_to_string(&mut holder);
    }
    let holder = match holder.trim() {
        "" => "another brouter command".to_string(),
        h => format!("another brouter command ({h})"),
    };
    Failure::op(format!(
        "{holder} is changing this network namespace and still holds its lock {} after {:.0} s; \
         try again once it has finished",
        path.display(),
        limit.as_secs_f64()
    ))
}

/// This process's command line, for the waiter's message.
fn command_line() -> String {
    let words: Vec<String> = std::env::args().collect();
    let mut line = words.join(" ");
    line.truncate(200);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_exclusive_and_leaves_no_file_behind() {
        let dir = std::env::temp_dir().join(format!("brouter-lock-test-{}", std::process::id()));
        let path = dir.join("lock-x");
        let held = lock(&path).unwrap();
        assert!(path.exists());
        let again = OpenOptions::new().write(true).open(&path).unwrap();
        assert!(matches!(again.try_lock(), Err(std::fs::TryLockError::WouldBlock)));
        drop(again);
        drop(held);
        assert!(!path.exists(), "the lock file outlived its holder");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_current_namespace_and_its_proc_file_have_one_identity() {
        let (dev, ino) = namespace_identity(None).unwrap();
        let m = std::fs::metadata("/proc/thread-self/ns/net").unwrap();
        assert_eq!((dev, ino), (m.dev(), m.ino()));
    }
}
