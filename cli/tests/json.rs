//! Every command's `--json` output parses and has exactly the top-level fields
//! docs/json.md documents for it (each marked `?` may be absent), with `"version": 1`;
//! every error under `--json` is `{"version": 1, "error": {...}}` on stdout with the
//! exit code it has without `--json`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use common::{brouter, workspace};

/// The table of docs/json.md: command → (field, optional).
fn documented() -> BTreeMap<String, Vec<(String, bool)>> {
    let text = std::fs::read_to_string(workspace().join("docs/json.md")).unwrap();
    let mut table = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("| `") || l.starts_with("| error"))
    {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let command = cells[1].trim_matches('`').to_string();
        let fields = cells[2]
            .split(',')
            .map(|f| {
                let f = f.trim().trim_matches('`');
                match f.strip_suffix('?') {
                    Some(name) => (name.to_string(), true),
                    None => (f.to_string(), false),
                }
            })
            .collect();
        table.insert(command, fields);
    }
    table
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(brouter())
        .args(args)
        .env("BROUTER_STATE_DIR", dir)
        .env_remove("XENBUS_PATH")
        .env_remove("bridge")
        .env_remove("vif")
        .env_remove("ip")
        .output()
        .unwrap()
}

fn parsed(args: &[&str], out: &Output) -> serde_json::Map<String, serde_json::Value> {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(v["version"], 1, "{args:?}: {v}");
    v.as_object().unwrap().clone()
}

/// `obj` has every documented non-optional field of `command` and no undocumented one.
fn matches_doc(
    doc: &BTreeMap<String, Vec<(String, bool)>>,
    command: &str,
    obj: &serde_json::Map<String, serde_json::Value>,
) {
    let fields = doc
        .get(command)
        .unwrap_or_else(|| panic!("docs/json.md has no row for `{command}`"));
    let known: BTreeSet<&str> = fields.iter().map(|(f, _)| f.as_str()).collect();
    for (f, optional) in fields {
        assert!(
            *optional || obj.contains_key(f),
            "{command}: documented field `{f}` missing: {obj:?}"
        );
    }
    for k in obj.keys() {
        assert!(
            known.contains(k.as_str()),
            "{command}: field `{k}` is not in docs/json.md"
        );
    }
}

