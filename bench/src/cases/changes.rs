//! Case 7: a change costs as much as its size. UDP forwards against TCP forwards from
//! nothing (each UDP forward may have stale flows to forget: one conntrack pass for all);
//! on the 10,000-forward config with 1,000 bound vifs: one forward changed against a
//! comment-only edit (both re-read the file), the repair of one drifted map element, and
//! the converged `start` and `status` (which read brouter's tables back whole) against
//! the floor of dumping those objects over netlink in-process.

use std::time::Instant;

use brouter_integration::Netns;
use serde_json::json;

use crate::configs::{self, Size};
use crate::report::{Report, Table};
use crate::run::{brouter, ms};
use crate::stats::Samples;

/// The from-nothing comparison: 3,000 forwards on one network.
const PROTO_SIZE: Size = Size::new(1, 3000, 10);
/// The big config of case 2: 64 networks, 10,000 forwards, 1,000 hosts (each bound).
const BIG: Size = Size::new(64, 10000, 1000);
/// A port no generated forward uses: forward 0 moves there and back.
const MOVED_PORT: u16 = 60000;

pub fn run(report: &mut Report, n: usize) {
    from_nothing(report, n);
    big_config(report, n);
}

/// A dom0 whose uplink carries an address, so UDP forwards have flows to forget.
pub fn dom0_with_address(tag: &str) -> Netns {
    let ns = super::dom0(tag);
    ns.ip(&["addr", "add", "192.0.2.2/24", "dev", "eth0"]);
    ns.ip(&["link", "set", "eth0", "up"]);
    ns
}

/// 3,000 UDP against 3,000 TCP forwards, `start` from nothing, alternating.
fn from_nothing(report: &mut Report, n: usize) {
    let tcp = configs::write_named("proto-tcp", &configs::toml_proto(PROTO_SIZE, "tcp"));
    let udp = configs::write_named("proto-udp", &configs::toml_proto(PROTO_SIZE, "udp"));
    let (mut st, mut su) = (Samples::default(), Samples::default());
    for _ in 0..n {
        for (file, s) in [(&tcp, &mut st), (&udp, &mut su)] {
            super::settle();
            let ns = dom0_with_address("bproto");
            s.push(ms(brouter(&ns, &["--config", file, "start"], &[]).0));
        }
    }
    let ratio = su.median() / st.median();
    let mut t = Table::new(
        "7a. UDP forwards cost what TCP forwards cost",
        "`start` from nothing of 1 network with 3,000 forwards to 10 hosts, all TCP or all UDP, in a \
         fresh namespace whose uplink has an address (so each UDP forward has stale flows to forget: \
         one conntrack pass for all of them, after the tables are written). Before: one pass per \
         UDP forward, 19.7 s.",
        &["forwards", "start ms median (min–max)", "N"],
    );
    t.row(vec!["3,000 TCP".into(), st.show(1), st.n().to_string()]);
    t.row(vec!["3,000 UDP".into(), su.show(1), su.n().to_string()]);
    report.tables.push(t);
    report.target(
        "start from nothing, 3,000 UDP / 3,000 TCP forwards",
        format!("{:.1} / {:.1} ms = {ratio:.2}×", su.median(), st.median()),
        "≤ 1.5×",
        ratio <= 1.5,
    );
    report.data.insert(
        "udp_vs_tcp_start".into(),
        json!({"tcp_ms": st.to_json(), "udp_ms": su.to_json(), "ratio": ratio}),
    );
}

/// The big config started, and each of its hosts bound through `vif online`.
fn big_started(file: &str) -> Netns {
    super::settle();
    let ns = dom0_with_address("bchg");
    brouter(&ns, &["--config", file, "start"], &[]);
    let lines: Vec<String> = (0..BIG.hosts)
        .map(|h| format!("link add vif{h}.0 type veth peer name peer{h}"))
        .collect();
    for chunk in lines.chunks(256) {
        ns.ip_batch(chunk);
    }
    for h in 0..BIG.hosts {
        let (net, ip, mac) = configs::host(BIG, h);
        let (vif, bridge, ip) = (format!("vif{h}.0"), configs::bridge(net), ip.to_string());
        brouter(
            &ns,
            &[
                "--config", file, "vif", "online", "--vif", &vif, "--bridge", &bridge, "--mac", &mac, "--ip",
                &ip,
            ],
            &[],
        );
    }
    ns
}

/// The step times `-v` logs (`step 1/2: … (6.52 ms)`), summed.
fn step_ms(stderr: &[u8]) -> f64 {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.contains("step ") && l.trim_end().ends_with(" ms)"))
        .filter_map(|l| l.rsplit('(').next()?.trim_end_matches(" ms)").parse::<f64>().ok())
        .sum()
}

