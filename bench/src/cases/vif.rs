//! Case 3: `vif online` / `vif offline` latency with 0 / 256 / 1,024 vifs already attached
//! (anti-spoofing on, so each online also binds the vif), against `vif-bridge`'s steps as
//! shell commands; and 64 concurrent `vif online` (a host booting many domUs).

use std::time::Instant;

use brouter_integration::Netns;
use serde_json::json;

use crate::report::{Report, Table};
use crate::run::{brouter, command, ms};
use crate::shell;
use crate::stats::Samples;

const LEVELS: [usize; 3] = [0, 256, 1024];
const CONCURRENT: usize = 64;

/// Hands out fresh veth pairs `vif<N>.0` ↔ `peer<N>` in dom0, made in batches.
struct Vifs<'a> {
    ns: &'a Netns,
    next: usize,
}

impl Vifs<'_> {
    fn make(&mut self, count: usize) -> Vec<String> {
        let ids: Vec<usize> = (self.next..self.next + count).collect();
        self.next += count;
        let lines: Vec<String> = ids
            .iter()
            .map(|i| format!("link add vif{i}.0 type veth peer name peer{i}"))
            .collect();
        for chunk in lines.chunks(256) {
            self.ns.ip_batch(chunk);
        }
        ids.iter().map(|i| format!("vif{i}.0")).collect()
    }
}

/// A Linux bridge takes at most 1,023 ports (`BR_MAX_PORTS`; the 1,024th attach fails
/// with EXFULL), so the attached vifs are spread over two bridges; the sampled ones go to
/// the first.
const BRIDGES: [&str; 2] = ["xenbr0", "xenbr1"];

