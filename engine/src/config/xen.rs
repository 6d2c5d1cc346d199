//! The Xen network-script front end: `VAR=VAL` words with the seed script's defaults.
//!
//! `(network-script 'brouter bridgeip="10.98.98.1/24" brnet="10.98.98.0/24"')` must keep
//! working as written, so the words, their defaults and their meaning follow the
//! `network-virtual` script brouter replaces.

use std::collections::BTreeMap;

use super::values;
use super::{
    did_you_mean, validate, Action, Config, ConfigError, ConfigErrors, Mode, Network, Policy, Sources,
    ZONE_DOM0, ZONE_EXTERNAL,
};

/// The words the network-script accepts.
pub const XEN_KEYS: &[&str] = &["bridgeip", "brnet", "vifnum", "bridge", "netmask", "antispoof"];

const ORIGIN: &str = "command line";

/// Build the one-network configuration the seed script would have set up. Words naming
/// a variable brouter does not use are ignored, as Xen's scripts ignore them; see
/// [`from_xen_words_warn`] for the warnings about them.
pub fn from_xen_words<S: AsRef<str>>(words: &[S]) -> Result<Config, ConfigErrors> {
    from_xen_words_warn(words).map(|(c, _)| c)
}

/// Words the network-script does not use: `(word, warning)`, to be shown to the admin
/// (a typo such as `brigdeip=` would otherwise silently fall back to a default).
pub fn ignored_xen_words<S: AsRef<str>>(words: &[S]) -> Vec<String> {
    Words::read(words).warnings
}

/// [`from_xen_words`] and the warnings about the words it ignored.
pub fn from_xen_words_warn<S: AsRef<str>>(words: &[S]) -> Result<(Config, Vec<String>), ConfigErrors> {
    let mut w = Words::read(words);
    let bridgeip_text = w.record_defaults();
    let vifnum = w.vifnum();
    let antispoof = w.antispoof();
    let mask_len = w.netmask();
    let address = w.bridge_address(&bridgeip_text, mask_len);
    let subnet = w.subnet(address);
    if !w.errors.is_empty() {
        return Err(ConfigErrors(w.errors));
    }
    let (Some(vifnum), Some(antispoof), Some(address), Some(subnet)) = (vifnum, antispoof, address, subnet)
    else {
        unreachable!("every missing value pushed an error");
    };
    let bridge = w
        .vars
        .get("bridge")
        .cloned()
        .unwrap_or_else(|| format!("xenbr{vifnum}"));
    let name = network_name(&bridge);
    // The network is named after its bridge; a built-in zone name would make its
    // policies (network -> external, network -> dom0) meaningless.
    if name == ZONE_EXTERNAL || name == ZONE_DOM0 {
        let problem = format!("would name the network {name:?}, which is a built-in zone");
        let hint = "name the bridge something else, e.g. bridge=xenbr0";
        return Err(w.src.error("bridge", problem, hint).into());
    }
    let network = Network {
        name,
        bridge,
        address,
        subnet,
        masquerade: true,
        antispoof,
        stp: false,
        forward_delay: 0,
        address6: None,
        dhcp: false,
        dhcp_range: None,
    };
    let config = seed_config(network);
    validate(&config, &w.src)?;
    Ok((config, w.warnings))
}

/// The words read so far: their values by name, where each came from (for error
/// messages), and the problems found.
struct Words {
    vars: BTreeMap<String, String>,
    src: Sources<'static>,
    errors: Vec<ConfigError>,
    /// One line per ignored word.
    warnings: Vec<String>,
}

impl Words {
    /// Split each `VAR=VAL` word (quotes around the value dropped); a word that is not
    /// one, or names an unknown variable, is an error.
    fn read<S: AsRef<str>>(words: &[S]) -> Words {
        let mut w = Words {
            vars: BTreeMap::new(),
            src: Sources::new(ORIGIN),
            errors: Vec::new(),
            warnings: Vec::new(),
        };
        for word in words {
            let word = word.as_ref();
            let Some((k, v)) = word.split_once('=') else {
                w.errors.push(ConfigError {
                    origin: ORIGIN.into(),
                    line: None,
                    key: word.to_string(),
                    value: None,
                    problem: "is not a VAR=VAL word".into(),
                    hint: format!(
                        "write e.g. bridgeip=10.98.98.1/24 (known: {})",
                        XEN_KEYS.join(", ")
                    ),
                });
                continue;
            };
            let v = v.trim_matches(|c| c == '"' || c == '\'').to_string();
            w.src.record(k, None, format!("{v:?}"));
            if !XEN_KEYS.contains(&k) {
                w.warnings.push(ignored_variable(k, &v));
                continue;
            }
            w.vars.insert(k.to_string(), v);
        }
        w
    }

