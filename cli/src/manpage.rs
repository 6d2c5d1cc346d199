//! `brouter manpage` and `brouter completions SHELL`: documentation generated from the clap
//! definitions, so the man page and the completions can never disagree with the CLI.
//!
//! They are subcommands of the binary rather than a build script: the package recipe
//! (`just package`) runs the release binary it just built, a build script would need the
//! CLI definitions in a second crate, and an admin can regenerate completions for a shell
//! the package does not ship (`brouter completions zsh > …`).
//!
//! The man page is one page, brouter(8), with a COMMANDS section that describes every
//! subcommand with its arguments — clap_mangen's own subcommand list would point at
//! brouter-start(8) and friends, pages nobody installs.

use std::io::{self, Write};

use clap::{Arg, ArgAction, Command, CommandFactory};
use clap_mangen::roff::{bold, italic, roman, Inline, Roff};
use clap_mangen::Man;

use crate::args::Cli;

/// Print brouter(8) as roff.
pub fn manpage(out: &mut dyn Write) -> io::Result<()> {
    let cmd = Cli::command();
    let man = Man::new(cmd.clone())
        .title("BROUTER")
        .section("8")
        .manual("System Manager's Manual");
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    let mut roff = Roff::default();
    roff.control("SH", ["COMMANDS"]);
    commands(&mut roff, &cmd, "brouter");
    extra_sections(&mut roff);
    roff.to_writer(out)?;
    man.render_version_section(out)
}

/// Print the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut Cli::command(), "brouter", out);
}

/// One `.SS` per visible subcommand, nested ones (`xen install`) by their full words.
fn commands(roff: &mut Roff, cmd: &Command, prefix: &str) {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let words = format!("{prefix} {}", sub.get_name());
        if sub.has_subcommands() {
            commands(roff, sub, &words);
            continue;
        }
        roff.control("SS", [words.as_str()]);
        let mut synopsis: Vec<Inline> = vec![bold(words.clone())];
        for arg in visible_args(sub) {
            synopsis.push(roman(" "));
            synopsis.push(roman(usage(arg)));
        }
        roff.text(synopsis);
        if let Some(about) = sub.get_long_about().or_else(|| sub.get_about()) {
            roff.control("PP", []);
            for line in about.to_string().lines() {
                roff.text([roman(line)]);
            }
        }
        for arg in visible_args(sub) {
            let help = arg
                .get_long_help()
                .or_else(|| arg.get_help())
                .map(ToString::to_string);
            let mut text = help.unwrap_or_default();
            let defaults: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            if !defaults.is_empty() {
                text.push_str(&format!(" [default: {}]", defaults.join(", ")));
            }
            if text.trim().is_empty() {
                continue; // the synopsis line already shows it
            }
            roff.control("TP", []);
            roff.text([bold(usage(arg))]);
            roff.text([roman(text.trim())]);
        }
    }
}

fn visible_args(cmd: &Command) -> impl Iterator<Item = &Arg> {
    cmd.get_arguments().filter(|a| {
        !a.is_hide_set() && !a.is_global_set() && !matches!(a.get_id().as_str(), "help" | "version")
    })
}

/// `<online|offline|…>`, `[VAR=VAL]...`, `[--dir DIR]`.
fn usage(arg: &Arg) -> String {
    let choices: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|p| !p.is_hide_set())
        .map(|p| p.get_name().to_string())
        .collect();
    let value = if !choices.is_empty() {
        choices.join("|")
    } else {
        arg.get_value_names()
            .map(|v| v.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| arg.get_id().as_str().to_uppercase())
    };
    let many = if matches!(arg.get_action(), ArgAction::Append) {
        "..."
    } else {
        ""
    };
    if arg.is_positional() {
        return if arg.is_required_set() {
            format!("<{value}>{many}")
        } else {
            format!("[{value}]{many}")
        };
    }
    let flag = match (arg.get_long(), arg.get_short()) {
        (Some(l), _) => format!("--{l}"),
        (None, Some(s)) => format!("-{s}"),
        (None, None) => value.clone(),
    };
    let takes_value = !matches!(
        arg.get_action(),
        ArgAction::SetTrue | ArgAction::SetFalse | ArgAction::Count
    );
    let body = if takes_value {
        format!("{flag} {value}")
    } else {
        flag
    };
    if arg.is_required_set() {
        body
    } else {
        format!("[{body}]{many}")
    }
}

