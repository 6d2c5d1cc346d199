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
use brouter_integration::{assert_same, root_or_skip, Netns, Snapshot};

fn isp() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/isp.toml").to_string()
}

fn brouter(ns: &Netns, state: &Path, abort_after: Option<usize>, args: &[&str]) -> Output {
    let mut cmd = Command::new(brouter_bin());
    cmd.args(["--netns", ns.name(), "--config", &isp()])
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
