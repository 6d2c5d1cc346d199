//! `brouter xen install|uninstall`: the vif hook lands in the Xen scripts directory, never
//! replaces or removes a file brouter did not write, and tells the admin how to use it.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use common::fake_xenstore::FakeXenstore;
use common::{brouter, output_of_fresh_script, run, stderr, stdout};

fn install(dir: &std::path::Path) -> std::process::Output {
    run(&["xen", "install", "--dir", dir.to_str().unwrap()])
}

fn uninstall(dir: &std::path::Path) -> std::process::Output {
    run(&["xen", "uninstall", "--dir", dir.to_str().unwrap()])
}

#[test]
fn install_writes_an_executable_hook_and_prints_the_xl_lines() {
    let dir = tempfile::tempdir().unwrap();
    let out = install(dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let hook = dir.path().join("vif-brouter");
    let text = std::fs::read_to_string(&hook).unwrap();
    assert!(text.starts_with("#!/bin/sh\n"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("# managed by brouter")),
        "{text}"
    );
    assert!(
        text.contains(&format!("brouter='{}'", brouter().display())),
        "{text}"
    );
    assert!(text.contains("exec \"$brouter\" vif \"$@\""), "{text}");
    let mode = std::fs::metadata(&hook).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    let said = stdout(&out);
    assert!(said.contains("vif = ['mac="), "{said}");
    assert!(said.contains(",bridge=xenbr0,script=brouter']"), "{said}");
    assert!(said.contains("vif.default.script=\"brouter\""), "{said}");
    // The same hook under both names, nothing else (no temporary file) in Xen's directory.
    assert_eq!(std::fs::read_to_string(dir.path().join("brouter")).unwrap(), text);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn install_twice_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    assert!(install(dir.path()).status.success());
    let first = std::fs::read(dir.path().join("vif-brouter")).unwrap();
    let again = install(dir.path());
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).starts_with("already installed"),
        "{}",
        stdout(&again)
    );
    assert_eq!(std::fs::read(dir.path().join("vif-brouter")).unwrap(), first);
}

#[test]
fn install_replaces_an_older_hook_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let hook = dir.path().join("vif-brouter");
    std::fs::write(
        &hook,
        "#!/bin/sh\n# managed by brouter\nexec /old/brouter vif \"$@\"\n",
    )
    .unwrap();
    let out = install(dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read_to_string(&hook)
        .unwrap()
        .contains(&brouter().display().to_string()));
}

#[test]
fn install_refuses_to_overwrite_a_hook_it_did_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let hook = dir.path().join("vif-brouter");
    std::fs::write(&hook, "#!/bin/sh\n# the admin's own\n").unwrap();
    let out = install(dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not written by brouter"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&hook).unwrap(),
        "#!/bin/sh\n# the admin's own\n"
    );
}

#[test]
fn install_into_a_missing_directory_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = install(&dir.path().join("no-xen-here"));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no such directory"), "{}", stderr(&out));
}

#[test]
fn uninstall_removes_only_its_own_hook() {
    let dir = tempfile::tempdir().unwrap();
    let hook = dir.path().join("vif-brouter");
    std::fs::write(&hook, "#!/bin/sh\n# the admin's own\n").unwrap();
    let refused = uninstall(dir.path());
    assert_eq!(refused.status.code(), Some(2));
    assert!(hook.exists(), "a foreign hook was removed");

    std::fs::remove_file(&hook).unwrap();
    assert!(install(dir.path()).status.success());
    let out = uninstall(dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!hook.exists());
    assert!(!dir.path().join("brouter").exists());
    let again = uninstall(dir.path());
    assert!(again.status.success());
    assert!(stdout(&again).starts_with("nothing to do"), "{}", stdout(&again));
}

#[test]
fn hook_reports_a_missing_brouter_binary_through_xenstore() {
    let dir = tempfile::tempdir().unwrap();
    let scripts = dir.path().join("scripts");
    std::fs::create_dir(&scripts).unwrap();
    assert!(install(&scripts).status.success());
    // The package was removed, the hook stayed behind.
    let hook = scripts.join("vif-brouter");
    let text = std::fs::read_to_string(&hook).unwrap();
    let gone = dir.path().join("removed/brouter");
    std::fs::write(
        &hook,
        text.replace(&brouter().display().to_string(), gone.to_str().unwrap()),
    )
    .unwrap();
    let xs = FakeXenstore::new(&dir.path().join("xs"));

    let out = output_of_fresh_script(
        Command::new(&hook)
            .args(["online", "type_if=vif"])
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", xs.bin_dir().display()))
            .env("vif", "vif3.0")
            .env("XENBUS_PATH", "backend/vif/3/0")
            .env("XENBUS_TYPE", "vif")
            .env("XENBUS_BASE_PATH", "backend")
            .stdin(Stdio::null()),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(xs.get("backend/vif/3/0/hotplug-status").as_deref(), Some("error"));
    let error = xs.get("backend/vif/3/0/hotplug-error").unwrap_or_default();
    assert!(
        error.contains("is missing") && error.contains("brouter xen install"),
        "{error}"
    );
}

/// One hook, both of Xen's callers: xl's `online|offline|add|remove` go to `brouter vif`,
/// xend's network-script `start|stop|status VAR=VAL…` to `brouter start|stop|status`.
#[test]
fn hook_dispatches_hotplug_actions_to_vif_and_the_rest_to_the_network_script() {
    let dir = tempfile::tempdir().unwrap();
    let scripts = dir.path().join("scripts");
    std::fs::create_dir(&scripts).unwrap();
    assert!(install(&scripts).status.success());
    let hook = scripts.join("brouter");
    let fake = dir.path().join("fake-brouter");
    std::fs::write(&fake, "#!/bin/sh\necho \"$*\"\n").unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let text = std::fs::read_to_string(&hook).unwrap();
    std::fs::write(
        &hook,
        text.replace(&brouter().display().to_string(), fake.to_str().unwrap()),
    )
    .unwrap();
    for (argv, runs) in [
        (&["online", "type_if=vif"][..], "vif online type_if=vif"),
        (&["remove", "type_if=tap"][..], "vif remove type_if=tap"),
        (
            &["start", "bridgeip=10.98.98.1/24", "netdev=eth0"][..],
            "start bridgeip=10.98.98.1/24 netdev=eth0",
        ),
        (&["stop"][..], "stop"),
    ] {
        let out = output_of_fresh_script(Command::new(&hook).args(argv).stdin(Stdio::null()));
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out).trim(), runs);
    }
}
