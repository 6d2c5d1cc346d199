//! brouter's FRR on a real kernel (an EVPN cluster member): zebra and bgpd, one pair per
//! network namespace, started, changed in place and stopped by brouter, and found again
//! by what their own processes say.
//!
//! Everything lives in one directory, `<state base>/<netns-id>/frr/` (see
//! [`crate::memory`]), owned by the `frr` user the daemons drop to: `frr.conf`, the pid
//! files, the vty sockets (`--vty_socket`, so `vtysh --vty_socket <dir>` talks to this
//! pair and no other), zebra's API socket (`-z`, which its bgpd connects to), the log and
//! `loaded`, the stamp of the config the running daemons hold. Nothing under `/etc/frr` or
//! `/run/frr` is read or written: a second namespace's pair, or the machine's own FRR,
//! never meets this one (FIELD-NOTES-DHCP-EVPN.md, "Way 1").

use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use brouter_engine::routing::{ObservedRouting, Session};
use brouter_engine::BackendError;

use crate::daemon::{first_executable, other, remove_if_there, write_atomic, POLL};
use crate::netlink::errors::from_io;
use crate::NetnsTarget;

/// The directory's name under the namespace's state directory.
pub const DIR_NAME: &str = "frr";
/// The integrated config both daemons read.
pub const CONFIG_FILE: &str = "frr.conf";
/// vtysh's own config, read from beside the sockets.
pub const VTYSH_CONFIG_FILE: &str = "vtysh.conf";
/// The stamp of the config the running daemons hold.
pub const LOADED_FILE: &str = "loaded";
/// Where the daemons log (`--log file:`).
pub const LOG_FILE: &str = "frr.log";
/// What a starting daemon printed on stderr (its reason when it refuses to start).
pub const START_ERR_FILE: &str = "start.err";
/// zebra's API socket, which bgpd connects to.
pub const ZSERV_SOCKET: &str = "zserv.api";
/// The daemons, in the order they start (bgpd needs zebra) and stop in reverse.
pub const DAEMONS: [&str; 2] = ["zebra", "bgpd"];

/// How long a started daemon gets to write its pid file (its starting process returns
/// once it runs, so this is a safety net).
const PID_DEADLINE: Duration = Duration::from_secs(5);

/// The directory of FRR's daemons: `$BROUTER_FRR_DIR` if set, else Debian's `/usr/lib/frr`.
fn daemon_dir() -> PathBuf {
    std::env::var_os("BROUTER_FRR_DIR")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/frr"))
}

/// `vtysh`, FRR's shell: on `PATH`, else `/usr/bin/vtysh`.
fn vtysh_program() -> Option<PathBuf> {
    crate::daemon::find_program("vtysh", &["/usr/bin/vtysh"])
}

/// The `frr` user and group the daemons drop to (Debian's `frr` package makes them).
fn frr_ids() -> Option<(libc::uid_t, libc::gid_t)> {
    let name = CString::new("frr").ok()?;
    // SAFETY: getpwnam returns a pointer into static storage or null; the fields are read
    // at once, on this thread, before any other call could overwrite it.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return None;
    }
    // SAFETY: non-null, as checked.
    let pw = unsafe { &*pw };
    Some((pw.pw_uid, pw.pw_gid))
}

fn not_installed(what: &str) -> BackendError {
    other(format!(
        "{what}: FRR is not installed (control = \"evpn\" needs Debian's frr package: zebra and bgpd in {}, vtysh, the frr user)",
        daemon_dir().display()
    ))
}

/// The backend's own arguments for `daemon` using `dir`, always first and in this order;
/// [`crate::daemon::ours`] finds brouter's processes by them.
pub fn plumbing(dir: &Path, daemon: &str) -> Vec<String> {
    let p = |name: &str| dir.join(name).display().to_string();
    vec![
        "-d".to_string(),
        // Short BGP timers (keepalive 3 s, hold 9 s, connect retry 10 s): a member that
        // goes away is noticed in seconds, not minutes.
        "-F".to_string(),
        "datacenter".to_string(),
        "-f".to_string(),
        p(CONFIG_FILE),
        "--vty_socket".to_string(),
        dir.display().to_string(),
        "-i".to_string(),
        p(&format!("{daemon}.pid")),
        "-z".to_string(),
        p(ZSERV_SOCKET),
        // No TCP vty: vtysh reaches the daemons by their sockets in `dir` only.
        "-P".to_string(),
        "0".to_string(),
        "--log".to_string(),
        format!("file:{}", p(LOG_FILE)),
    ]
}

/// The session states in bgpd's `show bgp l2vpn evpn summary json`.
pub fn sessions_of(json: &str) -> Vec<Session> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return Vec::new();
    };
    let Some(peers) = v.get("peers").and_then(|p| p.as_object()) else {
        return Vec::new();
    };
    peers
        .iter()
        .map(|(peer, p)| Session {
            peer: peer.clone(),
            state: p
                .get("state")
                .and_then(|s| s.as_str())
                .unwrap_or("unknown")
                .to_string(),
            routes: p.get("pfxRcd").and_then(|n| n.as_u64()),
        })
        .collect()
}

