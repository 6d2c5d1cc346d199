//! brouter's tables brought to a ruleset by element updates: the read-back translated into
//! the engine's [`FirewallDelta`], and an element update applied as one transaction.
//!
//! Why: forwards, hosts and addresses are elements of named sets and maps, so when the
//! read-back finds only elements different (a forward changed in the config, a map element
//! somebody edited), deleting and adding those elements takes the tables there without
//! rewriting them: the table, its chains, its rules and every counter stay. The engine
//! decides whether that is enough ([`FirewallDelta::structural`]); this module only says
//! what differs, in elements, and writes what the engine asked for. The fingerprint rides
//! on two rule comments, which are rewritten in place (`NLM_F_REPLACE`) in the same batch.

use std::collections::BTreeMap;
use std::io;
use std::net::Ipv4Addr;

use brouter_engine::config::Proto;
use brouter_engine::firewall::Ruleset;
use brouter_engine::plan::{Element, FirewallDelta, SetDelta};
use brouter_engine::{BackendError, ErrorKind};
use netlink_wire::Socket;
use nft_codec::types::IFNAMSIZ;
use nft_codec::{snapshot, Batch, Difference, Elem, ElemData, Family, Rule, Set, SetRef, TableContents};

use super::drift::is_binding_set;
use super::render::{FINGERPRINT_PREFIX, TABLE};

/// The families of brouter's two tables, in the order [`super::drift`] keeps them.
const FAMILIES: [Family; 2] = [Family::Inet, Family::Bridge];

/// What it takes to bring `read` (brouter's tables as read) to `expected` (what the
/// ruleset installs, as [`super::drift::expected`] gives it), in elements; and every
/// difference in brouter's words (`differences`, as [`super::drift::differences`] names
/// them), from the same one comparison.
/// The fingerprint comments are not compared (an element update rewrites them): `read`'s
/// are overwritten with `expected`'s, rather than `expected` (shared, and as large as the
/// tables) copied to carry `read`'s. The binding sets' elements are the engine's business
/// (compared with the bindings).
pub fn delta(expected: &[TableContents; 2], mut read: [Option<TableContents>; 2]) -> FirewallDelta {
    let mut out = FirewallDelta::default();
    let mut by_set: BTreeMap<(usize, String), SetDelta> = BTreeMap::new();
    for (i, family) in FAMILIES.iter().enumerate() {
        let Some(have) = &mut read[i] else {
            out.structural = true;
            out.differences
                .push(format!("table {} {TABLE} is missing", family.name()));
            continue;
        };
        let want = &expected[i];
        take_stamps_of(want, have);
        for d in nft_codec::diff(want, have, &|s| !is_binding_set(s)) {
            out.differences.push(format!(
                "table {} {TABLE}: {}",
                family.name(),
                super::drift::name(&d)
            ));
            let (set, del, add) = match d {
                Difference::ElemMissing { set, elem } => (set, None, Some(elem)),
                Difference::ElemExtra { set, elem } => (set, Some(elem), None),
                Difference::ElemChanged { set, want, have } => (set, Some(have), Some(want)),
                _ => {
                    out.structural = true;
                    continue;
                }
            };
            let Some(def) = want.sets.get(&set) else {
                out.structural = true;
                continue;
            };
            if let Some(p) = add
                .as_ref()
                .and_then(|e| forward_port(&set, &interval_start(want, &set, e)))
            {
                out.forwards.push(p);
            }
            let entry = by_set.entry((i, set.clone())).or_insert_with(|| SetDelta {
                family: family.name().to_string(),
                set: set.clone(),
                ..SetDelta::default()
            });
            entry.delete.extend(del.map(|e| element(def, &e)));
            entry.add.extend(add.map(|e| element(def, &e)));
        }
    }
    out.forwards.sort();
    out.forwards.dedup();
    out.sets = by_set.into_values().collect();
    out
}

