//! A fake xenstore for driving vif hooks as libxl does, without a hypervisor: the
//! `xenstore-read`, `-write`, `-list`, `-exists` and `-rm` tools as sh scripts over a
//! directory tree, with the real tools' calling conventions.
//!
//! - Paths are relative to the dom0's home `/local/domain/0` (what libxl's relative
//!   `XENBUS_PATH=backend/vif/7/0` means) or absolute; the tree holds them absolute, so
//!   `backend/vif/7/0/mtu` and `/local/domain/0/backend/vif/7/0/mtu` are one key.
//! - `xenstore-read P...` prints one value per line and fails on the first missing path;
//!   `xenstore-write P V [P V]...` writes pairs; `xenstore-list P` prints the children.
//! - Every call is appended to `calls.log`; [`FakeXenstore::fail_writes`] makes every
//!   later write fail, as a dead xenstored would.
//!
//! Xen's own scripts put `/usr/bin` (where xenstore-utils installs the real tools) before
//! the caller's PATH, so for them the tools are also given as exported bash functions
//! ([`FakeXenstore::bash_functions`]), which bash resolves before any PATH lookup.
//!
//! The same tree is also served over xenstore's wire protocol by a fake xenstored
//! ([`FakeXenstore::serve_socket`], `crate::fake_xenstored`), as libxenstore (Xen's own
//! tools, libxl) and brouter's hook find one through `XENSTORED_PATH`. A hook given
//! [`FakeXenstore::xenstored_path`] talks to that fake when it runs, and uses the tools
//! otherwise — never a real xenstored of the host running the tests.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::fake_xenstored::Server;

pub struct FakeXenstore {
    bin: PathBuf,
    store: PathBuf,
    log: PathBuf,
    /// The fake xenstored, once [`FakeXenstore::serve_socket`] started it; stopped on drop.
    server: Mutex<Option<Server>>,
}

/// The tool names, in the order the scripts are written.
pub const TOOLS: &[&str] = &[
    "xenstore-read",
    "xenstore-write",
    "xenstore-list",
    "xenstore-exists",
    "xenstore-rm",
];

