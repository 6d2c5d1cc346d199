//! Talking to xenstore the way Xen's own hotplug scripts do: the `xenstore-*` tools on
//! PATH, with paths relative to the dom0's home (`backend/vif/7/0`, as libxl passes
//! `$XENBUS_PATH`) or absolute (`/local/domain/7/device/vif/0/mtu`).
//!
//! A hotplug call is on the boot path of every domU, so the calls are few: one
//! `xenstore-list` to learn which of the wanted keys exist, one `xenstore-read` of all of
//! them (it takes several paths and prints one value per line), one `xenstore-write` of
//! every pair at the end.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

/// The xenstore directory of one vif backend (`backend/vif/<domid>/<devid>`).
pub struct Xenstore {
    path: String,
}

impl Xenstore {
    pub fn new(path: String) -> Xenstore {
        Xenstore { path }
    }

    /// The values of those of `keys` that exist under the backend directory. A key that
    /// is absent is simply not in the map; a store that cannot be read is an error.
    pub fn read_keys(&self, keys: &[&str]) -> Result<BTreeMap<String, String>, String> {
        let listed = run("xenstore-list", std::slice::from_ref(&self.path))?;
        let present: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| listed.lines().any(|l| l.trim() == *k))
            .collect();
        if present.is_empty() {
            return Ok(BTreeMap::new());
        }
        let paths: Vec<String> = present.iter().map(|k| format!("{}/{k}", self.path)).collect();
        let values = run("xenstore-read", &paths)?;
        let mut lines = values.lines();
        let mut out = BTreeMap::new();
        for k in present {
            let v = lines.next().unwrap_or("").trim().to_string();
            out.insert(k.to_string(), v);
        }
        Ok(out)
    }

    /// `xenstore-write` of every `(path, value)` pair in one call; a relative path is
    /// under the backend directory (`hotplug-status`), an absolute one is used as it is.
    pub fn write(&self, pairs: &[(String, String)]) -> Result<(), String> {
        let mut args = Vec::with_capacity(pairs.len() * 2);
        for (k, v) in pairs {
            args.push(if k.starts_with('/') {
                k.clone()
            } else {
                format!("{}/{k}", self.path)
            });
            args.push(v.clone());
        }
        run("xenstore-write", &args).map(|_| ())
    }
}

/// Run one xenstore tool (stdin closed, as the hook's own is); its stdout, or why not.
fn run(tool: &str, args: &[String]) -> Result<String, String> {
    let out = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {tool}: {e} (xenstore-utils installs it)"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{tool} {} failed ({}): {}",
            args.join(" "),
            out.status,
            err.trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
