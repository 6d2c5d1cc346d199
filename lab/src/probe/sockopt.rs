//! `setsockopt(2)` for the boolean options socket2 does not wrap (`IP_RECVERR`,
//! `IP_PKTINFO`), in one place so each caller states only which option it wants.

use std::io;
use std::mem::size_of;
use std::os::fd::AsRawFd;

/// Turn the boolean socket option `level`/`name` of `sock` on.
pub(crate) fn enable(sock: &impl AsRawFd, level: libc::c_int, name: libc::c_int) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid fd and a c_int option of the right size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
