//! The ports `status` must point out: on an anti-spoofing bridge, a port with no binding
//! (kept from the bound vifs, but it may send anything to the dom0) or one sharing its bound MAC with another
//! port; anywhere, a port of a bridge that is neither this configuration's nor brouter's.
//! An unbound or duplicate-MAC port makes the system not converged: the admin at 3 a.m.
//! must see an exposed VM. The decisions are the engine's (`vif_refuse`).

use brouter_engine::vif_refuse::{foreign_ports, suspect_ports};
use brouter_engine::{Config, Observed};

/// One port `status` points out (docs/json.md, `ports_at_risk`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PortAtRisk {
    pub port: String,
    pub bridge: String,
    /// `unbound`, `duplicate_mac` (both: not converged) or `foreign_bridge` (listed only).
    pub problem: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

impl PortAtRisk {
    /// Whether this port leaves a VM unfenced (then `status` is not converged).
    pub fn exposes(&self) -> bool {
        self.problem != "foreign_bridge"
    }

    /// One line for people.
    pub fn line(&self) -> String {
        match self.problem.as_str() {
            "unbound" => format!(
                "EXPOSED: port {} of anti-spoofing bridge {} has no binding: kept from the bound \
                 vifs, but it may send anything to the dom0 (and through it): \
                 run `brouter vif online` for it or detach it",
                self.port, self.bridge
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
    let mut out: Vec<PortAtRisk> = suspect_ports(observed, &antispoof)
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
