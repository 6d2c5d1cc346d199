//! The DHCP and DNS clients a guest would run, inside a domU namespace: busybox's
//! `udhcpc` and `nslookup`, so tests see what a VM sees of brouter's dnsmasq.
//!
//! `udhcpc` always runs with a script of the lab's own (`-s`): the default one rewrites
//! `/etc/resolv.conf`, which `ip netns exec` does not isolate (FIELD-NOTES-DHCP-EVPN.md).
//! The script changes nothing; it prints the lease, and the caller decides what to do
//! with it. Neither client touches the namespace's addresses, so a domU keeps the
//! address its topology gave it.

use std::io;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::NsHandle;

/// The script `udhcpc` calls (`$1` = deconfig, bound, renew, leasefail, nak; the lease
/// in the environment). It only reports a lease, on one line of stdout.
const SCRIPT: &str = "#!/bin/sh\n\
case \"$1\" in\n\
  bound|renew) echo \"LEASE ip=$ip subnet=$subnet router=$router dns=$dns domain=$domain serverid=$serverid\" ;;\n\
esac\n\
exit 0\n";

/// What `udhcpc` was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The address leased.
    pub ip: Ipv4Addr,
    /// The netmask (dotted), if the server sent one.
    pub subnet: Option<String>,
    /// The routers offered.
    pub routers: Vec<Ipv4Addr>,
    /// The DNS servers offered.
    pub dns: Vec<Ipv4Addr>,
    /// The domain name, if the server sent one.
    pub domain: Option<String>,
    /// The server that answered (`serverid`).
    pub server: Option<Ipv4Addr>,
}

/// The script, written once per process to a private temporary file (executable).
fn script() -> io::Result<&'static Path> {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    // One writer at a time: two tests' first calls must not rename each other's file.
    static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = PATH.get() {
        return Ok(p);
    }
    let p = std::env::temp_dir().join(format!("brouter-lab-udhcpc-{}.sh", std::process::id()));
    let tmp = p.with_extension("tmp");
    std::fs::write(&tmp, SCRIPT)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, &p)?;
    Ok(PATH.get_or_init(|| p))
}

/// Ask for a lease on `iface` of `ns`: `udhcpc -n -q -i IFACE -s SCRIPT -t 5 -T 1`
/// (5 discovers one second apart, then give up). `Err` carries udhcpc's output when it
/// got none.
pub fn lease(ns: &NsHandle, iface: &str) -> io::Result<Result<Lease, String>> {
    let script = script()?.display().to_string();
    let args = ["-n", "-q", "-i", iface, "-s", &script, "-t", "5", "-T", "1"];
    let out = ns.output("udhcpc", &args)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let found = stdout.lines().find_map(parse_lease);
    Ok(match (out.status.success(), found) {
        (true, Some(l)) => Ok(l),
        _ => Err(format!(
            "udhcpc on {iface} in {} got no lease ({}):\n{stdout}{}",
            ns.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )),
    })
}

/// A `LEASE k=v …` line of the script.
pub fn parse_lease(line: &str) -> Option<Lease> {
    let rest = line.strip_prefix("LEASE ")?;
    let mut lease = Lease {
        ip: Ipv4Addr::UNSPECIFIED,
        subnet: None,
        routers: vec![],
        dns: vec![],
        domain: None,
        server: None,
    };
    let mut key = "";
    for word in rest.split_whitespace() {
        // Lists (`router=a b`, `dns=a b`) continue with bare words.
        let (k, v) = match word.split_once('=') {
            Some((k, v)) => (k, v),
            None => (key, word),
        };
        key = k;
        if v.is_empty() {
            continue;
        }
        match k {
            "ip" => lease.ip = v.parse().ok()?,
            "subnet" => lease.subnet = Some(v.to_string()),
            "router" => lease.routers.extend(v.parse::<Ipv4Addr>().ok()),
            "dns" => lease.dns.extend(v.parse::<Ipv4Addr>().ok()),
            "domain" => lease.domain = Some(v.to_string()),
            "serverid" => lease.server = v.parse().ok(),
            _ => {}
        }
    }
    (!lease.ip.is_unspecified()).then_some(lease)
}

/// `busybox nslookup -type=a NAME SERVER` from `ns`: the A records of the answer, or
/// nslookup's output when it found none (NXDOMAIN, REFUSED, no answer).
pub fn lookup_a(ns: &NsHandle, name: &str, server: Ipv4Addr) -> io::Result<Result<Vec<Ipv4Addr>, String>> {
    let server = server.to_string();
    let out = ns.output("busybox", &["nslookup", "-type=a", name, &server])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let answers = parse_nslookup(&stdout);
    Ok(if out.status.success() && !answers.is_empty() {
        Ok(answers)
    } else {
        Err(format!(
            "nslookup {name} {server} in {} ({}):\n{stdout}{}",
            ns.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    })
}

/// The addresses after the first `Name:` line of busybox nslookup's output (the
/// `Address:` lines before it are the server's).
pub fn parse_nslookup(out: &str) -> Vec<Ipv4Addr> {
    out.lines()
        .skip_while(|l| !l.starts_with("Name:"))
        .filter_map(|l| l.strip_prefix("Address:").or_else(|| l.strip_prefix("Address ")))
        .filter_map(|a| a.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_line_with_lists_and_empty_fields() {
        let l = parse_lease(
            "LEASE ip=10.98.98.10 subnet=255.255.255.0 router=10.98.98.1 dns=10.98.98.1 10.98.98.2 domain= serverid=10.98.98.1",
        )
        .unwrap();
        assert_eq!(l.ip, Ipv4Addr::new(10, 98, 98, 10));
        assert_eq!(l.subnet.as_deref(), Some("255.255.255.0"));
        assert_eq!(l.routers, [Ipv4Addr::new(10, 98, 98, 1)]);
        assert_eq!(
            l.dns,
            [Ipv4Addr::new(10, 98, 98, 1), Ipv4Addr::new(10, 98, 98, 2)]
        );
        assert_eq!(l.domain, None);
        assert_eq!(l.server, Some(Ipv4Addr::new(10, 98, 98, 1)));
        assert_eq!(parse_lease("udhcpc: started"), None);
        assert_eq!(parse_lease("LEASE ip= subnet="), None);
    }

    #[test]
    fn nslookup_answers_follow_the_name() {
        let out = "Server:\t\t10.98.98.1\nAddress:\t10.98.98.1:53\n\nName:\tweb1\nAddress: 10.98.98.10\n\n";
        assert_eq!(parse_nslookup(out), [Ipv4Addr::new(10, 98, 98, 10)]);
        let nx = "Server:\t\t10.98.98.1\nAddress:\t10.98.98.1:53\n\n** server can't find nope: NXDOMAIN\n\n";
        assert!(parse_nslookup(nx).is_empty());
    }
}
