//! "dom0 is back as it was": what brouter observes there, plus the whole nftables ruleset.
//!
//! `observe()` covers links, addresses, routes, the managed sysctls, brouter's memory and
//! its firewall tables; `nft list ruleset` adds every table, brouter's or not. Both are
//! taken before `start` and after `stop` and compared item by item, so a difference
//! prints as the items only before (`-`) or only after (`+`).

use std::collections::BTreeSet;

use brouter_engine::{NetBackend, Observed};
use brouter_lab::NsHandle;
use serde_json::Value;

use crate::exit::Failure;

/// What a namespace looks like to brouter, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    observed: Observed,
    nft: String,
}

impl Snapshot {
    pub async fn take(backend: &mut dyn NetBackend, ns: &NsHandle) -> Result<Snapshot, Failure> {
        let observed = backend
            .observe()
            .await
            .map_err(|e| Failure::op(format!("cannot read dom0's state: {e}")))?
            .normalized();
        let nft = ns
            .nft_ruleset()
            .map_err(|e| Failure::op(format!("cannot read dom0's nftables ruleset: {e}")))?;
        Ok(Snapshot { observed, nft })
    }

    /// Differences from `self` (before) to `after`; empty when equal.
    pub fn diff(&self, after: &Snapshot) -> Vec<String> {
        let a = serde_json::to_value(&self.observed).expect("observed serialises");
        let b = serde_json::to_value(&after.observed).expect("observed serialises");
        let mut out = Vec::new();
        let keys: BTreeSet<&String> = object(&a).keys().chain(object(&b).keys()).collect();
        for key in keys {
            let (x, y) = (object(&a).get(key), object(&b).get(key));
            if x == y {
                continue;
            }
            let (xs, ys) = (items(x), items(y));
            out.extend(xs.difference(&ys).map(|i| format!("- {key}: {i}")));
            out.extend(ys.difference(&xs).map(|i| format!("+ {key}: {i}")));
        }
        let (xs, ys): (BTreeSet<&str>, BTreeSet<&str>) =
            (self.nft.lines().collect(), after.nft.lines().collect());
        out.extend(xs.difference(&ys).map(|l| format!("- nft: {}", l.trim())));
        out.extend(ys.difference(&xs).map(|l| format!("+ nft: {}", l.trim())));
        out
    }

    /// How many objects the comparison covered, for the summary line.
    pub fn size(&self) -> (usize, usize, usize) {
        (
            self.observed.links.len(),
            self.observed.addresses.len(),
            self.observed.routes.len(),
        )
    }
}

fn object(v: &Value) -> &serde_json::Map<String, Value> {
    static EMPTY: std::sync::OnceLock<serde_json::Map<String, Value>> = std::sync::OnceLock::new();
    v.as_object()
        .unwrap_or_else(|| EMPTY.get_or_init(serde_json::Map::new))
}

/// A field as a set of one-line items: array elements, map entries, or the value itself.
fn items(v: Option<&Value>) -> BTreeSet<String> {
    match v {
        None | Some(Value::Null) => BTreeSet::new(),
        Some(Value::Array(a)) => a.iter().map(Value::to_string).collect(),
        Some(Value::Object(m)) => m.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        Some(other) => std::iter::once(other.to_string()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leftover_route_and_table_show_as_added_lines() {
        let before = Snapshot {
            observed: Observed::default(),
            nft: String::new(),
        };
        let mut after = before.clone();
        after.observed.routes.push(brouter_engine::Route {
            dst: "10.98.98.0/24".parse().unwrap(),
            dev: "br-dmz".into(),
            gateway: None,
            protocol: brouter_engine::OWNER_PROTO,
            metric: 0,
        });
        after.nft = "table inet brouter {\n}\n".into();
        let d = before.diff(&after);
        assert!(
            d.iter()
                .any(|l| l.starts_with("+ routes:") && l.contains("10.98.98.0/24")),
            "{d:?}"
        );
        assert!(d.contains(&"+ nft: table inet brouter {".to_string()), "{d:?}");
        assert!(before.diff(&before.clone()).is_empty());
    }
}
