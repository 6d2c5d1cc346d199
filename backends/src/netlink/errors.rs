//! Netlink failures as [`BackendError`]s: the kernel's errno decides the kind (so the
//! simulator can be held to the same kinds), the message tells the admin what to do.

use std::io;

use brouter_engine::{BackendError, ErrorKind};

/// Turn an rtnetlink failure of `what` (e.g. `create bridge xenbr0`) into a backend error.
pub fn from_rtnl(what: &str, err: rtnetlink::Error) -> BackendError {
    match err {
        rtnetlink::Error::NetlinkError(msg) => from_errno(what, msg.raw_code()),
        other => BackendError::new(ErrorKind::Other, format!("{what}: netlink: {other}")),
    }
}

/// Classify a (negative or positive) errno returned for `what`.
pub fn from_errno(what: &str, code: i32) -> BackendError {
    let kind = ErrorKind::from_errno(code);
    let text = errno_text(code);
    let message = match kind {
        ErrorKind::Permission => {
            format!("{what}: permission denied: run as root or with CAP_NET_ADMIN")
        }
        _ => format!("{what}: {text}"),
    };
    BackendError::new(kind, message)
}

/// An `io::Error` from `/proc`, a state file or a namespace file, with what was being done.
pub fn from_io(what: &str, err: &io::Error) -> BackendError {
    // ENOENT, EIO, … on files are not kernel-object errors: only a refusal gets a kind.
    let refused = matches!(err.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES))
        || err.kind() == io::ErrorKind::PermissionDenied;
    if refused {
        return BackendError::new(
            ErrorKind::Permission,
            format!("{what}: permission denied: run as root"),
        );
    }
    BackendError::new(ErrorKind::Other, format!("{what}: {err}"))
}

/// The errno's text without std's ` (os error N)` suffix (the kind already names it).
fn errno_text(code: i32) -> String {
    let text = io::Error::from_raw_os_error(code.abs()).to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eperm_tells_the_admin_to_use_root() {
        let e = from_errno("create bridge xenbr0", -1);
        assert_eq!(e.kind, ErrorKind::Permission);
        assert!(
            e.message.contains("run as root or with CAP_NET_ADMIN"),
            "{}",
            e.message
        );
    }

    #[test]
    fn eexist_keeps_what_and_the_kernel_text() {
        let e = from_errno("add address 10.0.0.1/24 to br0", -17);
        assert_eq!(e.kind, ErrorKind::Exists);
        assert_eq!(e.message, "add address 10.0.0.1/24 to br0: File exists");
    }
}
