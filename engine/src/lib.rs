//! brouter's engine: everything brouter *decides*, with no I/O.
//!
//! Data flow (see `docs/DESIGN.md`): a TOML file or Xen `VAR=VAL` words become a
//! validated [`Config`]; [`compile`] turns it into the [`Desired`] kernel state; a
//! backend reports what it [`Observed`]; [`plan_start`] / [`plan_stop`] compute the
//! ordered [`Op`]s between the two; [`apply`] drives any [`NetBackend`] through them.
//! Keeping all of that pure means the simulator and the kernel run the same decisions.

pub mod apply;
pub mod backend;
mod binding;
pub mod binding_memory;
pub mod config;
pub mod desired;
pub mod dhcp;
pub mod dhcp_lease;
pub mod diagram;
pub mod error;
pub mod firewall;
pub mod health;
pub mod model;
pub mod plan;
pub mod port_block;
pub mod readback;
pub mod routing;
pub mod sysctl_side;
pub mod vif;
pub mod vif_refuse;

pub use apply::{apply, ApplyError};
pub use backend::NetBackend;
pub use config::{Config, ConfigError, ConfigErrors};
pub use desired::{compile, xen_note_key, Desired};
pub use error::{BackendError, ErrorKind};
pub use model::*;
pub use plan::{plan_start, plan_stop, Op, Plan, PlanError, Scope};
