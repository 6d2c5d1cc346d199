//! brouter's memory: values it must restore later (a sysctl's value before brouter first
//! changed it, a foreign bridge it brought up), kept in `/run/brouter/<netns-id>/memory.json`.
//!
//! `/run` is emptied at boot, exactly when the remembered values stop meaning anything.
//! `<netns-id>` names the namespace by its kernel cookie, which is never reused while the
//! machine runs, so a new namespace that happens to get an old name does not inherit the
//! memory of a deleted one. `BROUTER_STATE_DIR` replaces `/run/brouter` (tests, no `/run`).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use brouter_engine::BackendError;

use crate::netlink::errors::from_io;

/// Where state lives unless `BROUTER_STATE_DIR` says otherwise.
pub const DEFAULT_STATE_DIR: &str = "/run/brouter";

/// The base state directory: `$BROUTER_STATE_DIR` or [`DEFAULT_STATE_DIR`].
pub fn state_base() -> PathBuf {
    match std::env::var_os("BROUTER_STATE_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(DEFAULT_STATE_DIR),
    }
}

/// The memory file of one namespace. Every call reads or rewrites the file, so two
/// brouter processes (a `start` and a vif hotplug) see each other's writes.
#[derive(Debug, Clone)]
pub struct Memory {
    path: PathBuf,
}

impl Memory {
    /// The memory of the namespace identified by `netns_id` (see [`crate::netns_id`]).
    pub fn for_namespace(netns_id: &str) -> Memory {
        Memory {
            path: state_base().join(netns_id).join("memory.json"),
        }
    }

    /// The file this memory is kept in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Everything remembered; empty if nothing was ever written.
    pub fn load(&self) -> Result<BTreeMap<String, String>, BackendError> {
        // A write a kill interrupted leaves a temporary file: the next command removes it.
        if let Some(dir) = self.path.parent() {
            crate::state_file::sweep(dir);
        }
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => {
                return Err(from_io(
                    &format!("read brouter's memory {}", self.path.display()),
                    &e,
                ))
            }
        };
        serde_json::from_str(&text).map_err(|e| {
            BackendError::new(
                brouter_engine::ErrorKind::Other,
                format!(
                    "brouter's memory {} is corrupt ({e}); fix or delete it (it only holds values to restore on stop)",
                    self.path.display()
                ),
            )
        })
    }

    /// Set (`Some`) or remove (`None`) one key, rewriting the file atomically.
    pub fn set(&self, key: &str, value: Option<&str>) -> Result<(), BackendError> {
        let mut map = self.load()?;
        let changed = match value {
            Some(v) => map.insert(key.to_string(), v.to_string()).as_deref() != Some(v),
            None => map.remove(key).is_some(),
        };
        if !changed {
            return Ok(());
        }
        self.store(&map)
            .map_err(|e| from_io(&format!("write brouter's memory {}", self.path.display()), &e))
    }

    /// Write atomically and durably ([`crate::state_file::write`]: temporary file,
    /// `fsync`, `rename`), so a kill of brouter leaves the old or the new file, never half
    /// of one, and no temporary file survives the next command. An empty memory removes the
    /// file (and its directory, if empty).
    fn store(&self, map: &BTreeMap<String, String>) -> io::Result<()> {
        let dir = self.path.parent().expect("memory path has a directory");
        if map.is_empty() {
            match fs::remove_file(&self.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            crate::state_file::sweep(dir);
            let _ = fs::remove_dir(dir);
            return Ok(());
        }
        let mut text = serde_json::to_string_pretty(map).map_err(io::Error::other)?;
        text.push('\n');
        crate::state_file::write(&self.path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_memory(tag: &str) -> (PathBuf, Memory) {
        let dir = std::env::temp_dir().join(format!("brouter-mem-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let m = Memory {
            path: dir.join("ns").join("memory.json"),
        };
        (dir, m)
    }

    #[test]
    fn remembered_values_survive_a_reload_and_forget_removes_them() {
        let (dir, m) = temp_memory("rt");
        assert!(m.load().unwrap().is_empty());
        m.set("sysctl:net.ipv4.ip_forward", Some("0")).unwrap();
        m.set("link-up:br0", Some("down")).unwrap();
        let again = Memory {
            path: m.path().to_path_buf(),
        };
        assert_eq!(
            again
                .load()
                .unwrap()
                .get("sysctl:net.ipv4.ip_forward")
                .map(String::as_str),
            Some("0")
        );
        again.set("sysctl:net.ipv4.ip_forward", None).unwrap();
        again.set("link-up:br0", None).unwrap();
        assert!(m.load().unwrap().is_empty());
        assert!(!m.path().exists(), "an empty memory leaves no file behind");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_corrupt_file_is_reported_with_its_path() {
        let (dir, m) = temp_memory("bad");
        fs::create_dir_all(m.path().parent().unwrap()).unwrap();
        fs::write(m.path(), "{not json").unwrap();
        let e = m.load().unwrap_err();
        assert!(
            e.message.contains("memory.json") && e.message.contains("corrupt"),
            "{}",
            e.message
        );
        let _ = fs::remove_dir_all(dir);
    }
}
