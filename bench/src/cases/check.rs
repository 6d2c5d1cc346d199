//! Case 8: `check` at 1,000 / 2,000 / 5,000 networks (is it linear?), and where the
//! re-read of a 10,000-forward config goes (parse, validate, compile, compare).
//!
//! Nothing here touches a kernel: `check` only validates and compiles, and the re-read
//! stages run in this process through the engine, as `start` runs them.

use std::time::Instant;

use brouter_engine::config::from_toml;
use serde_json::json;

use crate::configs::{self, Size};
use crate::report::{Report, Table};
use crate::run::{bin, ms};
use crate::stats::Samples;

/// Networks in `check`'s sizes; each network has one host and one forward (one policy
/// each too: the generator writes `n<i> -> external` for every network).
const NETWORKS: [usize; 3] = [1000, 2000, 5000];

/// The converged case's largest config: 645 KB of TOML.
const BIG: Size = Size::new(64, 10000, 1000);

pub fn run(report: &mut Report, n: usize) {
    check_sizes(report, n);
    reread(report, n.max(15));
}

/// `brouter --config F check` (output discarded), `n` times per size.
fn check_sizes(report: &mut Report, n: usize) {
    let mut t = Table::new(
        "8. `check` by number of networks",
        "`brouter --config F check` (release binary, its output to /dev/null) on a file of N networks, \
         each with one host, one tcp forward and one policy to external. Before issue 13 it was \
         cubic: every pair of zones asked a linear policy lookup (1,000 networks 1.7 s, 2,000 8.4 s, \
         5,000 over 60 s).",
        &[
            "networks",
            "check ms median (min–max)",
            "N",
            "ratio to the size before",
        ],
    );
    let mut medians: Vec<f64> = vec![];
    let mut data = vec![];
    for nets in NETWORKS {
        let file = configs::write(Size::new(nets, nets, nets));
        let mut s = Samples::default();
        for _ in 0..n {
            let t0 = Instant::now();
            let st = std::process::Command::new(bin())
                .args(["--config", &file, "check"])
                .stdout(std::process::Stdio::null())
                .status()
                .expect("run brouter check");
            s.push(ms(t0.elapsed()));
            assert!(st.success(), "brouter check {file} failed");
        }
        let ratio = medians
            .last()
            .map(|p| format!("{:.2}×", s.median() / p))
            .unwrap_or_else(|| "—".into());
        t.row(vec![nets.to_string(), s.show(1), s.n().to_string(), ratio]);
        medians.push(s.median());
        data.push(json!({"networks": nets, "check_ms": s.to_json()}));
    }
    report.tables.push(t);
    let (t1, t2, t5) = (medians[0], medians[1], medians[2]);
    report.target(
        "check, 5,000 networks",
        format!("{t5:.0} ms"),
        "≤ 1 s",
        t5 <= 1000.0,
    );
    report.target(
        "check, time(2,000) / time(1,000) networks",
        format!("{:.2}× ({t2:.1} vs {t1:.1} ms)", t2 / t1),
        "≤ 2.2×",
        t2 <= 2.2 * t1,
    );
    report.data.insert("check_networks".into(), json!(data));
}

/// The stages of re-reading [`BIG`] after a comment-only edit: parse + validate
/// (`from_toml`), compile (the IR and its fingerprint), compare (fingerprints).
fn reread(report: &mut Report, n: usize) {
    let text = configs::toml(BIG);
    let (mut parse, mut compile, mut total) = (Samples::default(), Samples::default(), Samples::default());
    let installed =
        brouter_engine::compile(&from_toml(&text, "big.toml").expect("valid")).firewall_fingerprint;
    for k in 0..n {
        let edited = format!("# edit {k}\n{text}");
        let t0 = Instant::now();
        let config = from_toml(&edited, "big.toml").expect("valid");
        let t1 = Instant::now();
        let desired = brouter_engine::compile(&config);
        let same = desired.firewall_fingerprint == installed;
        let t2 = Instant::now();
        assert!(same, "a comment changed the fingerprint");
        parse.push(ms(t1 - t0));
        compile.push(ms(t2 - t1));
        total.push(ms(t2 - t0));
    }
    let mut t = Table::new(
        "8b. Re-reading a 10,000-forward config after a comment-only edit",
        &format!(
            "{} ({} KB of TOML) with a comment added, in this process through the engine as `start` runs \
             it: parse and validate (`from_toml`), then compile (the firewall IR and its fingerprint) and \
             compare the fingerprint with the installed one.",
            BIG.label(),
            text.len() / 1000
        ),
        &["stage", "ms median (min–max)", "N"],
    );
    t.row(vec![
        "parse + validate".into(),
        parse.show(2),
        parse.n().to_string(),
    ]);
    t.row(vec![
        "compile + compare".into(),
        compile.show(2),
        compile.n().to_string(),
    ]);
    t.row(vec!["total".into(), total.show(2), total.n().to_string()]);
    report.tables.push(t);
    report.target(
        "re-read of a 10,000-forward config (parse, validate, compile, compare)",
        format!(
            "{:.1} ms (parse + validate {:.1} ms)",
            total.median(),
            parse.median()
        ),
        "≤ 20 ms",
        total.median() <= 20.0,
    );
    report.data.insert(
        "reread_10000_forwards".into(),
        json!({"parse_validate_ms": parse.to_json(), "compile_compare_ms": compile.to_json(), "total_ms": total.to_json()}),
    );
}
