//! `brouter`: the command line over the engine and its two backends.

mod args;
mod cache;
mod check;
#[cfg(feature = "demo")]
mod demo;
mod dhcp_check;
mod dhcp_lease;
mod diagram;
mod diagram_grid;
mod exit;
mod explain;
mod hotplug;
mod json;
mod kernel;
mod load;
mod lock;
mod manpage;
mod marks;
mod nfnl_release;
mod readback;
mod run;
mod status;
mod test_abort;
mod vif;
mod xen_install;
mod xenstore;
mod xenstore_wire;

use std::process::ExitCode;

use args::{Cli, Command};
use exit::Failure;

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(c) => c,
        Err(e) => {
            // `--json` holds for a command line clap refused too (not for --help).
            exit::quiet_on_closed_pipe();
            if e.use_stderr() && std::env::args().any(|a| a == "--json") {
                let message = e.render().to_string();
                let f = Failure::usage(message.trim_end().trim_start_matches("error: "));
                json::print(f.to_json());
                return exit::code(exit::USAGE);
            }
            let _ = e.print();
            return exit::code(if e.use_stderr() { exit::USAGE } else { exit::OK });
        }
    };
    if !changes_the_system(&cli.command) {
        exit::quiet_on_closed_pipe();
    }
    verbose(cli.verbose);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(dispatch(&cli)) {
        Ok(code) => exit::code(code),
        Err(f) => {
            exit::quiet_on_closed_pipe();
            let f = f.for_user();
            if cli.json {
                json::print(f.to_json());
            } else {
                eprintln!("brouter: {}", f.message);
            }
            exit::code(f.code)
        }
    }
}

/// The global options, which `brouter --help` explains once.
const GLOBAL_OPTIONS: [&str; 5] = ["config", "netns", "sim", "json", "verbose"];

/// The command line, parsed with help texts that do not repeat the global options in
/// every subcommand's `--help` (each points to `brouter --help` instead). Completions
/// and the man page use the plain definitions, where the globals stay visible.
fn parse() -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(cli) = hook_call(&args) {
        return Ok(cli);
    }
    let mut cmd = Cli::command();
    // clap gives a global option to every subcommand that has none of that name: give
    // each one a hidden copy first (same id, same meaning), so its help leaves it out.
    let hidden: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| GLOBAL_OPTIONS.contains(&a.get_id().as_str()))
        .map(|a| a.clone().hide(true))
        .collect();
    let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, |sub| quiet_globals(sub, &hidden));
    }
    Cli::from_arg_matches(&cmd.try_get_matches()?)
}

/// The command line the Xen hook script passes on every vif, `brouter vif ACTION
/// VAR=VAL…` with no option, read without clap: building clap's command tree costs a
/// quarter of a millisecond, on the boot path of every domU. `None` for anything else
/// (an option, a word without `=`): clap reads it. A test checks that clap reads every
/// such line the same way.
fn hook_call(args: &[std::ffi::OsString]) -> Option<Cli> {
    let [_, sub, action, words @ ..] = args else {
        return None;
    };
    if sub.to_str()? != "vif" {
        return None;
    }
    let action = match action.to_str()? {
        "online" => args::VifCommand::Online,
        "offline" => args::VifCommand::Offline,
        "add" => args::VifCommand::Add,
        "remove" => args::VifCommand::Remove,
        _ => return None,
    };
    let words = words
        .iter()
        .map(|w| {
            w.to_str()
                .filter(|w| w.contains('=') && !w.starts_with('-'))
                .map(str::to_string)
        })
        .collect::<Option<Vec<String>>>()?;
    Some(Cli {
        config: None,
        netns: None,
        sim: None,
        json: false,
        verbose: 0,
        command: Command::Vif(args::VifArgs {
            action,
            words,
            vif: None,
            bridge: None,
            mac: None,
            ip: None,
        }),
    })
}

/// `sub` (and its own subcommands) with the global options `hidden` from its help.
fn quiet_globals(mut sub: clap::Command, hidden: &[clap::Arg]) -> clap::Command {
    let inner: Vec<String> = sub.get_subcommands().map(|s| s.get_name().to_string()).collect();
    for name in inner {
        sub = sub.mut_subcommand(name, |s| quiet_globals(s, hidden));
    }
    sub.args(hidden.iter().cloned()).after_help(
        "The global options (config file, namespace, simulator, JSON, verbosity): see `brouter --help`.",
    )
}

/// Whether `command` changes the kernel or the files of the host: those keep SIGPIPE
/// ignored until their change is done (a reader that goes away must not cut a firewall
/// rewrite in half); they switch to a Unix tool's behaviour when they report.
fn changes_the_system(command: &Command) -> bool {
    match command {
        Command::Start { .. }
        | Command::Stop { .. }
        | Command::Vif(_)
        | Command::Xen(_)
        | Command::DhcpLease(_) => true,
        #[cfg(feature = "demo")]
        Command::Demo => true,
        _ => false,
    }
}

