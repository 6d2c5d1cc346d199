//! Talking to xenstore as Xen's hotplug machinery does, with paths relative to the dom0's
//! home (`backend/vif/7/0`, as libxl passes `$XENBUS_PATH`) or absolute
//! (`/local/domain/7/device/vif/0/mtu`).
//!
//! A hotplug call is on the boot path of every domU, so it costs as little as it can:
//!
//! - Where a xenstored is reachable, found as libxenstore finds it (`$XENSTORED_PATH`, its
//!   socket, the xenbus device), brouter speaks its wire protocol itself
//!   ([`crate::xenstore_wire`]): one `XS_READ` per wanted key, all sent before the first
//!   answer is read (a missing key is `ENOENT`, so nothing is listed first), and every
//!   pair written in one transaction, on one connection, with no process spawned.
//! - Otherwise (no hypervisor; a fake xenstore made of tools on PATH), the `xenstore-*`
//!   tools on PATH as Xen's own scripts use them: one `xenstore-list` to learn which of the
//!   wanted keys exist, one `xenstore-read` of all of them (it takes several paths and
//!   prints one value per line), one `xenstore-write` of every pair at the end.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use crate::xenstore_wire::Connection;

/// The xenstore directory of one vif backend (`backend/vif/<domid>/<devid>`).
pub struct Xenstore {
    path: String,
    /// The connection to xenstored, tried at the first call and kept for the next ones;
    /// `None` inside when there is none to be had: the tools are used instead.
    wire: OnceLock<Option<Mutex<Connection>>>,
}

impl Xenstore {
    pub fn new(path: String) -> Xenstore {
        Xenstore {
            path,
            wire: OnceLock::new(),
        }
    }

    /// The xenstored connection, if one could be opened.
    fn wire(&self) -> Option<std::sync::MutexGuard<'_, Connection>> {
        let conn = self
            .wire
            .get_or_init(|| Connection::open().ok().map(Mutex::new))
            .as_ref()?;
        Some(conn.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The values of those of `keys` that exist under the backend directory. A key that
    /// is absent is simply not in the map; a store that cannot be read is an error.
    pub fn read_keys(&self, keys: &[&str]) -> Result<BTreeMap<String, String>, String> {
        if let Some(mut conn) = self.wire() {
            let paths: Vec<String> = keys.iter().map(|k| format!("{}/{k}", self.path)).collect();
            let values = conn.read_all(&paths).map_err(|e| e.to_string())?;
            let found = keys
                .iter()
                .zip(values)
                .filter_map(|(k, v)| Some((k.to_string(), v?.trim().to_string())));
            return Ok(found.collect());
        }
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

    /// Every `(path, value)` pair at once — one transaction through xenstored, else one
    /// `xenstore-write` — so xl sees all of them or none; a relative path is under the
    /// backend directory (`hotplug-status`), an absolute one is used as it is.
    pub fn write(&self, pairs: &[(String, String)]) -> Result<(), String> {
        let full: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| {
                let k = if k.starts_with('/') {
                    k.clone()
                } else {
                    format!("{}/{k}", self.path)
                };
                (k, v.clone())
            })
            .collect();
        if let Some(mut conn) = self.wire() {
            return conn.write(&full).map_err(|e| e.to_string());
        }
        let args: Vec<String> = full.into_iter().flat_map(|(k, v)| [k, v]).collect();
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
