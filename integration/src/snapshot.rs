//! A normalised picture of a namespace, to prove "afterwards equals before".
//!
//! It keeps what configuration decides and drops what merely happens: link names, kinds,
//! masters, the admin up flag, alias, MTU and bridge STP/forward-delay — not ifindexes,
//! MACs (a bridge's follows its ports), carrier, operstate or counters; IPv4 addresses with
//! scope, protocol and flags — not lifetimes; main-table IPv4 routes with protocol — not
//! the `linkdown` flag (carrier again); the sysctls brouter may change; the nftables ruleset
//! with counters zeroed and set-element expiry removed. Each item is a readable line, so
//! a difference prints as lines only before / only after.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::process::Command;

use serde_json::Value;

use crate::addr_dump::ipv4_addresses;
use crate::Netns;

/// The sysctls a snapshot records (those brouter may change).
pub const SYSCTLS: &[&str] = &["net.ipv4.ip_forward"];

/// What configuration makes of a namespace. Equal snapshots mean nobody changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Link name → `kind=… master=… up=… alias=… mtu=…[ stp=… fd=…]`.
    pub links: BTreeMap<String, String>,
    /// One line per IPv4 address (see [`crate::addr_dump`]).
    pub addresses: BTreeSet<String>,
    /// One line per IPv4 route of the main table, keys sorted.
    pub routes: BTreeSet<String>,
    /// Sysctl name → value.
    pub sysctls: BTreeMap<String, String>,
    /// `nft list ruleset`, normalised, one entry per line.
    pub nft: Vec<String>,
}

impl Snapshot {
    /// Take a snapshot of `ns` (runs `ip -n` and, inside the namespace, `nft`).
    pub fn of(ns: &Netns) -> Snapshot {
        Snapshot {
            links: links(ns),
            addresses: ipv4_addresses(ns).into_iter().collect(),
            routes: routes(ns),
            sysctls: SYSCTLS.iter().map(|k| (k.to_string(), ns.sysctl(k))).collect(),
            nft: nft_ruleset(ns),
        }
    }

    /// Human-readable differences, `-` for only in `self` (before), `+` for only in `after`.
    /// Empty when the snapshots are equal.
    pub fn diff(&self, after: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        for name in self
            .links
            .keys()
            .chain(after.links.keys())
            .collect::<BTreeSet<_>>()
        {
            match (self.links.get(name), after.links.get(name)) {
                (Some(a), Some(b)) if a == b => {}
                (Some(a), Some(b)) => out.push(format!("link {name}: {a}  →  {b}")),
                (Some(a), None) => out.push(format!("- link {name} {a}")),
                (None, Some(b)) => out.push(format!("+ link {name} {b}")),
                (None, None) => {}
            }
        }
        set_diff(&mut out, "address", &self.addresses, &after.addresses);
        set_diff(&mut out, "route", &self.routes, &after.routes);
        for (k, v) in &self.sysctls {
            let w = after.sysctls.get(k).map_or("(missing)", String::as_str);
            if v != w {
                out.push(format!("sysctl {k}: {v}  →  {w}"));
            }
        }
        if self.nft != after.nft {
            let before: BTreeSet<&String> = self.nft.iter().collect();
            let now: BTreeSet<&String> = after.nft.iter().collect();
            out.push("nftables ruleset differs:".into());
            out.extend(
                self.nft
                    .iter()
                    .filter(|l| !now.contains(l))
                    .map(|l| format!("- nft {l}")),
            );
            out.extend(
                after
                    .nft
                    .iter()
                    .filter(|l| !before.contains(l))
                    .map(|l| format!("+ nft {l}")),
            );
        }
        out
    }
}

/// Panic with a readable diff unless `before` and `after` are equal.
#[track_caller]
pub fn assert_same(before: &Snapshot, after: &Snapshot) {
    let d = before.diff(after);
    if !d.is_empty() {
        let mut msg = String::from("namespace changed (- before, + after):\n");
        for l in d {
            let _ = writeln!(msg, "  {l}");
        }
        panic!("{msg}");
    }
}

fn set_diff(out: &mut Vec<String>, what: &str, a: &BTreeSet<String>, b: &BTreeSet<String>) {
    out.extend(a.difference(b).map(|l| format!("- {what} {l}")));
    out.extend(b.difference(a).map(|l| format!("+ {what} {l}")));
}

