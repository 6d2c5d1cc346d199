//! A test-only knob for the crash tests: `BROUTER_TEST_ABORT_AFTER_OP=N` makes `start`
//! and `stop` apply the first N steps of their plan and then kill themselves with
//! SIGKILL, as an OOM killer or a power cut of the process would — no destructor runs, no
//! lock is released by brouter (the kernel drops it with the process).
//!
//! Harmless by construction: unset (always, outside tests) it does nothing; set, it only
//! ever does *less* than the command would, which is what a crash does anyway, and which
//! brouter must survive (the next `start` converges). The kernel crash test
//! (`integration/tests/kill_each_op.rs`) kills `start` after each of its steps in turn.

/// The number of steps to apply before dying, if the knob is set.
pub fn after_ops() -> Option<usize> {
    std::env::var("BROUTER_TEST_ABORT_AFTER_OP").ok()?.parse().ok()
}

/// Die now, by SIGKILL.
pub fn die() -> ! {
    // SAFETY: kill(2) on our own pid; SIGKILL cannot be caught, the process ends here.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::abort()
}
