//! brouter's memory (`BROUTER_STATE_DIR`) for tests that run a backend in-process: a
//! per-run temporary directory, never `/run/brouter`, so a test cannot disturb (or be
//! disturbed by) a real brouter on the machine.

use std::sync::Once;

static STATE_DIR: Once = Once::new();

/// Point brouter's memory at `<tmp>/brouter-<tag>-<pid>` before any backend exists. Only
/// the first call in a process sets it: every backend of one test binary shares it.
pub fn use_temp_state_dir(tag: &str) {
    STATE_DIR.call_once(|| {
        let dir = std::env::temp_dir().join(format!("brouter-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::env::set_var("BROUTER_STATE_DIR", &dir);
    });
}
