//! brouter's dnsmasq on a real kernel: one process per network namespace, started,
//! reloaded and stopped by brouter, and found again by what its own process says.
//!
//! Everything lives in one directory, `<state base>/<netns-id>/dnsmasq/` (see
//! [`crate::memory`]): the pid file, the lease file, the log, the two files dnsmasq
//! re-reads on SIGHUP ([`HOSTS_FILE_DHCP`], [`HOSTS_FILE_DNS`]) and `loaded`, the stamp of
//! the files the running instance last read. dnsmasq drops to `nobody` once its sockets
//! are bound, so the directory and its files are world-readable.
//!
//! Whether "brouter's dnsmasq runs" is decided from the process, never from a file alone:
//! the pid file's pid counts only if that process is alive (not a zombie), its command
//! line starts with exactly brouter's [`plumbing`] for this directory, and it sits in the
//! target namespace. A reused pid, a foreign dnsmasq or one in another namespace is
//! therefore never reported, signalled or killed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use brouter_engine::dhcp::{ObservedDhcp, HOSTS_FILE_DHCP, HOSTS_FILE_DNS};
use brouter_engine::{BackendError, ErrorKind};

#[cfg(test)]
pub(crate) use crate::daemon::{options_after, parse_cmdline, stat_state};
use crate::daemon::{other, remove_if_there, signal, write_atomic, POLL};
use crate::netlink::errors::from_io;
use crate::NetnsTarget;

/// The directory's name under the namespace's state directory.
pub const DIR_NAME: &str = "dnsmasq";
/// The pid file dnsmasq writes (`--pid-file`).
pub const PID_FILE: &str = "dnsmasq.pid";
/// dnsmasq's lease file (`--dhcp-leasefile`): leases survive a restart.
pub const LEASE_FILE: &str = "leases";
/// dnsmasq's log (`--log-facility`), where it explains what it did.
pub const LOG_FILE: &str = "dnsmasq.log";
/// What the starting dnsmasq printed on stderr (its reason when it refuses to start).
pub const START_ERR_FILE: &str = "start.err";
/// The stamp of the files the running instance last loaded.
pub const LOADED_FILE: &str = "loaded";
/// dnsmasq's lease script (`--dhcp-script`): hands every lease event to `brouter
/// dhcp-lease`, which turns a lease into the anti-spoofing binding of its VM.
pub const LEASE_SCRIPT: &str = "lease-script";

/// How long a started dnsmasq gets to show its pid file (it is written before the
/// starting process returns, so this is only a safety net).
const PID_DEADLINE: Duration = Duration::from_secs(2);

/// The dnsmasq executable: `$BROUTER_DNSMASQ` if set, else `dnsmasq` on `PATH`, else
/// `/usr/sbin/dnsmasq` or `/sbin/dnsmasq` (root's PATH has them, a user's often does not).
/// `None` when there is none, so a config asking for DHCP can be refused up front.
pub fn dnsmasq_program() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BROUTER_DNSMASQ").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    crate::daemon::find_program("dnsmasq", &["/usr/sbin/dnsmasq", "/sbin/dnsmasq"])
}

/// The backend's own arguments for a dnsmasq using `dir`, always first and in this order:
/// no config file of the machine's, and every path inside `dir`. [`options_after`] finds
/// brouter's processes by them.
pub fn plumbing(dir: &Path) -> Vec<String> {
    let p = |name: &str| dir.join(name).display().to_string();
    vec![
        "--conf-file=/dev/null".to_string(),
        format!("--pid-file={}", p(PID_FILE)),
        format!("--dhcp-leasefile={}", p(LEASE_FILE)),
        format!("--dhcp-hostsfile={}", p(HOSTS_FILE_DHCP)),
        format!("--addn-hosts={}", p(HOSTS_FILE_DNS)),
        format!("--log-facility={}", p(LOG_FILE)),
        format!("--dhcp-script={}", p(LEASE_SCRIPT)),
    ]
}

/// The lease script: this very brouter binary's `dhcp-lease`, with the state directory
/// it works with (dnsmasq runs the script as root, in its namespace, from a helper
/// process whose environment brouter does not control).
pub fn lease_script() -> String {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "/usr/sbin/brouter".to_string());
    let state = crate::memory::state_base().display().to_string();
    format!(
        "#!/bin/sh\n# brouter's dnsmasq lease script: each lease becomes the anti-spoofing binding of its VM.\n\
         BROUTER_STATE_DIR={} exec {} dhcp-lease \"$@\"\n",
        sh_quote(&state),
        sh_quote(&exe)
    )
}

