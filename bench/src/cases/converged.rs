//! Case 2: `start` on a system that is already converged — time and kernel writes — and
//! case 6: peak memory of `brouter start` at the largest size.

use serde_json::json;

use crate::configs::{self, Size};
use crate::report::{Report, Table};
use crate::run::{brouter, command, kernel_writes, ms, peak_rss};
use crate::stats::Samples;

/// The sizes of the issue: 1/16/64 networks, 10/1,000/10,000 forwards, 10/1,000 hosts.
pub const SIZES: [Size; 7] = [
    Size::new(1, 10, 10),
    Size::new(16, 10, 10),
    Size::new(64, 10, 10),
    Size::new(1, 1000, 10),
    Size::new(1, 10000, 10),
    Size::new(64, 10, 1000),
    Size::new(64, 10000, 1000),
];

pub fn run(report: &mut Report, n: usize) {
    let mut t = Table::new(
        "2. `start` on a converged system",
        "A config file with N networks (all anti-spoofing), hosts with MACs and tcp forwards; `start` once, \
         then `brouter --config F start` again N times. Kernel writes: the ops of the plan it applied \
         (its `--json` answer), brouter's own memory file excluded. The first start is case 4's full apply.",
        &[
            "size",
            "first start ms",
            "converged ms median (min–max)",
            "N",
            "kernel writes (max)",
        ],
    );
    let mut worst: f64 = 0.0;
    let mut writes_total = 0;
    let mut data = vec![];
    for size in SIZES {
        let file = configs::write(size);
        super::settle();
        let ns = super::dom0("bconv");
        let (first, _) = brouter(&ns, &["--config", &file, "start"], &[]);
        let mut s = Samples::default();
        let mut writes = 0;
        for _ in 0..n {
            let (took, out) = brouter(&ns, &["--config", &file, "start"], &[]);
            s.push(ms(took));
            writes = writes.max(kernel_writes(&out));
        }
        worst = worst.max(s.median());
        writes_total += writes;
        t.row(vec![
            size.label(),
            format!("{:.1}", ms(first)),
            s.show(2),
            s.n().to_string(),
            writes.to_string(),
        ]);
        data.push(json!({"size": size.label(), "first_start_ms": ms(first), "converged_ms": s.to_json(), "kernel_writes": writes}));
        if size == *SIZES.last().expect("sizes") {
            report
                .tables
                .push(std::mem::replace(&mut t, Table::new("", "", &[])));
            rss(report, &ns, &file, size);
        }
    }
    report.target(
        "converged start, worst size (median)",
        format!("{worst:.2} ms, {writes_total} kernel writes"),
        "≤ 5 ms, 0 writes",
        worst <= 5.0 && writes_total == 0,
    );
    report.data.insert("converged_start".into(), json!(data));
}

/// Case 6: peak RSS of `start` from nothing and converged, at the largest size.
fn rss(report: &mut Report, converged_ns: &brouter_integration::Netns, file: &str, size: Size) {
    super::settle();
    let fresh = super::dom0("brss");
    let first_own = peak_rss(command(&fresh, &["--config", file, "start"], &[]));
    let conv_own = peak_rss(command(converged_ns, &["--config", file, "start"], &[]));
    let mut t = Table::new(
        "6. Peak memory of `brouter start`",
        &format!(
            "At the largest size ({}), with `--json` (its answer lists every op): brouter's peak \
             resident memory (VmHWM, polled from /proc). It starts no other process (the firewall \
             is applied in-process).",
            size.label()
        ),
        &["run", "brouter MB"],
    );
    let mb = |kb: u64| format!("{:.1}", kb as f64 / 1024.0);
    t.row(vec!["start from nothing".into(), mb(first_own)]);
    t.row(vec!["converged start".into(), mb(conv_own)]);
    report.tables.push(t);
    let peak = first_own.max(conv_own) as f64 / 1024.0;
    report.target(
        "peak RSS of brouter start",
        format!("{peak:.1} MB"),
        "≤ 30 MB",
        peak <= 30.0,
    );
    report.data.insert(
        "peak_rss_kib".into(),
        json!({"start_own": first_own, "converged_own": conv_own}),
    );
}
