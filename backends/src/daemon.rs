//! The daemons brouter runs (dnsmasq, FRR's zebra and bgpd): found again by what their
//! own processes say, signalled and waited for, and the files they read written so that a
//! reader never sees half of one.
//!
//! A pid from a pid file counts only if that process is alive (not a zombie), its command
//! line starts with exactly brouter's arguments for that daemon's directory (its
//! "plumbing"), and it sits in the target namespace: a reused pid, a foreign daemon or one
//! in another namespace is never reported, signalled or killed.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use brouter_engine::{BackendError, ErrorKind};

use crate::netlink::errors::from_io;
use crate::NetnsTarget;

/// How often a deadline loop looks again.
pub(crate) const POLL: Duration = Duration::from_millis(5);
/// How long a stopping daemon gets after SIGTERM, and again after SIGKILL.
const STOP_DEADLINE: Duration = Duration::from_secs(2);

/// The first of `candidates` that is an executable file.
pub(crate) fn first_executable(candidates: impl IntoIterator<Item = PathBuf>) -> Option<PathBuf> {
    candidates.into_iter().find(|p| is_executable(p))
}

/// `name` on `PATH`, else the first of `fallbacks` (root's PATH has `/usr/sbin`, a user's
/// often does not).
pub(crate) fn find_program(name: &str, fallbacks: &[&str]) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    first_executable(on_path.into_iter().chain(fallbacks.iter().map(PathBuf::from)))
}

/// Run a daemon that daemonizes (its starting process returns once it runs) from a thread
/// inside `target`; its stderr goes to `err_path`, a file rather than a pipe, since the
/// daemon may keep it open.
pub(crate) fn spawn(
    target: &NetnsTarget,
    prog: &Path,
    args: Vec<String>,
    err_path: &Path,
    name: &str,
) -> Result<std::process::ExitStatus, BackendError> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::process::{Command, Stdio};
    let err_file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(err_path)
        .map_err(|e| from_io(&format!("create {}", err_path.display()), &e))?;
    let prog_owned = prog.to_path_buf();
    let ran = target.run(move || {
        Command::new(&prog_owned)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(err_file))
            .status()
    });
    let what = format!("start {name} ({})", prog.display());
    ran.and_then(|r| r).map_err(|e| from_io(&what, &e))
}

/// A regular file someone may execute.
pub(crate) fn is_executable(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A `/proc/PID/cmdline` as its arguments (NUL-separated, NUL-terminated).
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The options of a command line `argv` (program first) that starts with `plumbing`
/// right after the program; `None` when it does not (not brouter's dnsmasq for this
/// directory).
pub fn options_after(argv: &[String], plumbing: &[String]) -> Option<Vec<String>> {
    let args = argv.get(1..)?;
    let rest = args.strip_prefix(plumbing)?;
    Some(rest.to_vec())
}

/// The state letter of a `/proc/PID/stat` line (`R`, `S`, `Z`, …). It follows the
/// command name, which is in parentheses and may itself hold spaces and parentheses.
pub fn stat_state(stat: &str) -> Option<char> {
    let (_, after) = stat.rsplit_once(')')?;
    after.trim_start().chars().next()
}

/// Process `pid`'s state letter, `None` once it is gone.
pub(crate) fn process_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_state(&stat)
}

/// Gone for good: no `/proc/PID`, or a zombie (its parent is PID 1, since dnsmasq
/// double-forks, which reaps it when it gets to it).
pub(crate) fn exited(pid: u32) -> bool {
    matches!(process_state(pid), None | Some('Z') | Some('X'))
}

/// Send `signal` to `pid`; a process that is already gone is not an error.
pub(crate) fn signal(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::other("pid out of range"))?;
    // SAFETY: kill(2) takes plain integers; no memory is involved.
    if unsafe { libc::kill(pid, signal) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ESRCH) => Ok(()),
        _ => Err(e),
    }
}

/// Wait until `pid` has [`exited`], up to `deadline` from now.
pub(crate) fn wait_exited(pid: u32, deadline: Duration) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if exited(pid) {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// The device and inode of a namespace file: equal pairs are the same namespace.
pub(crate) fn ns_identity(path: &Path) -> io::Result<(u64, u64)> {
    fs::metadata(path).map(|m| (m.dev(), m.ino()))
}

/// `Ok(None)` for the errors that mean "that process is gone" (it exited between reads).
pub(crate) fn gone_is_none<T>(r: io::Result<T>) -> io::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Write `bytes` to `path` atomically with exactly `mode` ([`crate::state_file::write_as`]).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    crate::state_file::write_as(path, bytes, Some(mode))
}

