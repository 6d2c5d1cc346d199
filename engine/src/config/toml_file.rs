//! The TOML front end (DESIGN.md, "Config file").
//!
//! Parsed with `toml_edit` rather than serde so every key and value keeps its position:
//! errors can then name the line, and unknown keys get a "did you mean". Parsing checks
//! each value on its own (types, syntax); [`validate`] then checks the file as a whole.
//! A file in plain TOML is first read by the faster [`toml_fast`](super::toml_fast);
//! only files that read and validate there are taken from it, so every error message
//! still comes from the toml_edit path.

use std::net::Ipv4Addr;

use toml_edit::{ImDocument, Item, Table, Value};

use super::cluster::{Cluster, Control, Member};
use super::sources::{self, TomlDoc};
use super::values::{self, Problem};
use super::{
    did_you_mean, validate, Action, Config, ConfigError, ConfigErrors, Forward, Host, LogSettings, Mode,
    Network, Policy, Sources, Uplink,
};

const TOP_KEYS: &[&str] = &["uplink", "network", "host", "forward", "policy", "log", "cluster"];
const CLUSTER_KEYS: &[&str] = &["local", "underlay", "control", "asn", "member"];
const MEMBER_KEYS: &[&str] = &["name", "address", "route_reflector"];
const LOG_KEYS: &[&str] = &["drops", "rate"];
const UPLINK_KEYS: &[&str] = &["interface"];
const NETWORK_KEYS: &[&str] = &[
    "name",
    "bridge",
    "address",
    "address6",
    "masquerade",
    "antispoof",
    "stp",
    "forward_delay",
    "dhcp",
    "dhcp_range",
];
const HOST_KEYS: &[&str] = &["name", "network", "mac", "addresses", "vif"];
const FORWARD_KEYS: &[&str] = &["proto", "port", "to"];
const POLICY_KEYS: &[&str] = &["from", "to", "action", "services", "log"];

/// Every key the parser accepts, by section (`""` is the top level; `log`, `uplink`,
/// `network`, `host`, `forward`, `policy`): the tables unknown keys are checked against.
/// Public so docs/config.md can be tested against the parser itself — a key it accepts
/// but the reference does not list fails that test.
pub const KEYS: &[(&str, &[&str])] = &[
    ("", TOP_KEYS),
    ("log", LOG_KEYS),
    ("uplink", UPLINK_KEYS),
    ("network", NETWORK_KEYS),
    ("host", HOST_KEYS),
    ("forward", FORWARD_KEYS),
    ("policy", POLICY_KEYS),
    ("cluster", CLUSTER_KEYS),
    ("cluster.member", MEMBER_KEYS),
];

/// The bridge forward delay (seconds) with STP on, when the file gives none: the kernel's
/// own default. With STP off the default is 0, so ports forward at once.
pub const STP_FORWARD_DELAY: u32 = 15;

/// Parse and validate a TOML configuration. `origin` is the file name used in messages.
///
/// A file in the plain subset brouter's files are written in is read by
/// [`toml_fast`](super::toml_fast) first; anything else, and every file that does not
/// parse or validate there, is read by toml_edit, whose positions the messages need.
pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigErrors> {
    if let Some(config) = from_plain_toml(text, origin) {
        return Ok(config);
    }
    from_toml_edit(text, origin)
}

/// [`from_toml`] through toml_edit alone: every file, with positions for the messages.
fn from_toml_edit(text: &str, origin: &str) -> Result<Config, ConfigErrors> {
    let doc = ImDocument::parse(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| sources::line_at(&sources::line_starts(text), text, s.start));
        ConfigError {
            origin: origin.to_string(),
            line,
            key: "(syntax)".into(),
            value: None,
            problem: format!("is not valid TOML: {}", one_line(e.message())),
            hint: syntax_hint(line.and_then(|l| text.lines().nth(l - 1))),
        }
    })?;
    let mut p = Parser {
        src: Sources::for_toml(origin, TomlDoc::new(doc.as_table(), text)),
        errors: Vec::new(),
        suggested: Vec::new(),
    };
    let config = p.config(doc.as_table());
    let result = if !p.errors.is_empty() {
        Err(ConfigErrors(std::mem::take(&mut p.errors)))
    } else {
        validate(&config, &p.src).map(|()| config)
    };
    drop(p);
    drop_aside_if_big(doc.into_table(), text.len());
    result
}

