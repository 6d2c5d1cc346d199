//! The hotplug side of `brouter vif`: what libxl hands the hook and how the hook answers.
//!
//! libxl (`get_hotplug_env`/`libxl__hotplug_nic`, tools/libs/light/libxl_linux.c) runs
//! the vif's `script=` as `<script> online|offline type_if=vif` (or `add|remove
//! type_if=tap` for the emulated NIC) with stdin from /dev/null and the environment
//! `script`, `XENBUS_TYPE`, `XENBUS_PATH` (relative: `backend/vif/<domid>/<devid>`),
//! `XENBUS_BASE_PATH`, `netdev`, `vif` and, for taps, `INTERFACE` — added on top of
//! xl's own environment, so a stray `bridge` or `ip` in the admin's shell reaches the
//! hook too: xenstore wins over it, as in Xen's vif-common.sh. xl waits for
//! `hotplug-status` and shows `hotplug-error`, and copies the hook's output onto its own
//! stderr: the hook writes nothing on stdout and on stderr only why it failed.

use std::collections::BTreeMap;

use crate::exit::Failure;
use crate::xenstore::Xenstore;

/// Which device type a hotplug call is about (`type_if=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeIf {
    Vif,
    Tap,
}

/// The keys of a vif backend directory the hook reads.
pub const KEYS: &[&str] = &["bridge", "mac", "ip", "mtu", "vifname"];

/// One hotplug call as libxl makes it.
pub struct Hotplug {
    pub type_if: TypeIf,
    /// The device (`$vif`, or `$INTERFACE` for taps), if the environment names one.
    pub device: Option<String>,
    /// The backend directory, when brouter runs as Xen's hook (`$XENBUS_PATH`, or for a
    /// tap the one its name `vif<domid>.<devid>-emu` implies, as vif-common.sh derives).
    pub xs: Option<Xenstore>,
    /// `(domid, devid)` from the backend path: the frontend's `mtu` key is under
    /// `/local/domain/<domid>/device/vif/<devid>`, whatever the vif was renamed to.
    pub ids: Option<(u32, u32)>,
}

impl Hotplug {
    /// Read the call from the `type_if=` words and the environment. A bad word is an
    /// error, reported through xenstore like every other.
    pub fn from_env(words: &[String]) -> (Hotplug, Result<(), Failure>) {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let type_if = type_if(words);
        let t = *type_if.as_ref().unwrap_or(&TypeIf::Vif);
        let device = env(if t == TypeIf::Tap { "INTERFACE" } else { "vif" });
        let path = env("XENBUS_PATH").or_else(|| {
            let (d, n) = tap_ids(device.as_deref()?)?;
            (t == TypeIf::Tap).then(|| format!("/local/domain/0/backend/vif/{d}/{n}"))
        });
        let ids = path.as_deref().and_then(backend_ids);
        let hotplug = Hotplug {
            type_if: t,
            device,
            xs: path.map(Xenstore::new),
            ids,
        };
        (hotplug, type_if.map(|_| ()))
    }

    /// The backend keys the hook uses ([`KEYS`]), empty outside Xen.
    pub fn read(&self) -> Result<BTreeMap<String, String>, Failure> {
        match &self.xs {
            None => Ok(BTreeMap::new()),
            Some(xs) => xs
                .read_keys(KEYS)
                .map_err(|e| Failure::op(format!("cannot read the vif's xenstore keys: {e}"))),
        }
    }

    /// The frontend's MTU key, which vif-bridge sets to the MTU the vif runs at.
    pub fn frontend_mtu_key(&self) -> Option<String> {
        let (domid, devid) = self.ids?;
        Some(format!("/local/domain/{domid}/device/vif/{devid}/mtu"))
    }

    /// Who the messages are about, for stderr and syslog: `vif7.0 (domain 7, device 0)`.
    pub fn who(&self, device: Option<&str>) -> String {
        let dev = device.or(self.device.as_deref()).unwrap_or("vif");
        match self.ids {
            Some((d, n)) => format!("{dev} (domain {d}, device {n})"),
            None => dev.to_string(),
        }
    }
}

/// The device type the `type_if=` words name (default `vif`). Xen's scripts evaluate
/// every `VAR=VAL` word; brouter uses `type_if` only and ignores the others.
fn type_if(words: &[String]) -> Result<TypeIf, Failure> {
    let mut type_if = TypeIf::Vif;
    for w in words {
        match w.split_once('=') {
            Some(("type_if", "vif")) => type_if = TypeIf::Vif,
            Some(("type_if", "tap")) => type_if = TypeIf::Tap,
            Some(("type_if", other)) => {
                return Err(Failure::usage(format!(
                    "type_if={other}: use type_if=vif or type_if=tap"
                )))
            }
            Some(_) => {}
            None => {
                return Err(Failure::usage(format!(
                    "{w}: vif accepts only VAR=VAL words after the action (type_if=vif|tap)"
                )))
            }
        }
    }
    Ok(type_if)
}

/// `(domid, devid)` of `backend/vif/<domid>/<devid>` (relative, or absolute under
/// `/local/domain/<backend>/`).
pub fn backend_ids(path: &str) -> Option<(u32, u32)> {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let n = parts.len();
    if n < 4 || parts[n - 4] != "backend" || parts[n - 3] != "vif" {
        return None;
    }
    Some((parts[n - 2].parse().ok()?, parts[n - 1].parse().ok()?))
}

/// `(domid, devid)` of a tap named `vif<domid>.<devid>-emu`.
pub fn tap_ids(name: &str) -> Option<(u32, u32)> {
    let rest = name.strip_prefix("vif")?.strip_suffix("-emu")?;
    let (d, n) = rest.split_once('.')?;
    Some((d.parse().ok()?, n.parse().ok()?))
}

/// Log a line to syslog (journald) as `brouter[pid]`, facility daemon, as Xen's scripts
/// log through `logger -p daemon.<level>`. Best effort: without /dev/log nothing is sent.
pub fn syslog(error: bool, message: &str) {
    use std::os::unix::net::UnixDatagram;
    // daemon (3) * 8 + err (3) / info (6).
    let pri = if error { 27 } else { 30 };
    let line = format!("<{pri}>brouter[{}]: {message}", std::process::id());
    if let Ok(sock) = UnixDatagram::unbound() {
        let _ = sock.send_to(line.as_bytes(), "/dev/log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_the_backend_path_not_the_device_name() {
        assert_eq!(backend_ids("backend/vif/7/0"), Some((7, 0)));
        assert_eq!(backend_ids("/local/domain/0/backend/vif/12/3"), Some((12, 3)));
        assert_eq!(backend_ids("backend/vbd/7/0"), None);
        assert_eq!(tap_ids("vif7.1-emu"), Some((7, 1)));
        assert_eq!(tap_ids("web-emu"), None);
    }

    #[test]
    fn words_other_than_type_if_are_ignored_as_xen_does() {
        let w = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(type_if(&w(&["type_if=tap", "netdev=eth0"])).unwrap(), TypeIf::Tap);
        assert!(type_if(&w(&["type_if=pci"])).is_err());
        assert!(type_if(&w(&["stray"])).is_err());
    }
}