    /// Record the seed script's defaults for `bridgeip` and `bridge` (so errors about them
    /// show the value used); the text of `bridgeip`.
    fn record_defaults(&mut self) -> String {
        let bridgeip_text = self
            .vars
            .get("bridgeip")
            .cloned()
            .unwrap_or_else(|| "10.6.7.1/24".into());
        if !self.vars.contains_key("bridgeip") {
            self.src.record("bridgeip", None, format!("{bridgeip_text:?}"));
        }
        if !self.vars.contains_key("bridge") {
            let default_bridge = format!(
                "xenbr{}",
                self.vars.get("vifnum").map(String::as_str).unwrap_or("0")
            );
            self.src.record("bridge", None, format!("{default_bridge:?}"));
        }
        bridgeip_text
    }

    fn bad(&mut self, key: &str, (problem, hint): values::Problem) {
        self.errors.push(self.src.error(key, problem, hint));
    }

    /// `vifnum` (default 0): the number in the default bridge name `xenbr<vifnum>`.
    fn vifnum(&mut self) -> Option<u32> {
        let Some(v) = self.vars.get("vifnum") else {
            return Some(0);
        };
        // Only the default bridge name uses vifnum; u32 keeps `xenbr<vifnum>` within 15 bytes.
        match v.parse::<u64>() {
            Ok(n) if n <= u64::from(u32::MAX) => Some(n as u32),
            Ok(n) => {
                let problem = if self.vars.contains_key("bridge") {
                    "is too large".to_string()
                } else {
                    format!("would name the bridge xenbr{n}, longer than the 15 bytes Linux allows")
                };
                self.bad(
                    "vifnum",
                    (
                        problem,
                        "use a small number such as 0, or name the bridge with bridge=…".into(),
                    ),
                );
                None
            }
            Err(_) => {
                let hint = "vifnum is the bridge's number: write e.g. vifnum=0 for xenbr0";
                self.bad("vifnum", ("is not a number".into(), hint.into()));
                None
            }
        }
    }

    /// `antispoof`: yes or no (default no).
    fn antispoof(&mut self) -> Option<bool> {
        match self.vars.get("antispoof").map(String::as_str) {
            None | Some("no") => Some(false),
            Some("yes") => Some(true),
            Some(_) => {
                self.bad(
                    "antispoof",
                    (
                        "must be yes or no".into(),
                        "write antispoof=yes or antispoof=no".into(),
                    ),
                );
                None
            }
        }
    }

    /// `netmask`'s prefix length, when given.
    fn netmask(&mut self) -> Option<u8> {
        let m = self.vars.get("netmask")?;
        match values::parse_netmask(m) {
            Ok(l) => Some(l),
            Err(p) => {
                self.bad("netmask", p);
                None
            }
        }
    }

    /// The bridge's address: `bridgeip` as a CIDR (whose length `netmask`, if given, must
    /// repeat), or a bare address with `netmask`'s length (default /24).
    fn bridge_address(&mut self, bridgeip_text: &str, mask_len: Option<u8>) -> Option<ipnet::Ipv4Net> {
        if !bridgeip_text.contains('/') {
            return match values::parse_ipv4(bridgeip_text) {
                Ok(ip) => ipnet::Ipv4Net::new(ip, mask_len.unwrap_or(24)).ok(),
                Err(p) => {
                    self.bad("bridgeip", p);
                    None
                }
            };
        }
        let a = match values::parse_cidr(bridgeip_text) {
            Ok(a) => a,
            Err(p) => {
                self.bad("bridgeip", p);
                return None;
            }
        };
        if let Some(l) = mask_len.filter(|l| *l != a.prefix_len()) {
            let mask = ipnet::Ipv4Net::new(a.addr(), a.prefix_len()).map(|n| n.netmask());
            let problem = format!("is a /{l}, but bridgeip {a} says /{}", a.prefix_len());
            let hint = match mask {
                Ok(m) => format!("leave netmask out, or write netmask={m} to match bridgeip"),
                Err(_) => "leave netmask out".into(),
            };
            self.bad("netmask", (problem, hint));
        }
        Some(a)
    }

    /// The network's subnet: `brnet`, else the bridge address's own.
    fn subnet(&mut self, address: Option<ipnet::Ipv4Net>) -> Option<ipnet::Ipv4Net> {
        match (self.vars.get("brnet"), address) {
            (Some(b), _) => match values::parse_cidr(b) {
                Ok(n) => Some(n),
                Err(p) => {
                    self.bad("brnet", p);
                    None
                }
            },
            (None, Some(a)) => Some(a.trunc()),
            (None, None) => None,
        }
    }
}

/// The warning for a word naming a variable the network-script does not use: Xen's
/// scripts take any `VAR=VAL` (`netdev=`, `dhcp=`, …), so brouter ignores it too.
fn ignored_variable(k: &str, v: &str) -> String {
    let hint = match did_you_mean(k, XEN_KEYS) {
        Some(s) => format!("did you mean `{s}`? (used: {})", XEN_KEYS.join(", ")),
        None => format!("used: {}", XEN_KEYS.join(", ")),
    };
    format!("{ORIGIN}: {k}={v}: not used by brouter, ignored as Xen's scripts ignore it; {hint}")
}

