//! Proving a drop: silence after a probe is not evidence that a firewall dropped it — the
//! packet may never have reached the dom0, or passed the firewall and been lost beyond it.
//! A probe table (test-owned, `brt_p<id>` in the `inet` and `bridge` families) counts one
//! flow's packets on every hook just before brouter's chains (`pre`) and just after them
//! (`post`); a hook the packets entered and never left is where they were dropped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::Netns;

/// Which packets a probe table counts: an `inet` match (on the conntrack original tuple,
/// so it holds before and after DNAT) and a `bridge` match (frames entering a bridge).
#[derive(Debug, Clone)]
pub struct ProbeMatch {
    /// `None` for what is not IP (ARP): nothing to count in the inet family.
    pub inet: Option<String>,
    pub bridge: String,
}

impl ProbeMatch {
    /// A TCP, UDP or ICMP flow (`l4` = "tcp", "udp", "icmp") from `src` (the client's
    /// address before any NAT; `None` for the dom0's own flows) to `dst` (and `port`).
    /// With `src_mac`, the bridge counts every frame from that MAC instead: a VM sending
    /// from a MAC it is not bound to never gets its IP packet out — its ARP for the
    /// gateway is what the bridge drops.
    pub fn l4(
        l4: &str,
        src: Option<Ipv4Addr>,
        dst: Ipv4Addr,
        port: Option<u16>,
        src_mac: Option<&str>,
    ) -> Self {
        let mut inet = format!("ct original ip daddr {dst}");
        let mut bridge = format!("ip daddr {dst} meta l4proto {l4}");
        if let Some(src) = src {
            let _ = write!(inet, " ct original ip saddr {src}");
            let _ = write!(bridge, " ip saddr {src}");
        }
        let _ = write!(inet, " meta l4proto {l4}");
        if let Some(p) = port {
            let _ = write!(inet, " ct original proto-dst {p}");
            let _ = write!(bridge, " th dport {p}");
        }
        if let Some(mac) = src_mac {
            bridge = format!("ether saddr {mac}");
        }
        ProbeMatch {
            inet: Some(inet),
            bridge,
        }
    }

    /// An ARP request: `sender_mac` says `sender_ip` is at it and asks for `target_ip`.
    pub fn arp(sender_ip: Ipv4Addr, target_ip: Ipv4Addr, sender_mac: [u8; 6]) -> Self {
        let mac: Vec<String> = sender_mac.iter().map(|b| format!("{b:02x}")).collect();
        ProbeMatch {
            inet: None,
            bridge: format!(
                "arp saddr ip {sender_ip} arp daddr ip {target_ip} arp saddr ether {}",
                mac.join(":")
            ),
        }
    }

    fn tables(&self, id: usize) -> String {
        let mut out = format!("table inet brt_p{id} {{\n");
        let hooks: &[&str] = match self.inet {
            Some(_) => &["prerouting", "input", "forward", "output", "postrouting"],
            None => &[],
        };
        let inet = self.inet.as_deref().unwrap_or_default();
        for hook in hooks {
            // -150: after conntrack (-200), so the original tuple is known; before DNAT
            // (-100) and brouter's filter chains (0).
            for (when, prio) in [("pre", -150), ("post", 300)] {
                let _ = writeln!(
                    out,
                    "  chain {hook}_{when} {{ type filter hook {hook} priority {prio}; {inet} counter comment \"{hook}:{when}\"; }}"
                );
            }
        }
        let _ = writeln!(out, "}}\ntable bridge brt_p{id} {{");
        for hook in ["prerouting", "forward", "input"] {
            for (when, prio) in [("pre", -300), ("post", 300)] {
                let _ = writeln!(
                    out,
                    "  chain {hook}_{when} {{ type filter hook {hook} priority {prio}; {} counter comment \"bridge {hook}:{when}\"; }}",
                    self.bridge
                );
            }
        }
        out.push_str("}\n");
        out
    }
}

/// `nft -f` a script inside `ns` (through a file: the namespace helpers have no stdin).
fn nft_script(ns: &Netns, script: &str, tag: &str) -> std::process::Output {
    let file = std::env::temp_dir().join(format!(
        "brt-probe-{}-{}-{tag}.nft",
        std::process::id(),
        ns.name()
    ));
    std::fs::write(&file, script).expect("write the probe script");
    let out = ns.exec("nft", &["-f", file.to_str().expect("a UTF-8 temp path")]);
    let _ = std::fs::remove_file(&file);
    out
}

/// Install the probe tables of `probes` (id, match) in `ns`, in one transaction.
pub fn install(ns: &Netns, probes: &[(usize, &ProbeMatch)]) {
    if probes.is_empty() {
        return;
    }
    let script: String = probes.iter().map(|(id, m)| m.tables(*id)).collect();
    let out = nft_script(ns, &script, &format!("add{}", probes[0].0));
    assert!(
        out.status.success(),
        "load the probe tables: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Remove the probe tables of `ids` from `ns`.
pub fn remove(ns: &Netns, ids: &[usize]) {
    let script: String = ids
        .iter()
        .flat_map(|id| ["inet", "bridge"].map(|f| format!("delete table {f} brt_p{id}\n")))
        .collect();
    if !script.is_empty() {
        let _ = nft_script(ns, &script, &format!("del{}", ids[0]));
    }
}

/// The hooks where the packets of probe `id` were dropped (entered, never left), or
/// `None` with the counts printed when there is none.
pub fn dropped_at(ns: &Netns, id: usize, label: &str) -> Option<String> {
    let mut listing = String::new();
    for family in ["inet", "bridge"] {
        let out = ns.exec("nft", &["list", "table", family, &format!("brt_p{id}")]);
        listing.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    let counts = counts(&listing);
    let hooks: Vec<&str> = counts
        .iter()
        .filter(|(_, (pre, post))| *pre > 0 && *post == 0)
        .map(|(hook, _)| hook.as_str())
        .collect();
    if hooks.is_empty() {
        println!("{label}: no drop proven: counts (pre, post) per hook {counts:?}");
        return None;
    }
    Some(hooks.join(", "))
}

/// `hook → (pre packets, post packets)` from `nft list table` of probe tables (rules:
/// `… counter packets N bytes M comment "hook:pre"`).
fn counts(listing: &str) -> BTreeMap<String, (u64, u64)> {
    let mut out = BTreeMap::<String, (u64, u64)>::new();
    for line in listing.lines() {
        let (Some(p), Some(c)) = (line.find("packets "), line.find("comment \"")) else {
            continue;
        };
        let packets: u64 = line[p + 8..]
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let comment = line[c + 9..].trim_end().trim_end_matches('"');
        let Some((hook, when)) = comment.rsplit_once(':') else {
            continue;
        };
        let e = out.entry(hook.to_string()).or_default();
        match when {
            "pre" => e.0 += packets,
            "post" => e.1 += packets,
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::counts;

    #[test]
    fn counts_pair_pre_and_post_per_hook() {
        let listing = r#"
		ct original ip daddr 10.1.0.10 counter packets 3 bytes 180 comment "forward:pre"
		ct original ip daddr 10.1.0.10 counter packets 0 bytes 0 comment "forward:post"
		ether saddr aa:cc:00:00:01:99 counter packets 2 bytes 84 comment "bridge prerouting:pre"
		ether saddr aa:cc:00:00:01:99 counter packets 2 bytes 84 comment "bridge prerouting:post"
"#;
        let c = counts(listing);
        assert_eq!(c["forward"], (3, 0));
        assert_eq!(c["bridge prerouting"], (2, 2));
    }
}