/// `s` as one shell word.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// brouter's dnsmasq of one namespace: its directory and the namespace it runs in.
#[derive(Debug, Clone)]
pub struct Dnsmasq {
    dir: PathBuf,
    target: NetnsTarget,
}

impl Dnsmasq {
    /// The dnsmasq of the namespace `netns_id` names (its state directory), run in `target`.
    pub fn for_namespace(netns_id: &str, target: NetnsTarget) -> Dnsmasq {
        Dnsmasq::in_dir(crate::memory::state_base().join(netns_id).join(DIR_NAME), target)
    }

    /// A dnsmasq whose files live in `dir` (tests).
    pub fn in_dir(dir: PathBuf, target: NetnsTarget) -> Dnsmasq {
        Dnsmasq { dir, target }
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its [`plumbing`] arguments.
    pub fn plumbing(&self) -> Vec<String> {
        plumbing(&self.dir)
    }

    /// Write dnsmasq's files (name → contents), each replaced whole and world-readable.
    pub fn write_files(&self, files: &BTreeMap<String, String>) -> Result<(), BackendError> {
        self.ensure_dir()?;
        for (name, text) in files {
            if name.is_empty() || name.contains('/') || name.starts_with('.') {
                return Err(BackendError::new(
                    ErrorKind::Invalid,
                    format!("dnsmasq file name {name:?} is not a plain file name"),
                ));
            }
            self.write(name, text.as_bytes())?;
        }
        Ok(())
    }

    /// Start dnsmasq with the plumbing and `options` in the target namespace, ending the
    /// instance brouter started before if it still runs; return once it serves (dnsmasq's
    /// starting process returns after binding its sockets), then stamp `digest` as loaded.
    pub fn start(&self, options: &[String], digest: &str) -> Result<u32, BackendError> {
        let prog = dnsmasq_program().ok_or_else(|| {
            other("start dnsmasq: no dnsmasq found (install dnsmasq-base, or set BROUTER_DNSMASQ)".into())
        })?;
        self.ensure_dir()?;
        if let Some((pid, _)) = self.running()? {
            self.terminate(pid)?;
        }
        // dnsmasq, running as nobody, cannot remove its own pid file; a fresh one then
        // proves the new process wrote it.
        write_atomic(&self.path(LEASE_SCRIPT), lease_script().as_bytes(), 0o755)
            .map_err(|e| from_io(&format!("write {}", self.path(LEASE_SCRIPT).display()), &e))?;
        let pid_file = self.path(PID_FILE);
        remove_if_there(&pid_file).map_err(|e| from_io(&format!("remove {}", pid_file.display()), &e))?;
        let args: Vec<String> = self
            .plumbing()
            .into_iter()
            .chain(options.iter().cloned())
            .collect();
        let status = self.spawn(&prog, args)?;
        if !status.success() {
            return Err(self.start_failed(&prog, status));
        }
        let pid = self.wait_for_pid()?;
        self.write(LOADED_FILE, digest.as_bytes())?;
        Ok(pid)
    }

    /// Make the running dnsmasq re-read its files (SIGHUP), then stamp `digest`.
    pub fn reload(&self, digest: &str) -> Result<(), BackendError> {
        let Some((pid, _)) = self.running()? else {
            return Err(other(
                "reload dnsmasq: brouter's dnsmasq is not running (`brouter start` starts it)".into(),
            ));
        };
        signal(pid, libc::SIGHUP)
            .map_err(|e| from_io(&format!("reload dnsmasq (SIGHUP to pid {pid})"), &e))?;
        self.write(LOADED_FILE, digest.as_bytes())
    }

    /// End brouter's dnsmasq if it runs (waiting until it is gone) and remove the
    /// directory. Nothing there is nothing to do.
    pub fn stop(&self) -> Result<(), BackendError> {
        if let Some((pid, _)) = self.running()? {
            self.terminate(pid)?;
        }
        crate::daemon::remove_dir(&self.dir)
    }

    /// What exists of brouter's dnsmasq: `None` when its directory does not (without it
    /// there is no pid file, so no process of brouter's can be found either).
    pub fn observe(&self) -> Result<Option<ObservedDhcp>, BackendError> {
        if !self.dir.is_dir() {
            return Ok(None);
        }
        let (pid, options) = match self.running()? {
            Some((pid, options)) => (Some(pid), options),
            None => (None, Vec::new()),
        };
        let mut files = BTreeMap::new();
        for name in [HOSTS_FILE_DHCP, HOSTS_FILE_DNS] {
            if let Some(text) = self.read(name)? {
                files.insert(name.to_string(), text);
            }
        }
        let loaded = self.read(LOADED_FILE)?.map(|s| s.trim().to_string());
        Ok(Some(ObservedDhcp {
            pid,
            options,
            files,
            loaded,
        }))
    }

    /// brouter's running dnsmasq: its pid and its options after the plumbing, if the pid
    /// file names a live, non-zombie process with exactly this plumbing in the target
    /// namespace.
    pub fn running(&self) -> Result<Option<(u32, Vec<String>)>, BackendError> {
        crate::daemon::ours(self.read(PID_FILE)?, &self.plumbing(), &self.target, "dnsmasq")
    }

    fn terminate(&self, pid: u32) -> Result<(), BackendError> {
        crate::daemon::terminate(pid, "dnsmasq")
    }

    /// Run dnsmasq from a thread inside the target namespace ([`crate::daemon::spawn`]).
    fn spawn(&self, prog: &Path, args: Vec<String>) -> Result<ExitStatus, BackendError> {
        crate::daemon::spawn(&self.target, prog, args, &self.path(START_ERR_FILE), "dnsmasq")
    }

    /// Why dnsmasq refused to start: its exit code and what it said.
    fn start_failed(&self, prog: &Path, status: ExitStatus) -> BackendError {
        let said = fs::read_to_string(self.path(START_ERR_FILE)).unwrap_or_default();
        let said = said.trim();
        let how = match status.code() {
            Some(code) => format!("exited with code {code}"),
            None => format!("was killed ({status})"),
        };
        let why = if said.is_empty() {
            format!("(no message; see {})", self.path(LOG_FILE).display())
        } else {
            said.to_string()
        };
        other(format!("start dnsmasq ({}): it {how}: {why}", prog.display()))
    }

    /// The pid the started dnsmasq wrote, waiting up to a deadline for the file.
    fn wait_for_pid(&self) -> Result<u32, BackendError> {
        let end = Instant::now() + PID_DEADLINE;
        loop {
            if let Some(pid) = self.read(PID_FILE)?.and_then(|t| t.trim().parse::<u32>().ok()) {
                return Ok(pid);
            }
            if Instant::now() >= end {
                return Err(other(format!(
                    "start dnsmasq: it started but wrote no pid to {} within {} s",
                    self.path(PID_FILE).display(),
                    PID_DEADLINE.as_secs()
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Create the directory (0755) and make every directory from the state base down
    /// searchable, so dnsmasq, as `nobody`, can re-read its files on SIGHUP.
    fn ensure_dir(&self) -> Result<(), BackendError> {
        crate::daemon::ensure_dir(&self.dir, 0o755, "dnsmasq")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Write one file of the directory atomically, world-readable.
    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), BackendError> {
        let path = self.path(name);
        write_atomic(&path, bytes, 0o644).map_err(|e| from_io(&format!("write {}", path.display()), &e))
    }

    /// One file of the directory, `None` when it is not there.
    fn read(&self, name: &str) -> Result<Option<String>, BackendError> {
        crate::daemon::read(&self.path(name))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn argv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plumbing_is_fixed_and_first() {
        let p = plumbing(Path::new("/run/brouter/cookie-1/dnsmasq"));
        assert_eq!(
            p,
            [
                "--conf-file=/dev/null",
                "--pid-file=/run/brouter/cookie-1/dnsmasq/dnsmasq.pid",
                "--dhcp-leasefile=/run/brouter/cookie-1/dnsmasq/leases",
                "--dhcp-hostsfile=/run/brouter/cookie-1/dnsmasq/dhcp-hosts",
                "--addn-hosts=/run/brouter/cookie-1/dnsmasq/hosts",
                "--log-facility=/run/brouter/cookie-1/dnsmasq/dnsmasq.log",
                "--dhcp-script=/run/brouter/cookie-1/dnsmasq/lease-script",
            ]
        );
    }

    #[test]
    fn the_lease_script_runs_this_brouter_with_its_state_directory() {
        let script = lease_script();
        assert!(script.starts_with("#!/bin/sh\n"), "{script}");
        assert!(script.contains(" dhcp-lease \"$@\""), "{script}");
        assert!(script.contains("BROUTER_STATE_DIR='"), "{script}");
        assert_eq!(sh_quote("a'b"), "'a'\\''b'");
    }

    #[test]
    fn a_cmdline_splits_at_nuls_and_keeps_empty_arguments() {
        assert_eq!(
            parse_cmdline(b"dnsmasq\0--a\0\0--b=c d\0"),
            ["dnsmasq", "--a", "", "--b=c d"]
        );
        assert_eq!(parse_cmdline(b"dnsmasq\0--a"), ["dnsmasq", "--a"]);
        assert!(
            parse_cmdline(b"").is_empty(),
            "a kernel thread or a zombie has none"
        );
    }

    #[test]
    fn options_are_what_follows_exactly_this_plumbing() {
        let dir = Path::new("/s/cookie-1/dnsmasq");
        let p = plumbing(dir);
        let mut cmd = argv(&["/usr/sbin/dnsmasq"]);
        cmd.extend(p.iter().cloned());
        cmd.extend(argv(&["--no-hosts", "--interface=br0"]));
        assert_eq!(
            options_after(&cmd, &p).unwrap(),
            ["--no-hosts", "--interface=br0"]
        );

        let mut bare = argv(&["dnsmasq"]);
        bare.extend(p.iter().cloned());
        assert_eq!(options_after(&bare, &p).unwrap(), Vec::<String>::new());

        let other_dir = plumbing(Path::new("/s/cookie-2/dnsmasq"));
        assert_eq!(
            options_after(&cmd, &other_dir),
            None,
            "another namespace's instance"
        );
        let mut shuffled = cmd.clone();
        shuffled.swap(1, 2);
        assert_eq!(options_after(&shuffled, &p), None, "plumbing out of order");
        assert_eq!(options_after(&cmd[..3], &p), None, "plumbing cut short");
        assert_eq!(
            options_after(&argv(&["dnsmasq", "-k"]), &p),
            None,
            "a foreign dnsmasq"
        );
        assert_eq!(options_after(&[], &p), None);
    }

    #[test]
    fn the_state_letter_follows_the_last_parenthesis() {
        assert_eq!(stat_state("123 (dnsmasq) S 1 123 123 0 -1"), Some('S'));
        assert_eq!(stat_state("123 (dnsmasq) Z 1 123"), Some('Z'));
        assert_eq!(
            stat_state("7 (a) b) (c) R 1 7"),
            Some('R'),
            "a name with parentheses and spaces"
        );
        assert_eq!(stat_state("garbage"), None);
    }

    #[test]
    fn files_are_written_world_readable_and_stop_removes_them() {
        let dir = std::env::temp_dir().join(format!("brouter-dnsmasq-unit-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let d = Dnsmasq::in_dir(dir.join("dnsmasq"), NetnsTarget::Current);
        let files = BTreeMap::from([
            (
                HOSTS_FILE_DHCP.to_string(),
                "52:54:00:00:00:01,10.0.0.5,a\n".to_string(),
            ),
            (HOSTS_FILE_DNS.to_string(), "10.0.0.5 a a.n\n".to_string()),
        ]);
        d.write_files(&files).unwrap();
        for name in [HOSTS_FILE_DHCP, HOSTS_FILE_DNS] {
            let mode = fs::metadata(d.dir().join(name)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644, "{name}");
        }
        let dir_mode = fs::metadata(d.dir()).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o755);
        let seen = d.observe().unwrap().expect("the directory exists");
        assert_eq!(seen.files, files);
        assert_eq!(seen.pid, None);
        assert_eq!(seen.loaded, None);
        assert!(d
            .write_files(&BTreeMap::from([("../x".to_string(), String::new())]))
            .is_err());
        d.stop().unwrap();
        assert!(!d.dir().exists());
        assert_eq!(d.observe().unwrap(), None);
        d.stop().unwrap();
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_pid_file_naming_a_foreign_process_is_not_brouters() {
        let dir = std::env::temp_dir().join(format!("brouter-dnsmasq-pid-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let d = Dnsmasq::in_dir(dir.join("dnsmasq"), NetnsTarget::Current);
        d.write_files(&BTreeMap::new()).unwrap();
        // This test process: alive, in this namespace, but without the plumbing.
        d.write(PID_FILE, format!("{}\n", std::process::id()).as_bytes())
            .unwrap();
        assert_eq!(d.running().unwrap(), None);
        d.write(PID_FILE, b"2147483646\n").unwrap();
        assert_eq!(d.running().unwrap(), None, "a pid that does not exist");
        let _ = fs::remove_dir_all(&dir);
    }
}