/// The network's name: its bridge's, with anything but letters, digits, `-` and `_`
/// replaced by `_`.
fn network_name(bridge: &str) -> String {
    bridge
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The seed script's setup around one network: masqueraded, and free to reach the
/// outside and the dom0.
fn seed_config(network: Network) -> Config {
    let name = network.name.clone();
    Config {
        origin: ORIGIN.into(),
        mode: Mode::Xen,
        uplink: None,
        networks: vec![network],
        hosts: vec![],
        forwards: vec![],
        policies: vec![
            Policy {
                from: name.clone(),
                to: ZONE_EXTERNAL.into(),
                action: Action::Accept,
                services: vec![],
                log: false,
            },
            Policy {
                from: name,
                to: ZONE_DOM0.into(),
                action: Action::Accept,
                services: vec![],
                log: false,
            },
        ],
        log: super::LogSettings::default(),
        cluster: None,
    }
}

/// The network-script words brouter remembered for each Xen-mode bridge it started
/// (memory keys `xen:<bridge>`), as `(bridge, words)`.
pub fn remembered_xen_words(
    memory: &std::collections::BTreeMap<String, String>,
) -> impl Iterator<Item = (&str, &str)> {
    memory
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("xen:").map(|b| (b, v.as_str())))
}

/// Xen mode manages one bridge per call, but the firewall is one ruleset for the host:
/// a `start` for one bridge must keep the zones of the other Xen-mode bridges it started
/// before (their words are in brouter's memory, `xen:<bridge>`). Returns `config` with
/// the networks and policies of `others` whose bridges it does not name; others that no
/// longer parse are skipped.
pub fn with_other_xen_networks(config: &Config, others: &[&str]) -> Config {
    let mut merged = config.clone();
    for words in others {
        let words: Vec<&str> = words.split_whitespace().collect();
        let Ok(other) = from_xen_words(&words) else {
            continue;
        };
        for n in other.networks {
            let clash = merged.networks.iter().any(|m| {
                m.bridge == n.bridge
                    || m.name == n.name
                    || m.subnet.contains(&n.subnet.network())
                    || n.subnet.contains(&m.subnet.network())
            });
            if clash {
                continue;
            }
            merged
                .policies
                .extend(other.policies.iter().filter(|p| p.from == n.name).cloned());
            merged.networks.push(n);
        }
    }
    // The same set of bridges compiles to the same ruleset whichever bridge started last.
    merged.networks.sort_by(|a, b| a.bridge.cmp(&b.bridge));
    merged
        .policies
        .sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    merged
}

/// The canonical network-script words of a Xen-mode network: `from_xen_words` of them
/// gives the same configuration back (brouter keeps them in its memory for the hook).
pub fn xen_words(n: &super::Network) -> Vec<String> {
    vec![
        format!("bridge={}", n.bridge),
        format!("bridgeip={}", n.address),
        format!("brnet={}", n.subnet),
        format!("antispoof={}", if n.antispoof { "yes" } else { "no" }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_defaults() {
        let c = from_xen_words::<&str>(&[]).unwrap();
        let n = &c.networks[0];
        assert_eq!(n.bridge, "xenbr0");
        assert_eq!(n.address.to_string(), "10.6.7.1/24");
        assert_eq!(n.subnet.to_string(), "10.6.7.0/24");
        assert!(!n.antispoof);
    }

    #[test]
    fn seed_xend_line() {
        let c = from_xen_words(&["bridgeip=\"10.98.98.1/24\"", "brnet=\"10.98.98.0/24\""]).unwrap();
        assert_eq!(c.networks[0].address.to_string(), "10.98.98.1/24");
        assert_eq!(c.networks[0].subnet.to_string(), "10.98.98.0/24");
    }

    #[test]
    fn words_brouter_does_not_use_are_ignored_with_a_warning() {
        let (c, warnings) =
            from_xen_words_warn(&["netdev=eth0", "bridgeip=10.98.98.1/24", "dhcp=yes", "brigdeip=1"])
                .unwrap();
        assert_eq!(c.networks[0].address.to_string(), "10.98.98.1/24");
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].starts_with("command line: netdev=eth0: not used by brouter, ignored"));
        assert!(warnings[2].contains("did you mean `bridgeip`?"), "{warnings:?}");
        assert_eq!(ignored_xen_words(&["bridge=xenbr1", "netdev=eth0"]).len(), 1);
    }

    #[test]
    fn vifnum_and_netmask() {
        let c = from_xen_words(&["vifnum=2", "bridgeip=192.168.5.1", "netmask=255.255.0.0"]).unwrap();
        assert_eq!(c.networks[0].bridge, "xenbr2");
        assert_eq!(c.networks[0].address.to_string(), "192.168.5.1/16");
    }
}
