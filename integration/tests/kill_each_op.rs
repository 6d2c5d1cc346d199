//! Crash-safe in every phase, on the kernel: `start` is killed (SIGKILL, through the
//! test-only `BROUTER_TEST_ABORT_AFTER_OP` knob) after each of its steps in turn; the next
//! `start` converges to exactly what an uninterrupted one makes, `status` says converged,
//! `stop` leaves the namespace as it found it, and no temporary or lock file is left.
//!
//! Root only; each round runs in the test's own namespace with its own state directory.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output};

use brouter_integration::binary::brouter_bin;
use brouter_integration::dnsmasq_procs::main_processes;
use brouter_integration::{assert_same, root_or_skip, Netns, Snapshot};

fn isp() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/isp.toml").to_string()
}

/// isp.toml with DHCP and DNS on its `data` network (brouter's dnsmasq), written to `dir`.
fn isp_with_dhcp(dir: &Path) -> String {
    let text = std::fs::read_to_string(isp()).unwrap();
    let served = text.replacen("name = \"data\"\n", "name = \"data\"\ndhcp = true\n", 1);
    assert_ne!(text, served, "isp.toml has a data network");
    let path = dir.join("isp-dhcp.toml");
    std::fs::write(&path, served).unwrap();
    path.display().to_string()
}

fn brouter(ns: &Netns, state: &Path, abort_after: Option<usize>, args: &[&str]) -> Output {
    brouter_with(&isp(), ns, state, abort_after, args)
}

fn brouter_with(config: &str, ns: &Netns, state: &Path, abort_after: Option<usize>, args: &[&str]) -> Output {
    let mut cmd = Command::new(brouter_bin());
    cmd.args(["--netns", ns.name(), "--config", config])
        .args(args)
        .env("BROUTER_STATE_DIR", state)
        .env_remove("BROUTER_TEST_ABORT_AFTER_OP");
    if let Some(n) = abort_after {
        cmd.env("BROUTER_TEST_ABORT_AFTER_OP", n.to_string());
    }
    cmd.output().unwrap()
}