/// Give `have`'s fingerprint comments the text of `want`'s on the same rules, so a ruleset
/// that differs only in elements compares equal in its rules.
fn take_stamps_of(want: &TableContents, have: &mut TableContents) {
    for (chain, rules) in want.rules.iter() {
        let Some(theirs) = have.rules.get_mut(chain) else {
            continue;
        };
        for (mine, theirs) in rules.iter().zip(theirs.iter_mut()) {
            if is_stamp(mine) && is_stamp(theirs) {
                theirs.userdata = mine.userdata.clone();
            }
        }
    }
}

fn is_stamp(r: &Rule) -> bool {
    r.comment().is_some_and(|c| c.starts_with(FINGERPRINT_PREFIX))
}

/// The forward an added element of a DNAT map or traffic set stands for: its protocol
/// and first port (the key of a single-port or interval-start element).
fn forward_port(set: &str, e: &Elem) -> Option<(Proto, u16)> {
    let proto = if set.starts_with("udp_") {
        Proto::Udp
    } else if set.starts_with("tcp_") {
        Proto::Tcp
    } else {
        return None;
    };
    if e.end || !set.contains("fwd_") || e.key.len() < 2 {
        return None;
    }
    Some((proto, u16::from_be_bytes([e.key[0], e.key[1]])))
}

/// The start of the interval `e` belongs to in `want`'s set (itself unless it is an end
/// element: then the last start before it), so a range forward whose end moved counts
/// as changed.
fn interval_start(want: &TableContents, set: &str, e: &Elem) -> Elem {
    if !e.end {
        return e.clone();
    }
    want.elements
        .get(set)
        .and_then(|all| {
            all.iter()
                .filter(|s| !s.end && s.key < e.key)
                .max_by(|a, b| a.key.cmp(&b.key))
        })
        .cloned()
        .unwrap_or_else(|| e.clone())
}

/// One element for the engine: readable, and in wire form for [`update`].
fn element(set: &Set, e: &Elem) -> Element {
    let mut shown = value(set.key.type_id, &e.key);
    if e.end {
        shown.push_str(" (interval end)");
    }
    match (&e.data, set.data) {
        (Some(ElemData::Value(v)), Some(t)) => shown.push_str(&format!(" : {}", value(t.type_id, v))),
        (Some(ElemData::Verdict(v)), _) => shown.push_str(&format!(" : {v:?}").to_lowercase()),
        _ => {}
    }
    Element {
        shown,
        wire: snapshot::hex(&e.to_wire()),
    }
}

/// A key or data value as nft lists it, for the types brouter's named sets use.
fn value(type_id: u32, v: &[u8]) -> String {
    match (type_id, v.len()) {
        (13, n) if n >= 2 => u16::from_be_bytes([v[0], v[1]]).to_string(),
        (7, 4) => Ipv4Addr::new(v[0], v[1], v[2], v[3]).to_string(),
        (8, 16) => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(v).expect("16 bytes")).to_string(),
        (41, _) => netlink_wire::text(&v[..v.len().min(IFNAMSIZ)]),
        (9, 6) => v.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"),
        _ => snapshot::hex(v),
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    s.len()
        .is_multiple_of(2)
        .then(|| {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
                .collect()
        })
        .flatten()
}

