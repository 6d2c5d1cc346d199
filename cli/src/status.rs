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
    ports: Vec<String>,
}

pub async fn status(config: &Config, backend: &mut Backend, json_out: bool) -> Result<u8, Failure> {
    let desired = compile(config);
    let obs = backend
        .get()
        .observe()
        .await
        .map_err(|e| Failure::op(format!("cannot read the kernel state: {e}")))?;
    let plan = plan_start(&desired, &obs);
    let nets: Vec<NetworkStatus> = config.networks.iter().map(|n| network_status(n, &obs)).collect();
    let forwarding = obs.sysctls.get(IP_FORWARD).cloned().unwrap_or_else(|| "?".into());
    let (drift, conflict): (Vec<String>, Option<String>) = match &plan {
        Ok(p) => (p.ops.iter().map(ToString::to_string).collect(), None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let converged = drift.is_empty() && conflict.is_none();
    if json_out {
        let v = json!({
            "converged": converged,
            "networks": nets,
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
            } else {
                println!("  ports    {}", n.ports.join(", "));
            }
        }
        println!("ip_forward {forwarding}");
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

fn network_status(n: &brouter_engine::config::Network, obs: &Observed) -> NetworkStatus {
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
        ports: obs.ports_of(&n.bridge).map(|l| l.name.clone()).collect(),
    }
}