/// The config of a plain file that parses and validates; `None` for anything else.
fn from_plain_toml(text: &str, origin: &str) -> Option<Config> {
    // The `[[forward]]` sections are most of a big file: each is read into a table of its
    // own, turned into its forward and dropped, so the whole file never lives as one
    // document (10,000 forwards: ~10 MB of toml_edit tables, a third of `plan`'s peak).
    let (rest, forward_bodies) = super::toml_fast::split_sections(text, "forward")?;
    let root = super::toml_fast::read(&rest)?;
    let mut p = Parser {
        src: Sources::for_toml(origin, TomlDoc::new(&root, text)),
        errors: Vec::new(),
        suggested: Vec::new(),
    };
    let mut config = p.config(&root);
    let mut forwards = Vec::with_capacity(forward_bodies.len());
    {
        let host_index = HostIndex::new(&config.hosts);
        for (i, body) in forward_bodies.iter().enumerate() {
            let t = super::toml_fast::read(body)?;
            forwards.extend(p.forward(i, &t, &host_index));
        }
    }
    config.forwards = forwards;
    let ok = p.errors.is_empty() && validate(&config, &p.src).is_ok();
    drop(p);
    drop_aside_if_big(root, rest.len());
    ok.then_some(config)
}

/// Free a parsed document off the caller's path: a 10,000-forward file is some 60,000
/// small allocations, and freeing them took ~4 ms of the ~25 ms re-read of such a file
/// (bench case 7b). The table owns everything it holds, so it is moved to a short thread
/// that frees it; small documents are freed here (a thread costs more than they do).
fn drop_aside_if_big(table: Table, text_len: usize) {
    const SMALL: usize = 64 * 1024;
    if text_len < SMALL {
        return;
    }
    let _ = std::thread::Builder::new()
        .name("toml-free".into())
        .spawn(move || drop(table));
}

/// What to do about a syntax error on `line`: TOML's booleans are lower-case (`True`,
/// `yes` are what people coming from Python or the seed's words write); otherwise the
/// reference and the example the package installs (paths that exist on a dom0).
fn syntax_hint(line: Option<&str>) -> String {
    let value = line.and_then(|l| l.split_once('=')).map(|(_, v)| v.trim());
    let bool_like = |v: &str| -> Option<&'static str> {
        match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => Some("true"),
            "false" | "no" | "off" => Some("false"),
            _ => None,
        }
    };
    if let Some((v, b)) = value.and_then(|v| bool_like(v).map(|b| (v, b))) {
        return format!("TOML's booleans are lower-case and unquoted: write {b}, not {v}");
    }
    "fix the syntax; /usr/share/doc/brouter/config.md lists every key and \
     /usr/share/doc/brouter/examples/brouter.toml shows the format (docs/config.md and \
     dist/brouter.toml in the source)"
        .into()
}

/// toml_edit's messages may span lines; a config error is one line.
fn one_line(message: &str) -> String {
    let lines: Vec<String> = message
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(", ")
}

struct Parser<'t> {
    /// Locates key paths in the document, for errors.
    src: Sources<'t>,
    errors: Vec<ConfigError>,
    /// Key paths a misspelt key was taken for (`network[0].address` for `adress`): the
    /// "did you mean" already says what to do, so "is missing" would only repeat it.
    suggested: Vec<String>,
}

/// The declared hosts by name: a forward's `to = "web1:80"` is one lookup, not a scan
/// (10,000 forwards to 1,000 hosts made the scan a noticeable part of parsing).
struct HostIndex<'h> {
    all: &'h [Host],
    by_name: std::collections::HashMap<&'h str, &'h Host>,
}

