//! docs/config.md lists exactly the keys the parser accepts, section by section, and the
//! Xen words: a key added to the parser without a line in the reference fails here.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use brouter_engine::config::{TOML_KEYS, XEN_KEYS};
use common::workspace;

/// Section → keys documented in docs/config.md (first cell of each table row).
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(workspace().join("docs/config.md")).unwrap();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut section = None;
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            section = Some(match h {
                "Top level" => String::new(),
                h if h.starts_with("Xen") => "xen".into(),
                h => h.trim_matches(|c| "`[] ".contains(c)).to_string(),
            });
            continue;
        }
        if let (Some(s), Some(row)) = (&section, line.strip_prefix("| `")) {
            let key = row.split('`').next().unwrap().to_string();
            out.entry(s.clone()).or_default().insert(key);
        }
    }
    out
}

#[test]
fn the_reference_lists_every_key_the_parser_accepts_and_no_other() {
    let doc = documented();
    let mut parser: BTreeMap<String, BTreeSet<String>> = TOML_KEYS
        .iter()
        .map(|(s, keys)| (s.to_string(), keys.iter().map(|k| k.to_string()).collect()))
        .collect();
    parser.insert("xen".into(), XEN_KEYS.iter().map(|k| k.to_string()).collect());
    for (section, keys) in &parser {
        let listed = doc.get(section).cloned().unwrap_or_default();
        let missing: Vec<&String> = keys.difference(&listed).collect();
        assert!(
            missing.is_empty(),
            "docs/config.md section {section:?} lacks {missing:?}"
        );
        let extra: Vec<&String> = listed.difference(keys).collect();
        assert!(
            extra.is_empty(),
            "docs/config.md section {section:?} lists {extra:?}, which the parser refuses"
        );
    }
    let unknown: Vec<&String> = doc.keys().filter(|s| !parser.contains_key(*s)).collect();
    assert!(
        unknown.is_empty(),
        "docs/config.md has sections the parser does not know: {unknown:?}"
    );
}
