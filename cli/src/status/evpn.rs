//! `status`'s EVPN line: whether brouter's FRR runs what the config asks, read from the
//! processes themselves, and how its BGP sessions stand (read from bgpd), so a dead bgpd
//! or a member that cannot be reached is named at once.

use brouter_engine::routing::{DesiredRouting, ObservedRouting, Session};

/// brouter's FRR as found.
#[derive(Debug, serde::Serialize)]
pub(super) struct EvpnStatus {
    pub zebra: Option<u32>,
    pub bgpd: Option<u32>,
    /// `running`, `not running`, `stale` or `left over` (for scripts).
    pub state: &'static str,
    /// Each configured peer: its session state (`Established`, `Active`, …, or `unknown`
    /// when bgpd does not report it) and the EVPN routes it sent.
    pub sessions: Vec<Session>,
}

/// The status of brouter's FRR, if the config asks for it or some of it is found.
pub(super) fn status(wanted: Option<&DesiredRouting>, found: Option<&ObservedRouting>) -> Option<EvpnStatus> {
    let state = match (wanted, found) {
        (None, None) => return None,
        (None, Some(_)) => "left over",
        (Some(_), None) => "not running",
        (Some(_), Some(f)) if !f.runs() => "not running",
        (Some(w), Some(f))
            if f.config.as_deref() != Some(w.config().as_str()) || f.loaded != Some(w.digest()) =>
        {
            "stale"
        }
        (Some(_), Some(_)) => "running",
    };
    let sessions = wanted
        .map(|w| {
            w.peers
                .iter()
                .map(|p| {
                    let peer = p.address.to_string();
                    found
                        .and_then(|f| f.sessions.iter().find(|s| s.peer == peer))
                        .cloned()
                        .unwrap_or(Session {
                            peer,
                            state: "unknown".into(),
                            routes: None,
                        })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(EvpnStatus {
        zebra: found.and_then(|f| f.zebra),
        bgpd: found.and_then(|f| f.bgpd),
        state,
        sessions,
    })
}

impl EvpnStatus {
    /// The text line: `evpn running (zebra pid 812, bgpd pid 815): 2 of 2 BGP sessions
    /// established (10.99.0.2 Established, 10.99.0.3 Established)`.
    pub fn line(&self) -> String {
        let pids = match (self.zebra, self.bgpd) {
            (None, None) => String::new(),
            (z, b) => format!(
                " (zebra pid {}, bgpd pid {})",
                z.map_or("-".into(), |p| p.to_string()),
                b.map_or("-".into(), |p| p.to_string())
            ),
        };
        let state = match self.state {
            "running" => self.state.to_string(),
            bad => bad.to_uppercase(),
        };
        let detail = match self.state {
            "left over" => "brouter's FRR or its files are there, but the config asks for no EVPN (start or stop removes them)".to_string(),
            "not running" => "brouter's zebra and bgpd are not both running: the other members' VMs are unreachable from here (start starts them)".to_string(),
            "stale" => "FRR runs other BGP sessions than the config's (start changes them)".to_string(),
            _ => {
                let up = self.sessions.iter().filter(|s| s.state == "Established").count();
                let each: Vec<String> = self
                    .sessions
                    .iter()
                    .map(|s| match s.routes {
                        Some(n) if s.state == "Established" => format!("{} {}, {n} route(s)", s.peer, s.state),
                        _ => format!("{} {}", s.peer, s.state),
                    })
                    .collect();
                format!(
                    "{up} of {} BGP session(s) established ({})",
                    self.sessions.len(),
                    each.join("; ")
                )
            }
        };
        format!("evpn {state}{pids}: {detail}")
    }

    /// A warning for each session that is not up: the VMs behind that member are not
    /// reachable through this one, whatever `start` does here.
    pub fn warnings(&self) -> Vec<String> {
        if self.state != "running" {
            return Vec::new();
        }
        self.sessions
            .iter()
            .filter(|s| s.state != "Established")
            .map(|Session { peer: p, state: s, .. }| {
                format!("the BGP EVPN session to member {p} is {s}, not Established: its VMs are unreachable from this member until it is (is brouter started there, and TCP port 179 open between the members?)")
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use brouter_engine::routing::{Peer, Session};

    use super::*;

    fn wanted() -> DesiredRouting {
        DesiredRouting {
            asn: 65000,
            router_id: Ipv4Addr::new(10, 99, 0, 1),
            hostname: "m0".into(),
            peers: [2, 3]
                .map(|n| Peer {
                    address: IpAddr::V4(Ipv4Addr::new(10, 99, 0, n)),
                    rr_client: false,
                })
                .to_vec(),
        }
    }

    fn found(w: &DesiredRouting, states: [&str; 2]) -> ObservedRouting {
        ObservedRouting {
            zebra: Some(10),
            bgpd: Some(11),
            config: Some(w.config()),
            loaded: Some(w.digest()),
            sessions: ["10.99.0.2", "10.99.0.3"]
                .iter()
                .zip(states)
                .map(|(p, s)| Session {
                    peer: p.to_string(),
                    state: s.to_string(),
                    routes: Some(2),
                })
                .collect(),
        }
    }

    #[test]
    fn every_session_is_named_and_one_down_is_a_warning() {
        let w = wanted();
        let up = status(Some(&w), Some(&found(&w, ["Established", "Established"]))).unwrap();
        assert_eq!(
            up.line(),
            "evpn running (zebra pid 10, bgpd pid 11): 2 of 2 BGP session(s) established (10.99.0.2 Established, 2 route(s); 10.99.0.3 Established, 2 route(s))"
        );
        assert!(up.warnings().is_empty());
        let half = status(Some(&w), Some(&found(&w, ["Established", "Active"]))).unwrap();
        assert!(half.line().contains("1 of 2"), "{}", half.line());
        let warned = half.warnings();
        assert_eq!(warned.len(), 1);
        assert!(
            warned[0].starts_with("the BGP EVPN session to member 10.99.0.3 is Active"),
            "{warned:?}"
        );
    }

    #[test]
    fn a_dead_bgpd_a_stale_config_and_leftovers_are_named() {
        let w = wanted();
        let mut f = found(&w, ["Established", "Established"]);
        f.bgpd = None;
        let s = status(Some(&w), Some(&f)).unwrap();
        assert!(
            s.line()
                .starts_with("evpn NOT RUNNING (zebra pid 10, bgpd pid -)"),
            "{}",
            s.line()
        );
        assert!(
            s.warnings().is_empty(),
            "the line says it; no session warnings on top"
        );
        let mut f = found(&w, ["Established", "Established"]);
        f.loaded = Some("other".into());
        assert_eq!(status(Some(&w), Some(&f)).unwrap().state, "stale");
        assert_eq!(status(None, Some(&f)).unwrap().state, "left over");
        assert_eq!(status(Some(&w), None).unwrap().state, "not running");
        assert!(status(None, None).is_none());
    }
}
