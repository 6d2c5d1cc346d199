//! Which configuration a command runs with, and which backend it drives.

use std::path::{Path, PathBuf};

use brouter_engine::{config, Config, NetBackend};
use brouter_sim::SimBackend;

use crate::exit::Failure;

/// The default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/brouter/brouter.toml";

/// A configuration file as read: where from, and its text.
pub struct ConfigFile {
    pub path: PathBuf,
    pub text: String,
}

/// The config file that applies (given, or present at the default place), read; `None`
/// when the Xen `VAR=VAL` words apply instead.
pub fn config_file(explicit: Option<&Path>, words: &[String]) -> Result<Option<ConfigFile>, Failure> {
    let file: Option<PathBuf> = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from(DEFAULT_CONFIG)).filter(|p| p.exists()),
    };
    let Some(path) = file else { return Ok(None) };
    if !words.is_empty() {
        return Err(Failure::usage(format!(
            "{}: VAR=VAL words ({}) apply only without a config file; put the settings in the file \
             or drop --config",
            path.display(),
            words.join(" ")
        )));
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Failure::usage(format!("{}: cannot read the config file: {e}", path.display())))?;
    Ok(Some(ConfigFile { path, text }))
}

/// Parse and validate: the file, or else the Xen words.
pub fn parse_config(file: Option<&ConfigFile>, words: &[String]) -> Result<Config, Failure> {
    match file {
        Some(f) => config::from_toml(&f.text, &f.path.display().to_string()).map_err(Failure::config),
        None => {
            // Xen's scripts take any VAR=VAL word; brouter ignores the ones it does not
            // use, but says so (a typo would otherwise fall back to a default silently).
            for w in config::ignored_xen_words(words) {
                eprintln!("brouter: warning: {w}");
            }
            config::from_xen_words(words).map_err(Failure::config)
        }
    }
}

/// The config file if one is given or present, else the Xen `VAR=VAL` words.
pub fn load_config(explicit: Option<&Path>, words: &[String]) -> Result<Config, Failure> {
    let file = config_file(explicit, words)?;
    parse_config(file.as_ref(), words)
}

/// The backend a command drives: the simulator (`--sim`) or the kernel.
pub enum Backend {
    Sim { backend: Box<SimBackend>, path: PathBuf },
    Kernel(Box<dyn NetBackend>),
}

impl Backend {
    pub async fn open(sim: Option<&Path>, netns: Option<&str>) -> Result<Backend, Failure> {
        if let Some(path) = sim {
            let backend = SimBackend::load(path).map_err(|e| Failure::op(e.to_string()))?;
            return Ok(Backend::Sim {
                backend: Box::new(backend),
                path: path.to_path_buf(),
            });
        }
        crate::kernel::open(netns).await.map(Backend::Kernel)
    }

    pub fn get(&mut self) -> &mut dyn NetBackend {
        match self {
            Backend::Sim { backend, .. } => backend.as_mut(),
            Backend::Kernel(b) => b.as_mut(),
        }
    }

    /// Persist the simulator's state (the kernel needs no saving).
    pub fn finish(&self) -> Result<(), Failure> {
        match self {
            Backend::Sim { backend, path } => backend.save(path).map_err(|e| Failure::op(e.to_string())),
            Backend::Kernel(_) => Ok(()),
        }
    }
}