impl<'h> HostIndex<'h> {
    fn new(all: &'h [Host]) -> Self {
        let mut by_name = std::collections::HashMap::with_capacity(all.len());
        for h in all {
            // The first of duplicate names, as the scan found (validation rejects duplicates).
            by_name.entry(h.name.as_str()).or_insert(h);
        }
        HostIndex { all, by_name }
    }
}

/// One TOML table being read, with its key path (`network[1]`).
struct Tab<'a> {
    path: String,
    table: &'a Table,
}

impl Tab<'_> {
    fn key(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn value(&self, key: &str) -> Option<&Value> {
        self.table.get(key).and_then(Item::as_value)
    }
}

impl<'t> Parser<'t> {
    fn doc(&self) -> &TomlDoc<'t> {
        self.src.toml().expect("TOML sources")
    }

    fn line_of(&self, offset: usize) -> usize {
        self.doc().line_of(offset)
    }

    /// A value as written in the file (`"10.98.98.1/24"`, `70000`).
    fn raw(&self, v: &Value) -> String {
        self.doc().raw(v)
    }

    fn push(&mut self, key: &str, (problem, hint): Problem) {
        let e = self.src.error(key, problem, hint);
        self.errors.push(e);
    }

    /// Reject the keys of `table` it does not know (errors locate the others lazily).
    fn open<'a>(&mut self, path: String, table: &'a Table, allowed: &[&str]) -> Tab<'a> {
        let tab = Tab { path, table };
        for (key, item) in table.iter() {
            if allowed.contains(&key) {
                continue;
            }
            let kp = tab.key(key);
            let line = table
                .key(key)
                .and_then(|k| k.span())
                .or_else(|| item.span())
                .map(|s| self.line_of(s.start));
            let hint = match did_you_mean(key, allowed) {
                Some(s) => {
                    self.suggested.push(tab.key(&s));
                    format!("did you mean `{s}`? (known keys: {})", allowed.join(", "))
                }
                None => format!("known keys here: {}", allowed.join(", ")),
            };
            self.errors.push(ConfigError {
                origin: self.src.origin.clone(),
                line,
                key: kp,
                value: None,
                problem: "is not a known key".into(),
                hint,
            });
        }
        tab
    }

    fn string(&mut self, tab: &Tab, key: &str) -> Option<String> {
        let v = tab.value(key)?;
        if let Some(s) = v.as_str() {
            return Some(s.to_string());
        }
        let raw = self.raw(v);
        let hint = if raw.contains('"') || raw.contains('[') || raw.contains('{') {
            format!("write a quoted string: {key} = \"…\"")
        } else {
            format!("quote it: {key} = \"{raw}\"")
        };
        self.push(&tab.key(key), ("must be a string".into(), hint));
        None
    }

    fn required_string(&mut self, tab: &Tab, key: &str, hint: &str) -> Option<String> {
        if tab.table.get(key).is_some() {
            return self.string(tab, key);
        }
        let kp = tab.key(key);
        if !self.suggested.contains(&kp) {
            let e = self.src.missing(&kp, &tab.path, hint);
            self.errors.push(e);
        }
        None
    }

    fn boolean(&mut self, tab: &Tab, key: &str, default: bool) -> bool {
        let Some(v) = tab.value(key) else { return default };
        match v.as_bool() {
            Some(b) => b,
            None => {
                let hint = format!("write {key} = true or {key} = false, without quotes");
                self.push(&tab.key(key), ("must be true or false".into(), hint));
                default
            }
        }
    }

    /// A list of strings, each with its own key path (`host[0].addresses[1]`) recorded so
    /// errors about one element point at it.
    fn string_list(&mut self, tab: &Tab, key: &str) -> Vec<(String, String)> {
        let kp = tab.key(key);
        let Some(v) = tab.value(key) else {
            return Vec::new();
        };
        let items: Option<Vec<(String, String)>> = v.as_array().and_then(|a| {
            a.iter()
                .enumerate()
                .map(|(i, x)| x.as_str().map(|s| (format!("{kp}[{i}]"), s.to_string())))
                .collect()
        });
        let Some(items) = items else {
            let hint = format!("write a list, even of one: {key} = [\"…\", \"…\"]");
            self.push(&kp, ("must be a list of strings".into(), hint));
            return Vec::new();
        };
        items
    }

    /// Each `[[name]]` entry, or an error if `name` is not an array of tables.
    fn array_of_tables<'a>(&mut self, root: &'a Table, name: &str) -> Vec<&'a Table> {
        self.array_of_tables_at(root, name, name)
    }

    /// [`Self::array_of_tables`] of a table that is not the root: `key` in `table`, which
    /// the file spells `path` (`member` in `[cluster]` is `[[cluster.member]]`).
    fn array_of_tables_at<'a>(&mut self, table: &'a Table, key: &str, path: &str) -> Vec<&'a Table> {
        match table.get(key) {
            None => Vec::new(),
            Some(Item::ArrayOfTables(a)) => a.iter().collect(),
            Some(_) => {
                let problem = format!("must be written as [[{path}]] sections (double brackets)");
                self.push(
                    path,
                    (problem, format!("start each entry with a [[{path}]] line")),
                );
                Vec::new()
            }
        }
    }

    fn config(&mut self, root: &Table) -> Config {
        self.open(String::new(), root, TOP_KEYS);
        let uplink = match root.get("uplink") {
            None => None,
            Some(Item::Table(t)) => {
                let tab = self.open("uplink".into(), t, UPLINK_KEYS);
                self.required_string(
                    &tab,
                    "interface",
                    "name the external NIC, e.g. interface = \"eth0\"",
                )
                .map(|interface| Uplink { interface })
            }
            Some(_) => {
                let hint = "write [uplink] on its own line, then interface = \"eth0\"";
                self.push("uplink", ("must be an [uplink] section".into(), hint.into()));
                None
            }
        };
        let log = self.log(root);
        let cluster = self.cluster(root, uplink.as_ref());
        let mut networks = Vec::new();
        for (i, t) in self.array_of_tables(root, "network").into_iter().enumerate() {
            networks.extend(self.network(i, t));
        }
        let mut hosts = Vec::new();
        for (i, t) in self.array_of_tables(root, "host").into_iter().enumerate() {
            hosts.extend(self.host(i, t));
        }
        let mut forwards = Vec::new();
        let host_index = HostIndex::new(&hosts);
        for (i, t) in self.array_of_tables(root, "forward").into_iter().enumerate() {
            forwards.extend(self.forward(i, t, &host_index));
        }
        let mut policies = Vec::new();
        for (i, t) in self.array_of_tables(root, "policy").into_iter().enumerate() {
            policies.extend(self.policy(i, t, log.drops));
        }
        Config {
            origin: self.src.origin.clone(),
            mode: Mode::File,
            uplink,
            networks,
            hosts,
            forwards,
            policies,
            log,
            cluster,
        }
    }

    /// `[cluster]` and its `[[cluster.member]]`s. `local` defaults to this host's name and
    /// `underlay` to the uplink, so one file serves every member.
    fn cluster(&mut self, root: &Table, uplink: Option<&Uplink>) -> Option<Cluster> {
        let t = match root.get("cluster") {
            None => return None,
            Some(Item::Table(t)) => t,
            Some(_) => {
                let hint = "write [cluster] on its own line, then control = \"static\" and [[cluster.member]] sections";
                self.push("cluster", ("must be a [cluster] section".into(), hint.into()));
                return None;
            }
        };
        let tab = self.open("cluster".into(), t, CLUSTER_KEYS);
        let explicit_local = self.string(&tab, "local");
        let underlay = match (self.string(&tab, "underlay"), uplink) {
            (Some(u), _) => u,
            (None, Some(u)) => u.interface.clone(),
            (None, None) => {
                let hint = "name the interface that reaches the other members, e.g. underlay = \"eth1\" (it defaults to [uplink] interface, and there is none)";
                self.push(
                    "cluster.underlay",
                    ("is not set and there is no [uplink]".into(), hint.into()),
                );
                String::new()
            }
        };
        let control = match self.string(&tab, "control").as_deref() {
            None | Some("static") => Control::Static,
            Some("evpn") => Control::Evpn,
            Some(_) => {
                let hint = "write control = \"static\" (head-end replication, no daemon) or control = \"evpn\" (BGP EVPN through FRR)";
                let e = self
                    .src
                    .error("cluster.control", "is not a control plane brouter knows", hint);
                self.errors.push(e);
                Control::Static
            }
        };
        let asn = match tab.value("asn") {
            None => super::cluster::DEFAULT_ASN,
            Some(v) => match v.as_integer() {
                Some(n) if (1..=i64::from(u32::MAX)).contains(&n) => n as u32,
                _ => {
                    let problem = "must be an AS number from 1 to 4294967295".to_string();
                    let hint = "write a private AS number without quotes, e.g. asn = 65000 (the default)";
                    self.push(&tab.key("asn"), (problem, hint.into()));
                    super::cluster::DEFAULT_ASN
                }
            },
        };
        let mut members = Vec::new();
        let entries = self.array_of_tables_at(t, "member", "cluster.member");
        for (i, m) in entries.into_iter().enumerate() {
            let tab = self.open(format!("cluster.member[{i}]"), m, MEMBER_KEYS);
            let name = self.required_string(
                &tab,
                "name",
                "name the member as its `local` says, e.g. name = \"dom0-a\"",
            );
            let address = self
                .required_string(&tab, "address", "give the member's underlay address, e.g. address = \"192.0.2.11\"")
                .and_then(|a| match a.parse::<std::net::IpAddr>() {
                    Ok(ip) => Some(ip),
                    Err(_) => {
                        let e = self.src.error(
                            &tab.key("address"),
                            "is not an IP address",
                            "write the member's underlay address without a prefix length, e.g. address = \"192.0.2.11\"",
                        );
                        self.errors.push(e);
                        None
                    }
                });
            let route_reflector = self.boolean(&tab, "route_reflector", false);
            if let (Some(name), Some(address)) = (name, address) {
                members.push(Member {
                    name,
                    address,
                    route_reflector,
                });
            }
        }
        let names: Vec<&str> = members.iter().map(|m: &Member| m.name.as_str()).collect();
        let local = match explicit_local {
            Some(l) => {
                if !names.is_empty() && !names.contains(&l.as_str()) {
                    let hint = format!("name this host's member: one of {}", names.join(", "));
                    self.push("cluster.local", ("names no [[cluster.member]]".into(), hint));
                }
                l
            }
            None => {
                let host = this_host();
                if !names.is_empty() && !names.contains(&host.as_str()) {
                    let problem =
                        format!("is not set, and this host's name {host:?} names no [[cluster.member]]");
                    let hint = format!("set local to this host's member, one of {}", names.join(", "));
                    self.push("cluster.local", (problem, hint));
                }
                host
            }
        };
        Some(Cluster {
            local,
            underlay,
            control,
            asn,
            members,
        })
    }

    /// `[log]`: `drops` (default false) and `rate` (default 5/minute).
    fn log(&mut self, root: &Table) -> LogSettings {
        let mut log = LogSettings::default();
        match root.get("log") {
            None => {}
            Some(Item::Table(t)) => {
                let tab = self.open("log".into(), t, LOG_KEYS);
                log.drops = self.boolean(&tab, "drops", false);
                if let Some(rate) = self.string(&tab, "rate") {
                    match values::parse_log_rate(&rate) {
                        Ok(r) => log.rate = r,
                        Err(p) => self.push(&tab.key("rate"), p),
                    }
                }
            }
            Some(_) => {
                let hint = "write [log] on its own line, then drops = true and rate = \"5/minute\"";
                self.push("log", ("must be a [log] section".into(), hint.into()));
            }
        }
        log
    }

    fn network(&mut self, i: usize, t: &Table) -> Option<Network> {
        let tab = self.open(format!("network[{i}]"), t, NETWORK_KEYS);
        let name = self.required_string(&tab, "name", "give the network a name, e.g. name = \"dmz\"");
        let bridge = self.string(&tab, "bridge").unwrap_or_else(|| format!("xenbr{i}"));
        let address = self
            .required_string(
                &tab,
                "address",
                "give the bridge its address, e.g. address = \"10.98.98.1/24\"",
            )
            .and_then(|a| {
                values::parse_cidr(&a)
                    .map_err(|p| self.push(&tab.key("address"), p))
                    .ok()
            });
        let masquerade = self.boolean(&tab, "masquerade", true);
        let antispoof = self.boolean(&tab, "antispoof", false);
        let stp = self.boolean(&tab, "stp", false);
        let forward_delay = match tab.value("forward_delay") {
            None if stp => STP_FORWARD_DELAY,
            None => 0,
            Some(v) => match v.as_integer() {
                Some(n) if (0..=30).contains(&n) => n as u32,
                _ => {
                    let problem = "must be a whole number of seconds from 0 to 30".to_string();
                    let hint = "write forward_delay = 0, or 15 (the kernel's default) with stp = true";
                    self.push(&tab.key("forward_delay"), (problem, hint.into()));
                    0
                }
            },
        };
        let address6 = self.string(&tab, "address6").and_then(|a| {
            values::parse_cidr6(&a)
                .map_err(|p| self.push(&tab.key("address6"), p))
                .ok()
        });
        let dhcp = self.boolean(&tab, "dhcp", false);
        let dhcp_range = self.string(&tab, "dhcp_range").and_then(|r| {
            values::parse_dhcp_range(&r)
                .map_err(|p| self.push(&tab.key("dhcp_range"), p))
                .ok()
        });
        let address = address?;
        Some(Network {
            name: name?,
            bridge,
            subnet: address.trunc(),
            address,
            masquerade,
            antispoof,
            stp,
            forward_delay,
            address6,
            dhcp,
            dhcp_range,
        })
    }

    fn host(&mut self, i: usize, t: &Table) -> Option<Host> {
        let tab = self.open(format!("host[{i}]"), t, HOST_KEYS);
        let name = self.required_string(&tab, "name", "name the host, e.g. name = \"web1\"");
        let network = self.required_string(
            &tab,
            "network",
            "say which network the host is on, e.g. network = \"dmz\"",
        );
        let mac = self.string(&tab, "mac").and_then(|m| {
            values::parse_mac(&m)
                .map_err(|p| self.push(&tab.key("mac"), p))
                .ok()
        });
        let (mut addresses, mut addresses6) = (Vec::new(), Vec::new());
        for (key, a) in self.string_list(&tab, "addresses") {
            match values::parse_ipv4(&a) {
                Ok(ip) => addresses.push(ip),
                Err(p) => match a.parse::<std::net::Ipv6Addr>() {
                    Ok(ip6) => addresses6.push(ip6),
                    Err(_) if a.contains(':') => self.push(
                        &key,
                        (
                            "is not an IPv6 address".into(),
                            "write it as eight groups of hex digits, :: for zeros, without a prefix, e.g. fd98:98::10".into(),
                        ),
                    ),
                    Err(_) => self.push(&key, p),
                },
            }
        }
        let vif = self.string(&tab, "vif");
        Some(Host {
            name: name?,
            network: network?,
            mac,
            addresses,
            addresses6,
            vif,
        })
    }

    fn forward(&mut self, i: usize, t: &Table, hosts: &HostIndex) -> Option<Forward> {
        let tab = self.open(format!("forward[{i}]"), t, FORWARD_KEYS);
        let proto = self
            .required_string(&tab, "proto", "write proto = \"tcp\" or proto = \"udp\"")
            .and_then(|p| {
                values::parse_proto(&p)
                    .map_err(|e| self.push(&tab.key("proto"), e))
                    .ok()
            });
        let ports = match tab.value("port") {
            None => {
                let hint = "write port = 8080, or a range: port = \"8000-8099\"";
                if !self.suggested.contains(&tab.key("port")) {
                    let e = self.src.missing(&tab.key("port"), &tab.path, hint);
                    self.errors.push(e);
                }
                None
            }
            Some(v) => {
                let text = match (v.as_integer(), v.as_str()) {
                    (Some(n), _) => n.to_string(),
                    (_, Some(s)) => s.to_string(),
                    _ => self.raw(v),
                };
                values::parse_port_range(&text)
                    .map_err(|e| self.push(&tab.key("port"), e))
                    .ok()
            }
        };
        let to = self.required_string(
            &tab,
            "to",
            "write to = \"web1:80\" (a host name or address, optional port)",
        );
        let (host, addr, to_port) = self.forward_target(&tab, to?, hosts)?;
        Some(Forward {
            proto: proto?,
            ports: ports?,
            host,
            addr,
            to_port,
        })
    }

    /// `to = "web1:80"` / `"10.98.98.10"`: a host name (resolved to its first address) or
    /// an address, and an optional port on the VM.
    fn forward_target(
        &mut self,
        tab: &Tab,
        to: String,
        hosts: &HostIndex,
    ) -> Option<(Option<String>, Ipv4Addr, Option<u16>)> {
        let (who, port) = match to.rsplit_once(':') {
            Some((w, p)) => (w.to_string(), Some(p)),
            None => (to.clone(), None),
        };
        let to_port = match port.map(values::parse_port) {
            None => None,
            Some(Ok(p)) => Some(p),
            Some(Err((problem, _))) => {
                let port = port.unwrap_or_default();
                let hint = format!("write a port from 1 to 65535 after the colon, e.g. \"{who}:80\"");
                self.push(
                    &tab.key("to"),
                    (
                        format!("has port {port:?} after the colon, which {problem}"),
                        hint,
                    ),
                );
                return None;
            }
        };
        if let Ok(addr) = who.parse::<Ipv4Addr>() {
            return Some((None, addr, to_port));
        }
        let Some(h) = hosts.by_name.get(who.as_str()) else {
            let names: Vec<&str> = hosts.all.iter().map(|h| h.name.as_str()).collect();
            let hint = match did_you_mean(&who, &names) {
                Some(s) => format!("did you mean host {s:?}? (hosts: {})", names.join(", ")),
                None if names.is_empty() => {
                    "declare it in a [[host]] section, or forward to an address".into()
                }
                None => format!(
                    "declare it in a [[host]] section, or use one of: {}",
                    names.join(", ")
                ),
            };
            self.push(&tab.key("to"), (format!("names unknown host {who:?}"), hint));
            return None;
        };
        match h.addresses.first() {
            Some(a) => Some((Some(who), *a, to_port)),
            None => {
                let hint = format!("give host {who:?} addresses = [\"…\"], or forward to an address");
                self.push(
                    &tab.key("to"),
                    (format!("names host {who:?}, which has no addresses"), hint),
                );
                None
            }
        }
    }

    /// One `[[policy]]`; `log_default` is `[log] drops`, for policies that do not say `log`.
    fn policy(&mut self, i: usize, t: &Table, log_default: bool) -> Option<Policy> {
        let tab = self.open(format!("policy[{i}]"), t, POLICY_KEYS);
        let from = self.required_string(&tab, "from", "name the source zone, e.g. from = \"dmz\"");
        let to = self.required_string(&tab, "to", "name the destination zone, e.g. to = \"external\"");
        let action = self
            .required_string(
                &tab,
                "action",
                "write action = \"accept\", \"drop\" or \"reject\"",
            )
            .and_then(|a| {
                values::parse_action(&a)
                    .map_err(|e| self.push(&tab.key("action"), e))
                    .ok()
            });
        let mut services = Vec::new();
        for (key, s) in self.string_list(&tab, "services") {
            match values::parse_service(&s) {
                Ok(sv) => services.push(sv),
                Err(p) => self.push(&key, p),
            }
        }
        let log = self.boolean(&tab, "log", log_default);
        let action: Action = action?;
        Some(Policy {
            from: from?,
            to: to?,
            action,
            services,
            log,
        })
    }
}

