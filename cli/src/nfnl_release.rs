//! Let a short-lived child, not the hook, wait out nf_tables' teardown of deleted elements.
//!
//! `vif offline` deletes the vif's binding elements in one committed nf_tables batch.
//! The kernel frees deleted elements after an RCU grace period in a global work item,
//! and whenever *any* nfnetlink socket is released it first flushes that work
//! (`nft_rcv_nl_event` → `nf_tables_trans_destroy_flush_work`), so the process that
//! closes its socket right after such a commit sleeps a grace period (5–15 ms here)
//! before it can exit. xl waits for the hook's exit, so `vif offline` cost ~6× an `online`
//! (which only adds elements: no deferred work).
//!
//! The deletion is already committed when the socket is closed; only the wait remains.
//! So before the hook drops its sockets it forks a child that keeps just its nfnetlink
//! sockets and exits: the child's exit is then the last release and the one that waits,
//! while the hook exits at once. The child runs nothing but `getsockopt`, `close` and
//! `_exit` (safe after `fork` in a multi-threaded process), closes every other descriptor
//! first (xl's pipes, brouter's lock) and is reaped by init once the hook has exited.

/// Fork the child described in the module documentation. Best effort: if `fork` fails
/// the hook simply waits as before.
pub fn hand_off() {
    // SAFETY: the child only calls async-signal-safe system calls, then `_exit`.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: as above; no allocation, no locks, no Rust runtime after fork.
        unsafe { keep_nfnetlink_and_exit() }
    }
}

/// In the child: close every descriptor that is not a netfilter netlink socket, exit.
///
/// # Safety
/// Only to be called in a freshly forked child.
unsafe fn keep_nfnetlink_and_exit() -> ! {
    // The hook opens a handful of descriptors; anything above 1,024 goes in one call.
    const LOW: libc::c_int = 1024;
    for fd in 0..LOW {
        if !is_nfnetlink(fd) {
            libc::close(fd);
        }
    }
    libc::syscall(
        libc::SYS_close_range,
        LOW as libc::c_uint,
        libc::c_uint::MAX,
        0 as libc::c_uint,
    );
    libc::_exit(0)
}

/// Whether `fd` is an `AF_NETLINK` socket of protocol `NETLINK_NETFILTER`.
///
/// # Safety
/// Any `fd` is fine: `getsockopt` on a closed or non-socket descriptor just fails.
unsafe fn is_nfnetlink(fd: libc::c_int) -> bool {
    let opt = |name: libc::c_int| -> Option<libc::c_int> {
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let rc = libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            name,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        );
        (rc == 0).then_some(v)
    };
    opt(libc::SO_DOMAIN) == Some(libc::AF_NETLINK) && opt(libc::SO_PROTOCOL) == Some(libc::NETLINK_NETFILTER)
}
