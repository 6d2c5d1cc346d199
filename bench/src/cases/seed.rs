//! Case 1: the seed `start` (Xen mode) from nothing — brouter vs the per-command shell
//! baseline vs the floor (the same netlink ops in-process plus one `nft -f`).

use std::process::Command;
use std::time::{Duration, Instant};

use brouter_backends::{firewall, NetlinkBackend};
use brouter_engine::{config, BridgeOptions, NetBackend};
use brouter_integration::Netns;
use serde_json::json;

use crate::report::{Report, Table};
use crate::run::{brouter, ms};
use crate::shell;
use crate::stats::Samples;

const WORDS: [&str; 2] = ["bridgeip=10.98.98.1/24", "brnet=10.98.98.0/24"];

pub fn run(report: &mut Report, n: usize) {
    let cfg = config::from_xen_words(&WORDS).expect("seed words");
    let text = firewall::render_text(&brouter_engine::firewall::compile(&cfg));
    let file = std::env::temp_dir().join(format!("brouter-bench-seed-{}.nft", std::process::id()));
    std::fs::write(&file, &text).expect("write ruleset");
    let file = file.display().to_string();
    let (mut b, mut sh, mut fl) = (Samples::default(), Samples::default(), Samples::default());
    let mut fl_batch = Samples::default();
    let tables = firewall::tables(&brouter_engine::firewall::compile(&cfg));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for _ in 0..n {
        super::settle();
        let ns = Netns::new("bseed");
        let mut args = vec!["start"];
        args.extend(WORDS);
        // All three namespaces live until the round ends: a dropped one is torn down by
        // the kernel in the background, which would slow whatever runs next.
        let ns_sh = Netns::new("bseedsh");
        let ns_fl = Netns::new("bseedfl");
        let ns_fb = Netns::new("bseedfb");
        b.push(ms(brouter(&ns, &args, &[]).0));
        sh.push(ms(shell::run(&shell::seed_start(ns_sh.name(), &file))));
        fl.push(ms(floor(&rt, &ns_fl, Firewall::NftFile(&file))));
        fl_batch.push(ms(floor(&rt, &ns_fb, Firewall::Batch(&tables))));
    }
    let mut t = Table::new(
        "1. Seed `start` from nothing (Xen mode)",
        "`brouter start bridgeip=10.98.98.1/24 brnet=10.98.98.0/24` in a fresh namespace: bridge, \
         address, route, ip_forward, both nftables tables. Shell baseline: the seed script's steps, one \
         `ip`/`sysctl`/`nft -f` process each (`ip -n`, `ip netns exec`), with the same ruleset as nft text. \
         Floor: the same netlink ops in-process over one rtnetlink socket, plus one `nft -f` of the ruleset \
         spawned inside the namespace. In-process floor: the same netlink ops, and the firewall as the \
         nf_tables batch brouter sends, both from this process (no process start at all).",
        &["variant", "ms median (min–max)", "N", "ratio to brouter"],
    );
    let bm = b.median();
    for (name, s) in [
        ("brouter", &b),
        ("shell baseline", &sh),
        ("floor", &fl),
        ("in-process floor", &fl_batch),
    ] {
        t.row(vec![
            name.into(),
            s.show(2),
            s.n().to_string(),
            format!("{:.2}×", s.median() / bm),
        ]);
    }
    report.tables.push(t);
    report.target(
        "seed start vs floor",
        format!("{:.2}× ({:.1} vs {:.1} ms)", bm / fl.median(), bm, fl.median()),
        "≤ 1.5×",
        bm <= 1.5 * fl.median(),
    );
    report.target(
        "seed start vs shell baseline",
        format!("{:.2}× faster", sh.median() / bm),
        "≥ 2× faster",
        sh.median() >= 2.0 * bm,
    );
    report.data.insert(
        "seed_start_ms".into(),
        json!({"brouter": b.to_json(), "shell": sh.to_json(), "floor": fl.to_json(), "in_process_floor": fl_batch.to_json()}),
    );
}

/// How a floor applies the firewall.
enum Firewall<'a> {
    /// One `nft -f` of the ruleset text, spawned inside the namespace.
    NftFile(&'a str),
    /// The nf_tables batch brouter sends, from this process.
    Batch(&'a firewall::Tables),
}

/// The netlink ops of the seed start in-process, then the firewall.
fn floor(rt: &tokio::runtime::Runtime, ns: &Netns, fw: Firewall<'_>) -> Duration {
    let target = ns.target();
    let t = Instant::now();
    rt.block_on(async {
        let mut b = NetlinkBackend::new(target).await.expect("backend");
        let opts = BridgeOptions {
            stp: false,
            forward_delay: 0,
        };
        b.create_bridge("xenbr0", "xenbr0", opts).await.expect("bridge");
        b.set_up("xenbr0", true).await.expect("up");
        b.add_address("xenbr0", "10.98.98.1/24".parse().expect("addr"))
            .await
            .expect("address");
        b.add_route("10.98.98.0/24".parse().expect("net"), "xenbr0")
            .await
            .expect("route");
        b.set_sysctl("net.ipv4.ip_forward", "1").await.expect("sysctl");
    });
    match fw {
        Firewall::NftFile(file) => {
            let file = file.to_string();
            let ok = ns.run(move || Command::new("nft").args(["-f", &file]).status().expect("nft"));
            assert!(ok.success(), "nft -f of the seed ruleset failed");
        }
        Firewall::Batch(tables) => {
            let tx = firewall::batch::encode(firewall::batch::Mode::Create, Some(tables), &[])
                .expect("encode the seed ruleset");
            ns.run(move || firewall::batch::send_here(&tx, false))
                .expect("send the seed ruleset");
        }
    }
    t.elapsed()
}
