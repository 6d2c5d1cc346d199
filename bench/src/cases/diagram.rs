//! Case "diagram" (numbered 9 here): `brouter diagram` by number of networks, and the
//! size of what it writes.
//!
//! Nothing touches a kernel: `--config-only` draws from the file alone.

use std::time::Instant;

use serde_json::json;

use crate::configs::{self, Size};
use crate::report::{Report, Table};
use crate::run::{bin, ms};
use crate::stats::Samples;

/// 32 networks with ten hosts each took 14 s before issue 13 (layout-rs's crossing count
/// is cubic in a rank's width); 64 is the target; 1,000 must stay readable.
const SIZES: [Size; 3] = [
    Size::new(32, 1000, 320),
    Size::new(64, 1000, 640),
    Size::new(1000, 10000, 10000),
];

pub fn run(report: &mut Report, n: usize) {
    let mut t = Table::new(
        "9. `diagram` by number of networks",
        "`brouter --config F diagram --config-only -o OUT` (release binary, SVG) on the generated \
         configs. Before issue 13 every host was a box in one rank of layout-rs's layered layout, \
         whose crossing count is cubic in a rank's width: 32 networks with 320 hosts took 14.1 s \
         and drew a picture 144,990 px wide; 64 networks over 10 minutes. Now hosts past 8 a \
         network are one counting box and past 80 boxes the picture is a grid of zone cards.",
        &[
            "config",
            "diagram ms median (min–max)",
            "N",
            "SVG KB",
            "KB per network",
        ],
    );
    let out = std::env::temp_dir().join(format!("brouter-bench-diagram-{}.svg", std::process::id()));
    let mut data = vec![];
    let mut at_64 = f64::NAN;
    for size in SIZES {
        let file = configs::write(size);
        let mut s = Samples::default();
        for _ in 0..n {
            let t0 = Instant::now();
            let st = std::process::Command::new(bin())
                .args(["--config", &file, "diagram", "--config-only", "-o"])
                .arg(&out)
                .status()
                .expect("run brouter diagram");
            s.push(ms(t0.elapsed()));
            assert!(st.success(), "brouter diagram {file} failed");
        }
        let bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        if size.nets == 64 {
            at_64 = s.median();
        }
        t.row(vec![
            size.label(),
            s.show(1),
            s.n().to_string(),
            format!("{:.0}", bytes as f64 / 1000.0),
            format!("{:.2}", bytes as f64 / 1000.0 / size.nets as f64),
        ]);
        data.push(json!({"config": size.label(), "diagram_ms": s.to_json(), "svg_bytes": bytes}));
    }
    let _ = std::fs::remove_file(&out);
    report.tables.push(t);
    report.target(
        "diagram, 64 networks",
        format!("{at_64:.0} ms"),
        "≤ 1 s",
        at_64 <= 1000.0,
    );
    report.data.insert("diagram_networks".into(), json!(data));
}
