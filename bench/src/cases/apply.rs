//! Case 4: the full apply of 10,000 forwards and 1,000 bindings, and the nftables rule
//! count at 10 vs 10,000 forwards (brouter's maps vs the linear-rules baseline).

use std::time::Instant;

use brouter_backends::firewall;
use brouter_engine::config;
use brouter_engine::firewall::Binding;
use serde_json::json;

use crate::configs::{self, Size};
use crate::linear;
use crate::report::{Report, Table};
use crate::run::{brouter, ms};
use crate::stats::Samples;

const BIG: Size = Size::new(64, 10000, 1000);

/// One binding per declared host, on made-up vif names (the sets do not check names).
pub fn bindings(size: Size) -> Vec<Binding> {
    (0..size.hosts)
        .map(|h| {
            let (_, ip, mac) = configs::host(size, h);
            Binding {
                vif: format!("vifx{h}.0"),
                mac,
                addrs: vec![std::net::IpAddr::V4(ip).into()],
            }
        })
        .collect()
}

pub fn ruleset(size: Size) -> brouter_engine::firewall::Ruleset {
    let text = configs::toml(size);
    let cfg = config::from_toml(&text, "bench").expect("generated config validates");
    brouter_engine::firewall::compile(&cfg)
}

/// Case 4: the full apply (timed), then the rule counts (static).
pub fn run(report: &mut Report, n: usize) {
    let applied = measure_full_apply(n);
    report_full_apply(report, &applied);
    report_rule_count(report);
}

/// Case 4's rule counts alone (`BENCH_ONLY=rules`): static, no kernel, a second.
pub fn run_rule_count(report: &mut Report) {
    report_rule_count(report);
}

/// The timings of the full apply, one sample per round each.
#[derive(Default)]
struct FullApply {
    start: Samples,
    replace: Samples,
    floor: Samples,
    json_nft: Samples,
    kernel: Samples,
}

/// What every round applies: the config file, the ruleset (also as nft text) and the bindings.
struct Inputs {
    file: String,
    rs: brouter_engine::firewall::Ruleset,
    text: String,
    binds: Vec<Binding>,
}

/// Run `n` rounds of the full apply, each after the kernel has settled.
fn measure_full_apply(n: usize) -> FullApply {
    let file = configs::write(BIG);
    let rs = ruleset(BIG);
    let text = std::env::temp_dir().join(format!("brouter-bench-big-{}.nft", std::process::id()));
    std::fs::write(&text, firewall::render_text(&rs)).expect("write ruleset text");
    let text = text.display().to_string();
    let input = Inputs {
        file,
        rs,
        text,
        binds: bindings(BIG),
    };
    let mut applied = FullApply::default();
    for _ in 0..n {
        super::settle();
        apply_round(&mut applied, &input);
    }
    applied
}

/// One round: `start` and the replace in a dom0, then the baselines in a fresh namespace.
fn apply_round(s: &mut FullApply, input: &Inputs) {
    let Inputs {
        file,
        rs,
        text,
        binds,
    } = input;
    let ns = super::dom0("bapply");
    s.start
        .push(ms(brouter(&ns, &["--config", file, "start"], &[]).0));
    // The way `start` rewrites the tables (the counters read to carry them over, the
    // batch, and closing the socket, which waits for the kernel to free the old tables).
    let t = Instant::now();
    firewall::replace_with_bindings(&ns.target(), rs, binds).expect("replace with 1,000 bindings");
    s.replace.push(ms(t.elapsed()));
    let fresh = super::dom0("bapplyfl");
    let file = text.clone();
    let t = Instant::now();
    let ok = fresh.run(move || {
        std::process::Command::new("nft")
            .args(["-f", &file])
            .status()
            .expect("nft")
    });
    s.floor.push(ms(t.elapsed()));
    assert!(ok.success(), "nft -f of the big ruleset failed");
    // In the same namespace once its tables are gone (a dropped namespace with 10,000
    // elements per map is torn down in the background and would slow the next round).
    let clear = |ns: &brouter_integration::Netns| {
        for family in ["inet", "bridge"] {
            assert!(ns
                .exec("nft", &["delete", "table", family, "brouter"])
                .status
                .success());
        }
    };
    clear(&fresh);
    // The path brouter took before: the same model as JSON through `nft -j -f`.
    let t = Instant::now();
    let json = firewall::replace_json(rs, binds);
    let out = brouter_backends::firewall::exec::nft(&fresh.target(), &["-j", "-f", "-"], Some(json))
        .expect("run nft");
    s.json_nft.push(ms(t.elapsed()));
    assert!(out.success, "nft -j -f of the big ruleset failed: {}", out.stderr);
    clear(&fresh);
    // The kernel's share: the encoded batch alone, sent in-process.
    let tables = firewall::tables(rs);
    let tx = firewall::batch::encode(firewall::batch::Mode::Create, Some(&tables), binds).expect("encode");
    let t = Instant::now();
    fresh
        .run(move || firewall::batch::send_here(&tx, false))
        .expect("send the batch");
    s.kernel.push(ms(t.elapsed()));
}

