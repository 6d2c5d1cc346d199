//! Opening the real-kernel backend.

use brouter_engine::NetBackend;

use crate::exit::Failure;

pub fn open(netns: Option<&str>) -> Result<Box<dyn NetBackend>, Failure> {
    let _ = netns;
    Err(Failure::op(
        "the kernel backend is not available in this build; use --sim STATE.json".to_string(),
    ))
}
