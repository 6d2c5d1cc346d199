//! Running `nft` inside the target namespace, keeping its complaint.
//!
//! The `nftables` crate spawns `nft` but drops its stderr on failure (FIELD-NOTES), and a
//! child process inherits the namespace of the thread that spawns it. So brouter spawns
//! `nft` itself, from a thread inside the target namespace, with every pipe captured.

use std::io::Write;
use std::process::{Command, Stdio};

use brouter_engine::{BackendError, ErrorKind};

use crate::NetnsTarget;

/// What `nft` printed.
#[derive(Debug, Clone)]
pub struct NftOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Run `nft ARGS…` in `target`, feeding `stdin` if given.
pub fn nft(target: &NetnsTarget, args: &[&str], stdin: Option<String>) -> Result<NftOutput, BackendError> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let shown = format!("nft {}", args.join(" "));
    let ran = target.run(move || -> std::io::Result<NftOutput> {
        let mut child = Command::new("nft")
            .args(&args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        Ok(NftOutput {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    });
    match ran {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) | Err(e) => {
            let (kind, hint) = match e.kind() {
                std::io::ErrorKind::NotFound => (ErrorKind::Other, " — is the nftables package installed?"),
                std::io::ErrorKind::PermissionDenied => (ErrorKind::Permission, " — brouter needs root"),
                _ => (ErrorKind::Other, ""),
            };
            Err(BackendError::new(
                kind,
                format!(
                    "cannot run {shown} in network namespace {}: {e}{hint}",
                    target.label()
                ),
            ))
        }
    }
}

/// The error kind nft's complaint stands for.
pub fn kind_of(stderr: &str) -> ErrorKind {
    if stderr.contains("Operation not permitted") || stderr.contains("Permission denied") {
        ErrorKind::Permission
    } else if stderr.contains("Operation not supported") || stderr.contains("No such file or directory") {
        // nft says ENOENT when the kernel lacks an expression's module, too.
        ErrorKind::Unsupported
    } else {
        ErrorKind::Other
    }
}
