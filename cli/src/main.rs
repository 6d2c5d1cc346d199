//! `brouter`: the command line over the engine and its two backends.

mod args;
mod cache;
mod check;
#[cfg(feature = "demo")]
mod demo;
mod diagram;
mod exit;
mod explain;
mod kernel;
mod load;
mod lock;
mod manpage;
mod run;
mod status;
mod vif;
mod xen_install;
mod xenstore;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use exit::Failure;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return exit::code(if e.use_stderr() { exit::USAGE } else { exit::OK });
        }
    };
    verbose(cli.verbose);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(dispatch(&cli)) {
        Ok(code) => exit::code(code),
        Err(f) => {
            eprintln!("brouter: {}", f.message);
            exit::code(f.code)
        }
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

async fn dispatch(cli: &Cli) -> Result<u8, Failure> {
    let config_path = cli.config.as_deref();
    let open = || load::Backend::open(cli.sim.as_deref(), cli.netns.as_deref());
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
        Command::Start { words } | Command::Stop { words } | Command::Plan { words } => {
            let mode = match &cli.command {
                Command::Start { .. } => run::Mode::Start,
                Command::Stop { .. } => run::Mode::Stop,
                _ => run::Mode::DryRun,
            };
            let file = load::config_file(config_path, words)?;
            // start and stop change the kernel: one at a time with hotplugs (dry runs
            // don't). Taken after validation, so a bad config is exit 2 whoever runs it.
            let take_lock = || match mode {
                run::Mode::DryRun => Ok(None),
                _ => lock::lock(&lock::path_for(cli.sim.as_deref(), cli.netns.as_deref())).map(Some),
            };
            // A converged system, checked from the cached compile of this very file.
            let mut held = None;
            let mut backend = None;
            if let Some(summary) = file
                .as_ref()
                .filter(|_| mode != run::Mode::Stop)
                .and_then(cache::load)
            {
                held = take_lock()?;
                let b = backend.insert(open().await?);
                if run::converged(&summary, b, mode, cli.json).await? {
                    return Ok(exit::OK);
                }
            }
            let started = std::time::Instant::now();
            let mut config = load::parse_config(file.as_ref(), words)?;
            tracing::debug!(
                "parsed and validated {} ({:.2} ms)",
                config.origin,
                started.elapsed().as_secs_f64() * 1000.0
            );
            if held.is_none() {
                held = take_lock()?;
            }
            let _lock = held;
            let mut backend = match backend {
                Some(b) => b,
                None => open().await?,
            };
            if file.is_none() && words.is_empty() {
                // No file, no words: the bridges brouter started in Xen mode, if any.
                if let Some(c) = run::remembered_xen_config(&mut backend).await {
                    config = c;
                }
            }
            run::run(&config, &mut backend, mode, cli.json, file.as_ref()).await?;
            Ok(exit::OK)
        }
        Command::Vif(args) => {
            let config = match config_path {
                Some(_) => Some(load::load_config(config_path, &[])?),
                None if std::path::Path::new(load::DEFAULT_CONFIG).exists() => {
                    Some(load::load_config(None, &[])?)
                }
                None => None,
            };
            let mut backend = open().await?;
            let lock = lock::path_for(cli.sim.as_deref(), cli.netns.as_deref());
            vif::vif(args, config.as_ref(), &mut backend, &lock, cli.json).await
        }
        Command::Explain(args) => {
            let config = load::load_config(config_path, &args.words)?;
            // The live system (uplink address, bindings, the other Xen bridges) refines the
            // answer when readable.
            let mut backend = open().await.ok();
            let config = run::host_config(config, &args.words, backend.as_mut()).await;
            explain::explain(&config, args, backend.as_mut(), cli.json).await
        }
        Command::Diagram(args) => {
            let config = load::load_config(config_path, &args.words)?;
            let mut backend = match args.config_only {
                true => None,
                false => open()
                    .await
                    .map_err(|e| eprintln!("brouter: diagram: {}; drawing from the config alone", e.message))
                    .ok(),
            };
            let config = run::host_config(config, &args.words, backend.as_mut()).await;
            diagram::diagram(&config, args, backend.as_mut()).await
        }
        Command::Status { words } => {
            let config = load::load_config(config_path, words)?;
            let mut backend = open().await?;
            let config = run::host_config(config, words, Some(&mut backend)).await;
            status::status(&config, &mut backend, cli.json).await
        }
    }
}