/// Apply `sets` (each set's deletions, then its additions) and stamp the tables with
/// `fingerprint` (of `ruleset`) over `sock`, in one transaction.
pub fn update(
    sock: &Socket,
    label: &str,
    fingerprint: &str,
    ruleset: &Ruleset,
    sets: &[SetDelta],
) -> Result<(), BackendError> {
    let invalid = |what: String| BackendError::new(ErrorKind::Invalid, what);
    let mut batch = Batch::new();
    let mut commands = 0;
    for s in sets {
        let family = FAMILIES
            .into_iter()
            .find(|f| f.name() == s.family)
            .ok_or_else(|| invalid(format!("no table {} {TABLE} to update", s.family)))?;
        let decode = |list: &[Element]| -> Result<Vec<Elem>, BackendError> {
            list.iter()
                .map(|e| {
                    unhex(&e.wire).map(|b| Elem::read(&b)).ok_or_else(|| {
                        invalid(format!("element {} of set {} is not readable", e.shown, s.set))
                    })
                })
                .collect()
        };
        let set = SetRef {
            family,
            table: TABLE,
            name: &s.set,
            id: None,
        };
        let what = format!("set {} of table {} {TABLE}", s.set, s.family);
        let (del, add) = (decode(&s.delete)?, decode(&s.add)?);
        commands += del.len() + add.len();
        if !del.is_empty() {
            batch.del_elements(set, &del, &format!("deleting elements of {what}"));
        }
        if !add.is_empty() {
            batch.new_elements(set, &add, &format!("adding elements to {what}"));
        }
    }
    let stamp = format!("{FINGERPRINT_PREFIX}{fingerprint}");
    let stale = stamped_rules(sock)
        .map_err(|e| {
            BackendError::new(
                ErrorKind::Other,
                format!("cannot read brouter's rules in network namespace {label}: {e}"),
            )
        })?
        .into_iter()
        .filter(|r| r.comment() != Some(stamp.as_str()))
        .collect::<Vec<_>>();
    if !stale.is_empty() {
        let fresh = stamped_rules_of(ruleset, fingerprint)?;
        for old in &stale {
            let new = fresh
                .iter()
                .find(|r| r.family == old.family && r.chain == old.chain)
                .ok_or_else(|| {
                    invalid(format!(
                        "no stamped rule for chain {} of the new ruleset",
                        old.chain
                    ))
                })?;
            let handle = old.handle.unwrap_or_default();
            commands += 1;
            batch.replace_rule(
                new,
                handle,
                format!(
                    "restamping rule {handle} of chain {} in table {} {TABLE}",
                    old.chain,
                    old.family.name()
                ),
            );
        }
    }
    if commands == 0 {
        return Ok(());
    }
    let tx = batch.finish();
    nft_codec::send(sock, &tx, false).map_err(|e| {
        BackendError::new(
            super::batch::kind_of(e.errno),
            format!("the kernel refused brouter's element update in network namespace {label}: {e}"),
        )
    })
}

/// The rules of brouter's tables that carry a fingerprint comment, with their handles.
fn stamped_rules(sock: &Socket) -> io::Result<Vec<Rule>> {
    let mut out = vec![];
    for family in FAMILIES {
        out.extend(
            nft_codec::dump::rules(sock, family, TABLE)?
                .into_iter()
                .filter(is_stamp),
        );
    }
    Ok(out)
}

/// The stamped rules `ruleset` installs with `fingerprint`. Rules do not depend on the
/// forwards (they are elements), so the tables are rendered without them: cheap however
/// many there are.
fn stamped_rules_of(ruleset: &Ruleset, fingerprint: &str) -> Result<Vec<Rule>, BackendError> {
    let lean = Ruleset {
        forwards: vec![],
        ..ruleset.clone()
    };
    let tables = super::render(&lean, fingerprint);
    let tx = super::batch::encode(nft_codec::Mode::Replace, Some(&tables), &[]).map_err(|e| {
        BackendError::new(
            ErrorKind::Invalid,
            format!("cannot encode brouter's firewall for nf_tables: {e}"),
        )
    })?;
    Ok(FAMILIES
        .into_iter()
        .filter_map(|f| snapshot::of_transaction(&tx, f, TABLE))
        .flat_map(|t| t.rules.into_values().flatten())
        .filter(is_stamp)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_text_reads_back_as_the_same_bytes() {
        assert_eq!(
            unhex(&snapshot::hex(&[0, 1, 0xab, 0xff])),
            Some(vec![0, 1, 0xab, 0xff])
        );
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn values_read_as_nft_lists_them() {
        assert_eq!(value(13, &[0x1f, 0x90, 0, 0]), "8080");
        assert_eq!(value(7, &[10, 1, 0, 5]), "10.1.0.5");
        let mut name = b"xenbr0".to_vec();
        name.resize(IFNAMSIZ, 0);
        assert_eq!(value(41, &name), "xenbr0");
    }
}
