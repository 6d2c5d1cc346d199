//! brouter's FRR as the simulator keeps it: two daemons that run or not, the `frr.conf`
//! in its directory, the stamp brouter wrote, and the config the daemons hold — so the
//! property tests cover EVPN configs (start, a change of sessions in place, a restart, a
//! killed daemon, a kill between writing the file and applying it).

use brouter_engine::routing::{config_digest, ObservedRouting};
use brouter_engine::{BackendError, ErrorKind};
use serde::{Deserialize, Serialize};

/// The FRR of one simulated namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimRouting {
    pub zebra: Option<u32>,
    pub bgpd: Option<u32>,
    /// `frr.conf` on disk.
    pub config: Option<String>,
    /// The stamp brouter wrote after the last start or change in place.
    pub loaded: Option<String>,
    /// The config the daemons hold.
    pub serving: Option<String>,
    /// How many times the daemons were started (a change in place is not a start).
    pub starts: u32,
}

impl SimRouting {
    pub fn observe(&self) -> ObservedRouting {
        ObservedRouting {
            zebra: self.zebra,
            bgpd: self.bgpd,
            config: self.config.clone(),
            loaded: self.loaded.clone(),
            sessions: Vec::new(),
        }
    }

    /// Start both daemons (ending the running ones first) with `config`.
    pub fn start(&mut self, config: &str, digest: &str) {
        self.starts += 1;
        self.zebra = Some(2000 + 2 * self.starts);
        self.bgpd = Some(2001 + 2 * self.starts);
        self.config = Some(config.to_string());
        self.serving = Some(config.to_string());
        self.loaded = Some(digest.to_string());
    }

    /// Write `config`, then change the running daemons to it in place.
    pub fn reload(&mut self, config: &str, digest: &str) -> Result<(), BackendError> {
        self.config = Some(config.to_string());
        if self.zebra.is_none() || self.bgpd.is_none() {
            return Err(BackendError::new(
                ErrorKind::Other,
                "FRR is not running: nothing to reconfigure",
            ));
        }
        self.serving = Some(config.to_string());
        self.loaded = Some(digest.to_string());
        Ok(())
    }

    /// Somebody ended bgpd (the OOM killer, an admin); zebra and the files stay.
    pub fn kill_bgpd(&mut self) {
        self.bgpd = None;
        self.serving = None;
    }

    /// Whether the daemons run what the file says (the stamp is honest).
    pub fn serves_its_config(&self) -> bool {
        self.zebra.is_some()
            && self.bgpd.is_some()
            && self.serving == self.config
            && self.loaded == self.config.as_deref().map(config_digest)
    }
}
