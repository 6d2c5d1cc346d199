//! `status`: what exists, what is missing, what drifted.

use brouter_engine::{compile, plan_start, Config, Observed, IP_FORWARD};
use serde_json::json;

use crate::exit::{Failure, DRIFTED, OK};
use crate::load::Backend;

/// One network's state as found.
#[derive(Debug, serde::Serialize)]
struct NetworkStatus {
    network: String,
    bridge: String,
    /// "missing", "created by brouter" or "adopted (existed before brouter)".
    bridge_state: String,
    up: bool,
    address: String,
    address_present: bool,
    route: String,
    route_present: bool,
    /// Attached vifs, each with the host it is bound to (anti-spoofing) or declared as.
    ports: Vec<PortStatus>,
}

#[derive(Debug, serde::Serialize)]
struct PortStatus {
    vif: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<String>,
    /// The MAC and addresses the vif may use, when it is bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    bound: Option<String>,
}

pub async fn status(config: &Config, backend: &mut Backend, json_out: bool) -> Result<u8, Failure> {
    let desired = compile(config);
    let obs = backend
        .get()
        .observe()
        .await
        .map_err(|e| Failure::op(format!("cannot read the kernel state: {e}")))?;
    let plan = plan_start(&desired, &obs);
    let nets: Vec<NetworkStatus> = config
        .networks
        .iter()
        .map(|n| network_status(config, n, &obs))
        .collect();
    let forwarding = obs.sysctls.get(IP_FORWARD).cloned().unwrap_or_else(|| "?".into());
    let (drift, conflict): (Vec<String>, Option<String>) = match &plan {
        Ok(p) => (p.ops.iter().map(ToString::to_string).collect(), None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let converged = drift.is_empty() && conflict.is_none();
    let facts = backend.get().host_facts().await.unwrap_or_default();
    let warnings = brouter_engine::health::warnings(&obs, &facts);
    let forwards: Vec<String> = config
        .forwards
        .iter()
        .map(|f| {
            let to = f.host.clone().unwrap_or_else(|| f.addr.to_string());
            let port = f.to_port.map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}/{} -> {to} ({}){port}", f.proto, f.ports, f.addr)
        })
        .collect();
    if json_out {
        let v = json!({
            "converged": converged,
            "networks": nets,
            "forwards": forwards,
            "warnings": warnings,
            "ip_forward": forwarding,
            "firewall": obs.firewall,
            "drift": drift,
            "conflict": conflict,
        });
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
    } else {
        for n in &nets {
            println!("network {} (bridge {}):", n.network, n.bridge);
            println!(
                "  bridge   {}{}",
                n.bridge_state,
                if n.up { ", up" } else { ", down" }
            );
            println!("  address  {} {}", n.address, mark(n.address_present));
            println!("  route    {} {}", n.route, mark(n.route_present));
            if n.ports.is_empty() {
                println!("  ports    none");
            }
            for p in &n.ports {
                let host = p.host.as_ref().map(|h| format!(" host {h}")).unwrap_or_default();
                let bound = p
                    .bound
                    .as_ref()
                    .map(|b| format!(", bound to {b}"))
                    .unwrap_or_default();
                println!("  port     {}{host}{bound}", p.vif);
            }
        }
        for f in &forwards {
            println!("forward {f}");
        }
        println!("ip_forward {forwarding}");
        println!(
            "firewall {}",
            match &obs.firewall {
                Some(fp) => format!("tables inet/bridge brouter present (ruleset {fp})"),
                None => "brouter's tables are not there".into(),
            }
        );
        for w in &warnings {
            println!("WARNING: {w}");
        }
        if let Some(c) = &conflict {
            println!("conflict: {c}");
        } else if converged {
            println!("converged: start has nothing to do");
        } else {
            println!("drifted: start would apply {} step(s):", drift.len());
            for d in &drift {
                println!("  - {d}");
            }
        }
    }
    Ok(if converged { OK } else { DRIFTED })
}

fn mark(present: bool) -> &'static str {
    if present {
        "(present)"
    } else {
        "(MISSING)"
    }
}

fn network_status(config: &Config, n: &brouter_engine::config::Network, obs: &Observed) -> NetworkStatus {
    let link = obs.link(&n.bridge);
    let bridge_state = match link {
        None => "missing".to_string(),
        Some(l) if l.owner().is_some() => "created by brouter".to_string(),
        Some(_) => "adopted (existed before brouter)".to_string(),
    };
    NetworkStatus {
        network: n.name.clone(),
        bridge: n.bridge.clone(),
        bridge_state,
        up: link.is_some_and(|l| l.up),
        address: n.address.to_string(),
        address_present: obs
            .addresses
            .iter()
            .any(|a| a.link == n.bridge && a.addr == n.address),
        route: format!("{} dev {}", n.subnet, n.bridge),
        route_present: obs.routes.iter().any(|r| r.dst == n.subnet && r.dev == n.bridge),
        ports: obs
            .ports_of(&n.bridge)
            .map(|l| {
                let binding = obs.bindings.iter().find(|b| b.vif == l.name);
                let host = config
                    .hosts
                    .iter()
                    .find(|h| {
                        h.vif.as_deref() == Some(l.name.as_str())
                            || binding.is_some_and(|b| h.mac.as_deref() == Some(b.mac.as_str()))
                    })
                    .map(|h| h.name.clone());
                let bound = binding.map(|b| {
                    let addrs: Vec<String> = b.addrs.iter().map(ToString::to_string).collect();
                    format!(
                        "{} {}",
                        b.mac,
                        if addrs.is_empty() {
                            "(no address)".into()
                        } else {
                            addrs.join(" ")
                        }
                    )
                });
                PortStatus {
                    vif: l.name.clone(),
                    host,
                    bound,
                }
            })
            .collect(),
    }
}
