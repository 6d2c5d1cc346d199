//! The simulated datapath: a flow moved through the simulated host's plumbing (bridges,
//! ports, addresses, routes, forwarding) and then through brouter's firewall IR with the
//! very evaluator `brouter explain` uses — so a whole scenario runs without root, and a
//! missing bridge or a vif left unattached shows up just as it would on a dom0.

use brouter_engine::config::{Action, ZONE_DOM0};
use brouter_engine::firewall::{explain, Address, ExplainContext, Flow, Trace};
use brouter_engine::IP_FORWARD;
use serde::{Deserialize, Serialize};

use crate::kernel::Kernel;

/// What happened to one simulated flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum SimOutcome {
    /// It got there; `trace` says how and what source the receiver saw.
    Delivered { trace: Box<Trace> },
    /// The firewall dropped or rejected it.
    Refused { trace: Box<Trace> },
    /// The host's plumbing has no path for it (no bridge, port not attached, …).
    NoPath { reason: String },
}

impl SimOutcome {
    pub fn delivered(&self) -> bool {
        matches!(self, SimOutcome::Delivered { .. })
    }

    /// The source address the receiver saw, for a delivered flow.
    pub fn seen_source(&self) -> Option<Address> {
        match self {
            SimOutcome::Delivered { trace } => trace.seen_source(),
            _ => None,
        }
    }
}

impl Kernel {
    /// Send `flow` through the simulated host.
    pub fn send(&self, flow: &Flow) -> SimOutcome {
        let no_path = |reason: String| SimOutcome::NoPath { reason };
        let Some(rs) = &self.firewall else {
            return no_path("brouter's firewall is not there: brouter is not started".into());
        };
        let bridge_ok = |bridge: &str| -> Result<(), String> {
            let l = self
                .links
                .get(bridge)
                .ok_or(format!("bridge {bridge} does not exist"))?;
            if !l.up {
                return Err(format!("bridge {bridge} is down"));
            }
            Ok(())
        };
        // Where it enters: a network's bridge (through a vif, if named) or elsewhere.
        let from_net = flow
            .from
            .as_deref()
            .and_then(|z| rs.network(z))
            .or_else(|| flow.src.and_then(|s| rs.network_of(s)));
        if let Some(net) = from_net {
            if let Err(e) = bridge_ok(&net.bridge) {
                return no_path(e);
            }
            if !self
                .addresses
                .iter()
                .any(|a| a.link == net.bridge && a.addr == net.address)
            {
                return no_path(format!(
                    "{} has no address {}: the VMs have no gateway",
                    net.bridge, net.address
                ));
            }
            if let Some(vif) = &flow.vif {
                match self.links.get(vif) {
                    None => return no_path(format!("vif {vif} does not exist")),
                    Some(l) if l.master.as_deref() != Some(net.bridge.as_str()) => {
                        return no_path(format!("vif {vif} is not a port of {}", net.bridge))
                    }
                    Some(l) if !l.up => return no_path(format!("vif {vif} is down")),
                    Some(_) => {}
                }
            }
        }
        let uplink_address = rs
            .uplink()
            .and_then(|u| self.addresses.iter().find(|a| a.link == u))
            .map(|a| a.addr.addr());
        let ctx = ExplainContext {
            uplink_address,
            bindings: self.bindings.values().cloned().collect(),
        };
        let trace = match explain(rs, &ctx, flow) {
            Ok(t) => t,
            Err(e) => return no_path(e.to_string()),
        };
        if trace.verdict != Action::Accept {
            return SimOutcome::Refused {
                trace: Box::new(trace),
            };
        }
        if let Some(d) = &trace.delivered {
            let to_net = rs.network(&d.zone);
            if let Some(net) = to_net {
                if let Err(e) = bridge_ok(&net.bridge) {
                    return no_path(e);
                }
                if !self
                    .routes
                    .iter()
                    .any(|r| r.dst == net.subnet && r.dev == net.bridge)
                {
                    return no_path(format!("no route to {} via {}", net.subnet, net.bridge));
                }
            }
            // Routed between zones (not to or from the host itself): needs forwarding on.
            let from_zone = from_net
                .map(|n| n.name.as_str())
                .or(flow.from.as_deref())
                .unwrap_or("external");
            let forwarded = from_zone != ZONE_DOM0 && d.zone != ZONE_DOM0 && from_zone != d.zone;
            if forwarded && self.sysctls.get(IP_FORWARD).map(String::as_str) != Some("1") {
                return no_path("net.ipv4.ip_forward is 0: the host does not route".into());
            }
        }
        SimOutcome::Delivered {
            trace: Box::new(trace),
        }
    }
}
