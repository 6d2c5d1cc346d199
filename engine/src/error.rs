//! Backend errors, classified the way the kernel classifies them.
//!
//! The simulator must fail where Linux fails *with the same kind*, so the differential
//! tests can compare them; the kind is therefore the errno's meaning, not a backend detail.

use serde::{Deserialize, Serialize};

/// What went wrong, in the kernel's own terms (the errno it would return).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// EEXIST: a link, address or route that is already there.
    Exists,
    /// ENODEV: the named link does not exist.
    NoDevice,
    /// ESRCH: deleting a route that is not there.
    NoSuchRoute,
    /// EADDRNOTAVAIL: deleting an address that is not there.
    AddrNotAvail,
    /// ENETUNREACH: a route whose gateway cannot be reached.
    NetUnreachable,
    /// ENETDOWN: a route through a link that is down.
    NetDown,
    /// EBUSY: e.g. renaming a link that is up (kernels before 6.2).
    Busy,
    /// EXFULL: a bridge that already has its 1,023 ports (BR_MAX_PORTS) refuses another.
    Full,
    /// ENAMETOOLONG: an interface name longer than 15 bytes (IFNAMSIZ - 1).
    NameTooLong,
    /// EPERM / EACCES: not root / no CAP_NET_ADMIN.
    Permission,
    /// EOPNOTSUPP / EINVAL on something the kernel does not support here.
    Unsupported,
    /// EINVAL and friends: the request itself was wrong.
    Invalid,
    /// A simulated crash (fault injection): the process "died" before this op.
    Crashed,
    /// Anything else (I/O on /proc, nft failing, …).
    Other,
}

impl ErrorKind {
    /// The errno name, as an admin would search for it.
    pub fn errno_name(self) -> &'static str {
        match self {
            ErrorKind::Exists => "EEXIST",
            ErrorKind::NoDevice => "ENODEV",
            ErrorKind::NoSuchRoute => "ESRCH",
            ErrorKind::AddrNotAvail => "EADDRNOTAVAIL",
            ErrorKind::NetUnreachable => "ENETUNREACH",
            ErrorKind::NetDown => "ENETDOWN",
            ErrorKind::Busy => "EBUSY",
            ErrorKind::Full => "EXFULL",
            ErrorKind::NameTooLong => "ENAMETOOLONG",
            ErrorKind::Permission => "EPERM",
            ErrorKind::Unsupported => "EOPNOTSUPP",
            ErrorKind::Invalid => "EINVAL",
            ErrorKind::Crashed => "CRASHED",
            ErrorKind::Other => "EIO",
        }
    }

    /// Map a negative (or positive) errno from netlink to a kind.
    pub fn from_errno(code: i32) -> ErrorKind {
        match code.abs() {
            17 => ErrorKind::Exists,
            19 => ErrorKind::NoDevice,
            3 => ErrorKind::NoSuchRoute,
            99 => ErrorKind::AddrNotAvail,
            101 => ErrorKind::NetUnreachable,
            100 => ErrorKind::NetDown,
            16 => ErrorKind::Busy,
            54 => ErrorKind::Full,
            36 => ErrorKind::NameTooLong,
            1 | 13 => ErrorKind::Permission,
            95 => ErrorKind::Unsupported,
            22 => ErrorKind::Invalid,
            _ => ErrorKind::Other,
        }
    }
}

/// A failed backend operation: its kind plus a message for the admin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{message} ({})", kind.errno_name())]
pub struct BackendError {
    pub kind: ErrorKind,
    pub message: String,
}

impl BackendError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        BackendError {
            kind,
            message: message.into(),
        }
    }
}