#[test]
fn every_command_json_has_the_documented_top_level_fields() {
    let doc = documented();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sim = d.join("state.json");
    let sim = sim.to_str().unwrap();
    let isp = workspace().join("fixtures/isp.toml");
    let isp = isp.to_str().unwrap();
    let hooks = d.join("xen");
    std::fs::create_dir_all(&hooks).unwrap();
    let hooks = hooks.to_str().unwrap();
    let base = ["--json", "--sim", sim, "--config", isp];
    let with = |rest: &[&'static str]| -> Vec<String> {
        base.iter()
            .map(|s| s.to_string())
            .chain(rest.iter().map(|s| s.to_string()))
            .collect()
    };

    let cases: Vec<(&str, Vec<String>)> = vec![
        ("check", with(&["check"])),
        ("plan", with(&["plan"])),
        ("start", with(&["start"])),
        ("status", with(&["status"])),
        (
            "explain",
            with(&["explain", "--from", "external", "--to", "uplink:8080"]),
        ),
        (
            "explain",
            with(&["explain", "--from", "dmz", "--to", "10.3.0.9:5432"]),
        ),
        ("diagram", with(&["diagram"])),
        (
            "xen install",
            vec![
                "--json".into(),
                "xen".into(),
                "install".into(),
                "--dir".into(),
                hooks.into(),
            ],
        ),
        (
            "xen uninstall",
            vec![
                "--json".into(),
                "xen".into(),
                "uninstall".into(),
                "--dir".into(),
                hooks.into(),
            ],
        ),
    ];
    for (command, args) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_in(d, &args);
        assert!(
            out.status.code() == Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        matches_doc(&doc, command, &parsed(&args, &out));
    }

    // vif: a domU's end appears in the simulator, goes online and offline.
    let mut k: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sim).unwrap()).unwrap();
    k["links"]["vif7.0"] = serde_json::json!({"name": "vif7.0", "kind": "veth", "up": false, "mtu": 1500});
    std::fs::write(sim, k.to_string()).unwrap();
    for action in [
        &["vif", "online", "--vif", "vif7.0", "--mac", "aa:cc:00:00:01:01"][..],
        &["vif", "offline", "--vif", "vif7.0"],
    ] {
        let args = with(action);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_in(d, &args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        matches_doc(&doc, "vif", &parsed(&args, &out));
    }

    let args = with(&["stop"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_in(d, &args);
    matches_doc(&doc, "stop", &parsed(&args, &out));
    // Every row of the table was exercised.
    for command in doc.keys() {
        assert!(
            command == "error"
                || command == "stop"
                || command == "vif"
                || cases.iter().any(|(c, _)| c == command),
            "docs/json.md documents `{command}`, which this test does not run"
        );
    }
}

#[test]
fn every_error_is_one_json_object_with_its_exit_code() {
    let doc = documented();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bad = d.join("bad.toml");
    std::fs::write(
        &bad,
        "[[network]]\nname = \"dmz\"\nbridge = 7\naddress = \"10.1.0.1/24\"\n",
    )
    .unwrap();
    let garbage = d.join("garbage.json");
    std::fs::write(&garbage, "not a state").unwrap();
    let isp = workspace().join("fixtures/isp.toml");
    let cases: Vec<(Vec<&str>, u8, &str)> = vec![
        (
            vec!["--json", "--config", bad.to_str().unwrap(), "check"],
            2,
            "config",
        ),
        (vec!["--json", "chek"], 2, "usage"),
        (
            vec![
                "--json",
                "--config",
                isp.to_str().unwrap(),
                "explain",
                "--from",
                "dmz",
                "--to",
                "10.3.0.9",
            ],
            2,
            "usage",
        ),
        (
            vec![
                "--json",
                "--sim",
                garbage.to_str().unwrap(),
                "--config",
                isp.to_str().unwrap(),
                "status",
            ],
            1,
            "failed",
        ),
    ];
    for (args, code, kind) in cases {
        let out = run_in(d, &args);
        assert_eq!(out.status.code(), Some(i32::from(code)), "{args:?}");
        let obj = parsed(&args, &out);
        matches_doc(&doc, "error", &obj);
        let e = &obj["error"];
        assert_eq!(e["kind"], kind, "{args:?}: {e}");
        assert_eq!(e["exit_code"], code, "{args:?}: {e}");
        assert!(!e["message"].as_str().unwrap().is_empty(), "{e}");
        for field in ["file", "key", "value"] {
            assert!(e.get(field).is_some(), "{args:?}: no `{field}` in {e}");
        }
        // Without --json the same failure has the same exit code.
        let plain: Vec<&str> = args.iter().copied().filter(|a| *a != "--json").collect();
        assert_eq!(
            run_in(d, &plain).status.code(),
            Some(i32::from(code)),
            "{plain:?}"
        );
    }
    let out = run_in(d, &["--json", "--config", bad.to_str().unwrap(), "check"]);
    let e = parsed(&[], &out)["error"].clone();
    assert_eq!(e["file"], bad.to_str().unwrap());
    assert_eq!(e["key"], "network[0].bridge");
    assert_eq!(e["value"], "7");
    assert_eq!(e["line"], 3);
}

#[test]
fn status_json_has_data_beside_its_text() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("state.json");
    let isp = workspace().join("fixtures/isp.toml");
    let base = ["--sim", sim.to_str().unwrap(), "--config", isp.to_str().unwrap()];
    assert!(run_in(dir.path(), &[&base[..], &["start"]].concat())
        .status
        .success());
    let out = run_in(dir.path(), &[&base[..], &["--json", "status"]].concat());
    let v = parsed(&[], &out);
    let dmz = &v["networks"][0];
    assert_eq!(
        (dmz["bridge_present"].clone(), dmz["bridge_owned"].clone()),
        (true.into(), true.into()),
        "{dmz}"
    );
    let f = &v["forwards"][0];
    assert_eq!(
        (f["proto"].as_str(), f["ports"].as_str(), f["host"].as_str()),
        (Some("tcp"), Some("80"), Some("web1")),
        "{f}"
    );
    let p = &v["policies"][0];
    assert_eq!(p["action"], "accept", "{p}");
    assert!(p["services"].is_array(), "{p}");
    assert_eq!(v["uplink"]["interface"], "eth0", "{v:?}");
}
