//! Running the built `brouter` binary against a test namespace, as an admin or Xen would.
//!
//! Scenario tests drive the library directly and the binary end to end; both must behave
//! the same. Cargo only hands `CARGO_BIN_EXE_*` to tests of the binary's own package, so
//! this finds the binary beside the test executable (`target/<profile>/brouter`) and
//! builds it once per test process when it is missing or older than its sources.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::SystemTime;

use crate::Netns;

/// The `brouter` binary: `$BROUTER_BIN` if set, else `target/<profile>/brouter` beside
/// the running test (or workspace binary), built with `cargo build -p brouter` first when
/// it is missing or stale.
pub fn brouter_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("BROUTER_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().expect("path of the running test");
        // A test: target/<profile>/deps/<test> → target/<profile>/brouter; a binary of
        // the workspace (the bench): target/<profile>/<bin> → the same.
        let dir = exe.parent().expect("the running program has a directory");
        let profile_dir = match dir.file_name() {
            Some(n) if n == "deps" => dir.parent().expect("target/<profile>/deps"),
            _ => dir,
        };
        let bin = profile_dir.join("brouter");
        if is_stale(&bin) {
            build(profile_dir);
        }
        assert!(bin.exists(), "{} missing after building it", bin.display());
        bin
    })
}

/// `brouter --netns NS ARGS…` (output returned whether it succeeded or not).
pub fn brouter(ns: &Netns, args: &[&str]) -> Output {
    Command::new(brouter_bin())
        .args(["--netns", ns.name()])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", brouter_bin().display()))
}

/// `brouter --netns NS --config CONFIG ARGS…` with its memory in `state`, as a lab runs it
/// (output returned whether it succeeded or not).
pub fn brouter_config(ns: &Netns, config: &Path, state: &Path, args: &[&str]) -> Output {
    Command::new(brouter_bin())
        .args(["--netns", ns.name(), "--config"])
        .arg(config)
        .args(args)
        .env("BROUTER_STATE_DIR", state)
        .output()
        .expect("run brouter")
}

/// The stdout of a run that must have succeeded; `what` names it in the panic.
pub fn succeeded(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Missing, or older than any source file of the workspace crates it is built from.
fn is_stale(bin: &Path) -> bool {
    let Ok(built) = bin.metadata().and_then(|m| m.modified()) else {
        return true;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    ["cli", "engine", "backends", "sim", "nft-codec", "netlink-wire"]
        .iter()
        .any(|c| newer_than(&root.join(c), built))
}

fn newer_than(dir: &Path, t: SystemTime) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            newer_than(&p, t)
        } else {
            e.metadata().and_then(|m| m.modified()).is_ok_and(|m| m > t)
        }
    })
}

fn build(profile_dir: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-q", "-p", "brouter", "--bin", "brouter"]);
    if release {
        cmd.arg("--release");
    }
    if let Some(target) = profile_dir.parent() {
        cmd.env("CARGO_TARGET_DIR", target);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo to build brouter: {e}"));
    assert!(
        out.status.success(),
        "cargo build -p brouter failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
