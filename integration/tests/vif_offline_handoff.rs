//! `vif online` and `vif offline` (and `start` and `stop`, after applying a plan) hand the
//! wait for nf_tables' deferred free to a child process (cli/src/nfnl_release.rs, docs/decisions.md). What a caller can notice must not
//! change:
//! when the command returns (its output pipes closed) the binding is gone and the
//! namespace's lock is free — an immediate `vif online` of the same vif succeeds — and no
//! brouter process is left behind once the kernel's grace period has passed.
//!
//! Root only; brouter's memory goes to a temporary `BROUTER_STATE_DIR`.

use std::process::Command;
use std::time::{Duration, Instant};

use brouter_integration::binary::brouter_bin;
use brouter_integration::{root_or_skip, use_temp_state_dir, Netns};

/// Processes (other than this one) whose environment carries `mark`.
fn marked_processes(mark: &str) -> Vec<u32> {
    let me = std::process::id();
    let needle = format!("BROUTER_HANDOFF_TEST={mark}");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|&b| b == 0).any(|kv| kv == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

fn vif(ns: &Netns, mark: &str, args: &[&str]) -> std::process::Output {
    Command::new(brouter_bin())
        .args(["--netns", ns.name(), "vif"])
        .args(args)
        .env("BROUTER_HANDOFF_TEST", mark)
        .output()
        .unwrap()
}

fn bound(ns: &Netns) -> String {
    String::from_utf8_lossy(&ns.exec("nft", &["list", "ruleset"]).stdout).into_owned()
}

#[test]
fn after_vif_offline_returns_the_binding_is_gone_the_lock_free_and_no_process_outlives_the_grace_period() {
    if !root_or_skip("after_vif_offline_returns_the_binding_is_gone_the_lock_free_and_no_process_outlives_the_grace_period") {
        return;
    }
    use_temp_state_dir("vif-handoff");
    let ns = Netns::new("handoff");
    let start = Command::new(brouter_bin())
        .args([
            "--netns",
            ns.name(),
            "start",
            "bridgeip=10.98.96.1/22",
            "antispoof=yes",
        ])
        .output()
        .unwrap();
    assert!(
        start.status.success(),
        "{}",
        String::from_utf8_lossy(&start.stderr)
    );
    ns.ip(&["link", "add", "vif1.0", "type", "veth", "peer", "name", "peer1"]);
    let mark = format!("{}-{:?}", std::process::id(), Instant::now());
    let online = [
        "online",
        "type_if=vif",
        "--vif",
        "vif1.0",
        "--bridge",
        "xenbr0",
        "--mac",
        "aa:cc:00:01:00:01",
        "--ip",
        "10.98.96.7",
    ];
    for round in 0..5 {
        let on = vif(&ns, &mark, &online);
        assert!(
            on.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&on.stderr)
        );
        assert!(
            bound(&ns).contains("aa:cc:00:01:00:01"),
            "round {round}: not bound"
        );
        let off = vif(&ns, &mark, &["offline", "type_if=vif", "--vif", "vif1.0"]);
        assert!(
            off.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&off.stderr)
        );
        // `output()` returned: the pipes are closed, by the child too. The change is whole.
        assert!(
            !bound(&ns).contains("aa:cc:00:01:00:01"),
            "round {round}: still bound"
        );
        assert!(
            !ns.ip(&["-o", "link", "show", "vif1.0"]).contains("master xenbr0"),
            "round {round}: still attached"
        );
    }
    // The children wait out a grace period (milliseconds), then exit; init reaps them.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = marked_processes(&mark);
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "brouter processes left behind: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `start` hands off the same way after its apply: a forward moved to another port is an
/// element update that deletes the old elements. When `start` returns the new port is in
/// the map and the old one gone, the lock is free (the next `plan` has nothing to do),
/// and no brouter process outlives the grace period.
#[test]
fn after_start_moves_a_forward_the_change_is_whole_the_lock_free_and_no_process_outlives_it() {
    if !root_or_skip(
        "after_start_moves_a_forward_the_change_is_whole_the_lock_free_and_no_process_outlives_it",
    ) {
        return;
    }
    use_temp_state_dir("start-handoff");
    let ns = Netns::new("starthandoff");
    ns.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "wan0"]);
    ns.ip(&["link", "set", "eth0", "up"]);
    let dir = tempfile_dir("start-handoff");
    let config = dir.join("brouter.toml");
    let text = |port: u16| {
        format!(
            "[uplink]\ninterface = \"eth0\"\n\n[[network]]\nname = \"dmz\"\naddress = \"10.1.0.1/24\"\n\n\
             [[forward]]\nproto = \"tcp\"\nport = {port}\nto = \"10.1.0.10:80\"\n"
        )
    };
    let mark = format!("{}-{:?}", std::process::id(), Instant::now());
    let run = |cmd: &str| {
        let out = Command::new(brouter_bin())
            .args(["--netns", ns.name(), "--config"])
            .arg(&config)
            .arg(cmd)
            .env("BROUTER_HANDOFF_TEST", &mark)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    std::fs::write(&config, text(8080)).unwrap();
    run("start");
    for (round, (old, new)) in [(8080, 8081), (8081, 8080), (8080, 8081)].into_iter().enumerate() {
        std::fs::write(&config, text(new)).unwrap();
        let started = run("start");
        assert!(
            started.contains("update firewall elements"),
            "round {round}: not an element update:\n{started}"
        );
        let rules = bound(&ns);
        // The port map (`tcp_fwd_port`: outside port : inside port) holds the new port only.
        assert!(
            rules.contains(&format!("{new} : 80")),
            "round {round}: {new} missing:\n{rules}"
        );
        assert!(
            !rules.contains(&format!("{old} : 80")),
            "round {round}: {old} left:\n{rules}"
        );
        let plan = run("plan");
        assert!(
            plan.contains("nothing to do"),
            "round {round}: plan after start:\n{plan}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = marked_processes(&mark);
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "brouter processes left behind: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory for this test's config.
fn tempfile_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("brouter-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