/// brouter's FRR of one namespace: its directory and the namespace it runs in.
#[derive(Debug, Clone)]
pub struct Frr {
    dir: PathBuf,
    target: NetnsTarget,
}

impl Frr {
    /// The FRR of the namespace `netns_id` names (its state directory), run in `target`.
    pub fn for_namespace(netns_id: &str, target: NetnsTarget) -> Frr {
        Frr {
            dir: crate::memory::state_base().join(netns_id).join(DIR_NAME),
            target,
        }
    }

    /// Its directory (`vtysh --vty_socket <dir>` talks to its daemons).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// brouter's running `daemon`'s pid, if there is one.
    pub fn running(&self, daemon: &str) -> Result<Option<u32>, BackendError> {
        let pid_text = crate::daemon::read(&self.path(&format!("{daemon}.pid")))?;
        let found = crate::daemon::ours(pid_text, &plumbing(&self.dir, daemon), &self.target, daemon)?;
        Ok(found.map(|(pid, _)| pid))
    }

    /// Start zebra, then bgpd, with `config`, ending the pair brouter started before;
    /// then stamp `digest`.
    pub fn start(&self, config: &str, digest: &str) -> Result<(), BackendError> {
        let dir = daemon_dir();
        for d in DAEMONS {
            if first_executable([dir.join(d)]).is_none() {
                return Err(not_installed("start FRR"));
            }
        }
        let (uid, gid) = frr_ids().ok_or_else(|| not_installed("start FRR"))?;
        self.stop_daemons()?;
        if let Some((pid, daemon)) = self.foreign_daemon()? {
            return Err(other(format!(
                "start FRR: a {daemon} that brouter did not start runs in this network namespace (pid {pid}); \
                 two would both write the kernel's FDB and routes, and only one can take BGP's port. \
                 Stop it (systemctl stop frr) and run `brouter start` again, or keep your own FRR and use control = \"static\""
            )));
        }
        crate::daemon::ensure_dir(&self.dir, 0o755, "FRR")?;
        std::os::unix::fs::chown(&self.dir, Some(uid), Some(gid))
            .map_err(|e| from_io(&format!("give {} to the frr user", self.dir.display()), &e))?;
        self.write(CONFIG_FILE, config)?;
        // vtysh reads `vtysh.conf` beside the sockets, and says so on every call without one.
        self.write(
            VTYSH_CONFIG_FILE,
            "! vtysh for brouter's FRR. Written by brouter.\n",
        )?;
        remove_if_there(&self.path(LOADED_FILE))
            .map_err(|e| from_io(&format!("remove {}", self.path(LOADED_FILE).display()), &e))?;
        for d in DAEMONS {
            let pid_file = self.path(&format!("{d}.pid"));
            remove_if_there(&pid_file).map_err(|e| from_io(&format!("remove {}", pid_file.display()), &e))?;
            self.spawn(&dir.join(d), d)?;
            self.wait_for_pid(d)?;
        }
        self.write(LOADED_FILE, digest)
    }

    /// Apply `commands` to the running daemons with vtysh, write `config` as the file they
    /// would read at their next start, then stamp `digest`. The file first: a kill before
    /// the stamp leaves file and stamp apart, and the next `start` restarts the pair.
    pub fn reload(&self, config: &str, digest: &str, commands: &[String]) -> Result<(), BackendError> {
        if self.running("zebra")?.is_none() || self.running("bgpd")?.is_none() {
            return Err(other(
                "reconfigure FRR: brouter's zebra and bgpd are not both running (`brouter start` starts them)".into(),
            ));
        }
        self.write(CONFIG_FILE, config)?;
        let out = self.vtysh(commands)?;
        let said = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || said.lines().any(|l| l.starts_with('%')) {
            return Err(other(format!(
                "reconfigure FRR: vtysh refused {commands:?}: {}",
                said.trim()
            )));
        }
        self.write(LOADED_FILE, digest)
    }

    /// End bgpd, then zebra (zebra withdraws the FDB entries it wrote), and remove the
    /// directory. Nothing there is nothing to do.
    pub fn stop(&self) -> Result<(), BackendError> {
        self.stop_daemons()?;
        crate::daemon::remove_dir(&self.dir)
    }

