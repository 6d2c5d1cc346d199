//! `status`: what exists, what is missing, what drifted.

use brouter_engine::config::Action;
use brouter_engine::{compile, plan_start, Config, FirewallCounters, Hits, Observed, IP_FORWARD};
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
    let obs = backend
        .get()
        .observe()
        .await
        .map_err(|e| Failure::op(format!("cannot read the kernel state: {e}")))?;
    let desired = compile(&crate::run::with_other_xen_bridges(config, &obs));
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
    // Counters only mean something while brouter's tables are there.
    let counters = match obs.firewall {
        Some(_) => backend.get().firewall_counters().await.unwrap_or_default(),
        None => FirewallCounters::default(),
    };
    let forwards: Vec<ForwardStatus> = config
        .forwards
        .iter()
        .map(|f| {
            let to = f.host.clone().unwrap_or_else(|| f.addr.to_string());
            let port = f.to_port.map(|p| format!(":{p}")).unwrap_or_default();
            let hits = counters
                .forwards
                .iter()
                .find(|h| h.proto == f.proto && h.ports == f.ports);
            ForwardStatus {
                forward: format!("{}/{} -> {to} ({}){port}", f.proto, f.ports, f.addr),
                connections: hits.map(|h| h.connections),
                packets: hits.map(|h| h.traffic.packets),
                bytes: hits.map(|h| h.traffic.bytes),
            }
        })
        .collect();
    let policies: Vec<PolicyStatus> = config
        .policies
        .iter()
        .map(|p| policy_status(p, &counters))
        .collect();
    let have_counters = counters != FirewallCounters::default();
    let unlisted = have_counters.then(|| UnlistedStatus {
        dropped: counters.unlisted,
        logged_lines: counters
            .logged
            .iter()
            .filter(|l| !config.policies.iter().any(|p| p.from == l.from && p.to == l.to))
            .map(|l| l.lines)
            .sum(),
    });
    if json_out {
        let v = json!({
            "converged": converged,
            "networks": nets,
            "forwards": forwards,
            "policies": policies,
            "unlisted": unlisted,
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
            match (f.connections, f.packets, f.bytes) {
                (Some(c), Some(p), Some(b)) => println!(
                    "forward  {}: {c} connection{}, {p} packet{}, {}",
                    f.forward,
                    plural(c),
                    plural(p),
                    size(b)
                ),
                _ => println!("forward  {}", f.forward),
            }
        }
        for p in &policies {
            println!("policy   {}{}", p.policy, p.hits_text());
        }
        if let Some(u) = &unlisted {
            let logged = if u.logged_lines > 0 {
                format!("; {} line{} logged", u.logged_lines, plural(u.logged_lines))
            } else {
                String::new()
            };
            println!(
                "unlisted zone pairs: {} packet{} dropped ({}){logged}",
                u.dropped.packets,
                plural(u.dropped.packets),
                size(u.dropped.bytes)
            );
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

/// A forward and, while brouter's tables are there, what went through it.
#[derive(Debug, serde::Serialize)]
struct ForwardStatus {
    forward: String,
    /// Connections DNAT'd since the tables were last written.
    #[serde(skip_serializing_if = "Option::is_none")]
    connections: Option<u64>,
    /// Packets and bytes of those connections, both directions.
    #[serde(skip_serializing_if = "Option::is_none")]
    packets: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<u64>,
}

/// A listed policy and what its rules decided (new connections, per verdict).
#[derive(Debug, serde::Serialize)]
struct PolicyStatus {
    policy: String,
    from: String,
    to: String,
    hits: Vec<VerdictHits>,
    /// Lines written to the kernel log (`journalctl -k | grep 'brouter drop'`).
    #[serde(skip_serializing_if = "Option::is_none")]
    logged_lines: Option<u64>,
}

#[derive(Debug, serde::Serialize)]
struct VerdictHits {
    verdict: Action,
    packets: u64,
    bytes: u64,
}

/// Drops of zone pairs no policy lists.
#[derive(Debug, serde::Serialize)]
struct UnlistedStatus {
    dropped: Hits,
    logged_lines: u64,
}

impl PolicyStatus {
    fn hits_text(&self) -> String {
        if self.hits.is_empty() {
            return String::new();
        }
        let hits: Vec<String> = self
            .hits
            .iter()
            .map(|h| {
                format!(
                    "{} {} packet{} ({})",
                    h.verdict,
                    h.packets,
                    plural(h.packets),
                    size(h.bytes)
                )
            })
            .collect();
        let logged = self
            .logged_lines
            .map(|l| format!("; {l} line{} logged", plural(l)))
            .unwrap_or_default();
        format!(": {}{logged}", hits.join(", "))
    }
}

fn policy_status(p: &brouter_engine::config::Policy, counters: &FirewallCounters) -> PolicyStatus {
    let services: Vec<String> = p.services.iter().map(ToString::to_string).collect();
    let mut what = p.action.to_string();
    if !services.is_empty() {
        what.push_str(&format!(" {}", services.join(", ")));
    }
    // A policy that accepts everything refuses nothing, so has nothing to log.
    if p.log && (p.action != Action::Accept || !p.services.is_empty()) {
        what.push_str(", logged");
    }
    let hits = counters
        .policies
        .iter()
        .filter(|h| h.from == p.from && h.to == p.to)
        .map(|h| VerdictHits {
            verdict: h.verdict,
            packets: h.hits.packets,
            bytes: h.hits.bytes,
        })
        .collect();
    let logged: Vec<u64> = counters
        .logged
        .iter()
        .filter(|l| l.from == p.from && l.to == p.to)
        .map(|l| l.lines)
        .collect();
    PolicyStatus {
        policy: format!("{} -> {} ({what})", p.from, p.to),
        from: p.from.clone(),
        to: p.to.clone(),
        hits,
        logged_lines: (!logged.is_empty()).then(|| logged.iter().sum()),
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Bytes for people: `512 B`, `1.5 KiB`, `3.2 MiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
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
