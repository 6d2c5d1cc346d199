//! Case 5: forwarded TCP throughput through dom0 — domU → internet (masqueraded) and
//! internet → domU (through a port forward) — with no ruleset, with brouter's ruleset at
//! 10,000 forwards + 1,000 bindings, and with the linear-rules baseline of the same size.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use brouter_backends::firewall;
use brouter_integration::topology::INTERNET_HOST;
use brouter_integration::{DomU, Netns, Topology};
use serde_json::json;

use crate::configs::{self, Size};
use crate::linear;
use crate::report::{Report, Table};
use crate::run::brouter;
use crate::stats::Samples;

const SIZE: Size = Size::new(64, 10000, 1000);
const SEND_FOR: Duration = Duration::from_millis(1500);
const SERVER_PORT: u16 = 80;
const INTERNET_PORT: u16 = 5001;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Rules {
    Empty,
    /// The least a NAT firewall does: conntrack, one masquerade and one DNAT rule.
    Nat,
    Brouter,
    Linear,
}

/// Case 5: dom0 with brouter's config and one bound vif, throughput under every ruleset.
pub fn run(report: &mut Report, rounds: usize) {
    super::settle();
    let dut = Dut::set_up();
    let res = measure(&dut, rounds);
    report.tables.push(throughput_table(&dut, &res));
    throughput_targets(report, &res);
    let j = |s: &Samples| s.to_json();
    report.data.insert(
        "throughput_gbit_s".into(),
        json!(res.iter().map(|(r, u, d)| json!({"ruleset": format!("{r:?}").to_lowercase(), "domu_to_internet": j(u), "internet_to_domu": j(d)})).collect::<Vec<_>>()),
    );
}

/// One ruleset's samples: domU → internet, internet → domU (Gbit/s).
type Measured = (Rules, Samples, Samples);

/// The device under test: dom0 started with [`SIZE`], the domU `dut` behind the last
/// forward, and every ruleset ready to load.
struct Dut {
    t: Topology,
    /// The tested forward's public port, and the domU's address it leads to.
    port: u16,
    ip: std::net::Ipv4Addr,
    rs: brouter_engine::firewall::Ruleset,
    /// brouter's bindings: the real vif's plus 999 on made-up vifs.
    all: Vec<brouter_engine::firewall::Binding>,
    /// The files of the linear baseline and of the minimal NAT ruleset.
    files: (String, String),
}

impl Dut {
    fn set_up() -> Dut {
        // The tested forward is the last one (worst case for linear rules), to host `h`.
        let (port, h) = configs::forward(SIZE, SIZE.forwards - 1);
        let (net, ip, mac) = configs::host(SIZE, h);
        let gw = configs::gateway(net);
        let t = Topology::new("bdp")
            .domu(DomU::new("dut", &format!("{ip}/24"), &gw.to_string()).mac(&mac))
            .build();
        let d0 = t.dom0();
        let file = configs::write(SIZE);
        brouter(d0, &["--config", &file, "start"], &[]);
        brouter(
            d0,
            &[
                "vif",
                "online",
                "type_if=vif",
                "--vif",
                t.vif(0),
                "--bridge",
                &configs::bridge(net),
                "--mac",
                &mac,
            ],
            &[],
        );
        // 999 more bindings on made-up vifs; the real vif's own comes last in the linear rules.
        let ours = firewall::read_bindings(&d0.target()).expect("bindings");
        let mut all = super::apply::bindings(SIZE);
        all.retain(|b| b.mac != mac);
        all.extend(ours.iter().cloned());
        let rs = super::apply::ruleset(SIZE);
        let lin = std::env::temp_dir().join(format!("brouter-bench-linear-{}.nft", std::process::id()));
        std::fs::write(&lin, linear::ruleset(SIZE, &all)).expect("write linear ruleset");
        let lin = lin.display().to_string();
        // Without NAT the internet needs a way back to the VM networks.
        t.internet()
            .ip(&["route", "add", "10.0.0.0/8", "via", &t.uplink_ip().to_string()]);
        let nat = format!(
            "table ip natfloor {{\n\
             \tchain prerouting {{ type nat hook prerouting priority dstnat; tcp dport {port} dnat to {ip}:{SERVER_PORT}; }}\n\
             \tchain postrouting {{ type nat hook postrouting priority srcnat; ip saddr 10.0.0.0/8 ip daddr != 10.0.0.0/8 masquerade; }}\n\
             }}\n"
        );
        let nat_file =
            std::env::temp_dir().join(format!("brouter-bench-natfloor-{}.nft", std::process::id()));
        std::fs::write(&nat_file, nat).expect("write NAT floor ruleset");
        let nat_file = nat_file.display().to_string();
        Dut {
            t,
            port,
            ip,
            rs,
            all,
            files: (lin, nat_file),
        }
    }
}