/// `-v`: each applied step with its time; `-vv`: also what was read and decided, with
/// times; `-vvv`: everything. On stderr, so `--json` on stdout stays parseable. Without
/// `-v` nothing is set up (a hotplug call pays nothing for it).
fn verbose(level: u8) {
    let max = match level {
        0 => return,
        1 => tracing::Level::INFO,
        2 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(max)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_level(false)
        .without_time()
        .init();
}

/// Run the command `cli` names; its exit code.
async fn dispatch(cli: &Cli) -> Result<u8, Failure> {
    let config_path = cli.config.as_deref();
    match &cli.command {
        Command::Xen(x) => xen_install::xen(x, cli.json),
        #[cfg(feature = "demo")]
        Command::Demo => demo::demo().await,
        Command::Completions { shell } => {
            manpage::completions(*shell, &mut std::io::stdout());
            Ok(exit::OK)
        }
        Command::Manpage => {
            manpage::manpage(&mut std::io::stdout()).map_err(|e| Failure::op(format!("stdout: {e}")))?;
            Ok(exit::OK)
        }
        Command::Check { words } => {
            let config = load::load_config(config_path, words)?;
            check::check(&config, cli.json);
            Ok(exit::OK)
        }
        Command::Start { words } => run::command(cli, run::Mode::Start, words).await,
        Command::Stop { words } => run::command(cli, run::Mode::Stop, words).await,
        Command::Plan { words } => run::command(cli, run::Mode::DryRun, words).await,
        Command::Vif(args) => vif_command(cli, args).await,
        Command::DhcpLease(args) => dhcp_lease::command(cli, args).await,
        Command::Explain(args) => {
            let config = load::load_config(config_path, &args.words)?;
            // The live system (uplink address, bindings, the other Xen bridges) refines the
            // answer when readable.
            let mut backend = run::open(cli).await.ok();
            let config = run::host_config(config, &args.words, backend.as_mut()).await;
            explain::explain(&config, args, backend.as_mut(), cli.json).await
        }
        Command::Diagram(args) => diagram_command(cli, args).await,
        Command::Status { words } => status::command(cli, words).await,
    }
}

/// `vif`: the configuration is optional (`--config`, else the default file if there is
/// one): without it, the vif goes to the only bridge brouter made (several: refused).
async fn vif_command(cli: &Cli, args: &args::VifArgs) -> Result<u8, Failure> {
    vif::command(cli, args).await
}

/// `diagram`: from the live system when readable (unless `--config-only`), else from
/// the configuration alone.
async fn diagram_command(cli: &Cli, args: &diagram::DiagramArgs) -> Result<u8, Failure> {
    let config = load::load_config(cli.config.as_deref(), &args.words)?;
    let mut backend = match args.config_only {
        true => None,
        false => run::open(cli)
            .await
            .map_err(|e| eprintln!("brouter: diagram: {}; drawing from the config alone", e.message))
            .ok(),
    };
    let config = run::host_config(config, &args.words, backend.as_mut()).await;
    diagram::diagram(&config, args, backend.as_mut(), cli.json).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches};

    fn os(line: &[&str]) -> Vec<std::ffi::OsString> {
        line.iter().map(Into::into).collect()
    }

    #[test]
    fn the_hooks_command_line_reads_as_clap_reads_it() {
        let lines: &[&[&str]] = &[
            &["brouter", "vif", "online", "type_if=vif"],
            &["brouter", "vif", "offline", "type_if=vif"],
            &["brouter", "vif", "add", "type_if=tap"],
            &["brouter", "vif", "remove", "type_if=tap", "netdev=eth0"],
            &["brouter", "vif", "online"],
            &["/usr/sbin/brouter", "vif", "online", "type_if=vif", "a=b=c", "x="],
        ];
        for line in lines {
            let fast = hook_call(&os(line)).unwrap_or_else(|| panic!("{line:?} not read"));
            let m = Cli::command().try_get_matches_from(os(line)).unwrap();
            let clap = Cli::from_arg_matches(&m).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{clap:?}"), "{line:?}");
        }
    }

    #[test]
    fn anything_else_is_left_to_clap() {
        let lines: &[&[&str]] = &[
            &["brouter", "vif", "online", "--vif", "vif7.0"],
            &["brouter", "vif", "online", "type_if=vif", "-v"],
            &["brouter", "vif", "online", "stray"],
            &["brouter", "vif", "up", "type_if=vif"],
            &["brouter", "--json", "vif", "online"],
            &["brouter", "start", "bridgeip=10.0.0.1/24"],
            &["brouter", "vif"],
        ];
        for line in lines {
            assert!(hook_call(&os(line)).is_none(), "{line:?}");
        }
    }
}
