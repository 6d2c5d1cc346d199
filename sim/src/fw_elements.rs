//! The simulator's firewall in elements: its forwards are the elements of one set
//! (`sim forwards`), everything else of a ruleset is structure. Enough for the planner's
//! element-level updates ([`brouter_engine::plan::FirewallDelta`]) to be exercised, and
//! crashed, without root.

use brouter_engine::firewall::{PortForward, Ruleset};
use brouter_engine::plan::{Element, FirewallDelta, SetDelta};
use brouter_engine::{BackendError, ErrorKind};

/// What `have` (the sim's tables, `edited` if somebody changed them) lacks or holds beyond
/// `want`, in elements.
pub fn delta(have: &Ruleset, edited: bool, want: &Ruleset) -> FirewallDelta {
    let structure = |r: &Ruleset| Ruleset {
        forwards: vec![],
        ..r.clone()
    };
    if edited || structure(have) != structure(want) {
        return FirewallDelta {
            structural: true,
            ..FirewallDelta::default()
        };
    }
    let missing = |a: &Ruleset, b: &Ruleset| -> Vec<PortForward> {
        a.forwards
            .iter()
            .filter(|f| !b.forwards.contains(f))
            .cloned()
            .collect()
    };
    let (add, delete) = (missing(want, have), missing(have, want));
    let forwards = add.iter().map(|f| (f.proto, f.ports.first)).collect();
    let sets = if add.is_empty() && delete.is_empty() {
        vec![]
    } else {
        vec![SetDelta {
            family: "sim".into(),
            set: "forwards".into(),
            add: add.iter().map(element).collect(),
            delete: delete.iter().map(element).collect(),
        }]
    };
    FirewallDelta {
        structural: false,
        sets,
        forwards,
        differences: vec![],
    }
}

fn element(f: &PortForward) -> Element {
    Element {
        shown: format!("{} {} : {}", f.proto, f.ports, f.addr),
        wire: serde_json::to_string(f).expect("a forward serialises"),
    }
}

/// Apply `sets` (as [`delta`] made them) to `have`; the result must be `want`, or the
/// update was planned from another state than the sim's (then nothing changes).
pub fn apply(have: &mut Ruleset, want: &Ruleset, sets: &[SetDelta]) -> Result<(), BackendError> {
    let mut next = have.clone();
    let bad = |why: &str| BackendError::new(ErrorKind::Invalid, format!("element update refused: {why}"));
    for s in sets {
        if (s.family.as_str(), s.set.as_str()) != ("sim", "forwards") {
            return Err(bad(&format!("no set {} {}", s.family, s.set)));
        }
        for e in &s.delete {
            let f: PortForward = serde_json::from_str(&e.wire).map_err(|_| bad("unreadable element"))?;
            let at = next
                .forwards
                .iter()
                .position(|x| *x == f)
                .ok_or_else(|| bad("no such element"))?;
            next.forwards.remove(at);
        }
        for e in &s.add {
            let f: PortForward = serde_json::from_str(&e.wire).map_err(|_| bad("unreadable element"))?;
            if next.forwards.contains(&f) {
                return Err(bad("element exists"));
            }
            next.forwards.push(f);
        }
    }
    // Elements are sets: the order of the forwards is the desired one.
    let sorted = |r: &Ruleset| {
        let mut f = r.forwards.clone();
        f.sort_by_key(|f| serde_json::to_string(f).unwrap_or_default());
        f
    };
    if sorted(&next) != sorted(want) {
        return Err(bad("the elements do not lead to the ruleset asked for"));
    }
    *have = want.clone();
    Ok(())
}
