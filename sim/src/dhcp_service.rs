//! brouter's dnsmasq as the simulator keeps it: a process that runs or not, the options
//! it was started with, the files in its directory, and what it has loaded from them —
//! so the property tests cover DHCP configs (start, reload, restart, a killed process,
//! a crash between writing the files and the SIGHUP) the way they cover bridges.

use std::collections::BTreeMap;

use brouter_engine::dhcp::{files_digest, ObservedDhcp};
use brouter_engine::{BackendError, ErrorKind};
use serde::{Deserialize, Serialize};

/// The dnsmasq of one simulated namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimDhcp {
    /// The process, if it runs: its pid (a new one at every start).
    pub pid: Option<u32>,
    /// The options it was started with.
    pub options: Vec<String>,
    /// The files in brouter's directory.
    pub files: BTreeMap<String, String>,
    /// The stamp brouter wrote after the last start or reload.
    pub loaded: Option<String>,
    /// What the process serves: the files as they were at its last start or SIGHUP.
    pub serving: BTreeMap<String, String>,
    /// How many times a process was started (a reload is not a start).
    pub starts: u32,
}

impl SimDhcp {
    pub fn observe(&self) -> ObservedDhcp {
        ObservedDhcp {
            pid: self.pid,
            options: if self.pid.is_some() {
                self.options.clone()
            } else {
                Vec::new()
            },
            files: self.files.clone(),
            loaded: self.loaded.clone(),
        }
    }

    pub fn write_files(&mut self, files: &BTreeMap<String, String>) {
        self.files = files.clone();
    }

    /// Start (ending the running one first), loading the files as they are.
    pub fn start(&mut self, options: &[String], digest: &str) {
        self.starts += 1;
        self.pid = Some(1000 + self.starts);
        self.options = options.to_vec();
        self.serving = self.files.clone();
        self.loaded = Some(digest.to_string());
    }

    /// SIGHUP: the running process re-reads its files.
    pub fn reload(&mut self, digest: &str) -> Result<(), BackendError> {
        if self.pid.is_none() {
            return Err(BackendError::new(
                ErrorKind::Other,
                "dnsmasq is not running: nothing to reload",
            ));
        }
        self.serving = self.files.clone();
        self.loaded = Some(digest.to_string());
        Ok(())
    }

    /// Somebody (the OOM killer, an admin) ended the process; its files stay.
    pub fn kill(&mut self) {
        self.pid = None;
    }

    /// Whether it serves what its files say (the stamp is honest).
    pub fn serves_its_files(&self) -> bool {
        self.pid.is_some()
            && self.serving == self.files
            && self.loaded.as_deref() == Some(&files_digest(&self.files))
    }
}
