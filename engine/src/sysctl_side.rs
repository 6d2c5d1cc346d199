//! What enabling `net.ipv4.ip_forward` changes besides itself, so `stop` restores all of
//! it.
//!
//! Writing `ip_forward` (the same value as `conf.all.forwarding`) makes the kernel run
//! `inet_forward_change` (net/ipv4/devinet.c): `conf.all.accept_redirects` becomes the
//! opposite, `conf.default.forwarding` and every interface's `conf.<if>.forwarding` the
//! new value. Restoring `ip_forward` alone puts those to the kernel's choice, not to what
//! the admin had (a `conf.eth0.forwarding = 1` set by hand, `accept_redirects = 0` from a
//! hardening script). So while `ip_forward` is not on, backends report these keys too
//! ([`reported_keys`]); when `start` turns it on it remembers them ([`remember`]), and
//! `stop` puts `ip_forward` back first, then each of them whose value differs from what
//! the kernel left ([`restore`]).

use crate::model::{sysctl_memory_key, Observed, IP_FORWARD};
use crate::plan::Op;

/// `net.ipv4.conf.all.accept_redirects`: the kernel sets it to `!ip_forward`.
pub const ACCEPT_REDIRECTS_ALL: &str = "net.ipv4.conf.all.accept_redirects";
/// `net.ipv4.conf.default.forwarding`: the kernel sets it to `ip_forward`.
pub const FORWARDING_DEFAULT: &str = "net.ipv4.conf.default.forwarding";

const CONF: &str = "net.ipv4.conf.";
const FORWARDING: &str = ".forwarding";

/// The sysctl key of `link`'s `forwarding`, in sysctl(8)'s notation (a dot in an interface
/// name is written `/`: `net.ipv4.conf.vif1/0.forwarding`).
pub fn link_forwarding_key(link: &str) -> String {
    format!("{CONF}{}{FORWARDING}", link.replace('.', "/"))
}

/// The interface a `net.ipv4.conf.<if>.forwarding` key names (not `all` / `default`).
pub fn link_of_key(key: &str) -> Option<String> {
    let name = key.strip_prefix(CONF)?.strip_suffix(FORWARDING)?;
    (name != "all" && name != "default" && !name.is_empty()).then(|| name.replace('/', "."))
}

/// The keys a backend reports besides `ip_forward` and the remembered ones: the side
/// effects of turning forwarding on, while it is not on (once it is, `start` has either
/// remembered them or never changed `ip_forward`). `links`: every interface's name.
pub fn reported_keys<'a>(ip_forward: Option<&str>, links: impl Iterator<Item = &'a str>) -> Vec<String> {
    if ip_forward == Some("1") {
        return Vec::new();
    }
    let mut keys = vec![ACCEPT_REDIRECTS_ALL.to_string(), FORWARDING_DEFAULT.to_string()];
    keys.extend(links.map(link_forwarding_key));
    keys
}

/// What the kernel leaves in `key` after `ip_forward` changes to `value`, for the keys
/// that change with it.
pub fn after_forward_change(key: &str, value: &str) -> Option<String> {
    let on = value != "0";
    if key == ACCEPT_REDIRECTS_ALL {
        Some(if on { "0" } else { "1" }.to_string())
    } else if key == FORWARDING_DEFAULT || link_of_key(key).is_some() {
        Some(if on { "1" } else { "0" }.to_string())
    } else {
        None
    }
}

/// `start` is about to change `ip_forward` for the first time: remember the side-effect
/// keys' values as observed, unless already remembered.
pub fn remember(ops: &mut Vec<Op>, observed: &Observed) {
    for (key, value) in &observed.sysctls {
        if key == IP_FORWARD || after_forward_change(key, "1").is_none() {
            continue;
        }
        let mkey = sysctl_memory_key(key);
        if !observed.memory.contains_key(&mkey) {
            ops.push(Op::Remember {
                key: mkey,
                value: value.clone(),
            });
        }
    }
}

