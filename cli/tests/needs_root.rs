//! A run without root that the kernel refuses says it needs root (CAP_NET_ADMIN) and how
//! to try brouter without it, not "Permission denied" on a lock file.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::{brouter, stderr};

#[test]
fn a_non_root_run_says_it_needs_root() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let test = "a_non_root_run_says_it_needs_root";
    if !root {
        common::skip(test, "needs root, to drop to nobody");
        return;
    }
    if !common::tool_or_skip(test, "setpriv", "util-linux") {
        return;
    }
    // A copy nobody may run (the build directory may not be reachable for it).
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("brouter");
    std::fs::copy(brouter(), &bin).unwrap();
    for args in [
        &["start", "bridgeip=192.0.2.1/24"][..],
        &["status"],
        &["--json", "stop"],
    ] {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin)
            .args(args)
            .env_remove("BROUTER_STATE_DIR")
            .env_remove("XENBUS_PATH")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let said = format!("{}{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
        assert!(said.contains("needs root (CAP_NET_ADMIN)"), "{args:?}: {said}");
        assert!(said.contains("--sim"), "{args:?}: {said}");
    }
}