/// Remove `path`; one that is not there is fine.
pub(crate) fn remove_if_there(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

pub(crate) fn other(message: String) -> BackendError {
    BackendError::new(ErrorKind::Other, message)
}

/// The target namespace's identity: its file under `/run/netns`, or the namespace a
/// thread started for the current target is in.
pub(crate) fn target_ns(target: &NetnsTarget) -> io::Result<(u64, u64)> {
    match target.path() {
        Some(path) => ns_identity(&path),
        None => target.run(|| ns_identity(Path::new("/proc/thread-self/ns/net")))?,
    }
}

/// The daemon the pid in `pid_text` names, with its arguments after `plumbing`, if it is
/// alive, not a zombie, started with exactly `plumbing` and in `target`'s namespace.
pub(crate) fn ours(
    pid_text: Option<String>,
    plumbing: &[String],
    target: &NetnsTarget,
    name: &str,
) -> Result<Option<(u32, Vec<String>)>, BackendError> {
    let Some(pid) = pid_text.and_then(|t| t.trim().parse::<u32>().ok()) else {
        return Ok(None);
    };
    if pid == 0 || exited(pid) {
        return Ok(None);
    }
    let what = format!("inspect {name} process {pid}");
    let cmdline = gone_is_none(fs::read(format!("/proc/{pid}/cmdline"))).map_err(|e| from_io(&what, &e))?;
    let Some(options) = cmdline.and_then(|c| options_after(&parse_cmdline(&c), plumbing)) else {
        return Ok(None);
    };
    let its_ns = gone_is_none(ns_identity(Path::new(&format!("/proc/{pid}/ns/net"))))
        .map_err(|e| from_io(&what, &e))?;
    let same = its_ns.is_some_and(|ns| target_ns(target).is_ok_and(|t| t == ns));
    Ok(same.then_some((pid, options)))
}

/// SIGTERM `pid` and wait until it has exited; SIGKILL if it outlives the deadline.
pub(crate) fn terminate(pid: u32, name: &str) -> Result<(), BackendError> {
    let what = format!("stop {name} (pid {pid})");
    signal(pid, libc::SIGTERM).map_err(|e| from_io(&what, &e))?;
    if wait_exited(pid, STOP_DEADLINE) {
        return Ok(());
    }
    signal(pid, libc::SIGKILL).map_err(|e| from_io(&what, &e))?;
    if wait_exited(pid, STOP_DEADLINE) {
        return Ok(());
    }
    Err(other(format!(
        "{what}: it is still there after SIGTERM and SIGKILL"
    )))
}

/// Create `dir` with `mode` and make every directory from the state base down searchable,
/// so a daemon that drops its privileges can still reach its files.
pub(crate) fn ensure_dir(dir: &Path, mode: u32, name: &str) -> Result<(), BackendError> {
    let what = |p: &Path| format!("create {name}'s directory {}", p.display());
    fs::create_dir_all(dir).map_err(|e| from_io(&what(dir), &e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode)).map_err(|e| from_io(&what(dir), &e))?;
    let base = crate::memory::state_base();
    for d in dir.ancestors().skip(1) {
        if !d.starts_with(&base) {
            break;
        }
        let mode = fs::metadata(d)
            .map_err(|e| from_io(&what(d), &e))?
            .permissions()
            .mode();
        if mode & 0o001 == 0 {
            fs::set_permissions(d, fs::Permissions::from_mode(mode | 0o011))
                .map_err(|e| from_io(&what(d), &e))?;
        }
    }
    Ok(())
}

/// Remove `dir` and everything in it; one that is not there is fine.
pub(crate) fn remove_dir(dir: &Path) -> Result<(), BackendError> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(from_io(&format!("remove {}", dir.display()), &e))
        }
        _ => Ok(()),
    }
}

/// One file, `None` when it is not there.
pub(crate) fn read(path: &Path) -> Result<Option<String>, BackendError> {
    gone_is_none(fs::read_to_string(path)).map_err(|e| from_io(&format!("read {}", path.display()), &e))
}
