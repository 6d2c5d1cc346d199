//! The fake xenstore's tools as one compiled program (`xenstore-read`, `-write`, `-list`,
//! `-exists`, `-rm`, chosen by the name it is copied under), with the conventions of
//! integration/src/fake_xenstore.rs's sh scripts: the store is `../store` next to the
//! directory the copy lives in, paths are relative to `/local/domain/0` unless absolute,
//! every call is logged to `../calls.log`, and `../fail-writes` makes writes fail.
//!
//! Why: the real tools are C programs that start in about a millisecond; the sh scripts
//! take ~4 ms each, which hides what the hook itself costs. The bench's hook case runs
//! against both.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let exe = std::env::current_exe().expect("own path");
    let name = exe
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let root = exe.parent().and_then(Path::parent).expect("bin/..").to_path_buf();
    let store = root.join("store");
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Ok(mut log) = std::fs::OpenOptions::new()
        .append(true)
        .open(root.join("calls.log"))
    {
        let _ = writeln!(log, "{name} {}", args.join(" "));
    }
    let key = |p: &str| -> PathBuf {
        match p.strip_prefix('/') {
            Some(abs) => store.join(abs),
            None => store.join("local/domain/0").join(p),
        }
    };
    let mut out = std::io::stdout().lock();
    match name.as_str() {
        "xenstore-read" => {
            for p in &args {
                match std::fs::read_to_string(key(p)) {
                    Ok(v) => {
                        let _ = out.write_all(v.as_bytes());
                    }
                    Err(_) => {
                        eprintln!("xenstore-read: couldn't read path {p}");
                        return ExitCode::from(1);
                    }
                }
            }
        }
        "xenstore-write" => {
            if root.join("fail-writes").exists() {
                eprintln!("xenstore-write: could not write path");
                return ExitCode::from(1);
            }
            if args.is_empty() || !args.len().is_multiple_of(2) {
                eprintln!("Usage: xenstore-write key value [key value ...]");
                return ExitCode::from(2);
            }
            for kv in args.chunks(2) {
                let k = key(&kv[0]);
                let _ = std::fs::create_dir_all(k.parent().expect("a key has a parent"));
                if std::fs::write(&k, format!("{}\n", kv[1])).is_err() {
                    return ExitCode::from(1);
                }
            }
        }
        "xenstore-list" => {
            let dir = args.first().map(|p| key(p)).unwrap_or_default();
            let Ok(entries) = std::fs::read_dir(&dir) else {
                eprintln!(
                    "xenstore-list: couldn't list path {}",
                    args.first().map_or("", String::as_str)
                );
                return ExitCode::from(1);
            };
            let mut names: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for n in names {
                let _ = writeln!(out, "{n}");
            }
        }
        "xenstore-exists" => {
            if !args.iter().all(|p| key(p).exists()) {
                return ExitCode::from(1);
            }
        }
        "xenstore-rm" => {
            for p in &args {
                let k = key(p);
                let _ = std::fs::remove_dir_all(&k).or_else(|_| std::fs::remove_file(&k));
            }
        }
        other => {
            eprintln!("fake-xenstore-tool: called as {other}, not as a xenstore tool");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
