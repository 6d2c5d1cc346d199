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

/// Skips go through one function for every test crate: it fails under CI=true and is
/// counted by `scripts/test` otherwise (see `brouter_integration::skip`).
#[allow(unused_imports)] // each test file uses a different part
pub use brouter_integration::skip::{have, skip, tool_or_skip};

/// `cmd`'s output, for a program the test has just written: run again while the kernel
/// says `ETXTBSY`. Another test thread of this binary may fork between the write and
/// the close of the file, and its child holds the write descriptor until it execs; that
/// lasts microseconds, so this retries until a deadline, not for a fixed time.
pub fn output_of_fresh_script(cmd: &mut Command) -> Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match cmd.output() {
            Err(e)
                if e.kind() == std::io::ErrorKind::ExecutableFileBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            other => return other.unwrap_or_else(|e| panic!("run {cmd:?}: {e}")),
        }
    }
}