/// `stop`: put back every remembered sysctl — `ip_forward` first (the kernel rewrites the
/// others when it changes), then each other one whose value differs from what that leaves
/// — and forget them. A remembered interface that is gone is only forgotten.
pub fn restore(ops: &mut Vec<Op>, observed: &Observed) {
    let remembered: Vec<(&str, &String)> = observed
        .memory
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("sysctl:").map(|s| (s, v)))
        .collect();
    let forward = remembered.iter().find(|(k, _)| *k == IP_FORWARD).map(|(_, v)| *v);
    let flips = forward.filter(|v| observed.sysctls.get(IP_FORWARD) != Some(*v));
    if let Some(v) = forward {
        if flips.is_some() {
            ops.push(Op::SetSysctl {
                key: IP_FORWARD.to_string(),
                value: v.clone(),
            });
        }
        ops.push(Op::Forget {
            key: sysctl_memory_key(IP_FORWARD),
        });
    }
    for (key, value) in remembered.into_iter().filter(|(k, _)| *k != IP_FORWARD) {
        let gone = link_of_key(key).is_some_and(|l| observed.link(&l).is_none());
        let now = flips
            .and_then(|v| after_forward_change(key, v))
            .or_else(|| observed.sysctls.get(key).cloned());
        if !gone && now.as_ref() != Some(value) {
            ops.push(Op::SetSysctl {
                key: key.to_string(),
                value: value.clone(),
            });
        }
        ops.push(Op::Forget {
            key: sysctl_memory_key(key),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_with_dots_use_sysctl_s_slash() {
        assert_eq!(link_forwarding_key("vif1.0"), "net.ipv4.conf.vif1/0.forwarding");
        assert_eq!(
            link_of_key("net.ipv4.conf.vif1/0.forwarding").as_deref(),
            Some("vif1.0")
        );
        assert_eq!(link_of_key(FORWARDING_DEFAULT), None);
        assert_eq!(link_of_key("net.ipv4.conf.all.forwarding"), None);
    }

    #[test]
    fn nothing_extra_is_reported_once_forwarding_is_on() {
        assert!(reported_keys(Some("1"), ["eth0"].into_iter()).is_empty());
        assert_eq!(
            reported_keys(Some("0"), ["eth0"].into_iter()),
            [
                ACCEPT_REDIRECTS_ALL,
                FORWARDING_DEFAULT,
                "net.ipv4.conf.eth0.forwarding"
            ]
        );
    }

    #[test]
    fn stop_restores_forwarding_first_then_what_the_kernel_did_not_put_back() {
        let mut o = Observed::default();
        o.links.push(crate::model::Link {
            carrier: None,
            port_state: None,
            name: "eth0".into(),
            kind: crate::model::LinkKind::Veth,
            alias: None,
            master: None,
            up: true,
            bridge: None,
            mac: None,
            mtu: None,
        });
        o.sysctls.insert(IP_FORWARD.into(), "1".into());
        for (k, v) in [
            (IP_FORWARD, "0"),
            (ACCEPT_REDIRECTS_ALL, "0"),
            (FORWARDING_DEFAULT, "0"),
            ("net.ipv4.conf.eth0.forwarding", "1"),
            ("net.ipv4.conf.vif9/0.forwarding", "1"),
        ] {
            o.memory.insert(sysctl_memory_key(k), v.into());
        }
        let mut ops = Vec::new();
        restore(&mut ops, &o);
        let sets: Vec<(&str, &str)> = ops
            .iter()
            .filter_map(|op| match op {
                Op::SetSysctl { key, value } => Some((key.as_str(), value.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            sets,
            [
                (IP_FORWARD, "0"),
                (ACCEPT_REDIRECTS_ALL, "0"),
                ("net.ipv4.conf.eth0.forwarding", "1")
            ],
            "default.forwarding is what the kernel leaves; vif9.0 is gone"
        );
        assert_eq!(ops.iter().filter(|op| matches!(op, Op::Forget { .. })).count(), 5);
    }
}