/// The number of ops in a `plan --json` answer.
fn plan_ops(ns: &Netns, file: &str) -> usize {
    let (_, out) = brouter(ns, &["--config", file, "plan"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan --json");
    v["ops"].as_array().map_or(0, Vec::len)
}

/// The kernel's share of changing one forward, measured in-process: the element update
/// brouter sends for `text` (the read-back that finds it is not timed), and closing the
/// nfnetlink socket that sent it. The close is part of the floor: after a transaction
/// that deletes elements, the kernel frees them after an RCU grace period, and a socket
/// closed meanwhile waits for it (`nft_rcv_nl_event` flushes nf_tables' destroy work), as
/// `nft` and brouter both do on exit.
fn element_floor(ns: &Netns, text: &str) -> f64 {
    use brouter_engine::NetBackend;
    let config = brouter_engine::config::from_toml(text, "bench").expect("the bench's config parses");
    let desired = brouter_engine::compile(&config);
    let rs = desired.firewall.clone().expect("a firewall");
    let fp = desired
        .firewall_fingerprint
        .clone()
        .unwrap_or_else(|| rs.fingerprint());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut b = brouter_backends::NetlinkBackend::new(ns.target())
            .await
            .expect("open the namespace");
        let delta = b.firewall_delta(&rs).await.expect("read back").expect("a delta");
        assert!(
            !delta.structural && !delta.sets.is_empty(),
            "elements only: {delta:?}"
        );
        let t = Instant::now();
        b.update_firewall_elements(&fp, &rs, &delta.sets)
            .await
            .expect("element update");
        drop(b);
        ms(t.elapsed())
    })
}

