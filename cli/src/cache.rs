//! The compiled-configuration cache that makes a converged `start` cheap.
//!
//! Config-management runs call `start` every few minutes; with thousands of forwards,
//! parsing and compiling the file costs far more than finding that nothing changed. So
//! after a successful compile brouter keeps the [`Desired::summary`] (everything but the
//! ruleset, whose fingerprint stands in for it) keyed by a digest of the file's bytes
//! and of the brouter binary itself. A later `start` of the same file by the same binary
//! plans from the summary; only when that plan is not empty — something drifted, or the
//! tables must be rewritten — does it parse and compile the file again. A cache that
//! cannot be read or written is simply not used.

use std::path::{Path, PathBuf};

use brouter_engine::firewall::digest64;
use brouter_engine::{Config, Desired};
use serde::{Deserialize, Serialize};

use crate::load::ConfigFile;

#[derive(Serialize, Deserialize)]
struct Entry {
    key: String,
    desired: Desired,
    /// The digest of the tables this compile installs (see `readback`): without it the
    /// fingerprint alone proves nothing.
    #[serde(default)]
    firewall_digest: Option<u64>,
}

fn dir() -> PathBuf {
    std::env::var_os("BROUTER_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/brouter"))
        .join("compiled")
}

/// One cache file per config path.
fn path_for(file: &ConfigFile) -> PathBuf {
    dir().join(format!(
        "{:016x}.json",
        digest64(file.path.display().to_string().as_bytes())
    ))
}

/// Digest of the file's bytes, brouter's version and the running binary (size, mtime):
/// an upgraded brouter may compile the same file differently.
fn key(file: &ConfigFile) -> String {
    let exe = std::env::current_exe().ok().and_then(|p| p.metadata().ok());
    let stamp = exe
        .map(|m| {
            let t = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            format!("{}:{}", m.len(), t.map(|d| d.as_nanos()).unwrap_or(0))
        })
        .unwrap_or_default();
    format!(
        "{:016x}-{}-{}",
        digest64(file.text.as_bytes()),
        env!("CARGO_PKG_VERSION"),
        digest64(stamp.as_bytes())
    )
}

/// The summary compiled from exactly this file by this binary, if kept, and the digest
/// of the tables it installs.
pub fn load(file: &ConfigFile) -> Option<(Desired, Option<u64>)> {
    let text = std::fs::read_to_string(path_for(file)).ok()?;
    let entry: Entry = serde_json::from_str(&text).ok()?;
    (entry.key == key(file)).then_some((entry.desired, entry.firewall_digest))
}

/// Keep the summary of `desired`, compiled from `file`, with the digest of the tables it
/// installs (best effort, atomic).
pub fn store(file: &ConfigFile, desired: &Desired, firewall_digest: Option<u64>) {
    let entry = Entry {
        key: key(file),
        desired: desired.summary(),
        firewall_digest,
    };
    let path = path_for(file);
    let _ = write_atomic(&path, &serde_json::to_string(&entry).unwrap_or_default());
}

/// The configuration parsed and validated from the file, kept beside its compile for
/// `status`, which reports the file's networks, forwards and policies: reading it back is
/// cheaper than parsing and validating 645 KB of TOML again. A file of its own, so a
/// converged `start` does not read it.
#[derive(Serialize, Deserialize)]
struct ConfigEntry {
    key: String,
    config: Config,
}

fn config_path_for(file: &ConfigFile) -> PathBuf {
    path_for(file).with_extension("config.json")
}

/// Keep `config`, parsed and validated from `file` (best effort, atomic).
pub fn store_config(file: &ConfigFile, config: &Config) {
    #[derive(Serialize)]
    struct Borrowed<'a> {
        key: String,
        config: &'a Config,
    }
    let entry = Borrowed {
        key: key(file),
        config,
    };
    let _ = write_atomic(
        &config_path_for(file),
        &serde_json::to_string(&entry).unwrap_or_default(),
    );
}

/// The configuration parsed and validated from exactly this file by this binary, if
/// kept: a file that parsed once parses the same again.
pub fn load_config(file: &ConfigFile) -> Option<Config> {
    let text = std::fs::read_to_string(config_path_for(file)).ok()?;
    let entry: ConfigEntry = serde_json::from_str(&text).ok()?;
    (entry.key == key(file)).then_some(entry.config)
}

fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    brouter_backends::state_file::write(path, text.as_bytes())
}
