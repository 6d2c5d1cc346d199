//! Case "peers", part 2: netavark (Debian's, the network backend of podman) against
//! brouter on the same job — a bridge network with one address, one container/VM
//! attached, and N TCP port forwards to it from the host — set up and torn down, side by
//! side in each round, each in fresh namespaces.
//!
//! netavark: `netavark setup NETNS` / `teardown NETNS` with the network options on stdin
//! (`-f FILE`), run inside a host namespace (it creates the bridge there and a veth into
//! the container namespace; its firewall driver in 1.4 is iptables, here iptables-nft).
//! brouter: `start` of a config with that network, one host and N forwards, then `vif
//! online` of a veth into the container namespace (setup); `vif offline` and `stop`
//! (teardown). No anti-spoofing, as netavark has none.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use brouter_integration::Netns;
use serde_json::json;

use crate::configs;
use crate::report::{Report, Table};
use crate::run::{brouter, ms};
use crate::stats::Samples;

const NETAVARK: &str = "/usr/lib/podman/netavark";
const MAC: &str = "02:00:5e:10:00:02";

/// netavark's network options: one bridge network, one container at 10.88.0.2, `n`
/// forwards tcp/10000+i → 80.
fn options(n: usize) -> String {
    let ports: Vec<_> = (0..n)
        .map(|i| json!({"host_ip": "", "container_port": 80, "host_port": 10000 + i, "range": 1, "protocol": "tcp"}))
        .collect();
    json!({
        "container_id": "a".repeat(64),
        "container_name": "bench",
        "port_mappings": ports,
        "networks": {"bench": {"static_ips": ["10.88.0.2"], "interface_name": "eth0"}},
        "network_info": {"bench": {
            "name": "bench", "id": "b".repeat(64), "driver": "bridge", "network_interface": "br-bench",
            "subnets": [{"subnet": "10.88.0.0/24", "gateway": "10.88.0.1"}],
            "ipv6_enabled": false, "internal": false, "dns_enabled": false,
            "ipam_options": {"driver": "host-local"}
        }}
    })
    .to_string()
}

/// brouter's config for the same job.
fn config(n: usize) -> String {
    let mut s = String::from(
        "[uplink]\ninterface = \"eth0\"\n\n[[network]]\nname = \"bench\"\nbridge = \"br-bench\"\n\
         address = \"10.88.0.1/24\"\n\n",
    );
    s += &format!(
        "[[host]]\nname = \"c\"\nnetwork = \"bench\"\nmac = \"{MAC}\"\naddresses = [\"10.88.0.2\"]\n\n"
    );
    for i in 0..n {
        s += &format!(
            "[[forward]]\nproto = \"tcp\"\nport = {}\nto = \"c:80\"\n\n",
            10000 + i
        );
    }
    s += "[[policy]]\nfrom = \"bench\"\nto = \"external\"\naction = \"accept\"\n";
    s
}

fn netavark(host: &Netns, container: &Netns, options: &Path, cfg: &Path, action: &str) -> f64 {
    let args = [
        "-c".to_string(),
        cfg.display().to_string(),
        "-f".into(),
        options.display().to_string(),
        action.into(),
        format!("/run/netns/{}", container.name()),
    ];
    let t = Instant::now();
    let out = host.run(move || Command::new(NETAVARK).args(&args).output().expect("run netavark"));
    let took = ms(t.elapsed());
    assert!(
        out.status.success(),
        "netavark {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn version() -> String {
    Command::new(NETAVARK)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "unknown version".into())
}

#[derive(Default)]
struct Pair {
    nv_setup: Samples,
    nv_teardown: Samples,
    br_setup: Samples,
    br_teardown: Samples,
}

