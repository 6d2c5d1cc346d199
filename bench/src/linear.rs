//! The linear-rules firewall baseline: the same forwards, masquerade and anti-spoofing
//! bindings as brouter's ruleset, written the iptables-era way — one rule per forward
//! (DNAT and accept) and per binding (MAC, IP, ARP checks) — as nft text.

use std::fmt::Write;

use brouter_engine::firewall::Binding;

use crate::configs::{self, Size};

/// nft text for `size` with `bindings`; the bindings' rules come in the order given (a
/// flow of the last binding walks every rule before it, as with iptables).
pub fn ruleset(size: Size, bindings: &[Binding]) -> String {
    let mut s = String::from("table ip linear {\n");
    s.push_str(" chain prerouting {\n  type nat hook prerouting priority -100; policy accept;\n");
    for f in 0..size.forwards {
        let (port, h) = configs::forward(size, f);
        let (_, ip, _) = configs::host(size, h);
        let _ = writeln!(s, "  iifname \"eth0\" tcp dport {port} dnat to {ip}:80");
    }
    s.push_str(" }\n chain postrouting {\n  type nat hook postrouting priority 100; policy accept;\n");
    for i in 0..size.nets {
        let gw = configs::gateway(i);
        let _ = writeln!(
            s,
            "  oifname \"eth0\" ip saddr {}.{}.{}.0/24 masquerade",
            gw.octets()[0],
            gw.octets()[1],
            gw.octets()[2]
        );
    }
    s.push_str(" }\n chain forward {\n  type filter hook forward priority 0; policy accept;\n");
    s.push_str("  ct state established,related accept\n  ct state invalid drop\n");
    for f in 0..size.forwards {
        let (_, h) = configs::forward(size, f);
        let (n, ip, _) = configs::host(size, h);
        let _ = writeln!(
            s,
            "  iifname \"eth0\" oifname \"{}\" ip daddr {ip} tcp dport 80 accept",
            configs::bridge(n)
        );
    }
    for i in 0..size.nets {
        let _ = writeln!(s, "  iifname \"{}\" oifname \"eth0\" accept", configs::bridge(i));
        let _ = writeln!(s, "  oifname \"{}\" drop", configs::bridge(i));
    }
    s.push_str(" }\n}\n");
    s.push_str("table bridge linear {\n chain prerouting {\n  type filter hook prerouting priority -200; policy accept;\n");
    for b in bindings {
        let _ = writeln!(s, "  iifname \"{}\" ether saddr != {} drop", b.vif, b.mac);
        let ips: Vec<String> = b.addrs.iter().map(ToString::to_string).collect();
        let set = if ips.is_empty() {
            "0.0.0.0".to_string()
        } else {
            format!("{{ {} }}", ips.join(", "))
        };
        let _ = writeln!(s, "  iifname \"{}\" ether type ip ip saddr != {set} drop", b.vif);
        let _ = writeln!(
            s,
            "  iifname \"{}\" ether type arp arp saddr ip != {set} drop",
            b.vif
        );
    }
    s.push_str(" }\n}\n");
    s
}

/// Rules in nft text (lines that are neither headers nor braces).
pub fn rule_count(text: &str) -> usize {
    text.lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("table")
                && !l.starts_with("chain")
                && !l.starts_with("type")
                && *l != "}"
        })
        .count()
}
