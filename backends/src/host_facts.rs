//! Foreign facts `status` warns about: things other tools do on the same host that
//! silently break VM networking, and that users otherwise spend hours finding.

use brouter_engine::{BackendError, HostFacts};
use serde_json::Value;

use crate::firewall::exec::nft;
use crate::NetnsTarget;

/// Gather the facts for `target` (blocking: spawns `nft` inside the namespace).
pub fn gather(
    target: &NetnsTarget,
    bridge_nf_call_iptables: Option<String>,
) -> Result<HostFacts, BackendError> {
    Ok(HostFacts {
        foreign_forward_drops: foreign_forward_drops(target)?,
        br_netfilter: bridge_nf_call_iptables.as_deref() == Some("1"),
        firewalld_running: process_running("firewalld"),
    })
}

/// Base chains of *other* tables on the forward hook that drop what they do not accept
/// (`policy drop`) or hold drop rules: a packet must be accepted by every table on a
/// hook, so brouter's accepts cannot help there (Docker sets this when it starts).
///
/// Why chains first and then only those chains' rules: `nft list ruleset` also prints
/// every element of brouter's sets (10,000 forwards: 1.6 MB of JSON, a quarter of a
/// second), none of which this needs.
fn foreign_forward_drops(target: &NetnsTarget) -> Result<Vec<String>, BackendError> {
    let mut found = Vec::new();
    let mut forward_chains = Vec::new();
    for item in listed(target, &["-j", "list", "chains"])? {
        let Some(chain) = item.get("chain") else { continue };
        let (table, name, family) = (
            chain["table"].as_str(),
            chain["name"].as_str(),
            chain["family"].as_str(),
        );
        if table == Some("brouter") || chain["hook"].as_str() != Some("forward") {
            continue;
        }
        let (Some(table), Some(name), Some(family)) = (table, name, family) else {
            continue;
        };
        forward_chains.push((family.to_string(), table.to_string(), name.to_string()));
        if chain["policy"].as_str() == Some("drop") {
            found.push(format!("table {family} {table}, chain {name}: policy drop"));
        }
    }
    for (family, table, name) in &forward_chains {
        let items = listed(target, &["-j", "list", "chain", family, table, name])?;
        let drops = items.iter().filter_map(|item| item.get("rule")).any(|rule| {
            rule["expr"].as_array().is_some_and(|e| {
                e.iter()
                    .any(|x| x.get("drop").is_some() || x.get("reject").is_some())
            })
        });
        if drops {
            found.push(format!("table {family} {table}, chain {name}: drop rules"));
        }
    }
    Ok(found)
}

/// The objects `nft ARGS` (a `-j list …`) prints; none when it fails or prints no JSON
/// (a chain that went away between the two listings).
fn listed(target: &NetnsTarget, args: &[&str]) -> Result<Vec<Value>, BackendError> {
    let out = nft(target, args, None)?;
    if !out.success {
        return Ok(Vec::new());
    }
    Ok(serde_json::from_str::<Value>(&out.stdout)
        .ok()
        .and_then(|doc| doc.get("nftables").and_then(Value::as_array).cloned())
        .unwrap_or_default())
}

/// Whether a process of this name runs (`/proc/*/comm`); host-wide, not per namespace.
fn process_running(name: &str) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten().any(|e| {
        e.file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
            && std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == name)
    })
}
