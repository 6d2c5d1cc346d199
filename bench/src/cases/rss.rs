//! Case 13: peak memory of every brouter command at the worst size the other cases use —
//! one process each, its VmHWM polled from /proc ([`peak_rss`]) in a separate pass, so
//! the polling never slows a timed run.

use brouter_integration::Netns;
use serde_json::json;

use crate::configs::{self, Size};
use crate::report::{Report, Table};
use crate::run::{brouter, command, peak_rss};

const BIG: Size = Size::new(64, 10000, 1000);

/// The generated big config with forward 0's port moved: a one-element change.
fn moved_forward(text: &str) -> String {
    text.replacen("port = 10000\n", "port = 9999\n", 1)
}

pub fn run(report: &mut Report) {
    let text = configs::toml_proto(BIG, "mixed");
    let file = configs::write_named("rss-mixed", &text);
    let changed = configs::write_named("rss-mixed-changed", &moved_forward(&text));
    let check = configs::write(Size::new(5000, 5000, 5000));
    let diagram = configs::write(Size::new(1000, 10000, 10000));
    let mut rows: Vec<(String, u64)> = vec![];
    let mut measure = |what: &str, ns: &Netns, args: &[&str]| {
        rows.push((what.to_string(), peak_rss(command(ns, args, &[]))));
    };
    super::settle();
    // The uplink up, with an address: `status` is converged (exit 0) only then.
    let ns = super::changes::dom0_with_address("brssall");
    let out = std::env::temp_dir().join(format!("brouter-bench-rss-{}.svg", std::process::id()));
    let out_s = out.display().to_string();
    measure("check, 5,000 networks", &ns, &["--config", &check, "check"]);
    measure(
        "diagram, 1,000 networks, 10,000 hosts",
        &ns,
        &["--config", &diagram, "diagram", "--config-only", "-o", &out_s],
    );
    let _ = std::fs::remove_file(&out);
    let label = BIG.label();
    measure(
        &format!("start from nothing, {label} (mixed tcp/udp)"),
        &ns,
        &["--config", &file, "start"],
    );
    // 1,000 vifs bound, as in the other big cases (the bindings live in the sets).
    for h in 0..BIG.hosts {
        let (n, ip, mac) = configs::host(BIG, h);
        let vif = format!("vr{h}");
        ns.ip(&[
            "link",
            "add",
            &vif,
            "type",
            "veth",
            "peer",
            "name",
            &format!("vp{h}"),
        ]);
        brouter(
            &ns,
            &[
                "--config",
                &file,
                "vif",
                "online",
                "type_if=vif",
                "--vif",
                &vif,
                "--bridge",
                &configs::bridge(n),
                "--mac",
                &mac,
                "--ip",
                &ip.to_string(),
            ],
            &[],
        );
    }
    measure("converged start", &ns, &["--config", &file, "start"]);
    measure("status", &ns, &["--config", &file, "status"]);
    measure("plan, one forward changed", &ns, &["--config", &changed, "plan"]);
    measure(
        "start, one forward changed",
        &ns,
        &["--config", &changed, "start"],
    );
    let (n, ip, mac) = configs::host(BIG, 0);
    ns.ip(&["link", "add", "vrx", "type", "veth", "peer", "name", "vpx"]);
    // Host 0's vif goes offline first, so its MAC is free for the measured online.
    brouter(
        &ns,
        &[
            "--config",
            &changed,
            "vif",
            "offline",
            "type_if=vif",
            "--vif",
            "vr0",
        ],
        &[],
    );
    measure(
        "vif online, 999 vifs bound",
        &ns,
        &[
            "--config",
            &changed,
            "vif",
            "online",
            "type_if=vif",
            "--vif",
            "vrx",
            "--bridge",
            &configs::bridge(n),
            "--mac",
            &mac,
            "--ip",
            &ip.to_string(),
        ],
    );
    measure(
        "vif offline, 1,000 vifs bound",
        &ns,
        &[
            "--config",
            &changed,
            "vif",
            "offline",
            "type_if=vif",
            "--vif",
            "vrx",
        ],
    );
    measure("stop", &ns, &["--config", &changed, "stop"]);
    drop(ns);
    table(report, &rows);
}

fn table(report: &mut Report, rows: &[(String, u64)]) {
    let mut t = Table::new(
        "13. Peak memory of each command at the worst size",
        "One run each, in this order in one namespace, its peak resident memory (VmHWM, polled from \
         /proc every 0.2 ms; `vif offline` hands its socket release to a child, which is not \
         counted). The big config is case 12's (10,000 forwards, half of them udp, 1,000 hosts); \
         from `converged start` on, 1,000 vifs are bound.",
        &["command", "brouter MB"],
    );
    let mut data = serde_json::Map::new();
    for (what, kb) in rows {
        t.row(vec![what.clone(), format!("{:.1}", *kb as f64 / 1024.0)]);
        data.insert(what.clone(), json!(kb));
    }
    report.tables.push(t);
    // The target is the 10,000-forward case: every row but check and diagram,
    // whose worst sizes are 5,000 and 1,000 networks (their rows are in the table).
    let (worst, kb) = rows
        .iter()
        .filter(|(what, _)| !what.starts_with("check") && !what.starts_with("diagram"))
        .max_by_key(|(_, kb)| *kb)
        .cloned()
        .unwrap_or_default();
    report.target(
        "peak RSS of any command on the 10,000-forward config",
        format!("{:.1} MB ({worst})", kb as f64 / 1024.0),
        "≤ 30 MB",
        kb as f64 / 1024.0 <= 30.0,
    );
    report
        .data
        .insert("peak_rss_per_command_kib".into(), serde_json::Value::Object(data));
}