    /// A zebra or bgpd in the target namespace that is not brouter's (the host's own FRR).
    fn foreign_daemon(&self) -> Result<Option<(u32, &'static str)>, BackendError> {
        let Ok(procs) = fs::read_dir("/proc") else {
            return Ok(None);
        };
        let here = crate::daemon::target_ns(&self.target).ok();
        for entry in procs.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(comm) = fs::read_to_string(format!("/proc/{pid}/comm")) else {
                continue;
            };
            let Some(daemon) = DAEMONS.into_iter().find(|d| *d == comm.trim()) else {
                continue;
            };
            let theirs = crate::daemon::ns_identity(Path::new(&format!("/proc/{pid}/ns/net"))).ok();
            if theirs.is_none() || theirs != here || crate::daemon::exited(pid) {
                continue;
            }
            if self.running(daemon)? != Some(pid) {
                return Ok(Some((pid, daemon)));
            }
        }
        Ok(None)
    }

    fn stop_daemons(&self) -> Result<(), BackendError> {
        for d in DAEMONS.iter().rev() {
            if let Some(pid) = self.running(d)? {
                crate::daemon::terminate(pid, d)?;
            }
        }
        Ok(())
    }

    /// What exists of brouter's FRR: `None` when its directory does not.
    pub fn observe(&self) -> Result<Option<ObservedRouting>, BackendError> {
        if !self.dir.is_dir() {
            return Ok(None);
        }
        Ok(Some(ObservedRouting {
            zebra: self.running("zebra")?,
            bgpd: self.running("bgpd")?,
            config: crate::daemon::read(&self.path(CONFIG_FILE))?,
            loaded: crate::daemon::read(&self.path(LOADED_FILE))?.map(|s| s.trim().to_string()),
            sessions: Vec::new(),
        }))
    }

    /// The EVPN sessions as bgpd reports them; none when it does not run or answer. Asked
    /// by `status` only: one vtysh round trip costs ~30 ms, more than a converged `start`.
    pub fn sessions(&self) -> Vec<Session> {
        if !matches!(self.running("bgpd"), Ok(Some(_))) {
            return Vec::new();
        }
        let command = ["show bgp l2vpn evpn summary json".to_string()];
        match self.vtysh(&command) {
            Ok(out) if out.status.success() => sessions_of(&String::from_utf8_lossy(&out.stdout)),
            _ => Vec::new(),
        }
    }

    /// `vtysh --vty_socket <dir> -c …` with `commands`, in order.
    fn vtysh(&self, commands: &[String]) -> Result<std::process::Output, BackendError> {
        let prog = vtysh_program().ok_or_else(|| not_installed("run vtysh"))?;
        let mut cmd = Command::new(&prog);
        cmd.arg("--vty_socket").arg(&self.dir);
        for c in commands {
            cmd.arg("-c").arg(c);
        }
        cmd.stdin(Stdio::null())
            .output()
            .map_err(|e| from_io(&format!("run {}", prog.display()), &e))
    }

    /// Run one daemon from a thread inside the target namespace ([`crate::daemon::spawn`]).
    fn spawn(&self, prog: &Path, daemon: &str) -> Result<(), BackendError> {
        let err_path = self.path(START_ERR_FILE);
        let status =
            crate::daemon::spawn(&self.target, prog, plumbing(&self.dir, daemon), &err_path, daemon)?;
        if status.success() {
            return Ok(());
        }
        let said = fs::read_to_string(&err_path).unwrap_or_default();
        Err(other(format!(
            "start {daemon} ({}): it exited with {status}: {} (see {})",
            prog.display(),
            said.trim(),
            self.path(LOG_FILE).display()
        )))
    }

    fn wait_for_pid(&self, daemon: &str) -> Result<u32, BackendError> {
        let end = Instant::now() + PID_DEADLINE;
        loop {
            if let Some(pid) = self.running(daemon)? {
                return Ok(pid);
            }
            if Instant::now() >= end {
                return Err(other(format!(
                    "start {daemon}: it started but is not running with brouter's paths after {} s (see {})",
                    PID_DEADLINE.as_secs(),
                    self.path(LOG_FILE).display()
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Write one file of the directory atomically, readable by the frr user.
    fn write(&self, name: &str, text: &str) -> Result<(), BackendError> {
        let path = self.path(name);
        write_atomic(&path, text.as_bytes(), 0o644)
            .map_err(|e| from_io(&format!("write {}", path.display()), &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_daemon_has_its_own_pid_file_and_shares_the_rest() {
        let dir = Path::new("/run/brouter/cookie-1/frr");
        let z = plumbing(dir, "zebra");
        let b = plumbing(dir, "bgpd");
        assert!(
            z.contains(&"/run/brouter/cookie-1/frr/zebra.pid".to_string()),
            "{z:?}"
        );
        assert!(
            b.contains(&"/run/brouter/cookie-1/frr/bgpd.pid".to_string()),
            "{b:?}"
        );
        assert!(z.contains(&"/run/brouter/cookie-1/frr/zserv.api".to_string()));
        assert!(b.contains(&"/run/brouter/cookie-1/frr/zserv.api".to_string()));
        assert_eq!(z.len(), b.len());
    }

    #[test]
    fn sessions_are_read_from_bgpds_summary() {
        let json = r#"{"routerId":"10.77.0.1","as":65000,"peers":{"10.77.0.2":{"remoteAs":65000,"pfxRcd":3,"state":"Established"},"10.77.0.3":{"state":"Active"}},"totalPeers":2}"#;
        assert_eq!(
            sessions_of(json),
            [
                Session {
                    peer: "10.77.0.2".into(),
                    state: "Established".into(),
                    routes: Some(3)
                },
                Session {
                    peer: "10.77.0.3".into(),
                    state: "Active".into(),
                    routes: None
                }
            ]
        );
        assert!(sessions_of("% BGP instance not found").is_empty());
        assert!(sessions_of("{}").is_empty());
    }
}
