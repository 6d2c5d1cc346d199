//! Case 12: the 10,000-forward config with mixed protocols (every other forward UDP)
//! started from nothing against its floors, and `stop` of it against the floor of the
//! same kernel work (both tables deleted in one batch, each bridge deleted), side by side
//! in each round.

use std::time::Instant;

use brouter_backends::firewall;
use brouter_engine::config;
use serde_json::json;

use crate::cases::apply::bindings;
use crate::configs::{self, Size};
use crate::report::{Report, Table};
use crate::run::{brouter, ms};
use crate::stats::Samples;

const BIG: Size = Size::new(64, 10000, 1000);

#[derive(Default)]
struct Rounds {
    start_mixed: Samples,
    start_tcp: Samples,
    replace_mixed: Samples,
    replace_floor: Samples,
    create_mixed: Samples,
    nft_f: Samples,
    kernel: Samples,
    stop: Samples,
    stop_floor: Samples,
}

/// `n` rounds, each after the kernel has settled from the last.
pub fn run(report: &mut Report, n: usize) {
    let mixed_text = configs::toml_proto(BIG, "mixed");
    let mixed = configs::write_named("mixed-64-10000-1000", &mixed_text);
    let tcp = configs::write(BIG);
    let cfg = config::from_toml(&mixed_text, "bench").expect("generated config validates");
    let rs = brouter_engine::firewall::compile(&cfg);
    let bridges: Vec<String> = cfg.networks.iter().map(|n| n.bridge.clone()).collect();
    let nft_text = std::env::temp_dir().join(format!("brouter-bench-mixed-{}.nft", std::process::id()));
    std::fs::write(&nft_text, firewall::render_text(&rs)).expect("write ruleset text");
    let nft_text = nft_text.display().to_string();
    let binds = bindings(BIG);
    let tables = firewall::tables(&rs);
    let mut r = Rounds::default();
    for round in 0..n {
        super::settle();
        let ns = super::dom0("bmixed");
        r.start_mixed
            .push(ms(brouter(&ns, &["--config", &mixed, "start"], &[]).0));
        // As `start` replaces the tables: the counts come from the read-back it compared
        // the tables with (read before, untimed: that read is made whether or not a
        // replace follows).
        firewall::replace_with_bindings(&ns.target(), &rs, &binds).expect("bind 1,000 vifs");
        let carry = firewall::read_carry(&ns.target()).expect("read the counts");
        let t = Instant::now();
        firewall::replace_carrying(&ns.target(), &rs, &binds, carry).expect("replace with 1,000 bindings");
        r.replace_mixed.push(ms(t.elapsed()));
        // Its floor: the same replace (tables present, bindings re-inserted) encoded
        // beforehand and sent in-process, the socket closed, with no counters carried.
        let tx = firewall::batch::encode(firewall::batch::Mode::Replace, Some(&tables), &binds)
            .expect("encode the replace");
        let t = Instant::now();
        ns.run(move || firewall::batch::send_here(&tx, false))
            .expect("send the replace batch");
        r.replace_floor.push(ms(t.elapsed()));
        // `stop` of what that start made (and the bindings the replace added).
        r.stop
            .push(ms(brouter(&ns, &["--config", &mixed, "stop"], &[]).0));
        drop(ns);
        super::settle();
        let ns = super::dom0("btcp");
        r.start_tcp
            .push(ms(brouter(&ns, &["--config", &tcp, "start"], &[]).0));
        drop(ns);
        super::settle();
        // The floors, in one fresh namespace: nft -f, then the batch alone, then the same
        // objects as brouter's start made them, deleted without brouter.
        let fl = super::dom0("bmixedfl");
        let file = nft_text.clone();
        let t = Instant::now();
        let ok = fl.run(move || {
            std::process::Command::new("nft")
                .args(["-f", &file])
                .status()
                .expect("nft")
        });
        r.nft_f.push(ms(t.elapsed()));
        assert!(ok.success(), "nft -f of the mixed ruleset failed");
        for family in ["inet", "bridge"] {
            assert!(fl
                .exec("nft", &["delete", "table", family, "brouter"])
                .status
                .success());
        }
        // The firewall transaction as `start` runs it from nothing (encode, send, close),
        // against the same batch encoded beforehand; which goes first alternates by round.
        let clear = |ns: &brouter_integration::Netns| {
            for family in ["inet", "bridge"] {
                assert!(ns
                    .exec("nft", &["delete", "table", family, "brouter"])
                    .status
                    .success());
            }
        };
        for which in [round % 2, 1 - round % 2] {
            if which == 0 {
                let t = Instant::now();
                firewall::create_with_bindings(&fl.target(), &rs, &binds)
                    .expect("create with 1,000 bindings");
                r.create_mixed.push(ms(t.elapsed()));
            } else {
                let tx = firewall::batch::encode(firewall::batch::Mode::Create, Some(&tables), &binds)
                    .expect("encode");
                let t = Instant::now();
                fl.run(move || firewall::batch::send_here(&tx, false))
                    .expect("send the batch");
                r.kernel.push(ms(t.elapsed()));
            }
            clear(&fl);
        }
        brouter(&fl, &["--config", &mixed, "start"], &[]);
        firewall::replace_with_bindings(&fl.target(), &rs, &binds).expect("bindings");
        r.stop_floor.push(delete_floor(&fl, &rs, &bridges));
        drop(fl);
    }
    table(report, &r);
}

