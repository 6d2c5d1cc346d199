//! One hotplug at a time per network namespace: many domUs boot at once and each runs
//! `brouter vif online`; their observe→plan→apply must not interleave.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;

use crate::exit::Failure;

/// Held for as long as the value lives (the kernel drops the lock with the file).
pub struct Lock {
    _file: File,
}

/// Take the exclusive lock for `label` (the netns name, `current`, or the sim state file).
pub fn lock(label: &str) -> Result<Lock, Failure> {
    let base = std::env::var_os("BROUTER_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/brouter"));
    std::fs::create_dir_all(&base).map_err(|e| Failure::op(format!("{}: {e}", base.display())))?;
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
    let path = base.join(format!("lock-{safe}"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Failure::op(format!("{}: {e}", path.display())))?;
    file.lock()
        .map_err(|e| Failure::op(format!("cannot lock {}: {e}", path.display())))?;
    Ok(Lock { _file: file })
}