fn ip_json(ns: &Netns, args: &[&str]) -> Vec<Value> {
    let mut full = vec!["-j"];
    full.extend_from_slice(args);
    let text = ns.ip(&full);
    if text.trim().is_empty() {
        return Vec::new();
    }
    match serde_json::from_str(&text) {
        Ok(Value::Array(v)) => v,
        other => panic!("unexpected `ip {}` output: {other:?}", full.join(" ")),
    }
}

fn links(ns: &Netns) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for l in ip_json(ns, &["-d", "link", "show"]) {
        let name = str_of(&l["ifname"]);
        let up = l["flags"].as_array().is_some_and(|f| f.iter().any(|x| x == "UP"));
        let info = &l["linkinfo"];
        let kind = info["info_kind"].as_str().unwrap_or("-");
        let mut line = format!(
            "kind={kind} master={} up={up} alias={} mtu={}",
            l["master"].as_str().unwrap_or("-"),
            l["ifalias"].as_str().unwrap_or("-"),
            l["mtu"],
        );
        if kind == "bridge" {
            let d = &info["info_data"];
            let _ = write!(line, " stp={} fd={}", d["stp_state"], d["forward_delay"]);
        }
        out.insert(name, line);
    }
    out
}

fn routes(ns: &Netns) -> BTreeSet<String> {
    ip_json(ns, &["-4", "route", "show", "table", "main"])
        .into_iter()
        .map(|r| {
            let Value::Object(map) = r else {
                return format!("{r}");
            };
            let mut parts = Vec::new();
            for (k, v) in map {
                if k == "flags" {
                    let flags: Vec<String> = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(str_of)
                        .filter(|f| f != "linkdown")
                        .collect();
                    if !flags.is_empty() {
                        parts.push(format!("flags={}", flags.join(",")));
                    }
                } else {
                    parts.push(format!("{k}={}", str_of(&v)));
                }
            }
            parts.sort();
            parts.join(" ")
        })
        .collect()
}

fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `nft list ruleset` run inside the namespace, normalised.
fn nft_ruleset(ns: &Netns) -> Vec<String> {
    let out = ns.run(|| Command::new("nft").args(["list", "ruleset"]).output());
    let out = out.unwrap_or_else(|e| panic!("cannot run nft (is the nftables package installed?): {e}"));
    if !out.status.success() {
        panic!(
            "nft list ruleset failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    normalise_nft(&String::from_utf8_lossy(&out.stdout))
}

/// Zero counters, drop handles and element expiry: what traffic and time change.
pub fn normalise_nft(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| {
            let indent: String = line.chars().take_while(|c| c.is_whitespace()).collect();
            let line = line.split(" # handle ").next().unwrap_or(line);
            let mut toks: Vec<String> = Vec::new();
            let mut it = line.split_whitespace().peekable();
            while let Some(t) = it.next() {
                match t {
                    "packets" | "bytes" if it.peek().is_some() => {
                        let n = it.next().unwrap_or_default();
                        let trail = n.trim_start_matches(|c: char| c.is_ascii_digit());
                        toks.push(format!("{t} 0{trail}"));
                    }
                    "expires" if it.peek().is_some() => {
                        let n = it.next().unwrap_or_default();
                        if n.ends_with(',') {
                            if let Some(last) = toks.last_mut() {
                                last.push(',');
                            }
                        }
                    }
                    _ => toks.push(t.to_string()),
                }
            }
            format!("{indent}{}", toks.join(" "))
        })
        .filter(|l| !l.trim().is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::normalise_nft;

    #[test]
    fn counters_and_expiry_do_not_count_as_change() {
        let a = "table inet t {\n\tset s {\n\t\telements = { 1.2.3.4 timeout 1h expires 59m59s, 5.6.7.8 timeout 1h expires 3s }\n\t}\n\tchain c {\n\t\tcounter packets 12 bytes 3400 # handle 4\n\t}\n}\n";
        let b = "table inet t {\n\tset s {\n\t\telements = { 1.2.3.4 timeout 1h expires 1m, 5.6.7.8 timeout 1h expires 2s }\n\t}\n\tchain c {\n\t\tcounter packets 0 bytes 0\n\t}\n}\n";
        assert_eq!(normalise_nft(a), normalise_nft(b));
        assert!(normalise_nft(a)
            .contains(&"\t\telements = { 1.2.3.4 timeout 1h, 5.6.7.8 timeout 1h }".to_string()));
    }

    #[test]
    fn a_changed_rule_is_a_change() {
        assert_ne!(
            normalise_nft("\t\ttcp dport 22 drop\n"),
            normalise_nft("\t\ttcp dport 23 drop\n")
        );
    }
}
