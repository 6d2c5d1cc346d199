//! What brouter owns, found by its ownership marks alone (a bridge's `brouter:<network>`
//! ifalias, its own nftables tables, its notes in memory) rather than by a
//! configuration: so `stop` works when the config has become invalid or is gone
//! (`systemctl stop` must never be blocked by a typo), and `status` can name what it
//! sees that the config it compared against does not describe.

use brouter_engine::{plan_stop, Config, Observed, Scope};

use crate::args::Cli;
use crate::exit::{self, Failure};
use crate::load::Backend;
use crate::run::{self, Mode};

/// `stop` without a usable configuration (`why` says what was wrong with it): remove
/// everything that carries brouter's marks, say so on stderr, exit 0.
pub async fn stop(cli: &Cli, why: &Failure) -> Result<u8, Failure> {
    let _lock = run::take_lock(cli, Mode::Stop)?;
    let mut backend = run::open(cli).await?;
    stop_locked(&mut backend, why, cli.json).await
}

/// [`stop`] for a caller that already holds the lock and the backend.
pub async fn stop_locked(backend: &mut Backend, why: &Failure, json_out: bool) -> Result<u8, Failure> {
    eprintln!(
        "brouter: stop: {}\nbrouter: stop: stopping everything brouter owns here, found by its \
         ownership marks",
        why.message
    );
    let observed = backend
        .get()
        .observe()
        .await
        .map_err(|e| Failure::op(format!("cannot read the kernel state: {e}")))?;
    let plan = plan_stop(&Scope::All, &observed);
    run::execute(&plan, backend).await?;
    run::report(&plan, Mode::Stop, json_out, &[]);
    Ok(exit::OK)
}

/// One object brouter owns, as `status` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Owned {
    /// `bridge` or `firewall`.
    pub kind: &'static str,
    /// The bridge's name, or `inet/bridge brouter` for the tables.
    pub name: String,
    /// The network its mark names (bridges only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Whether the configuration compared against describes it.
    pub in_config: bool,
}

/// Every object in `observed` that carries brouter's marks, each with whether `config`
/// describes it.
pub fn owned(config: &Config, observed: &Observed) -> Vec<Owned> {
    let mut all: Vec<Owned> = observed
        .links
        .iter()
        .filter_map(|l| {
            l.owner().map(|network| Owned {
                kind: "bridge",
                name: l.name.clone(),
                network: Some(network.to_string()),
                in_config: config.networks.iter().any(|n| n.bridge == l.name),
            })
        })
        .collect();
    if observed.firewall.is_some() && observed.foreign_tables.is_empty() {
        all.push(Owned {
            kind: "firewall",
            name: "inet/bridge brouter".into(),
            network: None,
            in_config: true,
        });
    }
    all
}
