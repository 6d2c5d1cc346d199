//! brouter's simulator: an in-memory kernel behind the same `NetBackend` seam as the
//! real one, so every decision brouter makes can be exercised — and crashed at any
//! step — without root.

pub mod backend;
pub mod datapath;
pub mod dhcp_service;
pub mod drift;
pub mod fw_elements;
pub mod ipv6;
pub mod kernel;
pub mod limits;
pub mod routing_service;
pub mod second_writer;
pub mod vxlan;

pub use backend::{Fault, SimBackend};
pub use datapath::SimOutcome;
pub use drift::{Family, FirewallDrift};
pub use kernel::{Kernel, SimAddress};
pub use second_writer::ForeignEdit;
