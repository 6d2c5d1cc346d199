//! `check`: validate and show what the configuration compiles to, touching nothing.

use brouter_backends::firewall::{render_text, rule_count};
use brouter_engine::{compile, Config};

pub fn check(config: &Config, json_out: bool) {
    let desired = compile(config);
    let ruleset = desired.firewall.clone().unwrap_or_default();
    let mut warnings = brouter_engine::config::risks(config);
    if let Err(missing) = crate::dhcp_check::require_dnsmasq(config) {
        // `check` touches nothing, so a missing dnsmasq is a warning here; `start` and
        // `plan` refuse (exit 2).
        warnings.push(missing.message);
    }
    for w in &warnings {
        eprintln!("brouter: warning: {w}");
    }
    if json_out {
        let v = serde_json::json!({
            "valid": true,
            "warnings": warnings,
            "origin": config.origin,
            "desired": desired,
            "nft": render_text(&ruleset),
            "rule_count": rule_count(&ruleset),
        });
        crate::json::print(v);
        return;
    }
    println!("# {}: valid", config.origin);
    for n in &config.networks {
        println!(
            "# network {}: bridge {} address {} routes {} masquerade {} antispoof {}",
            n.name,
            n.bridge,
            n.address,
            n.subnet,
            if n.masquerade { "on" } else { "off" },
            if n.antispoof { "on" } else { "off" }
        );
    }
    if let Some(d) = &desired.dhcp {
        println!(
            "# dnsmasq (DHCP and DNS) on {}: {}",
            d.bridges.join(", "),
            d.options.join(" ")
        );
    }
    if let Some(c) = &config.cluster {
        println!(
            "# cluster: member {} over {} ({} control), {} member(s)",
            c.local,
            c.underlay,
            c.control,
            c.members.len()
        );
    }
    if let Some(r) = &desired.routing {
        let peers: Vec<String> = r
            .peers
            .iter()
            .map(|p| match p.rr_client {
                true => format!("{} (route-reflector client)", p.address),
                false => p.address.to_string(),
            })
            .collect();
        println!(
            "# evpn: FRR (zebra, bgpd) with AS {}, router id {}, BGP sessions to {}",
            r.asn,
            r.router_id,
            if peers.is_empty() {
                "no other member".to_string()
            } else {
                peers.join(", ")
            }
        );
    }
    for v in &desired.vxlans {
        let remotes: Vec<String> = v.remotes.iter().map(ToString::to_string).collect();
        println!(
            "# vxlan {} (vni {}) on {}: local {}, floods to {}; gateway mac {}, {} neighbour entr(ies)",
            v.name,
            v.vni,
            v.bridge,
            v.local,
            if !v.learning {
                "the members FRR learns by BGP EVPN (learning off)".to_string()
            } else if remotes.is_empty() {
                "no other member".to_string()
            } else {
                remotes.join(", ")
            },
            v.gateway_mac,
            v.neighbours.len()
        );
    }
    for (k, v) in &desired.sysctls {
        println!("# sysctl {k} = {v}");
    }
    println!(
        "# firewall: {} rules (independent of the number of forwards, hosts and vifs)",
        rule_count(&ruleset)
    );
    print!("{}", render_text(&ruleset));
}
