//! brouter's nftables tables (`inet brouter`, `bridge brouter`): apply, read back, delete.
//!
//! Placeholder until the firewall work lands: the netlink backend calls these three
//! functions, so the seam is fixed now.

use brouter_engine::firewall::Ruleset;
use brouter_engine::BackendError;

use crate::NetnsTarget;

/// The fingerprint stored with brouter's tables, or `None` if they do not exist.
pub fn read_fingerprint(_target: &NetnsTarget) -> Result<Option<String>, BackendError> {
    Ok(None)
}

/// Replace brouter's tables with `ruleset` in one transaction.
pub fn replace(_target: &NetnsTarget, _ruleset: &Ruleset) -> Result<(), BackendError> {
    Ok(())
}

/// Delete brouter's tables if they exist; nothing else.
pub fn delete(_target: &NetnsTarget) -> Result<(), BackendError> {
    Ok(())
}
