//! A xenstore client speaking xenstored's wire protocol itself, as libxl does through
//! libxenstore, so the vif hook spawns no `xenstore-*` tool (about a millisecond each, on
//! the boot path of every domU).
//!
//! The protocol is Xen's `xen/include/public/io/xs_wire.h`: a message is a header of four
//! `u32` in native byte order — type, request id, transaction id, payload length — then
//! the payload (at most 4096 bytes). Paths are NUL-terminated; a relative path is under the
//! connection's home (`/local/domain/0` for the dom0). A failure is an `XS_ERROR` reply
//! carrying an errno name (`ENOENT\0`). A reply carries its request's id, so several
//! requests can be sent before the first reply is read (xenstored answers a connection's
//! requests in the order they came): the hook's reads take one round trip, not five.
//!
//! xenstored is found as libxenstore's `xs_open` finds it (tools/libs/store/xs.c,
//! tools/xenstore/xs_lib.c): first `xs_daemon_socket()` — `$XENSTORED_PATH`, else
//! `$XENSTORED_RUNDIR/socket`, else `/var/run/xenstored/socket` — then `xs_domain_dev()` —
//! `$XENSTORED_PATH`, else `/dev/xen/xenbus` if it exists, else `/proc/xen/xenbus`. Each
//! candidate is `stat`ed: a socket is connected to, anything else (the xenbus character
//! device) opened read-write, and one whole message written to it at a time.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

// xs_wire.h's `enum xsd_sockmsg_type`, the types this client sends or expects.
const XS_READ: u32 = 2;
const XS_WATCH_EVENT: u32 = 15;
const XS_TRANSACTION_START: u32 = 6;
const XS_TRANSACTION_END: u32 = 7;
const XS_WRITE: u32 = 11;
const XS_ERROR: u32 = 16;

/// xs_wire.h's `XENSTORE_PAYLOAD_MAX`: xenstored refuses longer messages.
const PAYLOAD_MAX: usize = 4096;

/// How many times a transaction is run again when xenstored answers its end with
/// `EAGAIN` (another client changed what it touched), before giving up.
const TRANSACTION_TRIES: usize = 5;

/// An open connection to xenstored, as libxenstore's `struct xs_handle` without watches.
pub struct Connection {
    io: Io,
    /// What was opened (the socket or the device), for messages.
    at: PathBuf,
}

/// The two ways to reach xenstored: its Unix socket, or the xenbus device through the
/// kernel (which takes and gives whole messages).
enum Io {
    Socket(UnixStream),
    Device(File),
}

/// Why a request failed: what was asked, of which path, through what, and xenstored's
/// errno name or the I/O error.
#[derive(Debug)]
pub struct Error {
    op: &'static str,
    path: String,
    at: PathBuf,
    what: Why,
}

#[derive(Debug)]
enum Why {
    /// xenstored answered `XS_ERROR` with this errno name (`EACCES`).
    Xenstored(String),
    /// The connection failed, or the reply made no sense.
    Io(String),
}

impl Error {
    /// The errno name xenstored answered with, if it answered with an error.
    pub fn errno(&self) -> Option<&str> {
        match &self.what {
            Why::Xenstored(e) => Some(e),
            Why::Io(_) => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.what {
            Why::Xenstored(e) => e.as_str(),
            Why::Io(e) => e.as_str(),
        };
        let at = self.at.display();
        if self.path.is_empty() {
            write!(f, "xenstore {} (xenstored at {at}): {what}", self.op)
        } else {
            write!(
                f,
                "xenstore {} {} (xenstored at {at}): {what}",
                self.op, self.path
            )
        }
    }
}

impl std::error::Error for Error {}

impl Connection {
    /// Connect as libxenstore's `xs_open` does (see the module doc); the error of the last
    /// candidate when none answers — then there is no xenstored to talk to here.
    pub fn open() -> std::io::Result<Connection> {
        let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let socket = env("XENSTORED_PATH").map(PathBuf::from).unwrap_or_else(|| {
            env("XENSTORED_RUNDIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/var/run/xenstored"))
                .join("socket")
        });
        let device = env("XENSTORED_PATH").map(PathBuf::from).unwrap_or_else(|| {
            let dev = Path::new("/dev/xen/xenbus");
            if dev.exists() {
                dev.to_path_buf()
            } else {
                PathBuf::from("/proc/xen/xenbus")
            }
        });
        Connection::open_at(&socket).or_else(|_| Connection::open_at(&device))
    }

