//! The boot units in dist/: `systemd-analyze verify` accepts them, and they encode the
//! ordering a dom0 needs (bridges before xendomains; re-apply after a firewall service).

mod common;

use std::process::Command;

use common::{brouter, stderr, stdout, tool_or_skip, workspace};

const UNITS: [&str; 2] = ["brouter.service", "brouter-reapply.service"];

fn unit_text(name: &str) -> String {
    std::fs::read_to_string(workspace().join("dist").join(name)).unwrap()
}

/// Every value of `key=` in the unit (space-separated lists flattened).
fn values(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .flat_map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect()
}

#[test]
fn units_pass_systemd_analyze_verify() {
    if !tool_or_skip("units_pass_systemd_analyze_verify", "systemd-analyze", "systemd") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // verify checks that Exec*= binaries exist: point them at the binary under test.
    let mut paths = Vec::new();
    for name in UNITS {
        let text = unit_text(name).replace("/usr/sbin/brouter", brouter().to_str().unwrap());
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        paths.push(p);
    }
    // Documentation=man:brouter(8) must resolve: offer the page the package installs.
    let man8 = tmp.path().join("man/man8");
    std::fs::create_dir_all(&man8).unwrap();
    let page = Command::new(brouter()).arg("manpage").output().unwrap();
    assert!(page.status.success());
    std::fs::write(man8.join("brouter.8"), &page.stdout).unwrap();
    // Without man the man: link goes unchecked: that part is skipped (and counted).
    let check_man = if tool_or_skip(
        "units_pass_systemd_analyze_verify (Documentation=man:brouter(8))",
        "man",
        "man-db",
    ) {
        "--man=yes"
    } else {
        "--man=no"
    };

    let out = Command::new("systemd-analyze")
        .args(["verify", check_man])
        .args(&paths)
        .env("MANPATH", tmp.path().join("man"))
        .current_dir(tmp.path())
        .output()
        .unwrap();
    // verify exits 0 on unknown keys but complains on stderr: both must be clean.
    assert!(
        out.status.success() && stderr(&out).trim().is_empty(),
        "systemd-analyze verify {check_man}: {}\n{}{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn brouter_service_starts_bridges_before_xen_and_stops_them_after() {
    let u = unit_text("brouter.service");
    assert_eq!(values(&u, "Type"), ["oneshot"]);
    assert_eq!(values(&u, "RemainAfterExit"), ["yes"]);
    assert_eq!(values(&u, "ExecStart"), ["/usr/sbin/brouter", "start"]);
    assert_eq!(values(&u, "ExecReload"), ["/usr/sbin/brouter", "start"]);
    assert_eq!(values(&u, "ExecStop"), ["/usr/sbin/brouter", "stop"]);
    let before = values(&u, "Before");
    assert!(
        before.contains(&"xendomains.service".into()) && before.contains(&"xen-init-dom0.service".into())
    );
    let after = values(&u, "After");
    for a in ["network-pre.target", "nftables.service", "firewalld.service"] {
        assert!(after.contains(&a.to_string()), "not After={a}");
    }
    assert_eq!(values(&u, "WantedBy"), ["multi-user.target"]);
    assert_eq!(values(&u, "Also"), ["brouter-reapply.service"]);
}

#[test]
fn firewall_reloads_and_restarts_rerun_start_but_never_stop() {
    let u = unit_text("brouter.service");
    let propagated = values(&u, "ReloadPropagatedFrom");
    assert!(
        propagated.contains(&"nftables.service".into()) && propagated.contains(&"firewalld.service".into())
    );
    // PartOf/BindsTo would turn `systemctl restart nftables` into `brouter stop`: bridges
    // deleted under running domUs.
    for key in ["PartOf", "BindsTo", "Requires"] {
        assert!(values(&u, key).is_empty(), "brouter.service has {key}=");
    }
    let r = unit_text("brouter-reapply.service");
    let wanted = values(&r, "WantedBy");
    assert!(wanted.contains(&"nftables.service".into()) && wanted.contains(&"firewalld.service".into()));
    assert!(values(&r, "After").contains(&"brouter.service".into()));
    assert_eq!(values(&r, "ExecStart"), ["/usr/sbin/brouter", "start"]);
    // Inactive after each run, so every pull-in by a firewall (re)start runs it again.
    assert!(values(&r, "RemainAfterExit").is_empty());
    assert!(
        values(&r, "ExecStop").is_empty(),
        "re-apply must never stop brouter"
    );
}