fn online_args(vif: &str, i: usize, bridge: &str) -> Vec<String> {
    vec![
        "vif".into(),
        "online".into(),
        "type_if=vif".into(),
        "--vif".into(),
        vif.into(),
        "--bridge".into(),
        bridge.into(),
        "--mac".into(),
        format!("aa:cc:00:01:{:02x}:{:02x}", (i / 256) % 256, i % 256),
        "--ip".into(),
        // Each bridge's own network (xenbr0 10.98.96.0/22, xenbr1 10.99.96.0/22): an
        // address outside the bridge's network is refused.
        format!(
            "10.{}.{}.{}",
            if bridge == BRIDGES[1] { 99 } else { 98 },
            96 + (i / 250) % 4,
            2 + i % 250
        ),
    ]
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Case 3: latency at each level of attached vifs, then 64 concurrent `vif online`.
pub fn run(report: &mut Report, samples: usize) {
    let ns = Netns::new("bvif");
    brouter(&ns, &["start", "bridgeip=10.98.96.1/22", "antispoof=yes"], &[]);
    brouter(
        &ns,
        &["start", "vifnum=1", "bridgeip=10.99.96.1/22", "antispoof=yes"],
        &[],
    );
    let mut vifs = Vifs { ns: &ns, next: 1 };
    let mut attached = 0;
    let mut t = latency_table();
    let mut p50_online = vec![];
    let mut data = vec![];
    for level in LEVELS {
        attach(&ns, &mut vifs, attached, level);
        attached = level;
        super::settle();
        let l = Latency::sample(&ns, &mut vifs, samples);
        let pq = |s: &Samples| format!("{:.2} / {:.2}", s.median(), s.quantile(0.99));
        t.row(vec![
            level.to_string(),
            pq(&l.on),
            pq(&l.off),
            pq(&l.son),
            pq(&l.soff),
            samples.to_string(),
        ]);
        p50_online.push(l.on.median());
        data.push(
            json!({"attached": level, "online_ms": l.on.to_json(), "offline_ms": l.off.to_json(),
            "shell_online_ms": l.son.to_json(), "shell_offline_ms": l.soff.to_json()}),
        );
    }
    report.tables.push(t);
    latency_targets(report, &p50_online);
    concurrent(report, &ns, &mut vifs, attached);
    report.data.insert("vif_latency".into(), json!(data));
}

/// Table 3's frame; a row per level of attached vifs follows.
fn latency_table() -> Table {
    Table::new(
        "3. `vif online` / `vif offline` latency",
        "Xen mode, two bridges with anti-spoofing (`start bridgeip=10.98.96.1/22 antispoof=yes`, and \
         `vifnum=1` for xenbr1): a Linux bridge takes at most 1,023 ports (the 1,024th attach fails with \
         EXFULL), so the attached vifs alternate between them and the sampled ones go to xenbr0. Each \
         `brouter vif online type_if=vif --vif V --bridge B --mac M --ip A` sets the MAC, MTU, flushes, attaches, binds \
         (nftables set elements) and raises a fresh veth; `vif offline` unbinds, detaches and downs it. \
         Shell baseline: vif-bridge's five `ip` commands (online) / two (offline), no anti-spoofing.",
        &[
            "vifs attached",
            "brouter online p50 / p99 ms",
            "brouter offline p50 / p99 ms",
            "shell online p50 / p99 ms",
            "shell offline p50 / p99 ms",
            "N",
        ],
    )
}

/// Bring the attached vifs from `attached` up to `level` (alternating between the bridges).
fn attach(ns: &Netns, vifs: &mut Vifs, attached: usize, level: usize) {
    let fill = vifs.make(level - attached);
    for (k, v) in fill.iter().enumerate() {
        let i = attached + k;
        brouter(ns, &refs(&online_args(v, i, BRIDGES[i % 2])), &[]);
    }
}

/// One level's samples (ms): brouter online/offline, shell online/offline.
struct Latency {
    on: Samples,
    off: Samples,
    son: Samples,
    soff: Samples,
}

impl Latency {
    /// `samples` fresh vifs through brouter online and offline, as many through the shell.
    fn sample(ns: &Netns, vifs: &mut Vifs, samples: usize) -> Latency {
        let (mut on, mut off, mut son, mut soff) = (
            Samples::default(),
            Samples::default(),
            Samples::default(),
            Samples::default(),
        );
        let sample = vifs.make(samples);
        for (k, v) in sample.iter().enumerate() {
            on.push(ms(
                brouter(ns, &refs(&online_args(v, 5000 + k, BRIDGES[0])), &[]).0
            ));
            off.push(ms(brouter(
                ns,
                &["vif", "offline", "type_if=vif", "--vif", v],
                &[],
            )
            .0));
        }
        let bridge = "xenbr0";
        for v in vifs.make(samples) {
            son.push(ms(shell::run(&shell::vif_online(ns.name(), &v, bridge))));
            soff.push(ms(shell::run(&shell::vif_offline(ns.name(), &v))));
        }
        Latency { on, off, son, soff }
    }
}

/// The online targets: p50 at 0 attached, and how it grows at 1,024.
fn latency_targets(report: &mut Report, p50_online: &[f64]) {
    let (p0, p1024) = (p50_online[0], *p50_online.last().expect("levels"));
    report.target(
        "vif online p50 (at 0 attached)",
        format!("{p0:.2} ms"),
        "≤ 10 ms",
        p0 <= 10.0,
    );
    report.target(
        "vif online p50 at 1,024 vs at 0",
        format!("{:.2}× ({p1024:.2} vs {p0:.2} ms)", p1024 / p0),
        "≤ 1.5×",
        p1024 <= 1.5 * p0,
    );
}

/// 64 `vif online` processes at once (they serialise on brouter's per-namespace lock).
fn concurrent(report: &mut Report, ns: &Netns, vifs: &mut Vifs, attached: usize) {
    let mut walls = Samples::default();
    let mut failures = 0;
    for round in 0..3 {
        let batch = vifs.make(CONCURRENT);
        let t = Instant::now();
        let children: Vec<_> = batch
            .iter()
            .enumerate()
            .map(|(k, v)| {
                command(
                    ns,
                    &refs(&online_args(v, 9000 + round * 100 + k, BRIDGES[1])),
                    &[],
                )
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn vif online")
            })
            .collect();
        for mut c in children {
            if !c.wait().expect("wait").success() {
                failures += 1;
            }
        }
        walls.push(ms(t.elapsed()));
        let shown = ns.ip(&["-o", "link", "show", "master", BRIDGES[1], "up"]);
        let up = batch.iter().filter(|v| shown.contains(&format!(" {v}@"))).count();
        failures += CONCURRENT - up;
    }
    let mut t = Table::new(
        "3b. 64 concurrent `vif online`",
        &format!(
            "64 `brouter vif online` processes started at once on the bridge of case 3 ({attached}+ vifs \
             already attached); wall time until all have exited; then every vif is checked attached and up."
        ),
        &["wall ms median (min–max)", "N", "failed or not up"],
    );
    t.row(vec![walls.show(1), walls.n().to_string(), failures.to_string()]);
    report.tables.push(t);
    report.target(
        "64 concurrent vif online",
        format!("{:.0} ms wall, {failures} failed", walls.median()),
        "all succeed, ≤ 2 s",
        failures == 0 && walls.median() <= 2000.0,
    );
    report.data.insert(
        "vif_concurrent_64".into(),
        json!({"wall_ms": walls.to_json(), "failures": failures}),
    );
}
