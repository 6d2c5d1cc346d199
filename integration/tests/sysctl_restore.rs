//! `stop` puts back every sysctl `start` changed, side effects included: turning
//! `ip_forward` on makes the kernel set `conf.all.accept_redirects`, `conf.default.forwarding`
//! and every interface's `forwarding` (inet_forward_change); an admin's own values of those
//! are there again after `stop`, exactly as found. Root only, in the test's namespace.

use std::process::Command;

use brouter_integration::binary::brouter_bin;
use brouter_integration::{root_or_skip, Netns};

/// The sysctls turning forwarding on changes, as `/proc/sys` paths.
const KEYS: [&str; 6] = [
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/accept_redirects",
    "net/ipv4/conf/default/forwarding",
    "net/ipv4/conf/eth0/forwarding",
    "net/ipv4/conf/vif1.0/forwarding",
    "net/ipv4/conf/lo/forwarding",
];

fn values(ns: &Netns) -> Vec<(String, String)> {
    KEYS.iter().map(|k| (k.to_string(), ns.sysctl(k))).collect()
}

fn brouter(ns: &Netns, state: &std::path::Path, args: &[&str]) {
    let out = Command::new(brouter_bin())
        .args(["--netns", ns.name()])
        .args(args)
        .env("BROUTER_STATE_DIR", state)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "brouter {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn stop_restores_what_enabling_forwarding_changed_besides_ip_forward() {
    if !root_or_skip("stop_restores_what_enabling_forwarding_changed_besides_ip_forward") {
        return;
    }
    let ns = Netns::new("sysside");
    ns.ip_batch(&[
        "link add eth0 type veth peer name ext0".to_string(),
        "addr add 192.0.2.2/24 dev eth0".to_string(),
        "link set eth0 up".to_string(),
        "link add vif1.0 type veth peer name peer1".to_string(),
    ]);
    // An admin's choices, none of them the kernel's defaults for forwarding off.
    ns.set_sysctl("net/ipv4/ip_forward", "0");
    ns.set_sysctl("net/ipv4/conf/all/accept_redirects", "0");
    ns.set_sysctl("net/ipv4/conf/default/forwarding", "1");
    ns.set_sysctl("net/ipv4/conf/eth0/forwarding", "1");
    ns.set_sysctl("net/ipv4/conf/vif1.0/forwarding", "1");
    let before = values(&ns);
    let dir = std::env::temp_dir().join(format!("brouter-sysside-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    brouter(&ns, &dir, &["start", "bridgeip=10.98.98.1/24"]);
    assert_eq!(ns.sysctl("net/ipv4/ip_forward"), "1");
    assert_eq!(
        ns.sysctl("net/ipv4/conf/all/accept_redirects"),
        "0",
        "the kernel's side effect while started"
    );
    assert_eq!(ns.sysctl("net/ipv4/conf/lo/forwarding"), "1");
    // A second start changes nothing and remembers nothing new.
    brouter(&ns, &dir, &["start", "bridgeip=10.98.98.1/24"]);
    brouter(&ns, &dir, &["stop", "bridgeip=10.98.98.1/24"]);
    assert_eq!(values(&ns), before, "values after stop differ from before start");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("cookie-"))
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "brouter's memory is empty after stop: {left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
