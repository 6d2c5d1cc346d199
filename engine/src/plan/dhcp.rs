//! Converging brouter's dnsmasq: started when a network asks for DHCP, restarted only
//! when its options change, reloaded (SIGHUP) when only its files do, stopped with
//! brouter.

use crate::dhcp::{DesiredDhcp, ObservedDhcp};
use crate::plan::Op;

/// The ops that bring brouter's dnsmasq from `observed` to `desired`.
pub fn converge(ops: &mut Vec<Op>, desired: Option<&DesiredDhcp>, observed: Option<&ObservedDhcp>) {
    let Some(d) = desired else {
        if observed.is_some() {
            ops.push(Op::StopDhcp);
        }
        return;
    };
    let empty = ObservedDhcp::default();
    let o = observed.unwrap_or(&empty);
    let digest = d.files_digest();
    let files_differ = o.files != d.files;
    if files_differ {
        ops.push(Op::WriteDhcpFiles {
            files: d.files.clone(),
        });
    }
    let runs_as_wanted = o.pid.is_some() && o.options == d.options;
    if !runs_as_wanted {
        ops.push(Op::StartDhcp {
            options: d.options.clone(),
            digest,
            restart: o.pid.is_some(),
        });
    } else if files_differ || o.loaded.as_deref() != Some(digest.as_str()) {
        // Also when only the stamp differs: a kill between writing the files and the
        // SIGHUP left them written but not loaded.
        ops.push(Op::ReloadDhcp { digest });
    }
}

/// `stop`: end brouter's dnsmasq if anything of it is left.
pub fn stop(ops: &mut Vec<Op>, observed: Option<&ObservedDhcp>) {
    if observed.is_some() {
        ops.push(Op::StopDhcp);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn desired(host_line: &str) -> DesiredDhcp {
        DesiredDhcp {
            options: vec!["--interface=br0".into()],
            files: BTreeMap::from([("dhcp-hosts".to_string(), host_line.to_string())]),
            bridges: vec!["br0".into()],
        }
    }

    fn running(d: &DesiredDhcp) -> ObservedDhcp {
        ObservedDhcp {
            pid: Some(42),
            options: d.options.clone(),
            files: d.files.clone(),
            loaded: Some(d.files_digest()),
        }
    }

    fn plan(d: Option<&DesiredDhcp>, o: Option<&ObservedDhcp>) -> Vec<String> {
        let mut ops = Vec::new();
        converge(&mut ops, d, o);
        ops.iter().map(|o| o.to_string()).collect()
    }

    #[test]
    fn nothing_running_writes_then_starts() {
        let d = desired("a\n");
        assert_eq!(
            plan(Some(&d), None),
            [
                "write dnsmasq's static leases and host names (1 line(s))",
                "start dnsmasq (DHCP and DNS) on br0"
            ]
        );
    }

    #[test]
    fn converged_is_nothing() {
        let d = desired("a\n");
        assert!(plan(Some(&d), Some(&running(&d))).is_empty());
    }

    #[test]
    fn a_host_change_is_a_reload_not_a_restart() {
        let d = desired("a\n");
        let o = running(&desired("b\n"));
        let ops = plan(Some(&d), Some(&o));
        assert_eq!(ops.len(), 2, "{ops:?}");
        assert!(ops[1].starts_with("reload"), "{ops:?}");
    }

    #[test]
    fn files_written_but_not_loaded_are_reloaded() {
        let d = desired("a\n");
        let mut o = running(&d);
        o.loaded = Some("old".into());
        assert_eq!(plan(Some(&d), Some(&o)).len(), 1);
    }

    #[test]
    fn other_options_restart_a_dead_one_starts() {
        let d = desired("a\n");
        let mut o = running(&d);
        o.options.push("--interface=br9".into());
        assert_eq!(
            plan(Some(&d), Some(&o)),
            ["restart dnsmasq (DHCP and DNS) on br0"]
        );
        o.pid = None;
        assert_eq!(plan(Some(&d), Some(&o)), ["start dnsmasq (DHCP and DNS) on br0"]);
    }

    #[test]
    fn no_dhcp_wanted_stops_whatever_is_left() {
        let d = desired("a\n");
        let mut o = running(&d);
        assert_eq!(
            plan(None, Some(&o)),
            ["stop dnsmasq and remove its files and leases"]
        );
        o.pid = None;
        assert_eq!(plan(None, Some(&o)).len(), 1);
        assert!(plan(None, None).is_empty());
    }
}
