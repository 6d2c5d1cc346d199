//! Exit codes (DESIGN.md): 0 done, 1 operation failed, 2 bad usage or invalid config;
//! `status` adds 3 for "not converged" (LSB's "not running").

use std::process::ExitCode;

pub const OK: u8 = 0;
pub const FAILED: u8 = 1;
pub const USAGE: u8 = 2;
pub const DRIFTED: u8 = 3;

/// Why a command did not succeed, with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: USAGE,
            message: message.into(),
        }
    }
    pub fn op(message: impl Into<String>) -> Self {
        Failure {
            code: FAILED,
            message: message.into(),
        }
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
