//! The README's commands and examples run as written (from the workspace root, the
//! simulator ones without root), and its figures are what the code prints today.

mod common;

use std::process::{Command, Output};

use common::{brouter, stderr, stdout, workspace};

fn readme() -> String {
    std::fs::read_to_string(workspace().join("README.md")).unwrap()
}

/// Run a README command line (`brouter …` or `cargo run -p brouter -- …`) with the built
/// binary, from the workspace root, its `/tmp/k.json` moved into `dir`.
fn run_line(line: &str, dir: &std::path::Path) -> Output {
    let line = line.split(" #").next().unwrap().trim();
    let rest = line
        .strip_prefix("cargo run -p brouter -- ")
        .or_else(|| line.strip_prefix("brouter "))
        .unwrap_or_else(|| panic!("not a brouter command: {line}"));
    let sim = dir.join("k.json");
    let args: Vec<String> = rest
        .split_whitespace()
        .map(|w| w.replace("/tmp/k.json", sim.to_str().unwrap()))
        .collect();
    Command::new(brouter())
        .args(&args)
        .current_dir(workspace())
        .env("BROUTER_STATE_DIR", dir)
        .env_remove("XENBUS_PATH")
        .output()
        .unwrap()
}

#[test]
fn the_simulator_walkthrough_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let text = readme();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("cargo run -p brouter -- --sim"))
        .collect();
    assert!(lines.len() >= 4, "{lines:?}");
    for line in lines {
        let out = run_line(line, dir.path());
        let code = out.status.code();
        // `status` of a converged system is 0.
        assert_eq!(code, Some(0), "{line}: {}{}", stdout(&out), stderr(&out));
        // `# nothing to do: converged`, or `# and again: nothing to do` (of a second run).
        if let Some(comment) = line.split(" # ").nth(1).map(str::trim) {
            let (out, expected) = match comment.strip_prefix("and again: ") {
                Some(e) => (run_line(line, dir.path()), e),
                None => (out, comment.split(':').next().unwrap()),
            };
            assert!(stdout(&out).contains(expected), "{line}: {}", stdout(&out));
        }
    }
}

#[test]
fn every_inline_example_runs_and_the_rule_count_is_todays() {
    let dir = tempfile::tempdir().unwrap();
    let text = readme().replace('\n', " ");
    let examples: Vec<&str> = text
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("brouter --config fixtures/"))
        .collect();
    assert!(examples.len() >= 4, "{examples:?}");
    for e in &examples {
        let out = run_line(e, dir.path());
        assert_eq!(out.status.code(), Some(0), "{e}: {}", stderr(&out));
        if e.contains("explain --from external --to uplink:") {
            let trace = stdout(&out);
            assert!(trace.contains("dnat") && trace.contains("ACCEPT"), "{e}: {trace}");
        }
    }
    let check = run_line("brouter --config fixtures/isp.toml check", dir.path());
    let count = stdout(&check)
        .lines()
        .find_map(|l| l.strip_prefix("# firewall: "))
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .to_string();
    assert!(
        text.contains(&format!("({count} rules")),
        "README's rule count is not today's {count}"
    );
}

#[test]
fn the_example_config_is_valid_and_its_forward_explains() {
    let dir = tempfile::tempdir().unwrap();
    let text = readme();
    let block = text
        .split("```toml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .find(|b| b.contains("[[forward]]"))
        .expect("the README's example config");
    let file = dir.path().join("example.toml");
    std::fs::write(&file, block).unwrap();
    let check = Command::new(brouter())
        .args(["--config", file.to_str().unwrap(), "check"])
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", stderr(&check));
    let port = block
        .lines()
        .find_map(|l| l.strip_prefix("port = "))
        .unwrap()
        .trim();
    let explain = Command::new(brouter())
        .args([
            "--config",
            file.to_str().unwrap(),
            "explain",
            "--from",
            "external",
        ])
        .args(["--to", &format!("uplink:{port}"), "--proto", "TCP"])
        .output()
        .unwrap();
    assert!(
        stdout(&explain).contains("ACCEPT"),
        "{}{}",
        stdout(&explain),
        stderr(&explain)
    );
    let by_name = Command::new(brouter())
        .args([
            "--config",
            file.to_str().unwrap(),
            "explain",
            "--from",
            "dmz",
            "--to",
            "web1:80",
        ])
        .output()
        .unwrap();
    assert!(by_name.status.success(), "{}", stderr(&by_name));
}
