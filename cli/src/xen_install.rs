//! `brouter xen install|uninstall`: put brouter's vif hook where xl looks for it.
//!
//! xl runs the `script=` of each vif spec, a relative name resolving in `/etc/xen/scripts`
//! (FIELD-NOTES, "How Xen calls brouter"). The hook is a short sh wrapper around
//! `brouter vif` (and `brouter start|stop` for xend's network-script; template:
//! `dist/vif-brouter`), installed as `brouter` (`script=brouter`) and `vif-brouter` (the
//! older name), marked so that brouter only ever overwrites or removes a file it wrote
//! itself: the scripts directory belongs to Xen. The package ships the same files.

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::json;

use crate::exit::{Failure, OK};

/// The hook's file names, as vif specs name it: `script=brouter` (first, what the docs
/// show) and `script=vif-brouter` (the name older setups use).
pub const HOOK_NAMES: [&str; 2] = ["brouter", "vif-brouter"];
/// Where xl resolves a relative `script=`.
pub const DEFAULT_DIR: &str = "/etc/xen/scripts";
/// The line that says brouter wrote a file; nothing without it is touched.
pub const MARKER: &str = "# managed by brouter";
const TEMPLATE: &str = include_str!("../../dist/vif-brouter");

#[derive(Debug, Subcommand)]
pub enum XenCommand {
    /// Write the vif hook (`brouter`, and `vif-brouter` for older specs) into the Xen
    /// scripts directory and print the xl.cfg / xl.conf lines that use it. Never
    /// overwrites a file brouter did not write.
    Install {
        /// The Xen hotplug scripts directory.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_DIR)]
        dir: PathBuf,
    },
    /// Remove the vif hook again (only if brouter wrote it).
    Uninstall {
        /// The Xen hotplug scripts directory.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_DIR)]
        dir: PathBuf,
    },
}

/// What is at the hook's path now.
enum Existing {
    Nothing,
    Ours(String),
    Foreign,
}

pub fn xen(cmd: &XenCommand, json_out: bool) -> Result<u8, Failure> {
    match cmd {
        XenCommand::Install { dir } => install(dir, json_out),
        XenCommand::Uninstall { dir } => uninstall(dir, json_out),
    }
}

/// The hook's text for the brouter binary at `exe`.
pub fn hook_text(exe: &Path) -> String {
    // Single-quoted for sh; a `'` inside becomes `'\''`.
    let quoted = format!("'{}'", exe.display().to_string().replace('\'', r"'\''"));
    TEMPLATE.replace("@BROUTER@", &quoted)
}

fn install(dir: &Path, json_out: bool) -> Result<u8, Failure> {
    check_dir(dir)?;
    // The hook runs exactly the brouter that installed it: xl's PATH is not ours to rely on.
    let exe =
        std::env::current_exe().map_err(|e| Failure::op(format!("cannot find brouter's own binary: {e}")))?;
    let text = hook_text(&exe);
    // Every name is checked before any is written: a foreign file stops the whole install.
    let mut todo = Vec::new();
    for name in HOOK_NAMES {
        let path = dir.join(name);
        match existing(&path)? {
            Existing::Foreign => return Err(foreign(&path, "overwrite")),
            Existing::Ours(old) if old == text && is_executable(&path) => {}
            Existing::Ours(_) | Existing::Nothing => todo.push((name, path)),
        }
    }
    let changed = !todo.is_empty();
    for (name, path) in &todo {
        write_executable(dir, name, path, &text)?;
    }
    let path = dir.join(HOOK_NAMES[0]);
    let xl_cfg = "vif = ['mac=00:16:3e:xx:xx:xx,bridge=xenbr0,script=brouter']";
    let xl_conf = "vif.default.script=\"brouter\"";
    if json_out {
        let v =
            json!({ "hook": path, "changed": changed, "brouter": exe, "xl_cfg": xl_cfg, "xl_conf": xl_conf });
        crate::json::print(v);
        return Ok(OK);
    }
    let what = if changed { "installed" } else { "already installed" };
    println!(
        "{what}: {} and {} (runs {} vif)",
        path.display(),
        HOOK_NAMES[1],
        exe.display()
    );
    println!("Use it for a domU's vif in its xl.cfg (mac= the host's `mac`, bridge= one of brouter's):");
    println!("  {xl_cfg}");
    println!("or for every vif without a script=, in /etc/xen/xl.conf:");
    println!("  {xl_conf}");
    Ok(OK)
}

fn uninstall(dir: &Path, json_out: bool) -> Result<u8, Failure> {
    let mut ours = Vec::new();
    for name in HOOK_NAMES {
        let path = dir.join(name);
        match existing(&path)? {
            Existing::Foreign => return Err(foreign(&path, "remove")),
            Existing::Nothing => {}
            Existing::Ours(_) => ours.push(path),
        }
    }
    for p in &ours {
        std::fs::remove_file(p).map_err(|e| Failure::op(format!("{}: {e}", p.display())))?;
    }
    let removed = !ours.is_empty();
    let path = dir.join(HOOK_NAMES[0]);
    if json_out {
        crate::json::print(json!({ "hook": path, "changed": removed }));
    } else if removed {
        for p in &ours {
            println!("removed {}", p.display());
        }
        println!("domUs whose vif spec says script=brouter will not start until it is back.");
    } else {
        println!("nothing to do: {} is not installed", path.display());
    }
    Ok(OK)
}

fn check_dir(dir: &Path) -> Result<(), Failure> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Failure::usage(format!("{}: not a directory", dir.display()))),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(Failure::usage(format!(
            "{}: no such directory; is Xen installed? (--dir names another scripts directory)",
            dir.display()
        ))),
        Err(e) => Err(Failure::op(format!("{}: {e}", dir.display()))),
    }
}

fn existing(path: &Path) -> Result<Existing, Failure> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if text.lines().any(|l| l.starts_with(MARKER)) {
                Ok(Existing::Ours(text))
            } else {
                Ok(Existing::Foreign)
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Existing::Nothing),
        Err(e) => Err(Failure::op(format!("{}: {e}", path.display()))),
    }
}

fn foreign(path: &Path, verb: &str) -> Failure {
    Failure::usage(format!(
        "{}: not written by brouter (no `{MARKER}` line), so brouter will not {verb} it; \
         move it away or pass --dir",
        path.display()
    ))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 == 0o111)
}

/// Write via a temporary file and a rename, so xl never runs a half-written hook.
fn write_executable(dir: &Path, name: &str, path: &Path, text: &str) -> Result<(), Failure> {
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let fail = |e: std::io::Error| Failure::op(format!("{}: {e}", tmp.display()));
    std::fs::write(&tmp, text).map_err(fail)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Failure::op(format!("{}: {e}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_quotes_the_binary_path_for_sh() {
        let text = hook_text(Path::new("/opt/it's/brouter"));
        assert!(text.contains(r"brouter='/opt/it'\''s/brouter'"), "{text}");
        assert!(text.lines().any(|l| l.starts_with(MARKER)));
        assert!(!text.contains("@BROUTER@"));
    }
}
