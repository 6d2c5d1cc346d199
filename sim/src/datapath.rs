//! The simulated datapath: a flow moved through the simulated host's plumbing (bridges,
//! ports, addresses, routes, forwarding) and then through brouter's firewall IR with the
//! very evaluator `brouter explain` uses — so a whole scenario runs without root, and a
//! missing bridge or a vif left unattached shows up just as it would on a dom0.

use brouter_engine::config::{Action, ZONE_DOM0};
use brouter_engine::firewall::{explain, Address, ExplainContext, Flow, NetZone, Ruleset, Trace};
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
    /// Send `flow` through the simulated host: the plumbing where it enters, the firewall
    /// (the evaluator `explain` uses), then the plumbing where it leaves.
    pub fn send(&self, flow: &Flow) -> SimOutcome {
        match self.try_send(flow) {
            Ok(outcome) => outcome,
            Err(reason) => SimOutcome::NoPath { reason },
        }
    }

    /// [`Kernel::send`], with a missing path as the error.
    fn try_send(&self, flow: &Flow) -> Result<SimOutcome, String> {
        let Some(rs) = &self.firewall else {
            return Err("brouter's firewall is not there: brouter is not started".into());
        };
        // Where it enters: a network's bridge (through a vif, if named) or elsewhere.
        let from_net = flow
            .from
            .as_deref()
            .and_then(|z| rs.network(z))
            .or_else(|| flow.src.and_then(|s| rs.network_of_ip(s)));
        if let Some(net) = from_net {
            self.entry_path(net, flow)?;
        }
        let trace = explain(rs, &self.explain_context(rs), flow).map_err(|e| e.to_string())?;
        if trace.verdict != Action::Accept {
            return Ok(SimOutcome::Refused {
                trace: Box::new(trace),
            });
        }
        if let Some(d) = &trace.delivered {
            if let Some(net) = rs.network(&d.zone) {
                self.exit_path(net)?;
            }
            // Routed between zones (not to or from the host itself): needs forwarding on.
            let from_zone = from_net
                .map(|n| n.name.as_str())
                .or(flow.from.as_deref())
                .unwrap_or("external");
            let forwarded = from_zone != ZONE_DOM0 && d.zone != ZONE_DOM0 && from_zone != d.zone;
            if forwarded && self.sysctls.get(IP_FORWARD).map(String::as_str) != Some("1") {
                return Err("net.ipv4.ip_forward is 0: the host does not route".into());
            }
        }
        Ok(SimOutcome::Delivered {
            trace: Box::new(trace),
        })
    }

    /// The bridge exists and is up.
    fn bridge_ok(&self, bridge: &str) -> Result<(), String> {
        let l = self
            .links
            .get(bridge)
            .ok_or(format!("bridge {bridge} does not exist"))?;
        if !l.up {
            return Err(format!("bridge {bridge} is down"));
        }
        Ok(())
    }

    /// A flow from network `net` needs its bridge up with its address (the VMs' gateway),
    /// and the vif it names attached to that bridge and up.
    fn entry_path(&self, net: &NetZone, flow: &Flow) -> Result<(), String> {
        self.bridge_ok(&net.bridge)?;
        if !self
            .addresses
            .iter()
            .any(|a| a.link == net.bridge && a.addr == net.address)
        {
            return Err(format!(
                "{} has no address {}: the VMs have no gateway",
                net.bridge, net.address
            ));
        }
        if let Some(vif) = &flow.vif {
            match self.links.get(vif) {
                None => return Err(format!("vif {vif} does not exist")),
                Some(l) if l.master.as_deref() != Some(net.bridge.as_str()) => {
                    return Err(format!("vif {vif} is not a port of {}", net.bridge))
                }
                Some(l) if !l.up => return Err(format!("vif {vif} is down")),
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// A flow delivered into network `net` needs its bridge up and the route to its subnet.
    fn exit_path(&self, net: &NetZone) -> Result<(), String> {
        self.bridge_ok(&net.bridge)?;
        if !self
            .routes
            .iter()
            .any(|r| r.dst == net.subnet && r.dev == net.bridge)
        {
            return Err(format!("no route to {} via {}", net.subnet, net.bridge));
        }
        Ok(())
    }

    /// What `explain` needs of the live host: the uplink's address and the bindings.
    fn explain_context(&self, rs: &Ruleset) -> ExplainContext {
        let uplink_address = rs
            .uplink()
            .and_then(|u| self.addresses.iter().find(|a| a.link == u))
            .map(|a| a.addr.addr());
        let uplink_address6 = rs
            .uplink()
            .and_then(|u| self.addresses6.iter().find(|a| a.link == u))
            .map(|a| a.addr.addr());
        ExplainContext {
            uplink_address,
            uplink_address6,
            bindings: self.bindings.values().cloned().collect(),
            disabled_ports: self
                .links
                .values()
                .filter(|l| l.port_state == Some(brouter_engine::PortState::Disabled))
                .map(|l| l.name.clone())
                .collect(),
        }
    }
}
