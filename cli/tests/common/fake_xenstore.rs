//! A fake `xenstore-read` / `xenstore-write` pair for driving the vif hook as xl does.
//!
//! The two scripts keep the store as files under `store/` (one file per key, the key's
//! slashes as directories) and append every call to `calls.log`, so a test can both seed
//! what Xen would have written (`mac`, `bridge`, …) and check what the hook reported
//! (`hotplug-status`, `hotplug-error`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub struct FakeXenstore {
    bin: PathBuf,
    store: PathBuf,
    log: PathBuf,
}

impl FakeXenstore {
    /// Create the scripts and an empty store under `root`.
    pub fn new(root: &Path) -> FakeXenstore {
        let bin = root.join("bin");
        let store = root.join("store");
        let log = root.join("calls.log");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&store).unwrap();
        std::fs::write(&log, "").unwrap();
        let (s, l) = (store.display(), log.display());
        let read = format!(
            "#!/bin/sh\n\
             echo \"xenstore-read $*\" >> '{l}'\n\
             if [ ! -f '{s}'/\"$1\" ]; then echo \"xenstore-read: couldn't read path $1\" >&2; exit 1; fi\n\
             cat '{s}'/\"$1\"\n"
        );
        let write = format!(
            "#!/bin/sh\n\
             echo \"xenstore-write $*\" >> '{l}'\n\
             while [ $# -ge 2 ]; do\n\
             mkdir -p \"$(dirname '{s}'/\"$1\")\"\n\
             printf '%s\\n' \"$2\" > '{s}'/\"$1\"\n\
             shift 2\n\
             done\n"
        );
        for (name, text) in [("xenstore-read", read), ("xenstore-write", write)] {
            let p = bin.join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        FakeXenstore { bin, store, log }
    }

    /// The directory to put first on the hook's PATH.
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// Seed a key, as the toolstack would (`backend/vif/7/0/bridge`).
    pub fn set(&self, key: &str, value: &str) {
        let p = self.store.join(key);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, format!("{value}\n")).unwrap();
    }

    /// A key's value, `None` if nobody wrote it.
    pub fn get(&self, key: &str) -> Option<String> {
        std::fs::read_to_string(self.store.join(key))
            .ok()
            .map(|v| v.trim_end_matches('\n').to_string())
    }

    /// Every call so far, one per line (`xenstore-write backend/vif/7/0/hotplug-status connected`).
    pub fn calls(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}
