//! Exit codes (DESIGN.md): 0 done, 1 operation failed, 2 bad usage or invalid config;
//! `status` adds 3 for "not converged" (LSB's "not running").

use std::process::ExitCode;

use brouter_engine::{ConfigError, ConfigErrors};

pub const OK: u8 = 0;
pub const FAILED: u8 = 1;
pub const USAGE: u8 = 2;
pub const DRIFTED: u8 = 3;

/// Why a command did not succeed, with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
    /// What kind of failure, for `--json` (docs/json.md): `usage`, `config`, `failed` or
    /// `needs_root`.
    pub kind: &'static str,
    /// The configuration's problems, one per key, when it was invalid.
    pub config: Vec<ConfigError>,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: USAGE,
            message: message.into(),
            kind: "usage",
            config: Vec::new(),
        }
    }
    pub fn op(message: impl Into<String>) -> Self {
        Failure {
            code: FAILED,
            message: message.into(),
            kind: "failed",
            config: Vec::new(),
        }
    }
    /// An invalid configuration (exit 2), keeping each problem's file, key and value.
    pub fn config(errors: ConfigErrors) -> Self {
        Failure {
            code: USAGE,
            message: errors.to_string(),
            kind: "config",
            config: errors.0,
        }
    }

    /// A failure of a non-root run that the kernel refused for lack of privilege says so
    /// plainly ("Permission denied" on a lock file reads like a bug), with the way to try
    /// brouter without root. Anything else is returned as it is.
    pub fn for_user(self) -> Failure {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let refused = ["Permission denied", "Operation not permitted", "EPERM", "EACCES"]
            .iter()
            .any(|m| self.message.contains(m));
        if root || !refused || self.code != FAILED {
            return self;
        }
        Failure {
            message: format!(
                "needs root (CAP_NET_ADMIN) to read and change the network: {}; run it \
                 as root, or try it without root against the simulator: brouter --sim STATE.json …",
                self.message
            ),
            kind: "needs_root",
            ..self
        }
    }

    /// The `--json` form (docs/json.md): `{"version": 1, "error": {...}}`, the first
    /// configuration problem's `file`, `line`, `key`, `value`, `problem` and `hint` at the
    /// top of `error`, every problem in `errors`.
    pub fn to_json(&self) -> serde_json::Value {
        let problem = |e: &ConfigError| {
            serde_json::json!({
                "file": e.origin,
                "line": e.line,
                "key": e.key,
                "value": e.value,
                "problem": e.problem,
                "hint": e.hint,
            })
        };
        let mut error = serde_json::json!({
            "kind": self.kind,
            "message": self.message,
            "exit_code": self.code,
            "file": null,
            "line": null,
            "key": null,
            "value": null,
        });
        if let Some(first) = self.config.first() {
            if let (Some(e), serde_json::Value::Object(p)) = (error.as_object_mut(), problem(first)) {
                e.extend(p);
            }
            error["errors"] = self.config.iter().map(problem).collect();
        }
        crate::json::versioned(serde_json::json!({ "error": error }))
    }
}

pub fn code(c: u8) -> ExitCode {
    ExitCode::from(c)
}

/// Behave like a Unix tool when the reader of stdout/stderr goes away (`brouter check |
/// head -1`): end quietly, killed by SIGPIPE, instead of Rust's default of ignoring the
/// signal and panicking on the failed write (exit 101 and a backtrace hint).
pub fn quiet_on_closed_pipe() {
    // SAFETY: resetting a signal's disposition to the default has no preconditions; no
    // handler of ours is replaced.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
