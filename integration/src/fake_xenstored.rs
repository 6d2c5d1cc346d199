//! A fake xenstored: the xenstore wire protocol (Xen's `xen/include/public/io/xs_wire.h`)
//! on a Unix stream socket, over the directory tree of [`crate::fake_xenstore`], so that
//! whatever speaks the protocol — libxenstore's tools with `XENSTORED_PATH` set to the
//! socket, brouter's own client — sees the same store as the fake tools.
//!
//! The tree's conventions: a node with a value is a file holding `<value>\n`, a node with
//! children a directory; a path is absolute or relative to the dom0's home
//! `/local/domain/0` (as xenstored resolves it for a connection of domain 0).
//!
//! Served: XS_DIRECTORY, XS_READ, XS_WRITE, XS_MKDIR, XS_RM, XS_GET_PERMS (every node is
//! dom0's: `n0`), XS_TRANSACTION_START/END (a write in a transaction is applied at once; the
//! end only closes the id, a commit never conflicts and an abort undoes nothing). A missing
//! node is `XS_ERROR "ENOENT"`, an invalid path `EINVAL`, a change while the store's
//! `fail-writes` switch is on `EACCES`, an unknown type `EINVAL` (as xenstored). Each request
//! is appended to `calls.log` as `xs-wire TYPE ARGS`, with ` (tx N)` when inside a
//! transaction: `xs-wire READ backend/vif/7/0/mac`.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

// The message types of xs_wire.h's `enum xsd_sockmsg_type` this fake knows.
const XS_DIRECTORY: u32 = 1;
const XS_READ: u32 = 2;
const XS_GET_PERMS: u32 = 3;
const XS_TRANSACTION_START: u32 = 6;
const XS_TRANSACTION_END: u32 = 7;
const XS_WRITE: u32 = 11;
const XS_MKDIR: u32 = 12;
const XS_RM: u32 = 13;
const XS_ERROR: u32 = 16;

/// xs_wire.h's `XENSTORE_PAYLOAD_MAX`: longer requests are refused with `E2BIG`.
const PAYLOAD_MAX: usize = 4096;

/// Where the fake keeps its state: the tree, the call log, the failure switch.
#[derive(Clone)]
struct Store {
    tree: PathBuf,
    log: PathBuf,
    fail_writes: PathBuf,
}

/// A running fake xenstored: one thread accepting on the socket, one per connection.
/// Dropping it stops the accepting thread and removes the socket; a connection still open
/// ends when its client closes it.
pub struct Server {
    socket: PathBuf,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Listen on `socket` (replacing a stale one) and serve the tree `tree`, logging to
    /// `log`; writes fail while the file `fail_writes` exists.
    pub fn start(socket: &Path, tree: &Path, log: &Path, fail_writes: &Path) -> Server {
        let _ = std::fs::remove_file(socket);
        let listener = UnixListener::bind(socket)
            .unwrap_or_else(|e| panic!("fake xenstored: bind {}: {e}", socket.display()));
        let store = Store {
            tree: tree.to_path_buf(),
            log: log.to_path_buf(),
            fail_writes: fail_writes.to_path_buf(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        // Transaction ids are unique over the server, as xenstored's.
        let next_tx = Arc::new(AtomicU32::new(1));
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (store, next_tx) = (store.clone(), next_tx.clone());
                std::thread::spawn(move || serve(conn, &store, &next_tx));
            }
        });
        Server {
            socket: socket.to_path_buf(),
            stop,
            accept: Some(accept),
        }
    }

    /// The socket clients connect to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accepting thread so it sees the flag. If the socket is gone already (its
        // directory removed first), nothing can wake it: leave it blocked rather than wait.
        let woken = UnixStream::connect(&self.socket).is_ok();
        if let Some(t) = self.accept.take() {
            if woken {
                let _ = t.join();
            }
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// One client connection: requests in, one reply each, until the client closes.
fn serve(mut conn: UnixStream, store: &Store, next_tx: &AtomicU32) {
    let mut open_tx = BTreeSet::new();
    loop {
        let mut hdr = [0u8; 16];
        if conn.read_exact(&mut hdr).is_err() {
            return;
        }
        let word = |i: usize| u32::from_ne_bytes(hdr[i * 4..i * 4 + 4].try_into().unwrap());
        let (ty, req_id, tx_id, len) = (word(0), word(1), word(2), word(3) as usize);
        let mut payload = vec![0u8; len.min(PAYLOAD_MAX + 1)];
        if conn.read_exact(&mut payload).is_err() {
            return;
        }
        let reply = if len > PAYLOAD_MAX {
            // Too long to have read: answer, then drop the connection as out of step.
            let _ = conn.write_all(&message(XS_ERROR, req_id, tx_id, b"E2BIG\0"));
            return;
        } else {
            answer(store, next_tx, &mut open_tx, ty, tx_id, &payload)
        };
        let (rty, body) = match reply {
            Ok(body) => (ty, body),
            Err(errno) => (XS_ERROR, format!("{errno}\0").into_bytes()),
        };
        if conn.write_all(&message(rty, req_id, tx_id, &body)).is_err() {
            return;
        }
    }
}

/// A whole message: the header `{type, req_id, tx_id, len}` in native byte order, then
/// the payload.
fn message(ty: u32, req_id: u32, tx_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + payload.len());
    for w in [ty, req_id, tx_id, payload.len() as u32] {
        m.extend_from_slice(&w.to_ne_bytes());
    }
    m.extend_from_slice(payload);
    m
}

