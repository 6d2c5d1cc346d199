//! `status`'s DHCP line: whether brouter's dnsmasq serves what the config asks, read from
//! the process itself (see `brouter_engine::dhcp`), so a dead or stale dnsmasq is named
//! as such and never hides behind "converged".

use brouter_engine::dhcp::{DesiredDhcp, ObservedDhcp};

/// brouter's dnsmasq as found.
#[derive(Debug, serde::Serialize)]
pub(super) struct DhcpStatus {
    /// The bridges it should serve (empty: the config asks for no DHCP).
    pub bridges: Vec<String>,
    /// Its process, when one of brouter's runs.
    pub pid: Option<u32>,
    /// `serving`, `not running`, `stale` or `left over` (for scripts).
    pub state: &'static str,
    /// What that means for people, and what `start` would do.
    pub detail: String,
}

/// The status of brouter's dnsmasq, if the config asks for one or one is found.
pub(super) fn status(wanted: Option<&DesiredDhcp>, found: Option<&ObservedDhcp>) -> Option<DhcpStatus> {
    let pid = found.and_then(|f| f.pid);
    let (state, detail) = match (wanted, found) {
        (None, None) => return None,
        (None, Some(_)) => ("left over", "brouter's dnsmasq or its files are there, but no network asks for DHCP (start or stop removes them)".to_string()),
        (Some(_), None) | (Some(_), Some(ObservedDhcp { pid: None, .. })) => {
            ("not running", "brouter's dnsmasq is not running: VMs get no address and no names (start starts it)".to_string())
        }
        (Some(w), Some(f)) if f.options != w.options => {
            ("stale", "dnsmasq runs with other bridges or pools than the config's (start restarts it)".to_string())
        }
        (Some(w), Some(f)) if f.files != w.files || f.loaded.as_deref() != Some(w.files_digest().as_str()) => {
            ("stale", "dnsmasq has not loaded the config's static leases and host names (start reloads it)".to_string())
        }
        (Some(_), Some(_)) => ("serving", "DHCP and DNS".to_string()),
    };
    Some(DhcpStatus {
        bridges: wanted.map(|w| w.bridges.clone()).unwrap_or_default(),
        pid,
        state,
        detail,
    })
}

impl DhcpStatus {
    /// The text line: `dhcp serving br0 br1 (dnsmasq pid 812): DHCP and DNS`.
    pub fn line(&self) -> String {
        let pid = self
            .pid
            .map(|p| format!(" (dnsmasq pid {p})"))
            .unwrap_or_default();
        let bridges = match self.bridges.is_empty() {
            true => String::new(),
            false => format!(" on {}", self.bridges.join(" ")),
        };
        // Problems in capitals, as `status` writes MISSING and EXPOSED.
        let state = match self.state {
            "serving" => self.state.to_string(),
            bad => bad.to_uppercase(),
        };
        format!("dhcp {state}{bridges}{pid}: {}", self.detail)
    }
}
