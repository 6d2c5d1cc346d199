//! One change at a time per network namespace: many domUs boot at once and each runs
//! `brouter vif online`, while a config-management run may call `start`; their
//! observe → plan → apply must not interleave (a `start` that rewrites the tables from
//! an observation taken before a hotplug would drop that vif's binding).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::exit::Failure;

/// Held for as long as the value lives (the kernel drops the lock with the file).
pub struct Lock {
    _file: File,
}

/// Where the lock of a target lives: beside the simulator's state file (no root needed),
/// or under brouter's state directory, one per namespace.
pub fn path_for(sim: Option<&Path>, netns: Option<&str>) -> PathBuf {
    if let Some(state) = sim {
        return PathBuf::from(format!("{}.lock", state.display()));
    }
    let base = std::env::var_os("BROUTER_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/brouter"));
    let label = match netns {
        Some(n) => format!("netns-{n}"),
        None => "current".to_string(),
    };
    let safe: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    base.join(format!("lock-{safe}"))
}

/// Take the exclusive lock at `path` (blocking until it is free).
pub fn lock(path: &Path) -> Result<Lock, Failure> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Failure::op(format!("{}: {e}", dir.display())))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| Failure::op(format!("{}: {e}", path.display())))?;
    file.lock()
        .map_err(|e| Failure::op(format!("cannot lock {}: {e}", path.display())))?;
    Ok(Lock { _file: file })
}
