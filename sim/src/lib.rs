//! brouter's simulator: an in-memory kernel behind the same `NetBackend` seam as the
//! real one, so every decision brouter makes can be exercised — and crashed at any
//! step — without root.

pub mod backend;
pub mod datapath;
pub mod fw_elements;
pub mod kernel;

pub use backend::{Fault, SimBackend};
pub use datapath::SimOutcome;
pub use kernel::{Kernel, SimAddress};
