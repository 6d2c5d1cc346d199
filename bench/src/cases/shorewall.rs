//! Case "peers", part 3: Shorewall (Debian's) against brouter on a three-zone firewall —
//! `net` (the uplink `eth0`), `loc` (`br-loc`), `dmz` (`br-dmz`) — with N DNATs from the
//! uplink to a dmz server, loc and dmz masqueraded out, everything else dropped from net:
//! compile (`shorewall compile DIR OUT` against `brouter check`) and start (`shorewall
//! start DIR` against `brouter start`), side by side in each round, each in a fresh
//! namespace where the two bridges exist already (Shorewall makes none; brouter adopts
//! them and adds their addresses).
//!
//! Shorewall runs inside the namespace (its iptables-restore goes to that namespace's
//! iptables-nft tables); it keeps its compiled script under /var/lib/shorewall, as it
//! does on any host.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use brouter_integration::Netns;
use serde_json::json;

use crate::configs;
use crate::report::{Report, Table};
use crate::run::{brouter, ms};
use crate::stats::Samples;

const SHOREWALL: &str = "/sbin/shorewall";

/// The Shorewall configuration directory for `n` DNATs.
fn shorewall_dir(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).expect("shorewall dir");
    let conf = std::fs::read_to_string("/usr/share/doc/shorewall/examples/three-interfaces/shorewall.conf")
        .expect("Debian's shorewall example config");
    let conf: String = conf
        .lines()
        .map(|l| {
            if l.starts_with("STARTUP_ENABLED=") {
                "STARTUP_ENABLED=Yes".to_string()
            } else if l.starts_with("LOGFILE=") {
                "LOGFILE=/dev/null".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut rules = String::from("?SECTION NEW\n");
    for i in 0..n {
        rules += &format!("DNAT\tnet\tdmz:10.2.0.2:80\ttcp\t{}\n", 10000 + i);
    }
    for (name, text) in [
        ("shorewall.conf", conf + "\n"),
        ("zones", "fw\tfirewall\nnet\tipv4\nloc\tipv4\ndmz\tipv4\n".into()),
        (
            "interfaces",
            "?FORMAT 2\nnet\teth0\ttcpflags,nosmurfs,routefilter\nloc\tbr-loc\ttcpflags,nosmurfs\n\
             dmz\tbr-dmz\ttcpflags,nosmurfs\n"
                .into(),
        ),
        (
            "policy",
            "loc\tnet\tACCEPT\ndmz\tnet\tACCEPT\n$FW\tall\tACCEPT\nnet\tall\tDROP\nall\tall\tDROP\n".into(),
        ),
        ("snat", "MASQUERADE\t10.1.0.0/24,10.2.0.0/24\teth0\n".into()),
        ("rules", rules),
    ] {
        std::fs::write(dir.join(name), text).expect("write shorewall file");
    }
}

/// brouter's config for the same firewall.
fn brouter_config(n: usize) -> String {
    let mut s = String::from("[uplink]\ninterface = \"eth0\"\n\n");
    for (name, i) in [("loc", 1), ("dmz", 2)] {
        s += &format!(
            "[[network]]\nname = \"{name}\"\nbridge = \"br-{name}\"\naddress = \"10.{i}.0.1/24\"\n\n\
             [[policy]]\nfrom = \"{name}\"\nto = \"external\"\naction = \"accept\"\n\n"
        );
    }
    s += "[[host]]\nname = \"web\"\nnetwork = \"dmz\"\naddresses = [\"10.2.0.2\"]\n\n";
    for i in 0..n {
        s += &format!(
            "[[forward]]\nproto = \"tcp\"\nport = {}\nto = \"web:80\"\n\n",
            10000 + i
        );
    }
    s
}

/// A dom0 with the uplink and both bridges up (with addresses when `addresses`).
fn dom0(tag: &str, addresses: bool) -> Netns {
    let ns = super::dom0(tag);
    ns.ip(&["addr", "add", "192.0.2.2/24", "dev", "eth0"]);
    ns.ip(&["link", "set", "eth0", "up"]);
    ns.ip(&["link", "set", "up0", "up"]);
    for (b, i) in [("br-loc", 1), ("br-dmz", 2)] {
        ns.ip(&["link", "add", b, "type", "bridge"]);
        if addresses {
            ns.ip(&["addr", "add", &format!("10.{i}.0.1/24"), "dev", b]);
        }
        ns.ip(&["link", "set", b, "up"]);
    }
    ns
}

fn shorewall(ns: &Netns, args: Vec<String>) -> f64 {
    let what = args.join(" ");
    let t = Instant::now();
    let out = ns.run(move || {
        Command::new(SHOREWALL)
            .args(&args)
            .output()
            .expect("run shorewall")
    });
    let took = ms(t.elapsed());
    assert!(
        out.status.success(),
        "shorewall {what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

#[derive(Default)]
struct Runs {
    sw_compile: Samples,
    br_check: Samples,
    sw_start: Samples,
    br_start: Samples,
}

pub fn run(report: &mut Report, n: usize) {
    if !Path::new(SHOREWALL).exists() {
        eprintln!("peers: {SHOREWALL} missing (apt-get install shorewall): Shorewall skipped");
        return;
    }
    let dir = std::env::temp_dir().join(format!("brouter-bench-shorewall-{}", std::process::id()));
    let mut all = vec![];
    for forwards in [10usize, 1000] {
        let sw = dir.join(format!("conf-{forwards}"));
        shorewall_dir(&sw, forwards);
        let file = configs::write_named(&format!("shorewall-{forwards}"), &brouter_config(forwards));
        let out = dir.join(format!("firewall-{forwards}"));
        let mut r = Runs::default();
        for _ in 0..n {
            super::settle();
            let ns = dom0("bsw", true);
            r.sw_compile.push(shorewall(
                &ns,
                vec![
                    "compile".into(),
                    sw.display().to_string(),
                    out.display().to_string(),
                ],
            ));
            r.sw_start
                .push(shorewall(&ns, vec!["start".into(), sw.display().to_string()]));
            drop(ns);
            let ns = dom0("bswbr", false);
            r.br_check
                .push(ms(brouter(&ns, &["--config", &file, "check"], &[]).0));
            r.br_start
                .push(ms(brouter(&ns, &["--config", &file, "start"], &[]).0));
        }
        all.push((forwards, r));
    }
    let _ = std::fs::remove_dir_all(&dir);
    table(report, &all);
}

fn version() -> String {
    Command::new(SHOREWALL)
        .arg("version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn table(report: &mut Report, all: &[(usize, Runs)]) {
    let mut t = Table::new(
        "11c. Peers: Shorewall against brouter",
        &format!(
            "Shorewall {} (Debian's; iptables-restore into iptables-nft) and brouter on the same three-zone \
             firewall (net = eth0, loc = br-loc, dmz = br-dmz; loc and dmz masqueraded out; net dropped \
             but for N tcp DNATs to a dmz server), each in a fresh namespace with both bridges made: \
             `shorewall compile DIR OUT` against `brouter check`, `shorewall start DIR` against \
             `brouter start` (which also adds the two bridges' addresses and enables forwarding).",
            version()
        ),
        &[
            "DNATs",
            "Shorewall compile ms",
            "brouter check ms",
            "Shorewall start ms",
            "brouter start ms",
            "N",
        ],
    );
    let mut data = serde_json::Map::new();
    for (forwards, r) in all {
        t.row(vec![
            forwards.to_string(),
            r.sw_compile.show(1),
            r.br_check.show(1),
            r.sw_start.show(1),
            r.br_start.show(1),
            r.br_start.n().to_string(),
        ]);
        data.insert(
            forwards.to_string(),
            json!({"shorewall_compile": r.sw_compile.to_json(), "brouter_check": r.br_check.to_json(),
                   "shorewall_start": r.sw_start.to_json(), "brouter_start": r.br_start.to_json()}),
        );
        report.target(
            &format!("start with {forwards} DNATs vs Shorewall (p50, same run)"),
            format!(
                "{:.1}× faster ({:.0} vs {:.0} ms; check vs compile {:.0} vs {:.0} ms)",
                r.sw_start.median() / r.br_start.median(),
                r.br_start.median(),
                r.sw_start.median(),
                r.br_check.median(),
                r.sw_compile.median()
            ),
            "faster",
            r.br_start.median() < r.sw_start.median(),
        );
    }
    report.tables.push(t);
    report
        .data
        .insert("peers_shorewall_ms".into(), serde_json::Value::Object(data));
}