/// The kernel work of a `stop` with no process, no config and no read-back: one batch
/// deleting both tables, then one RTM_DELLINK per bridge (its addresses and routes go
/// with it); ms.
fn delete_floor(
    ns: &brouter_integration::Netns,
    rs: &brouter_engine::firewall::Ruleset,
    bridges: &[String],
) -> f64 {
    let tables = firewall::tables(rs);
    let tx = firewall::batch::encode(firewall::batch::Mode::Delete, Some(&tables), &[]).expect("encode");
    let bridges = bridges.to_vec();
    let t = Instant::now();
    ns.run(move || {
        firewall::batch::send_here(&tx, false).expect("delete the tables");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (conn, handle, _) = rtnetlink::new_connection().expect("rtnetlink");
            tokio::spawn(conn);
            for b in &bridges {
                brouter_backends::netlink::links::delete_link(&handle, b)
                    .await
                    .expect("delete a bridge");
            }
        });
    });
    ms(t.elapsed())
}

fn table(report: &mut Report, r: &Rounds) {
    let mut t = Table::new(
        "12. Mixed forwards from nothing; `stop` against its floor",
        &format!(
            "{} with every other forward UDP (5,000 TCP + 5,000 UDP). `start` from nothing in a fresh \
             namespace (64 bridges, addresses, routes, both tables), and the same size all TCP in the \
             next fresh namespace. The replace `start` makes when the ruleset changes, in-process, with \
             1,000 vifs bound (render, encode with the counts carried over from the read-back `start` \
             compared the tables with, send, close), against the same replace batch encoded beforehand \
             and sent (no counts); the firewall transaction from nothing (encode, send, close) against \
             the same batch encoded beforehand, and `nft -f` of the same ruleset, in a third namespace, \
             the first two in alternating order. `stop` of the mixed start (1,000 bindings in place) \
             against its floor: the same tables deleted in one batch and the 64 bridges deleted one \
             RTM_DELLINK each, in-process, after a `start` made them.",
            BIG.label()
        ),
        &["what", "ms median (min–max)", "N"],
    );
    let rows: [(&str, &Samples); 9] = [
        ("`brouter start` from nothing, mixed", &r.start_mixed),
        ("`brouter start` from nothing, all TCP", &r.start_tcp),
        (
            "firewall replace + 1,000 bindings, mixed (in-process, the counts from the read-back)",
            &r.replace_mixed,
        ),
        (
            "floor: the same replace batch encoded beforehand, sent in-process",
            &r.replace_floor,
        ),
        (
            "firewall transaction from nothing + 1,000 bindings, mixed (in-process: encode, send)",
            &r.create_mixed,
        ),
        ("floor: `nft -f` of the mixed ruleset", &r.nft_f),
        ("floor: the encoded batch alone (kernel)", &r.kernel),
        ("`brouter stop`", &r.stop),
        (
            "floor of stop: tables and bridges deleted in-process",
            &r.stop_floor,
        ),
    ];
    for (what, s) in rows {
        t.row(vec![what.into(), s.show(1), s.n().to_string()]);
    }
    report.tables.push(t);
    let ratio = |a: &Samples, b: &Samples| a.median() / b.median();
    report.target(
        "10,000 mixed forwards from nothing vs `nft -f` floor",
        format!(
            "{:.2}× ({:.0} vs {:.0} ms); mixed vs all TCP {:.2}×",
            ratio(&r.start_mixed, &r.nft_f),
            r.start_mixed.median(),
            r.nft_f.median(),
            ratio(&r.start_mixed, &r.start_tcp)
        ),
        "≤ 1.5×",
        ratio(&r.start_mixed, &r.nft_f) <= 1.5,
    );
    report.target(
        "mixed firewall transaction from nothing (+ 1,000 bindings) vs the kernel batch floor",
        format!(
            "{:.2}× ({:.1} vs {:.1} ms)",
            ratio(&r.create_mixed, &r.kernel),
            r.create_mixed.median(),
            r.kernel.median()
        ),
        "≤ 1.2×",
        ratio(&r.create_mixed, &r.kernel) <= 1.2,
    );
    report.target(
        "mixed firewall replace (counters carried, 1,000 bindings) vs the same replace batch",
        format!(
            "{:.2}× ({:.1} vs {:.1} ms)",
            ratio(&r.replace_mixed, &r.replace_floor),
            r.replace_mixed.median(),
            r.replace_floor.median()
        ),
        "≤ 1.2×",
        ratio(&r.replace_mixed, &r.replace_floor) <= 1.2,
    );
    report.target(
        "stop of the 10,000-forward config vs its floor",
        format!(
            "{:.2}× ({:.0} vs {:.0} ms)",
            ratio(&r.stop, &r.stop_floor),
            r.stop.median(),
            r.stop_floor.median()
        ),
        "≤ 2×",
        ratio(&r.stop, &r.stop_floor) <= 2.0,
    );
    report.data.insert(
        "mixed_and_stop_ms".into(),
        json!({
            "start_mixed": r.start_mixed.to_json(), "start_tcp": r.start_tcp.to_json(),
            "replace_mixed_with_bindings": r.replace_mixed.to_json(), "nft_f_floor": r.nft_f.to_json(),
            "kernel_batch_floor": r.kernel.to_json(), "stop": r.stop.to_json(), "stop_floor": r.stop_floor.to_json(),
        }),
    );
}