/// Table 4, the full-apply target and its data.
fn report_full_apply(report: &mut Report, s: &FullApply) {
    let FullApply {
        start,
        replace,
        floor,
        json_nft,
        kernel,
    } = s;
    let mut t = Table::new(
        "4. Full apply: 10,000 forwards + 1,000 bindings",
        &format!(
            "`brouter start` from nothing with {} (64 bridges, addresses, routes, both tables with 10,000 \
             map elements per forward map); then the firewall transaction `start` runs when the ruleset \
             changes while 1,000 vifs are bound (the counters read to carry them over, tables replaced, \
             1,000 bindings re-inserted, one nf_tables netlink batch sent in-process). For comparison, into fresh namespaces: the same ruleset as \
             nft text through `nft -f` (the floor the issue names), as JSON through `nft -j -f` (brouter's \
             path before the batch), and the encoded batch alone (the kernel's share); the last two in the \
             floor's namespace once its tables are deleted.",
            BIG.label()
        ),
        &["what", "ms median (min–max)", "N"],
    );
    t.row(vec![
        "`brouter start` from nothing".into(),
        start.show(1),
        start.n().to_string(),
    ]);
    t.row(vec![
        "replace tables + 1,000 bindings".into(),
        replace.show(1),
        replace.n().to_string(),
    ]);
    t.row(vec![
        "floor: one `nft -f` of the same ruleset (text), fresh namespace".into(),
        floor.show(1),
        floor.n().to_string(),
    ]);
    t.row(vec![
        "the same as JSON through `nft -j -f` (render + nft), same namespace after deleting the tables"
            .into(),
        json_nft.show(1),
        json_nft.n().to_string(),
    ]);
    t.row(vec![
        "kernel: the encoded batch sent in-process, same namespace after deleting the tables".into(),
        kernel.show(1),
        kernel.n().to_string(),
    ]);
    report.tables.push(t);
    let worst = start.median().max(replace.median());
    report.target(
        "10,000 forwards + 1,000 bindings applied",
        format!(
            "{:.0} ms (start), {:.0} ms (replace with bindings)",
            start.median(),
            replace.median()
        ),
        "≤ 200 ms",
        worst <= 200.0,
    );

    report.data.insert(
        "full_apply_ms".into(),
        json!({"start_from_nothing": start.to_json(), "replace_with_1000_bindings": replace.to_json(), "nft_f_floor": floor.to_json(), "nft_json": json_nft.to_json(), "kernel_batch_only": kernel.to_json()}),
    );
}

/// Table 4b and the rule-count target: brouter's rules do not grow with the forwards.
fn report_rule_count(report: &mut Report) {
    let mut c = Table::new(
        "4b. nftables rule count",
        "Rules brouter installs (both tables) vs the linear-rules baseline (one DNAT and one accept rule \
         per forward, three rules per binding), for 8 networks.",
        &["forwards", "bindings", "brouter rules", "linear baseline rules"],
    );
    let mut counts = vec![];
    for (fw, hosts) in [(10, 10), (10000, 1000)] {
        let size = Size::new(8, fw, hosts);
        let ours = firewall::rule_count(&ruleset(size));
        let lin = linear::rule_count(&linear::ruleset(size, &bindings(size)));
        c.row(vec![
            fw.to_string(),
            hosts.to_string(),
            ours.to_string(),
            lin.to_string(),
        ]);
        counts.push((size, ours, lin));
    }
    report.tables.push(c);
    let same = counts[0].1 == counts[1].1;
    report.target(
        "rule count at 10 vs 10,000 forwards",
        format!(
            "{} vs {} (linear: {} vs {})",
            counts[0].1, counts[1].1, counts[0].2, counts[1].2
        ),
        "the same",
        same,
    );
    report.data.insert(
        "rule_count".into(),
        json!(counts
            .iter()
            .map(|(s, o, l)| json!({"size": s.label(), "brouter": o, "linear": l}))
            .collect::<Vec<_>>()),
    );
}