/// `rounds` rounds, each through every ruleset in turn; leaves brouter's ruleset loaded.
fn measure(dut: &Dut, rounds: usize) -> Vec<Measured> {
    let Dut {
        t,
        rs,
        all,
        files: lin,
        ..
    } = dut;
    let (d0, uplink, port, ip) = (t.dom0(), t.uplink_ip(), dut.port, dut.ip);
    let mut res: Vec<Measured> = [Rules::Empty, Rules::Nat, Rules::Brouter, Rules::Linear]
        .map(|r| (r, Samples::default(), Samples::default()))
        .into();
    for _ in 0..rounds {
        for (rules, up, down) in res.iter_mut() {
            set_rules(d0, *rules, rs, all, lin);
            let out = SocketAddr::from((INTERNET_HOST, INTERNET_PORT));
            up.push(gbits(t.internet(), t.domu(0), out, INTERNET_PORT));
            let to = match rules {
                Rules::Empty => SocketAddr::from((ip, SERVER_PORT)),
                Rules::Nat => SocketAddr::from((uplink, port)),
                _ => SocketAddr::from((uplink, port)),
            };
            down.push(gbits(t.domu(0), t.internet(), to, SERVER_PORT));
        }
    }
    set_rules(d0, Rules::Brouter, rs, all, lin);
    res
}

/// Table 5: throughput per ruleset, and each relative to none.
fn throughput_table(dut: &Dut, res: &[Measured]) -> Table {
    let (port, ip) = (dut.port, dut.ip);
    let mut tb = Table::new(
        "5. Datapath: forwarded TCP throughput",
        &format!(
            "One TCP stream for {:.1} s per run (Rust sender/receiver, 128 KiB writes) across veths: \
             domU → internet (masqueraded) and internet → domU through the last of 10,000 forwards \
             (tcp/{port} → {ip}:80). Rulesets: none (routes only, no NAT: the internet gets a route back); \
             nat, the least any NAT firewall does (conntrack, one masquerade and one DNAT rule, no \
             filtering); brouter's at {} with 1,000 bindings; the linear baseline of the same size (its \
             binding for this vif last). Rulesets alternate within each round; the percentages are \
             medians of the ratios within each round.",
            SEND_FOR.as_secs_f64(),
            SIZE.label()
        ),
        &[
            "ruleset",
            "domU → internet Gbit/s",
            "internet → domU Gbit/s",
            "N",
            "vs none (up / down)",
        ],
    );
    // Ratios are per round (paired) and then the median: the rulesets alternate within a
    // round, so a slow phase of the machine hits both sides of a ratio alike.
    for r in res {
        let (up, down) = vs(r, &res[0]);
        tb.row(vec![
            format!("{:?}", r.0).to_lowercase(),
            r.1.show(2),
            r.2.show(2),
            r.1.n().to_string(),
            format!("{:.0} % / {:.0} %", 100.0 * up.median(), 100.0 * down.median()),
        ]);
    }
    tb
}

