//! Reading brouter's tables back from `nft -j list table …` output.
//!
//! Parsed as plain JSON, not through the `nftables` crate: the crate cannot read sets
//! with concatenated types (FIELD-NOTES), and brouter's binding sets have them.

use std::collections::BTreeMap;

use brouter_engine::firewall::Binding;
use serde_json::Value;

use super::render::{FINGERPRINT_PREFIX, IP6_BIND, IP6_HOST, IP_BIND, IP_HOST, MAC_BIND, PORTS};

fn objects(json: &str) -> Vec<Value> {
    serde_json::from_str::<Value>(json)
        .ok()
        .and_then(|v| v.get("nftables").and_then(Value::as_array).cloned())
        .unwrap_or_default()
}

/// The fingerprint stored in a rule comment of the listed table, if any.
pub fn fingerprint(json: &str) -> Option<String> {
    objects(json).iter().find_map(|o| {
        let comment = o.get("rule")?.get("comment")?.as_str()?;
        comment.strip_prefix(FINGERPRINT_PREFIX).map(str::to_string)
    })
}

/// The elements of a named set in the listed table.
fn set_elems(objs: &[Value], name: &str) -> Vec<Value> {
    objs.iter()
        .filter_map(|o| o.get("set"))
        .find(|s| s.get("name").and_then(Value::as_str) == Some(name))
        .and_then(|s| s.get("elem"))
        .map(|e| match e {
            Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        })
        .unwrap_or_default()
        .into_iter()
        // An element with properties (timeout, comment) is wrapped: {"elem": {"val": …}}.
        .map(|e| e.get("elem").and_then(|x| x.get("val")).cloned().unwrap_or(e))
        .collect()
}

fn pair(v: &Value) -> Option<(String, String)> {
    let parts = v.get("concat")?.as_array()?;
    Some((
        parts.first()?.as_str()?.to_string(),
        parts.get(1)?.as_str()?.to_string(),
    ))
}

/// A `vif . address` or `vif . prefix` element of an address set.
fn addr_pair(v: &Value) -> Option<(String, ipnet::IpNet)> {
    let parts = v.get("concat")?.as_array()?;
    let vif = parts.first()?.as_str()?.to_string();
    let a = parts.get(1)?;
    let net = match a.as_str() {
        Some(s) => brouter_engine::firewall::parse_entry(s)?,
        None => {
            let p = a.get("prefix")?;
            format!("{}/{}", p.get("addr")?.as_str()?, p.get("len")?.as_u64()?)
                .parse()
                .ok()?
        }
    };
    Some((vif, net))
}

/// The bindings held by the listed `bridge brouter` table, sorted by vif.
pub fn bindings(json: &str) -> Vec<Binding> {
    let objs = objects(json);
    let mut by_vif: BTreeMap<String, Binding> = BTreeMap::new();
    for v in set_elems(&objs, PORTS) {
        if let Some(vif) = v.as_str() {
            by_vif.insert(
                vif.to_string(),
                Binding {
                    vif: vif.to_string(),
                    mac: String::new(),
                    addrs: vec![],
                },
            );
        }
    }
    for (vif, mac) in set_elems(&objs, MAC_BIND).iter().filter_map(pair) {
        by_vif
            .entry(vif.clone())
            .or_insert_with(|| Binding {
                vif,
                mac: String::new(),
                addrs: vec![],
            })
            .mac = mac;
    }
    for set in [IP_HOST, IP_BIND, IP6_HOST, IP6_BIND] {
        for (vif, addr) in set_elems(&objs, set).iter().filter_map(addr_pair) {
            by_vif
                .entry(vif.clone())
                .or_insert_with(|| Binding {
                    vif,
                    mac: String::new(),
                    addrs: vec![],
                })
                .addrs
                .push(addr);
        }
    }
    by_vif
        .into_values()
        .map(|b| Binding::from_kernel(b.vif, b.mac, b.addrs))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fingerprint_and_bindings_from_nft_json() {
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
          {"table": {"family": "bridge", "name": "brouter", "handle": 1}},
          {"set": {"family": "bridge", "name": "ports", "table": "brouter", "type": "ifname", "elem": ["vif1.0", "vif2.0"]}},
          {"set": {"family": "bridge", "name": "mac_bind", "table": "brouter", "type": ["ifname", "ether_addr"],
                   "elem": [{"concat": ["vif1.0", "aa:cc:00:00:01:01"]}, {"concat": ["vif2.0", "aa:cc:00:00:01:02"]}]}},
          {"set": {"family": "bridge", "name": "ip_bind", "table": "brouter", "type": ["ifname", "ipv4_addr"],
                   "elem": [{"concat": ["vif2.0", "10.1.0.12"]}, {"concat": ["vif2.0", "10.1.0.11"]}]}},
          {"rule": {"family": "bridge", "table": "brouter", "chain": "prerouting", "handle": 5,
                    "comment": "brouter ruleset 0123456789abcdef", "expr": []}}]}"#;
        assert_eq!(fingerprint(json).as_deref(), Some("0123456789abcdef"));
        let b = bindings(json);
        assert_eq!(b.len(), 2);
        assert_eq!(
            b[0],
            Binding {
                vif: "vif1.0".into(),
                mac: "aa:cc:00:00:01:01".into(),
                addrs: vec![]
            }
        );
        assert_eq!(
            b[1].addrs,
            vec![
                "10.1.0.11/32".parse::<ipnet::IpNet>().unwrap(),
                "10.1.0.12/32".parse().unwrap()
            ]
        );
    }

    #[test]
    fn nothing_listed_reads_as_nothing() {
        assert_eq!(fingerprint(""), None);
        assert!(bindings("{}").is_empty());
    }
}
