//! Let a short-lived child, not the hook (or `start`/`stop`), wait out nf_tables' teardown
//! of deleted elements.
//!
//! `vif offline` deletes the vif's binding elements in one committed nf_tables batch.
//! The kernel frees deleted elements after an RCU grace period in a global work item,
//! and whenever *any* bound nfnetlink socket is released it first flushes that work
//! (`nft_rcv_nl_event` → `nf_tables_trans_destroy_flush_work`), so the process that
//! closes its socket right after such a commit sleeps a grace period (5–15 ms here)
//! before it can exit. xl waits for the hook's exit, so `vif offline` cost ~4× an `online`
//! (which only adds elements: their transactions are freed at commit, nothing deferred) —
//! and an `online` that follows an offline within that grace period waits for the rest
//! of it the same way.
//!
//! The change is committed and acknowledged when the socket is closed; only the wait
//! remains, and it changes nothing anyone can observe. So before the hook (`vif online`
//! and `vif offline` alike) drops its sockets it forks a child that keeps just its
//! nfnetlink sockets: the child's exit is then the last release and the one that waits,
//! while the hook exits at once. Why this
//! is safe (docs/decisions.md, "vif offline hands the socket release to a child"):
//! - the child runs nothing but `close_range`, `read`, `nanosleep` and `_exit` (safe after
//!   `fork` in a multi-threaded process: no allocation, no locks); which descriptors to
//!   keep is found before the fork, from `/proc/self/fd`, so the child closes the rest in a
//!   few `close_range` calls instead of probing a thousand descriptors while the next hook
//!   runs;
//! - it closes every other descriptor first — xl's pipes (no output, no held-open pipe
//!   after the hook exits) and brouter's per-namespace lock (the next `start` or
//!   `vif online` is not held up by it, and finds the change complete: the kernel
//!   answered before the fork);
//! - it waits, on a pipe, for the hook to exit before it exits itself, so its release is
//!   really the last one (the hook never pays the wait), and it is never a zombie of the
//!   hook: its parent is gone when it ends, and init (or a subreaper) reaps it;
//! - it then waits [`RELEASE_DELAY_MS`] more before it releases: a release that flushes
//!   pending work holds the namespace's nf_tables commit mutex meanwhile, so releasing at
//!   once only moved the wait into the next hook's commit;
//! - killing it at any point leaves the same state: the kernel's deferred free runs on
//!   its own, the release only waits for it.
//!
//! `start` and `stop` hand off the same way after applying a plan: a `start` that moves
//! one forward's port deletes its old map elements, and its exit would wait the grace
//! period too (10–15 ms of a ~20 ms change at 10,000 forwards).

/// How long the child keeps the sockets after the hook has exited: several RCU grace
/// periods (5–15 ms here), so its release normally finds nothing left to flush.
const RELEASE_DELAY_MS: libc::c_long = 200;

/// Fork the child described in the module documentation. Best effort: if the pipe or
/// `fork` fails, the hook simply waits as before.
pub fn hand_off() {
    let mut pipe = [0 as libc::c_int; 2];
    // SAFETY: a plain system call on a local array.
    if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return;
    }
    let [read_end, write_end] = pipe;
    let mut keep = [0 as libc::c_int; KEEP_MAX];
    let kept = kept_descriptors(read_end, &mut keep);
    // SAFETY: the child only calls async-signal-safe system calls, then `_exit`.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: as above; no allocation, no locks, no Rust runtime after fork.
        unsafe { keep_nfnetlink_until_parent_exits(read_end, &keep[..kept]) }
    }
    // SAFETY: closing descriptors this function opened.
    unsafe {
        libc::close(read_end);
        if pid < 0 {
            libc::close(write_end);
        }
    }
    // Otherwise the write end stays open on purpose: the kernel closes it when this
    // process exits (CLOEXEC keeps it out of any program started meanwhile), and that
    // end-of-file is the child's signal.
}

/// At most this many descriptors are kept (brouter opens two nfnetlink sockets); the
/// rest of a longer list is closed, which only brings the wait back to the hook.
const KEEP_MAX: usize = 16;

/// The descriptors the child keeps, ascending, into `keep`; how many. The pipe's read end
/// and every nfnetlink socket, as `/proc/self/fd` lists them (read before the fork, where
/// allocating is fine).
fn kept_descriptors(read_end: libc::c_int, keep: &mut [libc::c_int; KEEP_MAX]) -> usize {
    let mut fds: Vec<libc::c_int> = std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    // SAFETY: `getsockopt` on a descriptor that is closed or not a socket just fails.
    fds.retain(|&fd| fd == read_end || unsafe { is_nfnetlink(fd) });
    if !fds.contains(&read_end) {
        fds.push(read_end);
    }
    fds.sort_unstable();
    fds.truncate(KEEP_MAX);
    keep[..fds.len()].copy_from_slice(&fds);
    fds.len()
}

/// In the child: close every descriptor but `keep` (ascending: the pipe's read end and the
/// nfnetlink sockets), wait for end-of-file on the pipe, exit.
///
/// # Safety
/// Only to be called in a freshly forked child.
unsafe fn keep_nfnetlink_until_parent_exits(read_end: libc::c_int, keep: &[libc::c_int]) -> ! {
    let close_range = |first: libc::c_int, last: libc::c_uint| {
        if (first as libc::c_uint) <= last {
            libc::syscall(
                libc::SYS_close_range,
                first as libc::c_uint,
                last,
                0 as libc::c_uint,
            );
        }
    };
    let mut next = 0;
    for &fd in keep {
        if fd > 0 {
            close_range(next, (fd - 1) as libc::c_uint);
        }
        next = fd + 1;
    }
    close_range(next, libc::c_uint::MAX);
    let mut byte = 0u8;
    loop {
        let n = libc::read(read_end, (&mut byte as *mut u8).cast(), 1);
        // End of file (every write end closed: the hook has exited) or an error other
        // than an interruption: done.
        if n == 0 || (n < 0 && *libc::__errno_location() != libc::EINTR) {
            break;
        }
    }
    // Let the grace period pass before releasing: a release while the deferred free is
    // pending flushes it holding the namespace's nf_tables commit mutex, which would make
    // the next hook's commit (an online right after an offline) wait instead. After the
    // grace period nf_tables' worker has freed the elements and the release is quick.
    let mut pause = libc::timespec {
        tv_sec: 0,
        tv_nsec: RELEASE_DELAY_MS * 1_000_000,
    };
    while libc::nanosleep(&pause, &mut pause) != 0 && *libc::__errno_location() == libc::EINTR {}
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
