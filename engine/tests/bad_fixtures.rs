//! The bad-config catalogue: every case in `fixtures/bad/` is rejected with exactly the
//! message in its `.expected` file.
//!
//! A case is `NAME.toml` (a config file, origin `fixtures/bad/NAME.toml`) or `NAME.args`
//! (Xen network-script `VAR=VAL` words, one per line, origin `command line`), next to
//! `NAME.expected`: the full message, one line per error. The messages are what an admin
//! reads, so they are pinned word for word; a wording change shows up here as a diff.
//!
//! To rewrite the expected files after a deliberate wording change, run
//! `BLESS=1 cargo test -p brouter-engine --test bad_fixtures` and review `git diff fixtures/bad`.

use std::fs;
use std::path::{Path, PathBuf};

use brouter_engine::config::{from_toml, from_xen_words};
use brouter_engine::ConfigErrors;

/// The catalogue must not shrink below what the issue asks for.
const MIN_CASES: usize = 30;

fn bad_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/bad")
}

/// Run one case; `Ok` means the config was (wrongly) accepted.
fn run_case(path: &Path, name: &str) -> Result<(), ConfigErrors> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => from_toml(&text, &format!("fixtures/bad/{name}.toml")).map(|_| ()),
        Some("args") => {
            let words: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            from_xen_words(&words).map(|_| ())
        }
        other => panic!("{}: unknown case kind {other:?}", path.display()),
    }
}

/// A line-by-line diff a person can read in test output.
fn diff(expected: &str, actual: &str) -> String {
    let mut out = String::new();
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    for i in 0..e.len().max(a.len()) {
        match (e.get(i), a.get(i)) {
            (Some(x), Some(y)) if x == y => out.push_str(&format!("    {x}\n")),
            (x, y) => {
                if let Some(x) = x {
                    out.push_str(&format!("  - {x}\n"));
                }
                if let Some(y) = y {
                    out.push_str(&format!("  + {y}\n"));
                }
            }
        }
    }
    out
}

#[test]
fn every_bad_fixture_is_rejected_with_its_expected_message() {
    let bless = std::env::var_os("BLESS").is_some();
    let mut cases: Vec<(String, PathBuf)> = fs::read_dir(bad_dir())
        .expect("fixtures/bad exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("toml" | "args")))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    cases.sort();

    let mut failures = Vec::new();
    for (name, path) in &cases {
        let expected_path = path.with_extension("expected");
        let actual = match run_case(path, name) {
            Ok(()) => {
                failures.push(format!("{name}: accepted, but it is in the bad catalogue"));
                continue;
            }
            Err(errors) => {
                for e in &errors.0 {
                    if e.key.trim().is_empty() {
                        failures.push(format!("{name}: an error names no key: {e}"));
                    }
                    if e.hint.trim().is_empty() {
                        failures.push(format!("{name}: an error has no hint (what would be right): {e}"));
                    }
                }
                errors.to_string()
            }
        };
        if bless {
            fs::write(&expected_path, format!("{actual}\n")).expect("write .expected");
            continue;
        }
        let Ok(expected) = fs::read_to_string(&expected_path) else {
            failures.push(format!("{name}: missing {}", expected_path.display()));
            continue;
        };
        let expected = expected.trim_end_matches('\n');
        if expected != actual {
            failures.push(format!(
                "{name}: message differs (- expected, + actual)\n{}",
                diff(expected, &actual)
            ));
        }
    }
    // An .expected without its case is a case someone lost.
    for entry in fs::read_dir(bad_dir()).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) == Some("expected")
            && !p.with_extension("toml").exists()
            && !p.with_extension("args").exists()
        {
            failures.push(format!("{}: no .toml or .args case next to it", p.display()));
        }
    }

    assert!(
        cases.len() >= MIN_CASES,
        "only {} cases in fixtures/bad, want at least {MIN_CASES}",
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} bad-config cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
