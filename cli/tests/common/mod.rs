//! Shared by the cli tests: the built binary, temporary directories, and a fake xenstore.

#![allow(dead_code)] // each test file uses a different part

pub mod fake_xenstore;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `brouter` binary cargo built for these tests.
pub fn brouter() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_brouter"))
}

/// The workspace root (dist/, Justfile, .ci/ live there).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ has a parent")
        .to_path_buf()
}

/// `brouter ARGS`, whatever its exit status.
pub fn run(args: &[&str]) -> Output {
    Command::new(brouter())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run brouter {args:?}: {e}"))
}

/// `brouter --sim SIM ARGS` with its state (memory, caches) next to SIM and no Xen
/// environment; panics with brouter's complaint unless it succeeds.
pub fn sim_ok(sim: &Path, args: &[&str]) -> Output {
    let out = sim_run(sim, args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    out
}

/// [`sim_ok`], whatever its exit status.
pub fn sim_run(sim: &Path, args: &[&str]) -> Output {
    Command::new(brouter())
        .arg("--sim")
        .arg(sim)
        .args(args)
        .env(
            "BROUTER_STATE_DIR",
            sim.parent().expect("the sim file has a directory"),
        )
        .env_remove("XENBUS_PATH")
        .output()
        .unwrap_or_else(|e| panic!("run brouter {args:?}: {e}"))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Whether `prog` is on PATH.
pub fn have(prog: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
}

/// A test that needs a tool skips without it — except under CI=true, where a skip fails.
pub fn tool_or_skip(test: &str, prog: &str, package: &str) -> bool {
    if have(prog) {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: needs `{prog}` (Debian package {package}), and CI=true forbids skipping");
    }
    eprintln!("SKIP {test}: needs `{prog}` (apt-get install {package})");
    false
}