/// The reply's payload to one request, or the errno name of its `XS_ERROR`.
fn answer(
    store: &Store,
    next_tx: &AtomicU32,
    open_tx: &mut BTreeSet<u32>,
    ty: u32,
    tx_id: u32,
    payload: &[u8],
) -> Result<Vec<u8>, &'static str> {
    // The first NUL-terminated string (a path, or T/F), and what follows it (a value).
    let (arg, rest) = match payload.iter().position(|&b| b == 0) {
        Some(i) => (
            String::from_utf8_lossy(&payload[..i]).into_owned(),
            &payload[i + 1..],
        ),
        None => (
            String::from_utf8_lossy(payload).into_owned(),
            &payload[payload.len()..],
        ),
    };
    let name = match ty {
        XS_DIRECTORY => "DIRECTORY",
        XS_READ => "READ",
        XS_GET_PERMS => "GET_PERMS",
        XS_TRANSACTION_START => "TRANSACTION_START",
        XS_TRANSACTION_END => "TRANSACTION_END",
        XS_WRITE => "WRITE",
        XS_MKDIR => "MKDIR",
        XS_RM => "RM",
        _ => "",
    };
    let mut line = if name.is_empty() {
        format!("xs-wire type{ty} {arg}")
    } else if ty == XS_WRITE {
        format!("xs-wire {name} {arg} {}", String::from_utf8_lossy(rest))
    } else {
        format!("xs-wire {name} {arg}")
    };
    if tx_id != 0 {
        line.push_str(&format!(" (tx {tx_id})"));
    }
    store.log(line.trim_end());
    if tx_id != 0 && !open_tx.contains(&tx_id) {
        return Err("ENOENT");
    }
    const OK: &[u8] = b"OK\0";
    match ty {
        XS_TRANSACTION_START => {
            let id = next_tx.fetch_add(1, Ordering::SeqCst);
            open_tx.insert(id);
            Ok(format!("{id}\0").into_bytes())
        }
        XS_TRANSACTION_END => match arg.as_str() {
            "T" | "F" if open_tx.remove(&tx_id) => Ok(OK.to_vec()),
            _ => Err("EINVAL"),
        },
        XS_READ => {
            let node = store.node(&arg)?;
            if node.is_dir() {
                return Ok(Vec::new());
            }
            let v = std::fs::read(&node).map_err(|_| "ENOENT")?;
            Ok(v.strip_suffix(b"\n").unwrap_or(&v).to_vec())
        }
        XS_DIRECTORY => {
            let node = store.node(&arg)?;
            if node.is_file() {
                return Ok(Vec::new());
            }
            let mut names: Vec<String> = std::fs::read_dir(&node)
                .map_err(|_| "ENOENT")?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            Ok(names.iter().flat_map(|n| n.bytes().chain([0])).collect())
        }
        XS_GET_PERMS => {
            let node = store.node(&arg)?;
            if !node.exists() {
                return Err("ENOENT");
            }
            Ok(b"n0\0".to_vec())
        }
        XS_WRITE | XS_MKDIR | XS_RM => {
            let node = store.node(&arg)?;
            if store.fail_writes.exists() {
                return Err("EACCES");
            }
            change(ty, &node, rest)?;
            Ok(OK.to_vec())
        }
        _ => Err("EINVAL"),
    }
}

/// Apply one WRITE, MKDIR or RM to the node's file.
fn change(ty: u32, node: &Path, value: &[u8]) -> Result<(), &'static str> {
    match ty {
        XS_WRITE => {
            if node.is_dir() {
                // The tree cannot give a node with children a value.
                return Err("EISDIR");
            }
            std::fs::create_dir_all(node.parent().unwrap()).map_err(|_| "EIO")?;
            let mut v = value.to_vec();
            v.push(b'\n');
            std::fs::write(node, v).map_err(|_| "EIO")
        }
        XS_MKDIR if node.exists() => Ok(()),
        XS_MKDIR => std::fs::create_dir_all(node).map_err(|_| "EIO"),
        // xenstored removes a node with its children; a missing one is fine if its
        // parent exists.
        _ if node.is_dir() => std::fs::remove_dir_all(node).map_err(|_| "EIO"),
        _ if node.is_file() => std::fs::remove_file(node).map_err(|_| "EIO"),
        _ if node.parent().is_some_and(Path::is_dir) => Ok(()),
        _ => Err("ENOENT"),
    }
}

impl Store {
    /// The file of a node, or `EINVAL` for a path xenstored would refuse (its characters
    /// are `A-Za-z0-9-/_@`, so no `..` can leave the tree).
    fn node(&self, path: &str) -> Result<PathBuf, &'static str> {
        let valid = !path.is_empty()
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-/_@".contains(&b))
            && !path.contains("//")
            && (path == "/" || !path.ends_with('/'));
        if !valid {
            return Err("EINVAL");
        }
        Ok(crate::fake_xenstore::node_file(&self.tree, path))
    }

    fn log(&self, line: &str) {
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&self.log) {
            // One write of one line: O_APPEND keeps it whole beside the tools' lines.
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }
}
