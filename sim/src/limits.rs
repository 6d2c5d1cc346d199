//! The kernel's limits brouter can run into, as the simulator enforces them.
//!
//! Each is measured on the kernel (integration/tests/differential.rs holds the sim to
//! it): a bridge takes at most 1,023 ports (BR_MAX_PORTS is 1,024 port numbers, number 0
//! reserved), the next attach is EXFULL; an interface name has at most 15 bytes
//! (ENAMETOOLONG, checked by every backend with `check_ifname`); and kernels before 6.2
//! refuse to rename a link that is up (EBUSY) — Linux 6.2 and later rename it, which is
//! the default here because the kernels brouter is tested on do.

use brouter_engine::{BackendError, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::kernel::Kernel;

/// Ports one bridge can have (br_if.c: find_portno over BR_MAX_PORTS, 0 reserved).
pub const BRIDGE_MAX_PORTS: usize = 1023;

/// Which kernel the simulator behaves as, where kernels differ.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelQuirks {
    /// Renaming a link that is up fails with EBUSY (Linux before 6.2).
    #[serde(default)]
    pub rename_up_is_busy: bool,
}

impl Kernel {
    /// EXFULL when `bridge` already has [`BRIDGE_MAX_PORTS`] ports.
    pub(crate) fn check_port_room(&self, bridge: &str) -> Result<(), BackendError> {
        let ports = self
            .links
            .values()
            .filter(|l| l.master.as_deref() == Some(bridge))
            .count();
        if ports >= BRIDGE_MAX_PORTS {
            return Err(BackendError::new(
                ErrorKind::Full,
                format!("bridge {bridge} has {ports} ports, the kernel's most"),
            ));
        }
        Ok(())
    }

    /// EBUSY for renaming an up link, on a kernel that refuses it.
    pub(crate) fn check_rename_allowed(&self, link: &str) -> Result<(), BackendError> {
        let up = self.links.get(link).is_some_and(|l| l.up);
        if up && self.quirks.rename_up_is_busy {
            return Err(BackendError::new(
                ErrorKind::Busy,
                format!("cannot rename {link}: it is up (take it down first)"),
            ));
        }
        Ok(())
    }
}