/// What the CLI definitions cannot say: exit codes, files, environment, Xen wiring.
fn extra_sections(roff: &mut Roff) {
    let items = |roff: &mut Roff, rows: &[(&str, &str)]| {
        for (term, text) in rows {
            roff.control("TP", []);
            roff.text([bold(*term)]);
            roff.text([roman(*text)]);
        }
    };
    roff.control("SH", ["EXIT STATUS"]);
    items(
        roff,
        &[
            ("0", "Done, or nothing to do."),
            ("1", "An operation failed (a vif hook then writes hotplug-error)."),
            ("2", "Bad usage or invalid configuration; nothing was touched."),
            ("3", "status: the system is not converged to the configuration."),
        ],
    );
    roff.control("SH", ["FILES"]);
    items(
        roff,
        &[
            (
                "/etc/brouter/brouter.toml",
                "The configuration; without it brouter takes Xen network-script VAR=VAL words. \
                 An example is in /usr/share/doc/brouter/examples/brouter.toml.",
            ),
            (
                "/usr/share/doc/brouter/config.md",
                "Every configuration key, its meaning and its default.",
            ),
            (
                "/usr/share/doc/brouter/json.md",
                "The --json output of every command and of errors (\"version\": 1).",
            ),
            (
                "/etc/xen/scripts/brouter",
                "The vif hook (also as vif-brouter), shipped by the package or written by \
                 brouter xen install; name it in a vif spec (script=brouter) or in xl.conf \
                 (vif.default.script=\"brouter\"). xend's network-script may name it too.",
            ),
            (
                "/run/brouter/",
                "What brouter must restore on stop (sysctls), and the lock of each network namespace \
                 (lock-ns-<dev>-<inode>, removed by the command that held it).",
            ),
            (
                "brouter.service",
                "Runs start at boot before xendomains.service, stop at shutdown, and start again \
                 when nftables or firewalld reload or restart (brouter-reapply.service).",
            ),
        ],
    );
    roff.control("SH", ["ENVIRONMENT"]);
    items(
        roff,
        &[
            (
                "vif, INTERFACE, XENBUS_PATH",
                "Set by xl for the vif hook: the device, and its xenstore directory.",
            ),
            ("BROUTER_STATE_DIR", "Replaces /run/brouter (tests)."),
            (
                "BROUTER_LOCK_TIMEOUT",
                "Seconds a command waits for another one changing the same network namespace \
                 (default 30, under Xen's 40 s hotplug timeout).",
            ),
        ],
    );
    roff.control("SH", ["SEE ALSO"]);
    roff.text([
        italic("xl.cfg"),
        roman("(5), "),
        italic("xl-network-configuration"),
        roman("(5), "),
        italic("nft"),
        roman("(8), "),
        italic("systemctl"),
        roman("(1)"),
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf_commands(cmd: &Command, prefix: &str, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let words = format!("{prefix} {}", sub.get_name());
            if sub.has_subcommands() {
                leaf_commands(sub, &words, out);
            } else {
                out.push(words);
            }
        }
    }

    #[test]
    fn man_page_describes_every_visible_subcommand() {
        let mut page = Vec::new();
        manpage(&mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        let mut leaves = Vec::new();
        leaf_commands(&Cli::command(), "brouter", &mut leaves);
        assert!(leaves.len() >= 8, "{leaves:?}");
        for words in leaves {
            assert!(
                page.contains(&format!(".SS \"{words}\"")),
                "no section for `{words}`:\n{page}"
            );
        }
        assert!(
            !page.contains(".SS \"brouter manpage\""),
            "the hidden manpage command is documented"
        );
    }

    #[test]
    fn usage_shows_choices_repeats_and_option_values() {
        let cmd = Cli::command();
        let vif = cmd.find_subcommand("vif").unwrap();
        let rendered: Vec<String> = visible_args(vif).map(usage).collect();
        assert_eq!(rendered[0], "<online|offline|add|remove>");
        assert_eq!(rendered[1], "[VAR=VAL]...");
        assert!(rendered.contains(&"[--vif VIF]".to_string()), "{rendered:?}");
    }
}
