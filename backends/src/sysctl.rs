//! The sysctls of the target namespace, read and written through `/proc/sys`.
//!
//! `/proc/sys/net/...` shows the namespace of the thread that *opens* it, and an open file
//! keeps pointing at that namespace's value whichever thread reads it later. So each key's
//! file is opened once, on a thread inside the namespace, and kept: reading a sysctl in
//! `observe()` costs one `pread`, not a thread and a `setns`. (`/sys/class/net` would show
//! the root namespace: never used here, see FIELD-NOTES.)

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use brouter_engine::{BackendError, ErrorKind, IP_FORWARD};

use crate::netlink::errors::from_io;
use crate::NetnsTarget;

/// The sysctls brouter manages: always reported by `observe()`.
pub const MANAGED: &[&str] = &[IP_FORWARD];

/// `net.ipv4.ip_forward` → `/proc/sys/net/ipv4/ip_forward`, refusing keys that would
/// escape `/proc/sys` (a key comes from brouter's own plan, but a typo must not write
/// some other file).
pub fn proc_path(key: &str) -> Result<PathBuf, BackendError> {
    // sysctl(8) writes a dot inside one component (an interface `vif1.0`) as `/`.
    let parts: Vec<String> = key.split('.').map(|p| p.replace('/', ".")).collect();
    let bad = parts.iter().any(|p| p.is_empty() || p.starts_with('.'));
    if bad {
        return Err(BackendError::new(
            ErrorKind::Invalid,
            format!("sysctl {key:?} is not a dotted sysctl name like net.ipv4.ip_forward"),
        ));
    }
    Ok(PathBuf::from("/proc/sys").join(parts.join("/")))
}

/// An open sysctl file and whether it was opened for writing.
#[derive(Debug)]
struct Entry {
    file: File,
    writable: bool,
}

/// Open sysctl files of one namespace, by dotted key.
#[derive(Debug)]
pub struct Sysctls {
    target: NetnsTarget,
    files: HashMap<String, Entry>,
}

impl Sysctls {
    /// Open the [`MANAGED`] sysctls. Must run on a thread inside `target`'s namespace.
    pub fn open_here(target: NetnsTarget) -> Result<Sysctls, BackendError> {
        let mut files = HashMap::new();
        for key in MANAGED {
            files.insert(key.to_string(), open_entry(key, true)?);
        }
        Ok(Sysctls { target, files })
    }

    /// The current value of `key`, trimmed (`"1"`).
    pub fn read(&mut self, key: &str) -> Result<String, BackendError> {
        let entry = self.entry(key, false)?;
        let mut buf = [0u8; 256];
        let n = entry
            .file
            .read_at(&mut buf, 0)
            .map_err(|e| from_io(&format!("read sysctl {key}"), &e))?;
        Ok(String::from_utf8_lossy(&buf[..n]).trim().to_string())
    }

    /// The values of those of `keys` that exist (an interface's key disappears with the
    /// interface), opening the files not open yet in one trip into the namespace.
    pub fn read_present(&mut self, keys: &BTreeSet<String>) -> BTreeMap<String, String> {
        let mut values = BTreeMap::new();
        let mut reopen = Vec::new();
        for k in keys {
            // A file opened earlier may belong to an interface deleted (and maybe made
            // again) since: a failed read is retried on a freshly opened file.
            match self.files.contains_key(k).then(|| self.read(k)) {
                Some(Ok(v)) => {
                    values.insert(k.clone(), v);
                }
                _ => {
                    self.files.remove(k);
                    reopen.push(k.clone());
                }
            }
        }
        if reopen.is_empty() {
            return values;
        }
        let opened = self.target.run(move || {
            reopen
                .into_iter()
                .filter_map(|k| open_entry(&k, false).ok().map(|e| (k, e)))
                .collect::<Vec<_>>()
        });
        for (k, e) in opened.unwrap_or_default() {
            self.files.insert(k.clone(), e);
            if let Ok(v) = self.read(&k) {
                values.insert(k, v);
            }
        }
        values
    }

    /// Write `value` to `key` in the target namespace.
    pub fn write(&mut self, key: &str, value: &str) -> Result<(), BackendError> {
        if self.write_once(key, value).is_ok() {
            return Ok(());
        }
        // The file may belong to an interface that was deleted and made again: reopen.
        self.files.remove(key);
        self.write_once(key, value)
    }

    fn write_once(&mut self, key: &str, value: &str) -> Result<(), BackendError> {
        let entry = self.entry(key, true)?;
        let line = format!("{value}\n");
        entry
            .file
            .write_at(line.as_bytes(), 0)
            .map(|_| ())
            .map_err(|e| from_io(&format!("set sysctl {key} = {value}"), &e))
    }

    /// The open file for `key`, opening (or reopening for writing) it inside the namespace.
    fn entry(&mut self, key: &str, write: bool) -> Result<&Entry, BackendError> {
        let usable = self.files.get(key).is_some_and(|e| e.writable || !write);
        if !usable {
            let k = key.to_string();
            let entry = self
                .target
                .run(move || open_entry(&k, write))
                .map_err(|e| from_io(&format!("sysctl {key}: enter network namespace"), &e))??;
            if write && !entry.writable {
                return Err(BackendError::new(
                    ErrorKind::Permission,
                    format!("set sysctl {key}: permission denied: run as root"),
                ));
            }
            self.files.insert(key.to_string(), entry);
        }
        Ok(&self.files[key])
    }
}

/// Open `key` read-write, or read-only when writing is refused (an unprivileged
/// `brouter status` still reads). Runs in the caller's namespace.
fn open_entry(key: &str, want_write: bool) -> Result<Entry, BackendError> {
    let path = proc_path(key)?;
    if want_write {
        match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(file) => return Ok(Entry { file, writable: true }),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {}
            Err(e) => return Err(open_error(key, &e)),
        }
    }
    File::open(&path)
        .map(|file| Entry {
            file,
            writable: false,
        })
        .map_err(|e| open_error(key, &e))
}

fn open_error(key: &str, e: &io::Error) -> BackendError {
    if e.kind() == io::ErrorKind::NotFound {
        return BackendError::new(
            ErrorKind::Unsupported,
            format!(
                "sysctl {key} does not exist on this kernel (no {})",
                proc_path(key).unwrap_or_default().display()
            ),
        );
    }
    from_io(&format!("open sysctl {key}"), e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_keys_map_to_proc_sys() {
        assert_eq!(
            proc_path("net.ipv4.ip_forward").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            proc_path("net.ipv4.conf.vif1/0.forwarding").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/conf/vif1.0/forwarding")
        );
    }

    #[test]
    fn keys_that_escape_proc_sys_are_refused() {
        for key in [
            "net..ipv4",
            "net.ipv4/../../etc",
            "",
            "..",
            "net.ipv4.",
            "net./",
            "net.ipv4./x",
        ] {
            assert_eq!(proc_path(key).unwrap_err().kind, ErrorKind::Invalid, "{key}");
        }
    }
}