impl FakeXenstore {
    /// Create the tools and an empty store under `root`.
    pub fn new(root: &Path) -> FakeXenstore {
        let bin = root.join("bin");
        let store = root.join("store");
        let log = root.join("calls.log");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&store).unwrap();
        std::fs::write(&log, "").unwrap();
        let (s, l) = (store.display(), log.display());
        let fail = root.join("fail-writes");
        let f = fail.display();
        // `key P`: the file of path P in the store.
        let common = format!(
            "#!/bin/sh\n\
             echo \"$(basename \"$0\") $*\" >> '{l}'\n\
             key() {{ case \"$1\" in /*) echo '{s}'\"$1\" ;; *) echo '{s}/local/domain/0/'\"$1\" ;; esac; }}\n"
        );
        let read = format!(
            "{common}\
             for p in \"$@\"; do\n\
             k=$(key \"$p\")\n\
             if [ ! -f \"$k\" ]; then echo \"xenstore-read: couldn't read path $p\" >&2; exit 1; fi\n\
             cat \"$k\"\n\
             done\n"
        );
        let write = format!(
            "{common}\
             if [ -e '{f}' ]; then echo 'xenstore-write: could not write path' >&2; exit 1; fi\n\
             if [ $# -eq 0 ] || [ $(($# % 2)) -ne 0 ]; then echo 'Usage: xenstore-write key value [key value ...]' >&2; exit 2; fi\n\
             while [ $# -ge 2 ]; do\n\
             k=$(key \"$1\")\n\
             mkdir -p \"$(dirname \"$k\")\"\n\
             printf '%s\\n' \"$2\" > \"$k\"\n\
             shift 2\n\
             done\n"
        );
        let list = format!(
            "{common}\
             k=$(key \"$1\")\n\
             if [ ! -d \"$k\" ]; then echo \"xenstore-list: couldn't list path $1\" >&2; exit 1; fi\n\
             ls -1 \"$k\"\n"
        );
        let exists = format!(
            "{common}\
             for p in \"$@\"; do k=$(key \"$p\"); [ -e \"$k\" ] || exit 1; done\n"
        );
        let rm = format!(
            "{common}\
             for p in \"$@\"; do rm -rf \"$(key \"$p\")\"; done\n"
        );
        for (name, text) in TOOLS.iter().zip([read, write, list, exists, rm]) {
            write_script(&bin.join(name), &text);
        }
        FakeXenstore {
            bin,
            store,
            log,
            server: Mutex::new(None),
        }
    }

    /// Where the fake xenstored listens once started, for a hook's `XENSTORED_PATH`: with
    /// no server (nothing there), the hook falls back to the tools on its PATH.
    pub fn xenstored_path(&self) -> PathBuf {
        self.store.parent().unwrap().join("xenstored.sock")
    }

    /// Start the fake xenstored on [`FakeXenstore::xenstored_path`] (once; later calls
    /// return the same socket), serving this store until the `FakeXenstore` is dropped.
    pub fn serve_socket(&self) -> PathBuf {
        let mut server = self.server.lock().unwrap();
        let root = self.store.parent().unwrap();
        server
            .get_or_insert_with(|| {
                Server::start(
                    &self.xenstored_path(),
                    &self.store,
                    &self.log,
                    &root.join("fail-writes"),
                )
            })
            .socket()
            .to_path_buf()
    }

    /// Make every tool fail (exit 1, still logged): a hook that should speak the wire
    /// protocol to [`FakeXenstore::serve_socket`]'s server must not spawn any.
    pub fn break_tools(&self) {
        let l = self.log.display();
        let text = format!(
            "#!/bin/sh\n\
             echo \"$(basename \"$0\") $*\" >> '{l}'\n\
             echo \"$(basename \"$0\"): the test forbids the tools\" >&2\n\
             exit 1\n"
        );
        for name in TOOLS {
            write_script(&self.bin.join(name), &text);
        }
    }

    /// Replace the sh tools by copies of `exe`, a compiled program that acts as the tool
    /// it is named after (the bench's `fake-xenstore-tool`, same store, log and failure
    /// switch): a fake as quick to start as the real C tools.
    pub fn use_compiled_tools(&self, exe: &Path) {
        for name in TOOLS {
            let p = self.bin.join(name);
            std::fs::remove_file(&p).unwrap();
            std::fs::copy(exe, &p).unwrap();
        }
    }

    /// The directory to put first on the hook's PATH.
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// The tools as exported bash functions (`BASH_FUNC_xenstore-read%%`, …) calling the
    /// scripts: a bash script (Xen's vif-bridge) then uses them whatever its PATH says.
    pub fn bash_functions(&self) -> Vec<(String, String)> {
        TOOLS
            .iter()
            .map(|t| {
                (
                    format!("BASH_FUNC_{t}%%"),
                    format!("() {{ '{}' \"$@\"\n}}", self.bin.join(t).display()),
                )
            })
            .collect()
    }

    /// Where a key lives in the tree.
    fn file(&self, key: &str) -> PathBuf {
        node_file(&self.store, key)
    }

    /// Seed a key, as the toolstack would (`backend/vif/7/0/bridge`).
    pub fn set(&self, key: &str, value: &str) {
        let p = self.file(key);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, format!("{value}\n")).unwrap();
    }

    /// A key's value, `None` if nobody wrote it.
    pub fn get(&self, key: &str) -> Option<String> {
        std::fs::read_to_string(self.file(key))
            .ok()
            .map(|v| v.trim_end_matches('\n').to_string())
    }

    /// Every key under `dir` with its value, sorted (`mtu=1400` style lines, keys
    /// relative to `dir`): what a hook left, to compare two hooks' effects.
    pub fn dump(&self, dir: &str) -> Vec<(String, String)> {
        let root = self.file(dir);
        let mut out = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let k = p.strip_prefix(&root).unwrap().display().to_string();
                    let v = std::fs::read_to_string(&p).unwrap_or_default();
                    out.push((k, v.trim_end_matches('\n').to_string()));
                }
            }
        }
        out.sort();
        out
    }

    /// Make every later `xenstore-write` fail, and every change through the fake
    /// xenstored (`EACCES`).
    pub fn fail_writes(&self) {
        std::fs::write(self.store.parent().unwrap().join("fail-writes"), "").unwrap();
    }

    /// Every call so far, one per line (`xenstore-write backend/vif/7/0/hotplug-status
    /// connected`; through the fake xenstored `xs-wire READ backend/vif/7/0/mac`).
    pub fn calls(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

/// The file of key `key` in the tree `store`: an absolute key from the root, a relative
/// one under the dom0's home `/local/domain/0` — the convention the tools, the fake
/// xenstored and the tests share.
pub(crate) fn node_file(store: &Path, key: &str) -> PathBuf {
    match key.strip_prefix('/') {
        Some(abs) => store.join(abs),
        None => store.join("local/domain/0").join(key),
    }
}

/// Write an executable script.
fn write_script(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
