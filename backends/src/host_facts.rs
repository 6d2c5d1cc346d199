//! Foreign facts `status` warns about: things other tools do on the same host that
//! silently break VM networking, and that users otherwise spend hours finding.

use std::io;

use brouter_engine::{BackendError, ErrorKind, HostFacts};
use netlink_wire::Socket;
use nft_codec::{dump, Expr, Family, Verdict};

use crate::NetnsTarget;

/// Gather the facts for `target`, over `socket` (an nfnetlink socket opened inside it) or
/// else from a thread that enters it (blocking either way).
pub fn gather(
    socket: Option<&crate::firewall::BindingSocket>,
    target: &NetnsTarget,
    bridge_nf_call_iptables: Option<String>,
) -> Result<HostFacts, BackendError> {
    let drops = match socket {
        Some(s) => s.with(foreign_forward_drops),
        None => target
            .run(|| foreign_forward_drops(&nft_codec::open()?))
            .and_then(|r| r),
    }
    .map_err(|e| {
        BackendError::new(
            ErrorKind::Other,
            format!(
                "cannot list the nftables chains of network namespace {}: {e}",
                target.label()
            ),
        )
    })?;
    Ok(HostFacts {
        foreign_forward_drops: drops,
        br_netfilter: bridge_nf_call_iptables.as_deref() == Some("1"),
        firewalld_running: process_running("firewalld"),
    })
}

/// `NF_INET_FORWARD`, and the forward hook of the bridge and arp families too.
const FORWARD_HOOK: u32 = 2;

/// Base chains of *other* tables on the forward hook that drop what they do not accept
/// (`policy drop`) or hold drop rules: a packet must be accepted by every table on a
/// hook, so brouter's accepts cannot help there (Docker sets this when it starts).
///
/// Why over nfnetlink, chains first and then only those chains' rules: `nft` loads its
/// whole cache (every element of brouter's maps: 10,000 forwards, tens of milliseconds)
/// before it answers even `list chains`, and none of it is needed here.
fn foreign_forward_drops(sock: &Socket) -> io::Result<Vec<String>> {
    let mut found = Vec::new();
    let mut forward_chains = Vec::new();
    for chain in dump::all_chains(sock)? {
        let Some(base) = &chain.base else { continue };
        // A netdev chain's hook 2 is no forward hook.
        if chain.table == super::firewall::render::TABLE
            || base.hook != FORWARD_HOOK
            || chain.family == Family::Netdev
        {
            continue;
        }
        let family = chain.family.name();
        if base.policy == Verdict::Drop {
            found.push(format!(
                "table {family} {}, chain {}: policy drop",
                chain.table, chain.name
            ));
        }
        forward_chains.push(chain);
    }
    for chain in &forward_chains {
        let rules = match dump::chain_rules(sock, chain.family, &chain.table, &chain.name) {
            Ok(r) => r,
            // The chain went away between the two dumps.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        let drops = rules.iter().any(|r| {
            r.exprs
                .iter()
                .any(|e| matches!(e, Expr::Immediate(Verdict::Drop) | Expr::Reject { .. }))
        });
        if drops {
            found.push(format!(
                "table {} {}, chain {}: drop rules",
                chain.family.name(),
                chain.table,
                chain.name
            ));
        }
    }
    Ok(found)
}

/// Whether a process of this name runs (`/proc/*/comm`); host-wide, not per namespace.
fn process_running(name: &str) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten().any(|e| {
        e.file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
            && std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == name)
    })
}
