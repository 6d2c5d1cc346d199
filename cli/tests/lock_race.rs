//! One lock per kernel network namespace, whatever the way in: `brouter --netns X` and
//! `ip netns exec X brouter` exclude each other. A `start` that rewrites the firewall
//! while a `vif online` binds a vif must not lose the binding, and neither command may
//! exit 0 half done. A lock held too long ends in an error naming its holder.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use brouter_backends::firewall;
use brouter_integration::{root_or_skip, Netns};
use common::{brouter, sim_ok, stderr};

const ROUNDS: usize = 20;

/// An antispoof network declaring the MACs of every round's vif; `open_dom0` changes
/// the firewall (so a `start` alternating between the two rewrites the tables).
fn config(open_dom0: bool) -> String {
    let mut text = String::from(
        "[[network]]\nname = \"lan\"\nbridge = \"xenbr0\"\naddress = \"10.98.96.1/22\"\nantispoof = true\n\n\
         [[policy]]\nfrom = \"lan\"\nto = \"external\"\naction = \"accept\"\n\n",
    );
    if open_dom0 {
        text.push_str("[[policy]]\nfrom = \"lan\"\nto = \"dom0\"\naction = \"accept\"\n\n");
    }
    for i in 1..=ROUNDS {
        text.push_str(&format!(
            "[[host]]\nname = \"vm{i}\"\nnetwork = \"lan\"\nmac = \"{}\"\naddresses = [\"{}\"]\n\n",
            mac(i),
            ip(i)
        ));
    }
    text
}

fn mac(i: usize) -> String {
    format!("aa:cc:00:00:01:{i:02x}")
}

fn ip(i: usize) -> String {
    format!("10.98.97.{i}")
}

fn with_state(mut cmd: Command, state: &Path) -> Command {
    cmd.env("BROUTER_STATE_DIR", state)
        .env_remove("XENBUS_PATH")
        .env_remove("vif")
        .env_remove("bridge")
        .env_remove("ip")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// `brouter --netns NS --config FILE start`.
fn start_named(ns: &Netns, state: &Path, file: &Path) -> Command {
    let mut cmd = Command::new(brouter());
    cmd.args(["--netns", ns.name(), "--config"])
        .arg(file)
        .arg("start");
    with_state(cmd, state)
}

/// `ip netns exec NS brouter --config FILE vif online …` for round `i`'s vif.
fn online_entered(ns: &Netns, state: &Path, file: &Path, i: usize) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns.name()])
        .arg(brouter())
        .arg("--config")
        .arg(file)
        .args(["vif", "online", "type_if=vif", "--bridge", "xenbr0"])
        .args(["--vif", &format!("vif{i}.0"), "--mac", &mac(i), "--ip", &ip(i)]);
    with_state(cmd, state)
}

fn show(what: &str, o: &Output) -> String {
    format!(
        "{what}: exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        stderr(o)
    )
}

#[test]
fn start_racing_vif_online_through_both_namespace_entries_loses_no_binding() {
    if !root_or_skip("start_racing_vif_online_through_both_namespace_entries_loses_no_binding") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let files = [tmp.path().join("a.toml"), tmp.path().join("b.toml")];
    std::fs::write(&files[0], config(false)).unwrap();
    std::fs::write(&files[1], config(true)).unwrap();
    let ns = Netns::new("lockrace");
    let lines: Vec<String> = (1..=ROUNDS)
        .map(|i| format!("link add vif{i}.0 type veth peer name peer{i}"))
        .collect();
    ns.ip_batch(&lines);
    let first = start_named(&ns, &state, &files[0]).output().unwrap();
    assert!(first.status.success(), "{}", show("first start", &first));

    for i in 1..=ROUNDS {
        // Alternate configs: every start replaces the tables, from its own observation.
        let file = &files[i % 2];
        let start = start_named(&ns, &state, file).spawn().unwrap();
        let online = online_entered(&ns, &state, file, i).spawn().unwrap();
        let (start, online) = (
            start.wait_with_output().unwrap(),
            online.wait_with_output().unwrap(),
        );
        assert!(start.status.success(), "round {i}: {}", show("start", &start));
        assert!(
            online.status.success(),
            "round {i}: {}",
            show("vif online", &online)
        );
        let bound = firewall::read_bindings_nft(&ns.target()).unwrap();
        for j in 1..=i {
            let b = bound
                .iter()
                .find(|b| b.vif == format!("vif{j}.0"))
                .unwrap_or_else(|| panic!("round {i}: vif{j}.0's binding was lost: {bound:?}"));
            assert_eq!(b.mac, mac(j), "round {i}");
        }
        assert_eq!(bound.len(), i, "round {i}: {bound:?}");
    }
    let left: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("lock"))
        .collect();
    assert!(left.is_empty(), "lock files left behind: {left:?}");
}

#[test]
fn a_lock_taken_through_the_named_namespace_stops_a_command_run_inside_it() {
    if !root_or_skip("a_lock_taken_through_the_named_namespace_stops_a_command_run_inside_it") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ns = Netns::new("lockid");
    let nsfs = std::fs::metadata(Path::new("/run/netns").join(ns.name())).unwrap();
    let path = tmp.path().join(format!("lock-ns-{}-{}", nsfs.dev(), nsfs.ino()));
    let held = hold(&path, "pid 4242: brouter --netns test start");
    let out = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(brouter())
        .args(["start", "bridgeip=10.98.98.1/24"])
        .env("BROUTER_STATE_DIR", tmp.path())
        .env("BROUTER_LOCK_TIMEOUT", "0.3")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show("start", &out));
    let err = stderr(&out);
    assert!(err.contains("pid 4242: brouter --netns test start"), "{err}");
    assert!(err.contains("try again"), "{err}");
    assert!(
        !ns.ip(&["-o", "link"]).contains("xenbr0"),
        "nothing may change without the lock"
    );
    drop(held);
}

/// Lock `path` as a brouter holder would, with `holder` as its note.
fn hold(path: &Path, holder: &str) -> std::fs::File {
    std::fs::write(path, holder).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.lock().unwrap();
    f
}

#[test]
fn a_busy_lock_ends_in_a_bounded_wait_and_an_error_naming_its_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state.json");
    sim_ok(&state, &["start", "bridgeip=10.98.98.1/24"]);
    let lock = tmp.path().join("state.json.lock");
    let held = hold(&lock, "pid 777: brouter vif online");
    let before = std::fs::read_to_string(&state).unwrap();
    let out = Command::new(brouter())
        .arg("--sim")
        .arg(&state)
        .args(["stop"])
        .env("BROUTER_STATE_DIR", tmp.path())
        .env("BROUTER_LOCK_TIMEOUT", "0.2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show("stop", &out));
    let err = stderr(&out);
    assert!(
        err.contains("pid 777: brouter vif online") && err.contains("holds its lock"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        before,
        "nothing changed"
    );
    drop(held);
    // Released: the same command goes through, and leaves no lock file.
    std::fs::remove_file(&lock).unwrap();
    sim_ok(&state, &["stop"]);
    assert!(!lock.exists(), "the lock file outlived the command");
}
