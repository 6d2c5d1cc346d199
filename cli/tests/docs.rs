//! The man page and completions come from the clap definitions: every command a user can
//! type is documented and completes.

mod common;

use std::process::Command;

use common::{have, run, stderr, stdout};

/// The subcommands `brouter --help` lists (what a user sees), without clap's `help`.
fn listed_commands() -> Vec<String> {
    let help = stdout(&run(&["--help"]));
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect()
}

#[test]
fn man_page_is_section_8_and_covers_every_listed_command() {
    let out = run(&["manpage"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(
        page.contains(".TH BROUTER 8 "),
        "{}",
        &page[..page.len().min(400)]
    );
    let commands = listed_commands();
    assert!(commands.len() >= 8, "{commands:?}");
    for c in &commands {
        assert!(
            page.contains(&format!(".SS \"brouter {c}")),
            "brouter(8) does not describe `{c}`"
        );
    }
    for section in ["EXIT STATUS", "FILES", "SEE ALSO"] {
        assert!(page.contains(&format!(".SH \"{section}\"")) || page.contains(&format!(".SH {section}")));
    }
}

#[test]
fn man_page_renders_without_groff_warnings() {
    if !have("groff") {
        eprintln!("SKIP man_page_renders_without_groff_warnings: no groff");
        return;
    }
    let page = run(&["manpage"]).stdout;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("brouter.8");
    std::fs::write(&file, page).unwrap();
    let out = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "groff: {}",
        stderr(&out)
    );
}

#[test]
fn bash_completion_is_valid_bash_and_knows_the_commands() {
    let out = run(&["completions", "bash"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let script = stdout(&out);
    for c in listed_commands() {
        assert!(script.contains(&c), "bash completion lacks `{c}`");
    }
    assert!(
        script.contains("complete -F _brouter"),
        "not registered for brouter"
    );
    if have("bash") {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("brouter.bash");
        std::fs::write(&file, &script).unwrap();
        let check = Command::new("bash").arg("-n").arg(&file).output().unwrap();
        assert!(check.status.success(), "bash -n: {}", stderr(&check));
    }
}

#[test]
fn completions_cover_zsh_and_fish_and_reject_unknown_shells() {
    for shell in ["zsh", "fish"] {
        let out = run(&["completions", shell]);
        assert!(
            out.status.success() && out.stdout.len() > 100,
            "{shell}: {}",
            stderr(&out)
        );
    }
    let bad = run(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}