pub fn run(report: &mut Report, n: usize) {
    if !Path::new(NETAVARK).exists() {
        eprintln!("peers: {NETAVARK} missing (apt-get install netavark iptables): netavark skipped");
        return;
    }
    let dir = std::env::temp_dir().join(format!("brouter-bench-netavark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let sizes = [1usize, 100];
    let mut all = vec![];
    for &forwards in &sizes {
        let opts = dir.join(format!("options-{forwards}.json"));
        std::fs::write(&opts, options(forwards)).expect("write options");
        let file = configs::write_named(&format!("netavark-{forwards}"), &config(forwards));
        let mut p = Pair::default();
        for _ in 0..n {
            super::settle();
            let (host, container) = (super::dom0("bnvh"), Netns::new("bnvc"));
            let cfg = dir.join("aardvark");
            p.nv_setup.push(netavark(&host, &container, &opts, &cfg, "setup"));
            p.nv_teardown
                .push(netavark(&host, &container, &opts, &cfg, "teardown"));
            drop((host, container));
            let (host, container) = (super::dom0("bbrh"), Netns::new("bbrc"));
            host.ip(&["link", "add", "vifc", "type", "veth", "peer", "name", "eth0c"]);
            host.ip(&["link", "set", "eth0c", "netns", container.name()]);
            container.ip(&["link", "set", "eth0c", "address", MAC, "up"]);
            let online = [
                "vif",
                "online",
                "type_if=vif",
                "--vif",
                "vifc",
                "--bridge",
                "br-bench",
                "--mac",
                MAC,
            ];
            let t = Instant::now();
            brouter(&host, &["--config", &file, "start"], &[]);
            brouter(
                &host,
                &[&["--config", file.as_str()][..], &online[..]].concat(),
                &[],
            );
            p.br_setup.push(ms(t.elapsed()));
            let t = Instant::now();
            brouter(
                &host,
                &[
                    "--config",
                    &file,
                    "vif",
                    "offline",
                    "type_if=vif",
                    "--vif",
                    "vifc",
                ],
                &[],
            );
            brouter(&host, &["--config", &file, "stop"], &[]);
            p.br_teardown.push(ms(t.elapsed()));
        }
        all.push((forwards, p));
    }
    let _ = std::fs::remove_dir_all(&dir);
    table(report, &all);
}

fn table(report: &mut Report, all: &[(usize, Pair)]) {
    let mut t = Table::new(
        "11b. Peers: netavark against brouter",
        &format!(
            "{} (Debian's, iptables-nft firewall driver) and brouter doing the same job in fresh \
             namespaces, alternately each round: a bridge `br-bench` 10.88.0.1/24, one container/VM at \
             10.88.0.2 attached by a veth, masquerade out, N tcp port forwards to it. netavark: `setup` \
             then `teardown` of the container's namespace. brouter: `start` + `vif online` (setup), \
             `vif offline` + `stop` (teardown), two processes each.",
            version()
        ),
        &[
            "forwards",
            "netavark setup ms",
            "brouter setup ms",
            "netavark teardown ms",
            "brouter teardown ms",
            "N",
        ],
    );
    let mut data = serde_json::Map::new();
    for (forwards, p) in all {
        t.row(vec![
            forwards.to_string(),
            p.nv_setup.show(1),
            p.br_setup.show(1),
            p.nv_teardown.show(1),
            p.br_teardown.show(1),
            p.nv_setup.n().to_string(),
        ]);
        data.insert(
            forwards.to_string(),
            json!({"netavark_setup": p.nv_setup.to_json(), "netavark_teardown": p.nv_teardown.to_json(),
                   "brouter_setup": p.br_setup.to_json(), "brouter_teardown": p.br_teardown.to_json()}),
        );
        report.target(
            &format!("setup + teardown with {forwards} forwards vs netavark (p50, same run)"),
            format!(
                "{:.1}× faster ({:.0} vs {:.0} ms)",
                (p.nv_setup.median() + p.nv_teardown.median())
                    / (p.br_setup.median() + p.br_teardown.median()),
                p.br_setup.median() + p.br_teardown.median(),
                p.nv_setup.median() + p.nv_teardown.median()
            ),
            "faster",
            p.br_setup.median() + p.br_teardown.median() < p.nv_setup.median() + p.nv_teardown.median(),
        );
    }
    report.tables.push(t);
    report
        .data
        .insert("peers_netavark_ms".into(), serde_json::Value::Object(data));
}
