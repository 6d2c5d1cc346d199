//! Converging brouter's FRR on an EVPN cluster member: started when the cluster asks for
//! EVPN, changed in place when only its BGP sessions differ (a member joins or leaves),
//! restarted when anything else does or a daemon is gone, stopped with brouter.

use crate::routing::{config_digest, parse, reload_commands, DesiredRouting, ObservedRouting};

use super::Op;

/// The ops that bring brouter's FRR from `observed` to `desired`.
pub fn converge(ops: &mut Vec<Op>, desired: Option<&DesiredRouting>, observed: Option<&ObservedRouting>) {
    let Some(d) = desired else {
        stop(ops, observed);
        return;
    };
    let config = d.config();
    let digest = config_digest(&config);
    let Some(o) = observed.filter(|o| o.runs()) else {
        ops.push(Op::StartRouting {
            config,
            digest,
            peers: d.peers.len(),
            restart: observed.is_some_and(|o| o.zebra.is_some() || o.bgpd.is_some()),
        });
        return;
    };
    let on_disk = o.config.as_deref();
    if on_disk == Some(config.as_str()) && o.loaded.as_deref() == Some(digest.as_str()) {
        return;
    }
    // In place only when the daemons hold exactly the file on disk (a kill between
    // writing it and applying it leaves the stamp behind) and that file is brouter's form.
    let holds_disk = on_disk.is_some_and(|t| o.loaded.as_deref() == Some(config_digest(t).as_str()));
    let commands = on_disk
        .filter(|_| holds_disk)
        .and_then(parse)
        .and_then(|from| reload_commands(&from, d));
    match commands {
        Some(commands) => ops.push(Op::ReloadRouting {
            config,
            digest,
            commands,
        }),
        None => ops.push(Op::StartRouting {
            config,
            digest,
            peers: d.peers.len(),
            restart: true,
        }),
    }
}

/// `stop`: end brouter's FRR if anything of it is left.
pub fn stop(ops: &mut Vec<Op>, observed: Option<&ObservedRouting>) {
    if observed.is_some() {
        ops.push(Op::StopRouting);
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::routing::Peer;

    fn desired(peers: &[u8]) -> DesiredRouting {
        DesiredRouting {
            asn: 65000,
            router_id: Ipv4Addr::new(10, 99, 0, 1),
            hostname: "m0".into(),
            peers: peers
                .iter()
                .map(|p| Peer {
                    address: IpAddr::V4(Ipv4Addr::new(10, 99, 0, *p)),
                    rr_client: false,
                })
                .collect(),
        }
    }

    fn running(d: &DesiredRouting) -> ObservedRouting {
        ObservedRouting {
            zebra: Some(10),
            bgpd: Some(11),
            config: Some(d.config()),
            loaded: Some(d.digest()),
            sessions: vec![],
        }
    }

    fn plan(d: Option<&DesiredRouting>, o: Option<&ObservedRouting>) -> Vec<String> {
        let mut ops = Vec::new();
        converge(&mut ops, d, o);
        ops.iter().map(|o| o.to_string()).collect()
    }

    #[test]
    fn nothing_running_starts_converged_is_nothing() {
        let d = desired(&[2, 3]);
        assert_eq!(
            plan(Some(&d), None),
            ["start FRR (zebra, bgpd) for BGP EVPN with 2 session(s)"]
        );
        assert!(plan(Some(&d), Some(&running(&d))).is_empty());
    }

    #[test]
    fn a_member_joining_changes_sessions_in_place() {
        let d = desired(&[2, 3]);
        let o = running(&desired(&[2]));
        assert_eq!(
            plan(Some(&d), Some(&o)),
            ["change FRR's BGP sessions in place: neighbor 10.99.0.3 remote-as 65000"]
        );
    }

    #[test]
    fn a_dead_daemon_or_an_unknown_file_restarts() {
        let d = desired(&[2, 3]);
        let mut o = running(&d);
        o.bgpd = None;
        assert_eq!(
            plan(Some(&d), Some(&o)),
            ["restart FRR (zebra, bgpd) for BGP EVPN with 2 session(s)"]
        );
        let mut o = running(&desired(&[2]));
        o.config = Some("router bgp 1\n".into());
        o.loaded = Some(config_digest("router bgp 1\n"));
        assert_eq!(plan(Some(&d), Some(&o)).len(), 1);
        assert!(plan(Some(&d), Some(&o))[0].starts_with("restart"));
        let mut o = running(&desired(&[2]));
        o.loaded = Some("stale".into());
        assert!(
            plan(Some(&d), Some(&o))[0].starts_with("restart"),
            "written but not applied"
        );
    }

    #[test]
    fn no_evpn_wanted_stops_whatever_is_left() {
        let d = desired(&[2]);
        assert_eq!(plan(None, Some(&running(&d))), ["stop FRR and remove its files"]);
        assert!(plan(None, None).is_empty());
    }
}