fn big_config(report: &mut Report, n: usize) {
    let base = configs::toml(BIG);
    let file = configs::write_named("changes-big", &base);
    let ns = big_started(&file);
    let first_port = format!("port = {}\n", configs::forward(BIG, 0).0);
    let moved = base.replacen(&first_port, &format!("port = {MOVED_PORT}\n"), 1);
    assert_ne!(moved, base, "forward 0 is in the file");

    // One forward changed, against a comment-only edit: alternate, each a new file text.
    // The comment goes into the text the kernel has now (the base, or the moved one after
    // an odd number of changes), so it changes nothing.
    let (mut comment, mut change, mut change_step) =
        (Samples::default(), Samples::default(), Samples::default());
    let mut ops = 0;
    for i in 0..n {
        let (now, next) = if i.is_multiple_of(2) {
            (&base, &moved)
        } else {
            (&moved, &base)
        };
        std::fs::write(&file, format!("{now}\n# edit {i}\n")).expect("write");
        crate::run::quiesce();
        let (took, out) = brouter(&ns, &["--config", &file, "start"], &[]);
        assert_eq!(
            crate::run::kernel_writes(&out),
            0,
            "a comment-only edit changes nothing"
        );
        comment.push(ms(took));
        std::fs::write(&file, format!("{next}\n# change {i}\n")).expect("write");
        ops = ops.max(plan_ops(&ns, &file));
        crate::run::quiesce();
        let (took, out) = brouter(&ns, &["-v", "--config", &file, "start"], &[]);
        assert!(
            crate::run::kernel_writes(&out) > 0,
            "one forward changed is applied"
        );
        change.push(ms(took));
        change_step.push(step_ms(&out.stderr));
    }
    // The kernel's floor of the same change (in-process, no process start, no read-back),
    // alternating the same way from where the loop above left the kernel.
    let mut floor_change = Samples::default();
    for i in 0..n {
        let next = if (n + i).is_multiple_of(2) { &moved } else { &base };
        floor_change.push(element_floor(&ns, next));
    }
    // Leave the file as the kernel has it.
    std::fs::write(&file, &base).expect("write");
    brouter(&ns, &["--config", &file, "start"], &[]);

    // One drifted map element (forward 1 sent elsewhere), repaired by `start`.
    let (mut repair, mut repair_step) = (Samples::default(), Samples::default());
    let port = configs::forward(BIG, 1).0;
    for _ in 0..n {
        let edit = format!(
            "delete element inet brouter tcp_fwd_addr {{ {port} }}; add element inet brouter tcp_fwd_addr {{ {port} : 10.200.0.1 }}"
        );
        let out = ns.exec("nft", &[&edit]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        crate::run::quiesce();
        let (took, out) = brouter(&ns, &["-v", "--config", &file, "start"], &[]);
        repair.push(ms(took));
        repair_step.push(step_ms(&out.stderr));
    }

    // Converged start and status (full read-back) against the in-process dump floor.
    let (mut conv, mut status, mut floor) = (Samples::default(), Samples::default(), Samples::default());
    let target = ns.target();
    for _ in 0..n {
        conv.push(ms(brouter(&ns, &["--config", &file, "start"], &[]).0));
        let mut cmd = crate::run::command(&ns, &["--config", &file, "status"], &[]);
        let t = Instant::now();
        let out = cmd.output().expect("status");
        status.push(ms(t.elapsed()));
        assert_eq!(
            out.status.code(),
            Some(0),
            "converged: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let t = Instant::now();
        let read = target
            .run(|| brouter_backends::firewall::drift::read_here(true))
            .expect("enter the namespace")
            .expect("dump brouter's tables");
        floor.push(ms(t.elapsed()));
        assert!(read[0].is_some() && read[1].is_some());
    }

    let mut t = Table::new(
        "7b. A change costs as much as its size",
        &format!(
            "{}, every host bound by `vif online` (1,000 bindings). Comment-only edit: the file changed \
             by a comment, so `start` parses, validates, compiles and reads the tables back, and finds \
             nothing to do. One forward changed: forward 0's port moved (and back, alternately): `start` \
             updates 3 map/set elements in one transaction. Drift repair: `nft` changes one DNAT map \
             element, `start` puts it back by an element update. Step ms: what the kernel took for the \
             applied steps (`-v`). Floor of the change: the same element update sent in-process and \
             its socket closed (after a transaction that deletes elements, the kernel frees them after \
             an RCU grace period, and closing an nfnetlink socket meanwhile waits for it, as `nft` does \
             on exit; brouter's `start` leaves that wait to a child it forks after the commit, as the \
             vif hook does; each timed `start` begins once the last such child is gone, as an \
             admin's next command would). Dump floor: brouter's two tables, every element and binding \
             included, dumped over nfnetlink in-process (no process start). Where the targets are \
             missed: the drift repair's whole `start` is the process, the cached-compile check that \
             finds the digest changed, parsing the 645 KB file and reading both tables back; its \
             element update is the small figure. `status` reads the tables back whole (beside \
             `observe`, on a thread of its own) and proves them unchanged by the digest of the cached \
             compile, as a converged `start` does, takes the counters from that same dump, reads the \
             configuration `start` kept with the compile instead of parsing the file, and writes \
             its `--json` answer (10,000 forwards, 2.6 MB).",
            BIG.label()
        ),
        &["run", "ms median (min–max)", "N"],
    );
    t.row(vec![
        "start after a comment-only edit".into(),
        comment.show(1),
        comment.n().to_string(),
    ]);
    t.row(vec![
        "start after one forward changed".into(),
        change.show(1),
        change.n().to_string(),
    ]);
    t.row(vec![
        "  of which the element update step".into(),
        change_step.show(2),
        change_step.n().to_string(),
    ]);
    t.row(vec![
        "floor: the same element update in-process, socket closed".into(),
        floor_change.show(2),
        floor_change.n().to_string(),
    ]);
    t.row(vec![
        "start repairing one drifted map element".into(),
        repair.show(1),
        repair.n().to_string(),
    ]);
    t.row(vec![
        "  of which the element update step".into(),
        repair_step.show(2),
        repair_step.n().to_string(),
    ]);
    t.row(vec![
        "converged start (cached compile, read-back digest)".into(),
        conv.show(1),
        conv.n().to_string(),
    ]);
    t.row(vec![
        "status --json (cached compile, full read-back and counters)".into(),
        status.show(1),
        status.n().to_string(),
    ]);
    t.row(vec![
        "floor: netlink dump of both tables".into(),
        floor.show(1),
        floor.n().to_string(),
    ]);
    t.row(vec![
        "`plan` ops for one forward changed".into(),
        ops.to_string(),
        "".into(),
    ]);
    report.tables.push(t);

    let extra = change.median() - comment.median();
    report.target(
        "one forward changed in the 10,000-forward config: start − comment-only start",
        format!(
            "{extra:.1} ms ({:.1} − {:.1}); the same change in-process, waiting for the socket's \
             release, {:.1} ms",
            change.median(),
            comment.median(),
            floor_change.median()
        ),
        "≤ 10 ms",
        extra <= 10.0,
    );
    report.target(
        "one forward changed: `plan` ops",
        ops.to_string(),
        "≤ 5",
        ops <= 5,
    );
    report.target(
        "repair of one drifted element (10k forwards, 1,000 bindings): whole start / its element update",
        format!("{:.1} ms / {:.2} ms", repair.median(), repair_step.median()),
        "≤ 10 ms",
        repair.median() <= 10.0,
    );
    let (rc, rs) = (conv.median() / floor.median(), status.median() / floor.median());
    report.target(
        "converged start / status with full read-back vs netlink dump floor",
        format!(
            "{:.1} / {:.1} ms vs {:.1} ms = {rc:.2}× / {rs:.2}×",
            conv.median(),
            status.median(),
            floor.median()
        ),
        "≤ 2×",
        rc <= 2.0 && rs <= 2.0,
    );
    report.data.insert(
        "changes_10k".into(),
        json!({
            "comment_only_start_ms": comment.to_json(),
            "one_forward_changed_start_ms": change.to_json(),
            "one_forward_changed_step_ms": change_step.to_json(),
            "one_forward_changed_kernel_floor_ms": floor_change.to_json(),
            "plan_ops_one_forward_changed": ops,
            "drift_repair_start_ms": repair.to_json(),
            "drift_repair_step_ms": repair_step.to_json(),
            "converged_start_ms": conv.to_json(),
            "status_ms": status.to_json(),
            "netlink_dump_floor_ms": floor.to_json(),
        }),
    );
}
