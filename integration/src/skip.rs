//! The one way a test skips: under `CI=true` it fails instead, and otherwise it leaves a
//! line in the skip log, which `scripts/test` counts at the end of the run — so a green run
//! that tested less than it seems says so where the reader looks last.
//!
//! Why a file: cargo runs each test binary as its own process and shows a skipped test as
//! passed; only something outside the processes can add them up.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The environment variable naming the skip log (`scripts/test` sets it).
pub const SKIP_LOG_ENV: &str = "BROUTER_SKIP_LOG";

/// Where skips are logged: `$BROUTER_SKIP_LOG`, or `skips.log` in the cargo profile
/// directory of the running test binary (`target/debug/skips.log`).
pub fn skip_log() -> PathBuf {
    if let Some(p) = std::env::var_os(SKIP_LOG_ENV) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // target/debug/deps/<test binary> → target/debug
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("skips.log"))
        .unwrap_or_else(|| PathBuf::from("skips.log"))
}

/// Whether CI forbids skipping (`CI=true`).
pub fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Skip `test` because of `why` (what it needs and how to get it): panics under `CI=true`;
/// otherwise prints `SKIP test: why` and appends that line to the skip log.
pub fn skip(test: &str, why: &str) {
    record(ci(), &skip_log(), test, why);
}

/// [`skip`] with its inputs explicit (tests of this module cannot set `CI` safely).
fn record(ci: bool, log: &Path, test: &str, why: &str) {
    if ci {
        panic!("{test}: {why}, and CI=true forbids skipping");
    }
    let line = format!("{test}: {why}");
    eprintln!("SKIP {line}");
    let logged = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        // One write of one short line: O_APPEND keeps lines of parallel tests whole.
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
    if let Err(e) = logged {
        eprintln!("(cannot log the skip in {}: {e})", log.display());
    }
}

/// Whether `prog` is on PATH.
pub fn have(prog: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
}

/// A test that needs a tool: true when `prog` is on PATH, otherwise [`skip`]s (naming the
/// Debian `package` that has it) and returns false.
pub fn tool_or_skip(test: &str, prog: &str, package: &str) -> bool {
    if have(prog) {
        return true;
    }
    skip(test, &format!("needs `{prog}` (apt-get install {package})"));
    false
}

#[cfg(test)]
mod tests {
    use super::record;

    #[test]
    fn a_skip_outside_ci_is_logged_one_line_each() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("skips.log");
        record(false, &log, "a", "needs root (CAP_NET_ADMIN)");
        record(false, &log, "b", "needs `groff` (apt-get install groff-base)");
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            text,
            "a: needs root (CAP_NET_ADMIN)\nb: needs `groff` (apt-get install groff-base)\n"
        );
    }

    #[test]
    #[should_panic(expected = "CI=true forbids skipping")]
    fn a_skip_under_ci_fails() {
        let dir = tempfile::tempdir().unwrap();
        record(true, &dir.path().join("skips.log"), "a", "needs root");
    }
}