/// This host's name (`/proc/sys/kernel/hostname`, the UTS namespace's): the default
/// member name, so the same file serves every member of a cluster.
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;
    use proptest::prelude::*;

    /// The plain reader's answer is toml_edit's: the same config for a valid file, and
    /// nothing (so toml_edit reports) for an invalid one.
    fn agrees(text: &str) -> Result<(), TestCaseError> {
        let slow = from_toml_edit(text, "t.toml");
        if let Some(fast) = from_plain_toml(text, "t.toml") {
            prop_assert_eq!(Some(fast), slow.ok(), "{}", text);
        }
        prop_assert_eq!(
            from_toml(text, "t.toml").map_err(|e| e.to_string()),
            from_toml_edit(text, "t.toml").map_err(|e| e.to_string())
        );
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn the_plain_reader_agrees_with_toml_edit_on_generated_files(
            choices in prop::collection::vec(any::<u32>(), 0..80)
        ) {
            agrees(&crate::config::arbitrary::random_config_text(&choices))?;
        }
    }

    #[test]
    fn the_plain_reader_agrees_with_toml_edit_on_every_fixture() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
        for dir in [root.clone(), root.join("bad")] {
            for e in std::fs::read_dir(&dir).unwrap() {
                let path = e.unwrap().path();
                if path.extension().is_some_and(|x| x == "toml") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    agrees(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                }
            }
        }
    }
}

