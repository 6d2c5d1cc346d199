//! A closed pipe (`brouter check | head -1`) ends a command quietly, as it ends any Unix
//! tool: killed by SIGPIPE or exit 0, never a panic (exit 101).

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use common::{brouter, stderr, workspace};

/// `brouter ARGS` with stdout a pipe whose reader is already gone, so the first write
/// fails (deterministic, unlike a real `head -1` that may read before it closes).
fn with_closed_stdout(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    Command::new(brouter())
        .args(args)
        .env("BROUTER_STATE_DIR", dir)
        .env_remove("XENBUS_PATH")
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("run brouter {args:?}: {e}"))
}

#[test]
fn read_only_commands_end_quietly_on_a_closed_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("state.json");
    let sim = sim.to_str().unwrap();
    let isp = workspace().join("fixtures/isp.toml");
    let isp = isp.to_str().unwrap();
    let commands: &[&[&str]] = &[
        &["--config", isp, "check"],
        &["--config", isp, "--json", "check"],
        &["--sim", sim, "--config", isp, "plan"],
        &["--sim", sim, "--config", isp, "status"],
        &["--sim", sim, "--config", isp, "--json", "status"],
        &[
            "--sim",
            sim,
            "--config",
            isp,
            "explain",
            "--from",
            "external",
            "--to",
            "uplink:8080",
        ],
        &["--config", isp, "diagram", "--config-only"],
        &["completions", "bash"],
        &["manpage"],
        &["--help"],
        // A change: done first, then the report meets the closed pipe.
        &["--sim", sim, "--config", isp, "start"],
        &["--sim", sim, "--config", isp, "stop"],
    ];
    for args in commands {
        let out = with_closed_stdout(dir.path(), args);
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        assert_ne!(out.status.code(), Some(101), "{args:?}: {err}");
        let quiet = out.status.signal() == Some(nix::sys::signal::Signal::SIGPIPE as i32)
            || out.status.code().is_some();
        assert!(quiet, "{args:?}: {:?} {err}", out.status);
    }
    // The change was made even though nobody read its report.
    let status = Command::new(brouter())
        .args(["--sim", sim, "--config", isp, "start"])
        .env("BROUTER_STATE_DIR", dir.path())
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", stderr(&status));
}
