//! Opening the real-kernel backend on the current or a named network namespace.

use brouter_backends::{NetlinkBackend, NetnsTarget};
use brouter_engine::NetBackend;

use crate::exit::Failure;

pub async fn open(netns: Option<&str>) -> Result<Box<dyn NetBackend>, Failure> {
    let target = match netns {
        Some(n) => NetnsTarget::Named(n.to_string()),
        None => NetnsTarget::Current,
    };
    let backend = NetlinkBackend::new(target)
        .await
        .map_err(|e| Failure::op(e.to_string()))?;
    Ok(Box::new(backend))
}