    /// Connect to `path` as libxenstore's `get_handle` does: a socket is connected to,
    /// anything else opened read-write as the xenbus device.
    pub fn open_at(path: &Path) -> std::io::Result<Connection> {
        let meta = std::fs::metadata(path)?;
        let io = if meta.file_type().is_socket() {
            Io::Socket(UnixStream::connect(path)?)
        } else {
            Io::Device(OpenOptions::new().read(true).write(true).open(path)?)
        };
        Ok(Connection {
            io,
            at: path.to_path_buf(),
        })
    }

    /// The value of `path`, `None` if there is no such node (`ENOENT`). A value that is
    /// not UTF-8 is read lossily: the hook's keys are text.
    #[cfg(test)]
    pub fn read(&mut self, path: &str) -> Result<Option<String>, Error> {
        let mut v = self.read_all(std::slice::from_ref(&path.to_string()))?;
        Ok(v.pop().flatten())
    }

    /// The value of each of `paths` (`None`: no such node), asked all at once: every
    /// `XS_READ` is sent before the first reply is read, each with its own request id,
    /// and the replies are matched by it — one round trip to xenstored instead of one per
    /// key. xenstored answers a connection's requests in order, and the xenbus device
    /// hands each reply back with the request id it was given.
    pub fn read_all(&mut self, paths: &[String]) -> Result<Vec<Option<String>>, Error> {
        let requests: Vec<(&str, u32, Vec<u8>)> = paths
            .iter()
            .map(|p| (p.as_str(), XS_READ, nul_terminated(p)))
            .collect();
        let replies = self.pipelined("read", 0, &requests)?;
        let mut out = Vec::with_capacity(paths.len());
        for reply in replies {
            match reply {
                Ok(v) => out.push(Some(String::from_utf8_lossy(&v).into_owned())),
                Err(e) if e.errno() == Some("ENOENT") => out.push(None),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Write every `(path, value)` pair in one transaction, so xl never sees some of them
    /// without the others; run again when xenstored says another client got in the way
    /// (`EAGAIN` on commit). A single pair needs no transaction.
    pub fn write(&mut self, pairs: &[(String, String)]) -> Result<(), Error> {
        if let [(path, value)] = pairs {
            return self.write_one(0, path, value);
        }
        let mut tries = 0;
        loop {
            tries += 1;
            let tx = self.transaction_start()?;
            // The writes go out together (nothing is visible before the commit); the
            // commit waits for their answers, so a refused one abandons them all.
            let requests: Vec<(&str, u32, Vec<u8>)> = pairs
                .iter()
                .map(|(path, value)| (path.as_str(), XS_WRITE, write_payload(path, value)))
                .collect();
            let written = self.pipelined("write", tx, &requests)?;
            if let Some(Err(e)) = written.into_iter().find(Result::is_err) {
                // Abandon it; the write's error is the one to tell.
                let _ = self.transaction_end(tx, false);
                return Err(e);
            }
            match self.transaction_end(tx, true) {
                Err(e) if e.errno() == Some("EAGAIN") && tries < TRANSACTION_TRIES => continue,
                end => return end,
            }
        }
    }

    fn write_one(&mut self, tx: u32, path: &str, value: &str) -> Result<(), Error> {
        self.request("write", path, XS_WRITE, tx, &write_payload(path, value))
            .map(|_| ())
    }

    /// A new transaction's id (xenstored answers it in decimal).
    fn transaction_start(&mut self) -> Result<u32, Error> {
        let reply = self.request("transaction start", "", XS_TRANSACTION_START, 0, b"\0")?;
        let id = String::from_utf8_lossy(&reply);
        id.trim_end_matches('\0')
            .parse()
            .map_err(|_| self.error("transaction start", "", Why::Io(format!("transaction id {id:?}"))))
    }

    /// Commit (`T`) or abandon (`F`) transaction `tx`.
    fn transaction_end(&mut self, tx: u32, commit: bool) -> Result<(), Error> {
        let payload: &[u8] = if commit { b"T\0" } else { b"F\0" };
        self.request("transaction end", "", XS_TRANSACTION_END, tx, payload)
            .map(|_| ())
    }

    /// One request and its reply's payload; `XS_ERROR` becomes an error with its errno
    /// name.
    fn request(
        &mut self,
        op: &'static str,
        path: &str,
        ty: u32,
        tx: u32,
        payload: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let mut replies = self.pipelined(op, tx, &[(path, ty, payload.to_vec())])?;
        replies.pop().expect("one reply per request")
    }

    /// Send every `(path, type, payload)` request in transaction `tx` before reading any
    /// reply, then read one reply per request: the outer error when the connection fails,
    /// else each request's own answer (its payload, or xenstored's `XS_ERROR`), in the
    /// order asked. Request ids are 1, 2, …; watch events (none is set here) are skipped.
    fn pipelined(
        &mut self,
        op: &'static str,
        tx: u32,
        requests: &[(&str, u32, Vec<u8>)],
    ) -> Result<Vec<Result<Vec<u8>, Error>>, Error> {
        let path_of = |i: usize| requests.get(i).map_or("", |r| r.0);
        let io_err =
            |c: &Connection, i: usize, e: std::io::Error| c.error(op, path_of(i), Why::Io(e.to_string()));
        for (i, (path, ty, payload)) in requests.iter().enumerate() {
            if payload.len() > PAYLOAD_MAX {
                return Err(self.error(
                    op,
                    path,
                    Why::Io(format!("{} bytes, over xenstore's 4096", payload.len())),
                ));
            }
            let mut msg = header(*ty, i as u32 + 1, tx, payload.len());
            msg.extend_from_slice(payload);
            // One write per message: the xenbus device wants each one whole.
            self.stream().write_all(&msg).map_err(|e| io_err(self, i, e))?;
        }
        let mut replies: Vec<Option<Result<Vec<u8>, Error>>> = requests.iter().map(|_| None).collect();
        let mut pending = requests.len();
        while pending > 0 {
            let mut hdr = [0u8; 16];
            self.stream()
                .read_exact(&mut hdr)
                .map_err(|e| io_err(self, 0, e))?;
            let word =
                |i: usize| u32::from_ne_bytes([hdr[i * 4], hdr[i * 4 + 1], hdr[i * 4 + 2], hdr[i * 4 + 3]]);
            let (rty, req_id, len) = (word(0), word(1) as usize, word(3) as usize);
            if len > PAYLOAD_MAX {
                return Err(self.error(op, "", Why::Io(format!("a reply of {len} bytes"))));
            }
            let mut body = vec![0u8; len];
            self.stream()
                .read_exact(&mut body)
                .map_err(|e| io_err(self, 0, e))?;
            if rty == XS_WATCH_EVENT {
                continue;
            }
            let i = req_id.wrapping_sub(1);
            let Some((path, ty, _)) = requests.get(i).filter(|_| replies[i].is_none()) else {
                return Err(self.error(op, "", Why::Io(format!("a reply to request {req_id}, not asked"))));
            };
            replies[i] = Some(match rty {
                XS_ERROR => {
                    let name = String::from_utf8_lossy(&body).trim_end_matches('\0').to_string();
                    Err(self.error(op, path, Why::Xenstored(name)))
                }
                t if t == *ty => Ok(body),
                t => return Err(self.error(op, path, Why::Io(format!("a reply of type {t} to type {ty}")))),
            });
            pending -= 1;
        }
        Ok(replies
            .into_iter()
            .map(|r| r.expect("every request answered"))
            .collect())
    }

    fn stream(&mut self) -> &mut dyn ReadWrite {
        match &mut self.io {
            Io::Socket(s) => s,
            Io::Device(f) => f,
        }
    }

    fn error(&self, op: &'static str, path: &str, what: Why) -> Error {
        Error {
            op,
            path: path.to_string(),
            at: self.at.clone(),
            what,
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// A message header: type, request id, transaction id, payload length, native order.
fn header(ty: u32, req_id: u32, tx: u32, len: usize) -> Vec<u8> {
    let mut h = Vec::with_capacity(16 + len);
    for w in [ty, req_id, tx, len as u32] {
        h.extend_from_slice(&w.to_ne_bytes());
    }
    h
}

/// An `XS_WRITE` payload: the path, NUL, the value (not terminated).
fn write_payload(path: &str, value: &str) -> Vec<u8> {
    let mut payload = nul_terminated(path);
    payload.extend_from_slice(value.as_bytes());
    payload
}

fn nul_terminated(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use brouter_integration::fake_xenstore::FakeXenstore;

    fn connect(xs: &FakeXenstore) -> Connection {
        Connection::open_at(&xs.serve_socket()).expect("connect to the fake xenstored")
    }

    #[test]
    fn reads_a_value_and_a_missing_node_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let xs = FakeXenstore::new(dir.path());
        xs.set("backend/vif/7/0/mac", "00:16:3e:00:00:07");
        let mut c = connect(&xs);
        assert_eq!(
            c.read("backend/vif/7/0/mac").unwrap().as_deref(),
            Some("00:16:3e:00:00:07")
        );
        // Relative and absolute name the same node (the dom0's home).
        assert_eq!(
            c.read("/local/domain/0/backend/vif/7/0/mac").unwrap().as_deref(),
            Some("00:16:3e:00:00:07")
        );
        assert_eq!(c.read("backend/vif/7/0/ip").unwrap(), None);
        let calls = xs.calls();
        assert!(calls.contains("xs-wire READ backend/vif/7/0/ip\n"), "{calls}");
    }

    #[test]
    fn all_keys_are_asked_before_any_answer_and_answers_match_by_request_id() {
        use std::os::unix::net::UnixListener;
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("xenstored");
        let listener = UnixListener::bind(&sock).unwrap();
        // A xenstored that reads all three requests before it answers any, then answers
        // them last first: a client that waited for each answer would hang here.
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut asked = Vec::new();
            for _ in 0..3 {
                let mut hdr = [0u8; 16];
                conn.read_exact(&mut hdr).unwrap();
                let word = |i: usize| u32::from_ne_bytes(hdr[i * 4..i * 4 + 4].try_into().unwrap());
                let mut body = vec![0u8; word(3) as usize];
                conn.read_exact(&mut body).unwrap();
                asked.push((word(0), word(1), String::from_utf8(body).unwrap()));
            }
            for (ty, req_id, path) in asked.iter().rev() {
                assert_eq!(*ty, XS_READ);
                let (rty, body) = match path.trim_end_matches('\0') {
                    "k/missing" => (XS_ERROR, b"ENOENT\0".to_vec()),
                    p => (XS_READ, format!("value of {p}").into_bytes()),
                };
                let mut msg = header(rty, *req_id, 0, body.len());
                msg.extend_from_slice(&body);
                conn.write_all(&msg).unwrap();
            }
        });
        let mut c = Connection::open_at(&sock).unwrap();
        let paths = ["k/a", "k/missing", "k/b"].map(String::from);
        let values = c.read_all(&paths).unwrap();
        server.join().unwrap();
        assert_eq!(
            values,
            [
                Some("value of k/a".to_string()),
                None,
                Some("value of k/b".to_string())
            ]
        );
    }

    #[test]
    fn several_pairs_are_written_in_one_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let xs = FakeXenstore::new(dir.path());
        let mut c = connect(&xs);
        let pairs = [
            ("/local/domain/7/device/vif/0/mtu".to_string(), "1400".to_string()),
            (
                "backend/vif/7/0/hotplug-status".to_string(),
                "connected".to_string(),
            ),
        ];
        c.write(&pairs).unwrap();
        assert_eq!(
            xs.get("/local/domain/7/device/vif/0/mtu").as_deref(),
            Some("1400")
        );
        assert_eq!(
            xs.get("backend/vif/7/0/hotplug-status").as_deref(),
            Some("connected")
        );
        let calls: Vec<String> = xs.calls().lines().map(str::to_string).collect();
        assert_eq!(calls.len(), 4, "{calls:?}");
        assert_eq!(calls[0], "xs-wire TRANSACTION_START");
        let tx = calls[1].rsplit_once("(tx ").map(|(_, t)| t.to_string()).unwrap();
        assert_eq!(
            calls[1],
            format!("xs-wire WRITE /local/domain/7/device/vif/0/mtu 1400 (tx {tx}")
        );
        assert_eq!(calls[3], format!("xs-wire TRANSACTION_END T (tx {tx}"));
    }

    #[test]
    fn a_refused_write_names_the_path_and_the_errno_and_abandons_the_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let xs = FakeXenstore::new(dir.path());
        let mut c = connect(&xs);
        xs.fail_writes();
        let pairs = [
            ("backend/vif/7/0/hotplug-error".to_string(), "bad".to_string()),
            ("backend/vif/7/0/hotplug-status".to_string(), "error".to_string()),
        ];
        let e = c.write(&pairs).unwrap_err();
        assert_eq!(e.errno(), Some("EACCES"));
        let text = e.to_string();
        assert!(
            text.contains("backend/vif/7/0/hotplug-error") && text.contains("EACCES"),
            "{text}"
        );
        assert!(xs.calls().contains("xs-wire TRANSACTION_END F"), "{}", xs.calls());
    }

    #[test]
    fn nothing_listening_is_an_error_to_fall_back_on() {
        let dir = tempfile::tempdir().unwrap();
        let xs = FakeXenstore::new(dir.path());
        assert!(Connection::open_at(&xs.xenstored_path()).is_err());
    }
}
