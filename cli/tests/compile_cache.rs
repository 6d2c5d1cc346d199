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
