//! Talking to xenstore the way Xen's own hotplug scripts do: `xenstore-read` and
//! `xenstore-write` under `$XENBUS_PATH`. Without `$XENBUS_PATH` or without the tools
//! (tests, non-Xen hosts) every read is empty and every write is skipped.

use std::process::Command;

/// The xenstore directory of one vif backend (`backend/vif/<domid>/<devid>`).
pub struct Xenstore {
    path: Option<String>,
}

impl Xenstore {
    pub fn from_env() -> Xenstore {
        let path = std::env::var("XENBUS_PATH").ok().filter(|p| !p.is_empty());
        Xenstore { path }
    }

    /// `xenstore-read $XENBUS_PATH/key`, `None` if unset or unavailable.
    pub fn read(&self, key: &str) -> Option<String> {
        let path = self.path.as_ref()?;
        let out = Command::new("xenstore-read")
            .arg(format!("{path}/{key}"))
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (!v.is_empty()).then_some(v)
    }

    /// `xenstore-write $XENBUS_PATH/k1 v1 …`; failures are reported, not fatal.
    pub fn write(&self, pairs: &[(&str, &str)]) {
        let Some(path) = &self.path else { return };
        let mut cmd = Command::new("xenstore-write");
        for (k, v) in pairs {
            cmd.arg(format!("{path}/{k}")).arg(v);
        }
        match cmd.status() {
            Ok(s) if s.success() => {}
            Ok(s) => eprintln!("brouter: xenstore-write under {path} failed ({s})"),
            Err(e) => eprintln!("brouter: cannot run xenstore-write: {e}"),
        }
    }
}
