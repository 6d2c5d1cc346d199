//! The ports `status` must point out: on an anti-spoofing bridge, a port with no binding
//! (kept from the bound vifs; `start` disables it, and until it reads disabled it may send
//! anything to the dom0) or one sharing its bound MAC with another port; anywhere, a port
//! of a bridge that is neither this configuration's nor brouter's. An unbound port that is
//! not disabled, or a duplicate-MAC port, makes the system not converged: the admin at
//! 3 a.m. must see an exposed VM. The decisions are the engine's (`vif_refuse`,
//! `port_block`).

use brouter_engine::vif_refuse::{foreign_ports, suspect_ports};
use brouter_engine::{Config, Observed};

/// One port `status` points out (docs/json.md, `ports_at_risk`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PortAtRisk {
    pub port: String,
    pub bridge: String,
    /// `unbound`, `unbound_stp`, `duplicate_mac` (not converged); `unbound_blocked`,
    /// `unbound_uplink`, `unbound_nic`, `foreign_bridge` (listed only). docs/json.md.
    pub problem: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

impl PortAtRisk {
    /// Whether this port leaves a VM unfenced (then `status` is not converged): unbound
    /// and not disabled, or sharing a MAC.
    pub fn exposes(&self) -> bool {
        matches!(self.problem.as_str(), "unbound" | "unbound_stp" | "duplicate_mac")
    }

    /// One line for people.
    pub fn line(&self) -> String {
        let (port, bridge) = (&self.port, &self.bridge);
        match self.problem.as_str() {
            "unbound" => format!(
                "EXPOSED: port {port} of anti-spoofing bridge {bridge} has no binding and is not \
                 disabled: kept from the bound vifs, but it may send anything to the dom0 (and \
                 through it): run `brouter start` to disable it, `brouter vif online` to bind \
                 it, or detach it"
            ),
            "unbound_stp" => format!(
                "EXPOSED: port {port} of anti-spoofing bridge {bridge} has no binding, and {bridge} \
                 runs STP, which refuses to have a port disabled (EBUSY): kept from the bound vifs, \
                 but it may send anything to the dom0: run `brouter vif online` for it or detach it"
            ),
            "unbound_blocked" => format!(
                "blocked: port {port} of anti-spoofing bridge {bridge} has no binding; its port \
                 state is disabled, so it reaches nothing (`brouter vif online` binds and opens it)"
            ),
            "unbound_uplink" => format!(
                "unbound uplink: {port}, the uplink, is a port of anti-spoofing bridge {bridge}: \
                 never disabled (that would cut the host off), kept from the bound vifs only"
            ),
            "unbound_nic" => format!(
                "unbound NIC: {port}, a network card, is a port of anti-spoofing bridge {bridge}: \
                 never disabled (that could cut the host off), kept from the bound vifs only"
            ),
            "duplicate_mac" => format!(
                "EXPOSED: port {} of {} is bound to MAC {}, which another port of that bridge is bound to too",
                self.port,
                self.bridge,
                self.mac.as_deref().unwrap_or("?")
            ),
            _ => format!(
                "foreign port: {} is a port of {}, a bridge neither this config nor brouter made",
                self.port, self.bridge
            ),
        }
    }
}

/// Every port at risk in `observed` against `config`.
pub fn at_risk(config: &Config, observed: &Observed) -> Vec<PortAtRisk> {
    let antispoof: Vec<&str> = config
        .networks
        .iter()
        .filter(|n| n.antispoof)
        .map(|n| n.bridge.as_str())
        .collect();
    let uplink = config.uplink.as_ref().map(|u| u.interface.as_str());
    let mut out: Vec<PortAtRisk> = suspect_ports(observed, &antispoof, uplink)
        .into_iter()
        .map(|s| PortAtRisk {
            port: s.port,
            bridge: s.bridge,
            problem: s.problem,
            mac: s.mac,
        })
        .collect();
    out.extend(
        foreign_ports(config, observed)
            .into_iter()
            .map(|(bridge, port)| PortAtRisk {
                port,
                bridge,
                problem: "foreign_bridge".into(),
                mac: None,
            }),
    );
    out
}