#[cfg(test)]
mod plain_path_tests {
    use super::*;

    /// The fast path (forwards read section by section) and toml_edit give one config.
    fn same_both_ways(text: &str) {
        let fast = from_plain_toml(text, "t.toml").expect("in the plain subset");
        let edit = from_toml_edit(text, "t.toml").expect("valid");
        assert_eq!(fast, edit);
    }

    #[test]
    fn forwards_read_section_by_section_are_the_forwards_toml_edit_reads() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
        let mut read = 0;
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                if from_plain_toml(&text, "t.toml").is_some() {
                    same_both_ways(&text);
                    read += 1;
                }
            }
        }
        assert!(read >= 3, "{read} fixtures on the fast path");
        // Forwards between other sections, the last one at the end of the file without a
        // newline, comments after a header.
        same_both_ways(
            "[uplink]\ninterface = \"eth0\"\n[[network]]\nname = \"n\"\nbridge = \"br0\"\naddress = \"10.0.0.1/24\"\n\
             [[forward]] # web\nproto = \"tcp\"\nport = 80\nto = \"10.0.0.5:80\"\n\
             [[host]]\nname = \"h\"\nnetwork = \"n\"\naddresses = [\"10.0.0.6\"]\n\
             [[forward]]\nproto = \"udp\"\nport = 53\nto = \"h:53\"",
        );
    }

    #[test]
    fn a_forward_section_the_fast_path_cannot_split_goes_to_toml_edit() {
        let base = "[uplink]\ninterface = \"eth0\"\n[[network]]\nname = \"n\"\nbridge = \"br0\"\naddress = \"10.0.0.1/24\"\n";
        for odd in [
            "[[ forward ]]\nproto = \"tcp\"\nport = 80\nto = \"10.0.0.5:80\"\n",
            "[[forward]]\nproto = \"tcp\"\nport = 80\nto = \"10.0.0.5:80\"\nport = 81\n",
            "[[forward]]\nproto = \"tcp\"\nport = 80\nto = \"10.0.0.5:80\"\nbogus = [\n\"x\"]\n",
        ] {
            let text = format!("{base}{odd}");
            assert!(from_plain_toml(&text, "t.toml").is_none(), "{odd}");
        }
        // …and what toml_edit makes of it stands: spaces inside the brackets are TOML.
        let spaced = format!("{base}[[ forward ]]\nproto = \"tcp\"\nport = 80\nto = \"10.0.0.5:80\"\n");
        assert_eq!(from_toml(&spaced, "t.toml").unwrap().forwards.len(), 1);
    }
}
