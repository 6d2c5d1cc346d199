//! Throwaway network namespaces for root tests, deleted on drop (also on panic).
//!
//! Each is a lab namespace ([`LabNetns`]: created, entered and deleted the one way the
//! lab and brouter do it) with test helpers on top. Names are unique per process and
//! call (`brt-<tag>-<pid>-<n>`) so tests run in parallel; namespaces left behind by a
//! killed test run are swept by the next one (their pid no longer exists). Test *setup*
//! may use `ip -n`; brouter itself never does.

use std::ops::Deref;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use brouter_lab::LabNetns;

static COUNTER: AtomicU32 = AtomicU32::new(0);
const PREFIX: &str = "brt-";

/// A network namespace that exists for as long as this value does. It derefs to its
/// [`LabNetns`] (and so to a lab `NsHandle`), so the lab's probes take it directly.
#[derive(Debug)]
pub struct Netns {
    ns: LabNetns,
}

impl Netns {
    /// Create a fresh namespace with `lo` up. `tag` says which test made it.
    pub fn new(tag: &str) -> Netns {
        sweep_stale();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag: String = tag
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(12)
            .collect();
        let name = format!("{PREFIX}{tag}-{}-{n}", std::process::id());
        let ns = LabNetns::create(&name).unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
        let ns = Netns { ns };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NAME ARGS…`, panicking with ip's complaint on failure (test setup only).
    pub fn ip(&self, args: &[&str]) -> String {
        let out = run_ok(Command::new("ip").arg("-n").arg(self.ns.name()).args(args));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `PROG ARGS…` inside this namespace (started from a thread inside it, as
    /// `ip netns exec` would run it), returning the raw output (success or not).
    pub fn exec(&self, prog: &str, args: &[&str]) -> Output {
        self.ns
            .output(prog, args)
            .unwrap_or_else(|e| panic!("cannot run {prog} in {}: {e}", self.ns.name()))
    }

    /// Run `f` on a thread inside this namespace.
    pub fn run<R, F>(&self, f: F) -> R
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.ns.run(f).expect("enter test namespace")
    }

    /// Start `f` on a thread inside this namespace without waiting for it: a probe's
    /// server runs this way while its client runs elsewhere.
    pub fn spawn<R, F>(&self, f: F) -> std::thread::JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let ns = self.ns.handle();
        std::thread::spawn(move || {
            ns.enter_this_thread().expect("enter test namespace");
            f()
        })
    }

    /// Run many `ip` commands (one per line, without the leading `ip`) in one process
    /// (`ip -n NAME -batch -`): building 64 domUs forks a handful of processes, not hundreds.
    pub fn ip_batch(&self, lines: &[String]) {
        use std::io::Write;
        if lines.is_empty() {
            return;
        }
        let mut child = Command::new("ip")
            .args(["-n", self.ns.name(), "-batch", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run ip -batch: {e}"));
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin
            .write_all(lines.join("\n").as_bytes())
            .expect("write ip batch");
        drop(stdin);
        let out = child.wait_with_output().expect("wait for ip -batch");
        if !out.status.success() {
            panic!(
                "ip -n {} -batch failed: {}\nbatch was:\n{}",
                self.ns.name(),
                String::from_utf8_lossy(&out.stderr).trim(),
                lines.join("\n")
            );
        }
    }

    /// SIGKILL every process in this namespace (`ip netns pids`): the daemons a test left
    /// running when it failed before `stop` (a process keeps a deleted namespace alive).
    pub fn kill_all(&self) {
        let Ok(out) = Command::new("ip")
            .args(["netns", "pids", self.ns.name()])
            .output()
        else {
            return;
        };
        for pid in String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            // SAFETY: kill(2) takes plain integers.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }

    /// Read a sysctl of this namespace (`net/ipv4/ip_forward` or `net.ipv4.ip_forward`).
    pub fn sysctl(&self, key: &str) -> String {
        let path = sysctl_path(key);
        self.run(move || std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}")))
            .trim()
            .to_string()
    }

    /// Write a sysctl of this namespace only (`/proc/sys/net` is per namespace).
    pub fn set_sysctl(&self, key: &str, value: &str) {
        let path = sysctl_path(key);
        let value = value.to_string();
        self.run(move || std::fs::write(&path, &value).unwrap_or_else(|e| panic!("write {path}: {e}")));
    }
}

impl Deref for Netns {
    type Target = LabNetns;

    fn deref(&self) -> &LabNetns {
        &self.ns
    }
}

/// `net.ipv4.ip_forward` → `/proc/sys/net/ipv4/ip_forward`; a key already written with
/// slashes is kept as is (interface names such as `vif1.0` contain dots).
fn sysctl_path(key: &str) -> String {
    if key.contains('/') {
        format!("/proc/sys/{key}")
    } else {
        format!("/proc/sys/{}", key.replace('.', "/"))
    }
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    out
}

/// Delete `brt-*` namespaces whose creating process is gone (a killed test run).
pub fn sweep_stale() {
    brouter_lab::sweep_stale(PREFIX);
}

/// Whether a root test can run here. Without root it skips with a message — except
/// under `CI=true`, where a skip is a failure (a green CI must mean the tests ran).
pub fn root_or_skip(test: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    let has_ip = Command::new("ip")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if root && has_ip {
        return true;
    }
    let why = if !root {
        "needs root (CAP_NET_ADMIN)"
    } else {
        "needs iproute2's `ip` for test setup"
    };
    crate::skip::skip(test, why);
    false
}