/// Per round (paired) ratios of `a`'s samples to `b`'s: up, down.
fn vs(a: &Measured, b: &Measured) -> (Samples, Samples) {
    (a.1.paired_ratio(&b.1), a.2.paired_ratio(&b.2))
}

/// The targets: brouter's ruleset vs none (with the minimal NAT as context) and vs linear.
fn throughput_targets(report: &mut Report, res: &[Measured]) {
    let (n, b, l) = (&res[1], &res[2], &res[3]);
    let (b_up, b_down) = vs(b, &res[0]);
    let worst = b_up.median().min(b_down.median());
    // Context, not a target: what conntrack and NAT alone leave of the empty ruleset's
    // throughput, and brouter's share of that.
    let (n_up, n_down) = vs(b, n);
    report.target(
        "throughput with brouter's ruleset vs none",
        format!(
            "{:.0} % (worst direction; up {:.0} %, down {:.0} %; vs the minimal NAT ruleset \
             {:.0} % / {:.0} %)",
            100.0 * worst,
            100.0 * b_up.median(),
            100.0 * b_down.median(),
            100.0 * n_up.median(),
            100.0 * n_down.median()
        ),
        "≥ 95 %",
        worst >= 0.95,
    );
    let (l_up, l_down) = vs(b, l);
    report.target(
        "throughput: brouter vs linear rules",
        format!("{:.2}× up, {:.2}× down", l_up.median(), l_down.median()),
        "> 1× (higher)",
        l_up.median() > 1.0 && l_down.median() > 1.0,
    );
}

fn nft(ns: &Netns, args: &[&str]) {
    let out = ns.exec("nft", args);
    assert!(
        out.status.success(),
        "nft {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Put dom0's firewall in the wanted state (from whatever the last one was).
fn set_rules(
    d0: &Netns,
    rules: Rules,
    rs: &brouter_engine::firewall::Ruleset,
    binds: &[brouter_engine::firewall::Binding],
    (lin, nat): &(String, String),
) {
    let tables = String::from_utf8_lossy(&d0.exec("nft", &["list", "tables"]).stdout).into_owned();
    for t in [
        "inet brouter",
        "bridge brouter",
        "ip linear",
        "bridge linear",
        "ip natfloor",
    ] {
        if tables.contains(&format!("table {t}")) {
            let (family, name) = t.split_once(' ').expect("family name");
            nft(d0, &["delete", "table", family, name]);
        }
    }
    match rules {
        Rules::Empty => {}
        Rules::Nat => nft(d0, &["-f", nat]),
        Rules::Brouter => firewall::replace_with_bindings(&d0.target(), rs, binds).expect("brouter ruleset"),
        Rules::Linear => nft(d0, &["-f", lin]),
    }
}

/// Bulk TCP from `client` to `dst`, received on `port` in `server`; Gbit/s at the receiver.
fn gbits(server: &Netns, client: &Netns, dst: SocketAddr, port: u16) -> f64 {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let rx = server.spawn(move || {
        let l = TcpListener::bind(("0.0.0.0", port)).expect("listen");
        ready_tx.send(()).expect("ready");
        let (mut s, _) = l.accept().expect("accept");
        let mut buf = vec![0u8; 256 * 1024];
        let (mut total, t) = (0u64, Instant::now());
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => total += n as u64,
                Err(e) => panic!("receive: {e}"),
            }
        }
        (total, t.elapsed())
    });
    ready_rx.recv().expect("server ready");
    client.run(move || {
        let mut s = TcpStream::connect_timeout(&dst, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect {dst}: {e}"));
        let buf = vec![0x5au8; 128 * 1024];
        let t = Instant::now();
        while t.elapsed() < SEND_FOR {
            s.write_all(&buf).expect("send");
        }
    });
    let (bytes, took) = rx.join().expect("receiver");
    bytes as f64 * 8.0 / took.as_secs_f64() / 1e9
}
