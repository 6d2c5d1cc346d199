//! The compiled-configuration cache never changes what `start` does: a converged host
//! stays untouched, and an edited file (or a damaged cache) is compiled afresh.

use std::path::Path;
use std::process::Command;

fn brouter(state: &Path, sim: &Path, config: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_brouter"))
        .arg("--sim")
        .arg(sim)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("BROUTER_STATE_DIR", state)
        .output()
        .expect("run brouter");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

const ONE: &str = "[[network]]\nname = \"dmz\"\nbridge = \"xenbr0\"\naddress = \"10.98.98.1/24\"\n";

#[test]
fn an_edited_config_is_compiled_afresh_and_a_converged_one_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (state, sim, config) = (
        dir.path().join("state"),
        dir.path().join("k.json"),
        dir.path().join("b.toml"),
    );
    std::fs::write(&config, ONE).unwrap();

    let (ok, out) = brouter(&state, &sim, &config, &["start"]);
    assert!(ok && out.contains("create bridge xenbr0"), "{out}");
    let (ok, out) = brouter(&state, &sim, &config, &["start"]);
    assert!(ok && out.contains("nothing to do"), "{out}");

    // Same path, new content: the cache must not answer for it.
    let two = format!("{ONE}[[network]]\nname = \"data\"\nbridge = \"xenbr1\"\naddress = \"10.99.0.1/24\"\n");
    std::fs::write(&config, two).unwrap();
    let (ok, out) = brouter(&state, &sim, &config, &["plan"]);
    assert!(ok && out.contains("create bridge xenbr1"), "{out}");
    let (ok, out) = brouter(&state, &sim, &config, &["start"]);
    assert!(ok && out.contains("create bridge xenbr1"), "{out}");

    // A damaged cache is ignored.
    for entry in std::fs::read_dir(state.join("compiled")).unwrap() {
        std::fs::write(entry.unwrap().path(), "not json").unwrap();
    }
    let (ok, out) = brouter(&state, &sim, &config, &["start"]);
    assert!(ok && out.contains("nothing to do"), "{out}");

    // Drift is still seen and repaired (the cached plan is not empty, so it recompiles).
    let k = std::fs::read_to_string(&sim).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&k).unwrap();
    v["addresses"]
        .as_array_mut()
        .unwrap()
        .retain(|a| a["link"] != "xenbr1");
    std::fs::write(&sim, v.to_string()).unwrap();
    let (ok, out) = brouter(&state, &sim, &config, &["start"]);
    assert!(ok && out.contains("add address 10.99.0.1/24 to xenbr1"), "{out}");
}

#[test]
fn an_invalid_config_is_rejected_even_after_a_valid_one_was_cached() {
    let dir = tempfile::tempdir().unwrap();
    let (state, sim, config) = (
        dir.path().join("state"),
        dir.path().join("k.json"),
        dir.path().join("b.toml"),
    );
    std::fs::write(&config, ONE).unwrap();
    assert!(brouter(&state, &sim, &config, &["start"]).0);
    std::fs::write(&config, ONE.replace("10.98.98.1/24", "10.98.98.0/24")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_brouter"))
        .arg("--sim")
        .arg(&sim)
        .arg("--config")
        .arg(&config)
        .arg("start")
        .env("BROUTER_STATE_DIR", &state)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `status` with `-vv`: its exit code, stdout and stderr.
fn status(state: &Path, sim: &Path, config: &Path) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_brouter"))
        .args(["-vv", "--sim"])
        .arg(sim)
        .arg("--config")
        .arg(config)
        .arg("status")
        .env("BROUTER_STATE_DIR", state)
        .output()
        .expect("run brouter");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const FORWARD: &str = "[uplink]\ninterface = \"eth0\"\n[[network]]\nname = \"dmz\"\nbridge = \"xenbr0\"\n\
address = \"10.98.98.1/24\"\n[[host]]\nname = \"web\"\nnetwork = \"dmz\"\naddresses = [\"10.98.98.10\"]\n\
[[forward]]\nproto = \"tcp\"\nport = 8080\nto = \"web:80\"\n";

#[test]
fn status_answers_from_the_cached_compile_only_while_it_proves_nothing_differs() {
    let dir = tempfile::tempdir().unwrap();
    let (state, sim, config) = (
        dir.path().join("state"),
        dir.path().join("k.json"),
        dir.path().join("b.toml"),
    );
    std::fs::write(&config, FORWARD).unwrap();
    assert!(brouter(&state, &sim, &config, &["start"]).0);
    let (code, out, err) = status(&state, &sim, &config);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(err.contains("the cached compile proves"), "{err}");
    assert!(err.contains("read the configuration kept by start"), "{err}");
    assert!(out.contains("forward  tcp/8080 -> web (10.98.98.10):80"), "{out}");

    // A damaged copy of the configuration: the file is parsed again.
    for entry in std::fs::read_dir(state.join("compiled")).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".config.json") {
            std::fs::write(path, "{}").unwrap();
        }
    }
    let (code, out, err) = status(&state, &sim, &config);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(err.contains("parsed and validated"), "{err}");
    assert!(out.contains("forward  tcp/8080 -> web (10.98.98.10):80"), "{out}");

    // One forward's map element edited: compiled and compared, the element named.
    let mut k: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sim).unwrap()).unwrap();
    k["firewall"]["forwards"][0]["to_port"] = 81.into();
    std::fs::write(&sim, k.to_string()).unwrap();
    let (code, out, err) = status(&state, &sim, &config);
    assert_eq!(code, Some(3), "{out}{err}");
    assert!(err.contains("proves nothing"), "{err}");
    assert!(out.contains("update firewall elements"), "{out}");
    assert!(brouter(&state, &sim, &config, &["start"]).0);
    assert_eq!(status(&state, &sim, &config).0, Some(0));

    // An address gone: the cached plan is not empty.
    let mut k: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sim).unwrap()).unwrap();
    k["addresses"]
        .as_array_mut()
        .unwrap()
        .retain(|a| a["link"] != "xenbr0");
    std::fs::write(&sim, k.to_string()).unwrap();
    let (code, out, err) = status(&state, &sim, &config);
    assert_eq!(code, Some(3), "{out}{err}");
    assert!(err.contains("proves nothing"), "{err}");
    assert!(out.contains("add address 10.98.98.1/24 to xenbr0"), "{out}");

    // An invalid config is exit 2, whatever the kernel holds.
    std::fs::write(&config, FORWARD.replace("10.98.98.1/24", "10.98.98.0/24")).unwrap();
    assert_eq!(status(&state, &sim, &config).0, Some(2));
}
