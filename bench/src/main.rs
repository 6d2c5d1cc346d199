//! `just bench`: brouter against its alternatives, in throwaway network namespaces only.
//!
//! Runs every case of the benchmark issue in turn and writes `bench/RESULTS.md` (tables a
//! person reads) and `bench/results.json` (every sample). Needs root (it creates network
//! namespaces; nothing touches the root namespace). `$BENCH_RUNS` overrides the number of
//! repetitions of the quick cases; `$BENCH_ONLY=seed,vif,…` runs a subset (`peers`, Xen's
//! vif-bridge against the hook, runs only when named: `just bench-peers`); `$BENCH_OUT=NAME`
//! writes bench/NAME.md and NAME.json instead of RESULTS.md and results.json.

mod cases;
mod configs;
mod linear;
mod report;
mod run;
mod shell;
mod stats;

use std::path::Path;

use report::Report;

/// Where brouter's state goes in the bench: on a tmpfs, as `/run/brouter` is on every
/// Debian host (systemd and sysvinit both mount `/run` as tmpfs), so a state file's
/// `fsync` costs what it costs users; `/dev/shm` when it is one (this bench host's `/run`
/// and `/tmp` are on its disk), else the temporary directory. The hook case keeps its
/// fake xenstores there too: xenstored keeps its database in memory.
fn state_base() -> std::path::PathBuf {
    const TMPFS_MAGIC: libc::c_long = 0x0102_1994;
    // SAFETY: `statfs` fills the struct it is given; the path is NUL-terminated.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    let on_tmpfs = unsafe { libc::statfs(c"/dev/shm".as_ptr(), &mut fs) } == 0
        && fs.f_type as libc::c_long == TMPFS_MAGIC;
    if on_tmpfs {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    }
}

