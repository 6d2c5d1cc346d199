//! `brouter demo`, run as a user runs it: the built binary, as root. It must show the
//! connectivity the demo config promises, measured with real traffic, find dom0 restored
//! after `stop`, and leave no namespace behind — also when interrupted with Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

use brouter_integration::root_or_skip;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn brouter() -> Command {
    Command::new(env!("CARGO_BIN_EXE_brouter"))
}

/// The demo's namespaces (`brd-<pid>-…`) that `ip netns list` still shows.
fn namespaces_left(pid: u32) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("run ip netns list");
    let own = format!("brd-{pid}-");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&own))
        .map(String::from)
        .collect()
}

/// The table row for `flow` (e.g. `web1 → db1:5432`).
fn row<'a>(stdout: &'a str, flow: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{flow} ")))
        .unwrap_or_else(|| panic!("no row for {flow} in:\n{stdout}"))
}

#[test]
fn demo_measures_the_promised_connectivity_restores_dom0_and_cleans_up() {
    if !root_or_skip("demo_measures_the_promised_connectivity_restores_dom0_and_cleans_up") {
        return;
    }
    let child = brouter()
        .arg("demo")
        .stdout(Stdio::piped())
        .spawn()
        .expect("run brouter demo");
    let pid = child.id();
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("wait for the demo");
    let stdout = String::from_utf8_lossy(&stdout);
    assert!(
        status.success(),
        "demo failed ({status}):\n{stdout}\n{}",
        String::from_utf8_lossy(&stderr)
    );

    let allowed = |flow: &str, saw: &str| {
        let r = row(&stdout, flow);
        assert!(
            r.contains("allowed") && r.contains(saw),
            "{flow}: want allowed, {saw}: {r}"
        );
        assert!(r.ends_with("accept ✓"), "{flow}: explain should agree: {r}");
    };
    let blocked = |flow: &str| {
        let r = row(&stdout, flow);
        assert!(r.contains("blocked"), "{flow}: want blocked: {r}");
        assert!(r.ends_with("drop ✓"), "{flow}: explain should agree: {r}");
    };
    allowed("web1 → web2:22", "web2 saw 10.98.98.10");
    allowed("web1 → db1:5432", "db1 saw 10.98.98.10");
    blocked("web1 → db1:22");
    allowed("web1 → internet:80", "internet saw 192.0.2.2 (masqueraded)");
    blocked("db1 → internet:80");
    allowed("internet → dom0:8080", "DNAT to web1:80, web1 saw 192.0.2.1");
    allowed("internet → dom0:22", "dom0 saw 192.0.2.1");
    blocked("internet → dom0:5432");
    blocked("internet → db1:5432");
    assert!(
        stdout.contains("\ndom0 restored: exactly as before start"),
        "{stdout}"
    );
    assert!(stdout.contains("explain agreed on 9 of 9"), "{stdout}");
    assert_eq!(namespaces_left(pid), Vec::<String>::new());
}

/// Start the demo, wait for the first stdout line satisfying `at`, send SIGINT, and
/// return the exit code and the demo's pid.
fn interrupt_when(at: impl Fn(&str) -> bool) -> (Option<i32>, u32) {
    let mut child: Child = brouter()
        .arg("demo")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run brouter demo");
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let mut seen = Vec::new();
    loop {
        match lines.next() {
            Some(Ok(l)) if at(&l) => break,
            Some(Ok(l)) => seen.push(l),
            _ => {
                let _ = child.kill();
                panic!(
                    "the demo ended before the line to interrupt at:\n{}",
                    seen.join("\n")
                );
            }
        }
    }
    kill(Pid::from_raw(pid as i32), Signal::SIGINT).expect("send SIGINT");
    // Drain stdout so the demo never blocks on a full pipe while cleaning up.
    for _ in lines {}
    let status = child.wait().expect("wait for the demo");
    (status.code(), pid)
}

#[test]
fn ctrl_c_right_after_the_demo_starts_exits_130_and_leaves_no_namespace() {
    if !root_or_skip("ctrl_c_right_after_the_demo_starts_exits_130_and_leaves_no_namespace") {
        return;
    }
    let (code, pid) = interrupt_when(|_| true);
    assert_eq!(code, Some(130), "exit code after SIGINT");
    assert_eq!(namespaces_left(pid), Vec::<String>::new());
}

#[test]
fn ctrl_c_while_traffic_flows_exits_130_and_leaves_no_namespace() {
    if !root_or_skip("ctrl_c_while_traffic_flows_exits_130_and_leaves_no_namespace") {
        return;
    }
    let (code, pid) = interrupt_when(|l| l.starts_with("connectivity"));
    assert_eq!(code, Some(130), "exit code after SIGINT");
    assert_eq!(namespaces_left(pid), Vec::<String>::new());
}
