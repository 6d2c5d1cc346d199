//! Writing brouter's state files (under `/run/brouter/`) so that a kill at any instant
//! leaves the old file or the new one, never half of one — and no litter.
//!
//! A file is written to `.<name>.<pid>.tmp` beside it, `fsync`ed, then renamed over the
//! old one (and the directory `fsync`ed, so the rename itself is durable where `/run` is
//! not a tmpfs). A kill between the create and the rename leaves that temporary file: the
//! next command that reads or writes state in that directory removes every such file whose
//! writer is gone ([`sweep`]), so leftovers never pile up.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The temporary file `path` is written through by this process.
fn tmp_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or(OsStr::new("state"));
    path.with_file_name(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()))
}

/// Write `bytes` to `path` atomically and durably (see the module docs), creating its
/// directory if needed.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_as(path, bytes, None)
}

/// [`write`], the file with exactly `mode` whatever the umask when one is given (a daemon
/// that drops its privileges reads it).
pub fn write_as(path: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    sweep(dir);
    let tmp = tmp_path(path);
    let result = (|| {
        let mut open = fs::OpenOptions::new();
        open.write(true).create(true).truncate(true);
        if let Some(mode) = mode {
            open.mode(mode);
        }
        let mut f = open.open(&tmp)?;
        if let Some(mode) = mode {
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The pid a temporary file `.<name>.<pid>.tmp` was written by, if `name` is one.
fn writer_of(file_name: &str) -> Option<i32> {
    let rest = file_name.strip_prefix('.')?.strip_suffix(".tmp")?;
    rest.rsplit_once('.')?.1.parse().ok()
}

/// Whether process `pid` exists (a pid that was reused looks alive: its file then waits
/// for a later sweep, which is harmless).
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists; no memory is involved.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Remove the temporary files in `dir` whose writer is gone (killed mid-write). Errors are
/// ignored: a reader without the right to remove them (a non-root `status`) leaves them
/// to the next command that has it.
pub fn sweep(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let me = std::process::id() as i32;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = writer_of(&name.to_string_lossy()) else {
            continue;
        };
        if pid != me && !alive(pid) {
            let _ = fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_file_and_leaves_no_temporary_file() {
        let dir = tempfile_dir("write");
        let path = dir.join("memory.json");
        write(&path, b"one").unwrap();
        write(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["memory.json"]);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn leftovers_of_dead_writers_are_swept_and_a_live_writers_kept() {
        let dir = tempfile_dir("sweep");
        // pid 0x7ffffffe does not exist (above pid_max); pid 1 always does.
        let dead = dir.join(".memory.json.2147483646.tmp");
        let live = dir.join(".memory.json.1.tmp");
        let other = dir.join("notes.tmp");
        for p in [&dead, &live, &other] {
            fs::write(p, b"").unwrap();
        }
        sweep(&dir);
        assert!(!dead.exists(), "a dead writer's leftover is removed");
        assert!(live.exists(), "a live writer's file is kept");
        assert!(
            other.exists(),
            "files of other shapes are not brouter's to remove"
        );
        let _ = fs::remove_dir_all(dir);
    }

    fn tempfile_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("brouter-state-file-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }
}
