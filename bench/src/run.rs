//! Running the `brouter` binary as an admin or xl would, timed, and reading its answer.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use brouter_integration::Netns;

/// The `brouter` binary next to this bench (`target/release/brouter`), unless
/// `$BROUTER_BIN` names another; `just bench` builds both.
pub fn bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BROUTER_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("path of the bench");
    let bin = exe.with_file_name("brouter");
    assert!(
        bin.exists(),
        "{} missing: build it first (`cargo build --release -p brouter`, or `just bench`)",
        bin.display()
    );
    bin
}

/// `brouter --netns NS --json ARGS…` with extra environment; its wall time and output.
/// Panics with brouter's complaint if it fails.
pub fn brouter(ns: &Netns, args: &[&str], env: &[(&str, &str)]) -> (Duration, Output) {
    let mut cmd = command(ns, args, env);
    let t = Instant::now();
    let out = cmd.output().expect("run brouter");
    let took = t.elapsed();
    if !out.status.success() {
        panic!(
            "brouter {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    (took, out)
}

/// The command line [`brouter`] runs (for callers that spawn it themselves).
pub fn command(ns: &Netns, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(["--netns", ns.name(), "--json"])
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    cmd
}

/// Kernel writes in a `--json` start/stop answer: every op but brouter's own memory.
pub fn kernel_writes(out: &Output) -> usize {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("brouter --json answer");
    let applied = v.get("changed").and_then(|c| c.as_bool()).unwrap_or(true);
    if !applied {
        return 0;
    }
    v.get("ops")
        .and_then(|o| o.as_array())
        .map(|ops| {
            ops.iter()
                .filter(|op| !matches!(op.get("op").and_then(|k| k.as_str()), Some("remember" | "forget")))
                .count()
        })
        .unwrap_or(0)
}

/// Milliseconds, as the tables quote them.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Run `cmd` and report its peak RSS in KiB (VmHWM, a high-water mark, polled from /proc
/// while it runs). Not wait4's `ru_maxrss`: that also counts the bench's own pages the
/// child holds between fork and exec.
pub fn peak_rss(mut cmd: Command) -> u64 {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    let status_path = format!("/proc/{pid}/status");
    let mut own = 0u64;
    let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut status = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                own = own.max(kb);
            }
        }
        // SAFETY: `pid` is our child; `status`/`rusage` are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut rusage) };
        if r == pid {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    assert!(status == 0, "brouter exited with status {status}");
    std::mem::forget(child); // already reaped
    own
}

/// Wait until no process of [`bin`] is left: the children `start`, `stop` and the vif
/// hook hand their socket release to live ~200 ms after their parent returned and then
/// release, which flushes nf_tables' deferred frees under the namespace's commit mutex.
/// A timed command that starts meanwhile would be timed waiting for an earlier one's
/// release; an admin's next command comes seconds later, not milliseconds. Polls
/// `/proc` until a deadline.
pub fn quiesce() {
    let bin = bin().canonicalize().unwrap_or_else(|_| bin());
    let deadline = Instant::now() + Duration::from_secs(5);
    let running = || {
        std::fs::read_dir("/proc")
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .bytes()
                            .all(|b| b.is_ascii_digit())
                    })
                    .any(|e| std::fs::read_link(e.path().join("exe")).is_ok_and(|x| x == bin))
            })
            .unwrap_or(false)
    };
    while running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}
