//! Case 5: forwarded TCP throughput through dom0 — domU → internet (masqueraded) and
//! internet → domU (through a port forward) — with no ruleset, with brouter's ruleset at
//! 10,000 forwards + 1,000 bindings, and with the linear-rules baseline of the same size;
//! over IPv4, and over IPv6 through the same dual-stack networks (a unique-local /64 per
//! network, masqueraded to the uplink; the outside on documentation addresses).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use brouter_backends::firewall;
use brouter_engine::config;
use brouter_engine::firewall::Binding;
use brouter_integration::topology::{INTERNET_HOST, INTERNET_IFACE};
use brouter_integration::{DomU, Netns, Topology};
use serde_json::json;

use crate::configs::{self, Size};
use crate::linear;
use crate::report::{Report, Table};
use crate::run::{brouter, command};
use crate::stats::Samples;

const SIZE: Size = Size::new(64, 10000, 1000);
const SEND_FOR: Duration = Duration::from_millis(800);
const SERVER_PORT: u16 = 80;
const INTERNET_PORT: u16 = 5001;
/// dom0's IPv6 address on the uplink (documentation prefix): what a masqueraded
/// unique-local source becomes, and where the internet reaches the IPv6 forwards.
const UPLINK6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 2);
/// The internet side of the uplink, dom0's IPv6 default gateway.
const GATEWAY6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1);
/// The IPv6 "server" in the internet namespace, like [`INTERNET_HOST`].
const INTERNET_HOST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 1);

/// The bridge's IPv6 address of the network whose IPv4 bridge address is `gw`
/// (`10.a.b.1` → `fd00:<a*256+b, hex>::1`): one unique-local /64 per network.
pub fn gateway6(gw: Ipv4Addr) -> Ipv6Addr {
    let [_, a, b, _] = gw.octets();
    Ipv6Addr::new(0xfd00, u16::from(a) << 8 | u16::from(b), 0, 0, 0, 0, 0, 1)
}

/// The IPv6 address of the host at IPv4 `ip` (`10.a.b.c` → `fd00:<a*256+b>::<c>`).
pub fn host6(ip: Ipv4Addr) -> Ipv6Addr {
    let [_, a, b, c] = ip.octets();
    Ipv6Addr::new(
        0xfd00,
        u16::from(a) << 8 | u16::from(b),
        0,
        0,
        0,
        0,
        0,
        u16::from(c),
    )
}

/// `text` (a config from [`configs::toml`]) made dual stack: `address6` (its /64 from
/// [`gateway6`]) on every network, and each host's IPv6 address ([`host6`]) next to its
/// IPv4 one.
pub fn dual_stack(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if let Some(rest) = line.strip_prefix("address = \"") {
            let gw: Ipv4Addr = rest
                .split('/')
                .next()
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("a network address in {line:?}"));
            out.push_str(&format!("address6 = \"{}/64\"\n", gateway6(gw)));
        }
        if let Some(rest) = line.strip_prefix("addresses = [\"") {
            let ip: Ipv4Addr = rest
                .trim_end_matches("\"]")
                .parse()
                .unwrap_or_else(|e| panic!("a host address in {line:?}: {e}"));
            out.truncate(out.len() - line.len() - 1);
            out.push_str(&format!("addresses = [\"{ip}\", \"{}\"]\n", host6(ip)));
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Rules {
    Empty,
    /// The least a NAT firewall does: conntrack, one masquerade and one DNAT rule (per
    /// family).
    Nat,
    Brouter,
    /// IPv4 only: the baseline has no IPv6 rules, so it is not measured over IPv6.
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
        json!(res
            .iter()
            .map(
                |m| json!({"ruleset": m.name(), "domu_to_internet": j(&m.up), "internet_to_domu": j(&m.down)})
            )
            .collect::<Vec<_>>()),
    );
    report.data.insert(
        "throughput_ipv6_gbit_s".into(),
        json!(res.iter().filter(|m| m.up6.n() > 0).map(|m| json!({"ruleset": m.name(), "domu_to_internet": j(&m.up6), "internet_to_domu": j(&m.down6)})).collect::<Vec<_>>()),
    );
}