fn ok(what: &str, o: &Output) {
    assert!(
        o.status.success(),
        "{what}: exit {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Every file under `dir` whose name says it is a leftover (`*.tmp`) or a lock.
fn litter(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() {
            out.extend(litter(&e.path()));
        } else if name.ends_with(".tmp") || name.contains(".tmp") || name.starts_with("lock") {
            out.push(e.path().display().to_string());
        }
    }
    out
}

#[test]
fn start_killed_after_each_of_its_steps_converges_on_the_next_start_and_leaks_nothing() {
    if !root_or_skip("start_killed_after_each_of_its_steps_converges_on_the_next_start_and_leaks_nothing") {
        return;
    }
    let ns = Netns::new("killop");
    ns.ip_batch(&[
        "link add eth0 type veth peer name ext0".to_string(),
        "link set ext0 up".to_string(),
        "addr add 192.0.2.2/24 dev eth0".to_string(),
        "link set eth0 up".to_string(),
        "route add default via 192.0.2.1 dev eth0".to_string(),
    ]);
    let dir = std::env::temp_dir().join(format!("brouter-killop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.as_path();
    let before = Snapshot::of(&ns);

    let plan: serde_json::Value =
        serde_json::from_slice(&brouter(&ns, state, None, &["--json", "plan"]).stdout).unwrap();
    let steps = plan["ops"].as_array().expect("plan --json has ops").len();
    assert!(steps >= 10, "a first start of isp.toml has many steps: {plan}");
    ok("start", &brouter(&ns, state, None, &["start"]));
    let converged = Snapshot::of(&ns);
    ok("stop", &brouter(&ns, state, None, &["stop"]));
    assert_same(&before, &Snapshot::of(&ns));

    for n in 0..steps {
        let killed = brouter(&ns, state, Some(n), &["start"]);
        assert_eq!(
            killed.status.signal(),
            Some(libc::SIGKILL),
            "after {n} steps: the knob kills start ({:?})",
            killed.status
        );
        ok(
            &format!("start after a kill at step {n}"),
            &brouter(&ns, state, None, &["start"]),
        );
        let status = brouter(&ns, state, None, &["status"]);
        assert_eq!(
            status.status.code(),
            Some(0),
            "kill at step {n}: status not converged after a re-run:\n{}",
            String::from_utf8_lossy(&status.stdout)
        );
        let diff = converged.diff(&Snapshot::of(&ns));
        assert!(diff.is_empty(), "kill at step {n}: the re-run differs: {diff:#?}");
        let again = brouter(&ns, state, None, &["start"]);
        ok("a third start", &again);
        assert!(
            String::from_utf8_lossy(&again.stdout).contains("nothing to do"),
            "kill at step {n}: {}",
            String::from_utf8_lossy(&again.stdout)
        );
        ok("stop", &brouter(&ns, state, None, &["stop"]));
        let diff = before.diff(&Snapshot::of(&ns));
        assert!(diff.is_empty(), "kill at step {n}: stop left: {diff:#?}");
        let left = litter(state);
        assert!(left.is_empty(), "kill at step {n}: left behind: {left:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGKILLs the dnsmasqs of a state directory when dropped: a failed round must not
/// leave one running (it would keep the namespace alive).
struct KillDnsmasqs<'a>(&'a Path);

impl Drop for KillDnsmasqs<'_> {
    fn drop(&mut self) {
        for pid in main_processes(self.0) {
            // SAFETY: kill(2) with plain integers; `pid` runs with this test's files.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    }
}

#[test]
fn start_with_dhcp_killed_after_each_step_converges_with_one_dnsmasq_and_stop_ends_it() {
    if !root_or_skip("start_with_dhcp_killed_after_each_step_converges_with_one_dnsmasq_and_stop_ends_it") {
        return;
    }
    let ns = Netns::new("killdh");
    ns.ip_batch(&[
        "link add eth0 type veth peer name ext0".to_string(),
        "link set ext0 up".to_string(),
        "addr add 192.0.2.2/24 dev eth0".to_string(),
        "link set eth0 up".to_string(),
        "route add default via 192.0.2.1 dev eth0".to_string(),
    ]);
    let dir = std::env::temp_dir().join(format!("brouter-killdh-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = isp_with_dhcp(&dir);
    let state = dir.join("state");
    let state = state.as_path();
    let _reaper = KillDnsmasqs(state);
    let run = |abort: Option<usize>, args: &[&str]| brouter_with(&config, &ns, state, abort, args);
    let before = Snapshot::of(&ns);
    let plan: serde_json::Value = serde_json::from_slice(&run(None, &["--json", "plan"]).stdout).unwrap();
    let steps = plan["ops"].as_array().expect("plan --json has ops").len();
    assert!(
        plan["ops"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["op"] == "start_dhcp"),
        "the plan starts dnsmasq: {plan}"
    );
    for n in 0..steps {
        let killed = run(Some(n), &["start"]);
        assert_eq!(
            killed.status.signal(),
            Some(libc::SIGKILL),
            "after {n} steps: {:?}",
            killed.status
        );
        ok(&format!("start after a kill at step {n}"), &run(None, &["start"]));
        let status = run(None, &["status"]);
        assert_eq!(
            status.status.code(),
            Some(0),
            "kill at step {n}: status not converged after a re-run:\n{}",
            String::from_utf8_lossy(&status.stdout)
        );
        assert_eq!(
            main_processes(state).len(),
            1,
            "kill at step {n}: exactly one dnsmasq serves"
        );
        let again = run(None, &["start"]);
        assert!(
            String::from_utf8_lossy(&again.stdout).contains("nothing to do"),
            "kill at step {n}: {}",
            String::from_utf8_lossy(&again.stdout)
        );
        ok("stop", &run(None, &["stop"]));
        assert!(
            main_processes(state).is_empty(),
            "kill at step {n}: stop left dnsmasq running"
        );
        let diff = before.diff(&Snapshot::of(&ns));
        assert!(diff.is_empty(), "kill at step {n}: stop left: {diff:#?}");
        let left = litter(state);
        assert!(left.is_empty(), "kill at step {n}: left behind: {left:?}");
        let dnsmasq_dirs: Vec<_> = std::fs::read_dir(state)
            .map(|d| {
                d.flatten()
                    .map(|e| e.path().join("dnsmasq"))
                    .filter(|p| p.exists())
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            dnsmasq_dirs.is_empty(),
            "kill at step {n}: stop left {dnsmasq_dirs:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
