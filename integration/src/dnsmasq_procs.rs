//! Finding the dnsmasq processes a test's `brouter start` launched, by the state directory
//! on their command line: to assert how many run, that a restart changed the pid, that
//! `stop` ended them, and to kill what a failed test left (a live dnsmasq keeps its
//! namespace alive).

use std::path::Path;

/// The live (not zombie) processes with a `--pid-file=` under `dir` on their command
/// line: the dnsmasqs whose files are there, and their lease-script helpers.
pub fn processes_naming(dir: &Path) -> Vec<u32> {
    let needle = format!("--pid-file={}/", dir.display());
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            // A zombie's command line is empty.
            cmd.split(|b| *b == 0).any(|a| a.starts_with(needle.as_bytes()))
        })
        .collect()
}

/// The dnsmasqs of `dir` without their lease-script helpers (children with the same
/// command line).
pub fn main_processes(dir: &Path) -> Vec<u32> {
    let all = processes_naming(dir);
    all.iter()
        .copied()
        .filter(|p| !all.contains(&parent(*p)))
        .collect()
}

/// The parent of `pid` (0 when it cannot be read).
pub fn parent(pid: u32) -> u32 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// SIGKILL the dnsmasqs whose files are under `dir`.
pub fn kill_processes_naming(dir: &Path) {
    for pid in processes_naming(dir) {
        // SAFETY: kill(2) with plain integers; `pid` runs with the test's files.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }
}

/// Whether `pid` has exited (gone, or a zombie its parent has not reaped yet).
pub fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => matches!(
            stat.rsplit_once(')')
                .and_then(|(_, r)| r.trim_start().chars().next()),
            Some('Z' | 'X')
        ),
        Err(_) => true,
    }
}