/// One ruleset's samples (Gbit/s): domU → internet and internet → domU, over IPv4 and
/// over IPv6 (none for [`Rules::Linear`]).
struct Measured {
    rules: Rules,
    up: Samples,
    down: Samples,
    up6: Samples,
    down6: Samples,
}

impl Measured {
    fn name(&self) -> String {
        format!("{:?}", self.rules).to_lowercase()
    }
}

/// The device under test: dom0 started with [`SIZE`] made dual stack, the domU `dut`
/// behind the last forward, and every ruleset ready to load.
struct Dut {
    t: Topology,
    /// The config file dom0 was started with (`stop` when dropped: its dnsmasq).
    file: String,
    /// The tested forward's public port, and the domU's addresses it leads to.
    port: u16,
    ip: Ipv4Addr,
    ip6: Ipv6Addr,
    rs: brouter_engine::firewall::Ruleset,
    /// brouter's bindings: the real vif's plus 999 on made-up vifs.
    all: Vec<Binding>,
    /// The files of the linear baseline and of the minimal NAT ruleset.
    files: (String, String),
}

impl Drop for Dut {
    /// `brouter stop` before the namespaces go: the dnsmasq sending the router
    /// advertisements would otherwise outlive them.
    fn drop(&mut self) {
        let _ = command(self.t.dom0(), &["--config", &self.file, "stop"], &[])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Dut {
    fn set_up() -> Dut {
        // The tested forward is the last one (worst case for linear rules), to host `h`.
        let (port, h) = configs::forward(SIZE, SIZE.forwards - 1);
        let (net, ip, mac) = configs::host(SIZE, h);
        let gw = configs::gateway(net);
        let (ip6, gw6) = (host6(ip), gateway6(gw));
        let t = Topology::new("bdp")
            .domu(DomU::new("dut", &format!("{ip}/24"), &gw.to_string()).mac(&mac))
            .build();
        let d0 = t.dom0();
        // The IPv6 outside: dom0's uplink and the internet on documentation addresses
        // (no duplicate address detection: usable at once), the server on the internet's lo.
        d0.ip_batch(&[
            format!("addr add {UPLINK6}/64 dev eth0 nodad"),
            format!("route add ::/0 via {GATEWAY6} dev eth0"),
        ]);
        t.internet().ip_batch(&[
            format!("addr add {GATEWAY6}/64 dev {INTERNET_IFACE} nodad"),
            format!("addr add {INTERNET_HOST6}/128 dev lo"),
        ]);
        // The domU keeps a static address: no SLAAC address of its own beside it.
        t.domu(0).set_sysctl("net/ipv6/conf/eth0/accept_ra", "0");
        let text = dual_stack(&configs::toml(SIZE));
        let file = configs::write_named(
            &format!("dual-{}-{}-{}", SIZE.nets, SIZE.forwards, SIZE.hosts),
            &text,
        );
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
        // Now that its link has a carrier: the domU's IPv6 address and default route.
        t.domu(0).ip_batch(&[
            format!("addr add {ip6}/64 dev eth0 nodad"),
            format!("route add ::/0 via {gw6} dev eth0"),
        ]);
        let cfg = config::from_toml(&text, "bench").expect("dual-stack config validates");
        let rs = brouter_engine::firewall::compile(&cfg);
        // 999 more bindings on made-up vifs (both families, as `vif online` binds a
        // declared host); the real vif's own comes last in the linear rules.
        let ours = firewall::read_bindings(&d0.target()).expect("bindings");
        let mut all: Vec<Binding> = (0..SIZE.hosts)
            .filter_map(|h| {
                let (n, _, mac) = configs::host(SIZE, h);
                brouter_engine::firewall::binding_for(&rs, &configs::bridge(n), &format!("vifx{h}.0"), &mac)
            })
            .collect();
        all.retain(|b| b.mac != mac);
        all.extend(ours.iter().cloned());
        // The linear baseline is IPv4 only: its bindings' IPv4 addresses.
        let all4: Vec<Binding> = all
            .iter()
            .map(|b| Binding {
                addrs: b.addrs.iter().filter(|a| a.addr().is_ipv4()).copied().collect(),
                ..b.clone()
            })
            .collect();
        let lin = std::env::temp_dir().join(format!("brouter-bench-linear-{}.nft", std::process::id()));
        std::fs::write(&lin, linear::ruleset(SIZE, &all4)).expect("write linear ruleset");
        let lin = lin.display().to_string();
        // Without NAT the internet needs a way back to the VM networks.
        t.internet().ip_batch(&[
            format!("route add 10.0.0.0/8 via {}", t.uplink_ip()),
            format!("route add fd00::/16 via {UPLINK6}"),
        ]);
        let nat = format!(
            "table ip natfloor {{\n\
             \tchain prerouting {{ type nat hook prerouting priority dstnat; tcp dport {port} dnat to {ip}:{SERVER_PORT}; }}\n\
             \tchain postrouting {{ type nat hook postrouting priority srcnat; ip saddr 10.0.0.0/8 ip daddr != 10.0.0.0/8 masquerade; }}\n\
             }}\n\
             table ip6 natfloor {{\n\
             \tchain prerouting {{ type nat hook prerouting priority dstnat; tcp dport {port} dnat to [{ip6}]:{SERVER_PORT}; }}\n\
             \tchain postrouting {{ type nat hook postrouting priority srcnat; ip6 saddr fd00::/16 ip6 daddr != fd00::/16 masquerade; }}\n\
             }}\n"
        );
        let nat_file =
            std::env::temp_dir().join(format!("brouter-bench-natfloor-{}.nft", std::process::id()));
        std::fs::write(&nat_file, nat).expect("write NAT floor ruleset");
        let nat_file = nat_file.display().to_string();
        Dut {
            t,
            file,
            port,
            ip,
            ip6,
            rs,
            all,
            files: (lin, nat_file),
        }
    }
}

/// `rounds` rounds, each through every ruleset in turn (IPv4 then IPv6 under each);
/// leaves brouter's ruleset loaded.
fn measure(dut: &Dut, rounds: usize) -> Vec<Measured> {
    let Dut {
        t,
        rs,
        all,
        files: lin,
        ..
    } = dut;
    let (d0, port) = (t.dom0(), dut.port);
    let uplink = IpAddr::V4(t.uplink_ip());
    let mut res: Vec<Measured> = [Rules::Empty, Rules::Nat, Rules::Brouter, Rules::Linear]
        .map(|rules| Measured {
            rules,
            up: Samples::default(),
            down: Samples::default(),
            up6: Samples::default(),
            down6: Samples::default(),
        })
        .into();
    for _ in 0..rounds {
        for m in res.iter_mut() {
            set_rules(d0, m.rules, rs, all, lin);
            // Without a ruleset nothing translates: straight to the domU; otherwise to the
            // forward's port on dom0's uplink address.
            let (to, to6) = match m.rules {
                Rules::Empty => (IpAddr::V4(dut.ip), IpAddr::V6(dut.ip6)),
                _ => (uplink, IpAddr::V6(UPLINK6)),
            };
            let to_port = if m.rules == Rules::Empty {
                SERVER_PORT
            } else {
                port
            };
            let out = SocketAddr::from((INTERNET_HOST, INTERNET_PORT));
            m.up.push(gbits(t.internet(), t.domu(0), out, INTERNET_PORT));
            m.down.push(gbits(
                t.domu(0),
                t.internet(),
                SocketAddr::new(to, to_port),
                SERVER_PORT,
            ));
            if m.rules == Rules::Linear {
                continue;
            }
            let out6 = SocketAddr::from((INTERNET_HOST6, INTERNET_PORT));
            m.up6.push(gbits(t.internet(), t.domu(0), out6, INTERNET_PORT));
            m.down6.push(gbits(
                t.domu(0),
                t.internet(),
                SocketAddr::new(to6, to_port),
                SERVER_PORT,
            ));
        }
    }
    set_rules(d0, Rules::Brouter, rs, all, lin);
    res
}

/// Table 5: throughput per ruleset, and each relative to none; IPv4 rows, then IPv6 rows.
fn throughput_table(dut: &Dut, res: &[Measured]) -> Table {
    let (port, ip, ip6) = (dut.port, dut.ip, dut.ip6);
    let mut tb = Table::new(
        "5. Datapath: forwarded TCP throughput",
        &format!(
            "One TCP stream for {:.1} s per run (Rust sender/receiver, 128 KiB writes) across veths: \
             domU → internet (masqueraded) and internet → domU through the last of 10,000 forwards \
             (tcp/{port} → {ip}:80). Rulesets: none (routes only, no NAT: the internet gets a route back); \
             nat, the least any NAT firewall does (conntrack, one masquerade and one DNAT rule, no \
             filtering); brouter's at {} with 1,000 bindings; the linear baseline of the same size (its \
             binding for this vif last). Rulesets alternate within each round; the percentages are \
             medians of the ratios within each round. The config is dual stack: every network has an \
             `address6` (`fd00:<net>::1/64`, unique-local, masqueraded) and every host an IPv6 address \
             beside its IPv4 one, so brouter's ruleset is the one judging both families (an IPv4 packet \
             takes the same rules as without `address6`). IPv6 rows: the same streams over IPv6 in the \
             same rounds, under the same ruleset: the domU at {ip6} (static, default route via its \
             bridge), the internet server at {INTERNET_HOST6} and dom0's uplink at {UPLINK6} \
             (documentation addresses); up is masqueraded to {UPLINK6}, down goes through the same \
             forward's IPv6 DNAT ([{UPLINK6}]:{port} → [{ip6}]:80); none has a route back to fd00::/16, \
             nat is its ip6 counterpart (one masquerade, one DNAT rule); the linear baseline has no IPv6 \
             rules.",
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
    for m in res {
        let (up, down) = vs(m, &res[0]);
        tb.row(vec![
            m.name(),
            m.up.show(2),
            m.down.show(2),
            m.up.n().to_string(),
            format!("{:.0} % / {:.0} %", 100.0 * up.median(), 100.0 * down.median()),
        ]);
    }
    for m in res.iter().filter(|m| m.up6.n() > 0) {
        let (up, down) = vs6(m, &res[0]);
        tb.row(vec![
            format!("{}, IPv6", m.name()),
            m.up6.show(2),
            m.down6.show(2),
            m.up6.n().to_string(),
            format!("{:.0} % / {:.0} %", 100.0 * up.median(), 100.0 * down.median()),
        ]);
    }
    tb
}

/// Per round (paired) ratios of `a`'s IPv4 samples to `b`'s: up, down.
fn vs(a: &Measured, b: &Measured) -> (Samples, Samples) {
    (a.up.paired_ratio(&b.up), a.down.paired_ratio(&b.down))
}

/// The same over IPv6.
fn vs6(a: &Measured, b: &Measured) -> (Samples, Samples) {
    (a.up6.paired_ratio(&b.up6), a.down6.paired_ratio(&b.down6))
}

/// The targets: brouter's ruleset vs none (with the minimal NAT as context) over IPv4
/// and over IPv6, and vs linear.
fn throughput_targets(report: &mut Report, res: &[Measured]) {
    let (n, b, l) = (&res[1], &res[2], &res[3]);
    for (family, vs) in [("", vs as fn(&Measured, &Measured) -> _), (" (IPv6)", vs6)] {
        let (b_up, b_down) = vs(b, &res[0]);
        let worst = b_up.median().min(b_down.median());
        // Context, not a target: what conntrack and NAT alone leave of the empty
        // ruleset's throughput, and brouter's share of that.
        let (n_up, n_down) = vs(b, n);
        report.target(
            &format!("throughput with brouter's ruleset vs none{family}"),
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
    }
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
    binds: &[Binding],
    (lin, nat): &(String, String),
) {
    let tables = String::from_utf8_lossy(&d0.exec("nft", &["list", "tables"]).stdout).into_owned();
    for t in [
        "inet brouter",
        "bridge brouter",
        "ip linear",
        "bridge linear",
        "ip natfloor",
        "ip6 natfloor",
    ] {
        if tables.lines().any(|l| l.trim() == format!("table {t}")) {
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
/// The server listens on the unspecified address of `dst`'s family.
pub(super) fn gbits(server: &Netns, client: &Netns, dst: SocketAddr, port: u16) -> f64 {
    let any = match dst {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let rx = server.spawn(move || {
        let l = TcpListener::bind((any, port)).expect("listen");
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