fn main() {
    if !brouter_integration::root_or_skip("brouter-bench") {
        std::process::exit(2);
    }
    let state = state_base().join(format!("brouter-bench-state-{}", std::process::id()));
    std::env::set_var("BROUTER_STATE_DIR", &state);
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let want = |c: &str| only.is_empty() || only.split(',').any(|o| o == c);
    eprintln!("brouter-bench: using {}", run::bin().display());
    let mut r = Report::default();
    let mut steady = Steadiness::default();
    calibrate(&mut steady);
    let quick = cases::runs(15);
    if want("seed") {
        eprintln!("case 1: seed start");
        cases::seed::run(&mut r, quick);
    }
    if want("converged") {
        eprintln!("case 2/6: converged start, peak RSS");
        cases::converged::run(&mut r, quick);
    }
    if want("vif") {
        eprintln!("case 3: vif online/offline");
        cases::vif::run(&mut r, cases::runs(30));
    }
    if want("apply") {
        eprintln!("case 4: full apply, rule count");
        cases::apply::run(&mut r, cases::runs(7).min(quick));
    }
    if !want("apply") && only.split(',').any(|o| o == "rules") {
        eprintln!("case 4b: rule count");
        cases::apply::run_rule_count(&mut r);
    }
    if want("datapath") {
        eprintln!("case 5: datapath throughput");
        cases::datapath::run(&mut r, cases::runs(7).min(quick));
    }
    if want("changes") {
        eprintln!("case 7: a change costs as much as its size");
        cases::changes::run(&mut r, cases::runs(11).min(quick));
    }
    if want("check") {
        eprintln!("case 8: check by networks, re-read of 10,000 forwards");
        cases::check::run(&mut r, cases::runs(5).min(quick));
    }
    if want("diagram") {
        eprintln!("case 9: diagram by networks");
        cases::diagram::run(&mut r, cases::runs(5).min(quick));
    }
    if want("hook") {
        eprintln!("case 10: the Xen hook as xl calls it");
        cases::hook::run(&mut r, cases::runs(30));
    }
    if want("stop") {
        eprintln!("case 12: mixed forwards from nothing, stop against its floor");
        cases::stop::run(&mut r, cases::runs(5).min(quick));
    }
    if want("dhcp") {
        eprintln!("case 14: dhcp = true on 64 networks, converged and from nothing to the first offer");
        cases::dhcp::run(&mut r, quick, cases::runs(8).min(quick));
    }
    if want("cluster") {
        eprintln!("case 15: a cluster member: start, migration, throughput over VXLAN");
        cases::cluster::run(&mut r, quick, cases::runs(10));
    }
    if want("rss") {
        eprintln!("case 13: peak memory of each command");
        cases::rss::run(&mut r);
    }
    // Peers only when asked for (`just bench-peers`): they need xen-utils-common.
    if only.split(',').any(|o| o == "peers") {
        eprintln!("case 11: peers (Xen's vif-bridge against brouter's hook)");
        cases::peers::run(&mut r, cases::runs(20));
        eprintln!("case 11b: peers (netavark against brouter)");
        cases::netavark::run(&mut r, cases::runs(5));
        eprintln!("case 11c: peers (Shorewall against brouter)");
        cases::shorewall::run(&mut r, cases::runs(3));
    }
    calibrate(&mut steady);
    r.data
        .insert("host_steadiness_cpu_loop_ms".into(), steady.cpu.to_json());
    r.data
        .insert("host_steadiness_spawn_true_ms".into(), steady.spawn.to_json());
    r.data
        .insert("host_steadiness_fresh_64mib_ms".into(), steady.pages.to_json());
    let _ = std::fs::remove_dir_all(&state);
    let machine = format!(
        "{} Host steadiness, before and after the cases (median, min–max): a fixed CPU loop took \
         {} ms, starting `/bin/true` {} ms, touching 64 MiB of fresh memory {} ms. On a shared \
         virtual host these vary between runs (the memory figure most); absolute times follow \
         them, the ratios measured side by side much less.",
        machine(),
        steady.cpu.show(0),
        steady.spawn.show(2),
        steady.pages.show(1)
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    // `$BENCH_OUT=NAME` writes NAME.md and NAME.json in bench/ instead of RESULTS.md and
    // results.json; without it a subset run (`BENCH_ONLY`) is laid over the last full run's
    // files rather than replacing them.
    let out = std::env::var("BENCH_OUT").ok().filter(|n| !n.is_empty());
    let (md_name, js_name) = match &out {
        Some(name) => (format!("{name}.md"), format!("{name}.json")),
        None => ("RESULTS.md".to_string(), "results.json".to_string()),
    };
    let (mut md, mut json) = (r.markdown(&machine), r.json(&machine));
    if !only.is_empty() && out.is_none() {
        if let Ok(earlier) = std::fs::read_to_string(dir.join("RESULTS.md")) {
            md = report::merge_markdown(&earlier, &md, &only);
        }
        if let Some(earlier) = std::fs::read_to_string(dir.join("results.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
        {
            json = report::merge_json(earlier, json);
        }
    }
    std::fs::write(dir.join(&md_name), &md).expect("write the results");
    let json = serde_json::to_string_pretty(&json).expect("json");
    std::fs::write(dir.join(&js_name), json + "\n").expect("write the results json");
    print!("{md}");
}

/// How fast the (virtual) machine was, measured the same way before and after the cases.
#[derive(Default)]
struct Steadiness {
    /// A fixed register-only loop.
    cpu: stats::Samples,
    /// Starting `/bin/true`.
    spawn: stats::Samples,
    /// Faulting in and writing 64 MiB of fresh memory.
    pages: stats::Samples,
}

/// The same work should take the same time: the spread shows how noisy the machine was
/// while the cases ran. Process starts and fresh pages are most of a CLI's cost, and on a
/// shared host they slow down while a register-only loop does not.
fn calibrate(s: &mut Steadiness) {
    for _ in 0..5 {
        let t = std::time::Instant::now();
        let mut x: u64 = 1;
        for i in 0..50_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
        std::hint::black_box(x);
        s.cpu.push(run::ms(t.elapsed()));
        let t = std::time::Instant::now();
        let mut buf = vec![0u8; 64 << 20];
        for page in buf.chunks_mut(4096) {
            page[0] = 1;
        }
        std::hint::black_box(&buf);
        drop(buf);
        s.pages.push(run::ms(t.elapsed()));
    }
    for _ in 0..10 {
        let t = std::time::Instant::now();
        let ok = std::process::Command::new("true")
            .status()
            .is_ok_and(|st| st.success());
        if ok {
            s.spawn.push(run::ms(t.elapsed()));
        }
    }
}

/// One line about where the figures come from.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let nft = std::process::Command::new("nft")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("Machine: {cpus} CPUs, Linux {}, {nft}.", kernel.trim())
}
