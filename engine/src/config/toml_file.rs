//! The TOML front end (DESIGN.md, "Config file").
//!
//! Parsed with `toml_edit` rather than serde so every key and value keeps its position:
//! errors can then name the line, and unknown keys get a "did you mean".

use std::net::Ipv4Addr;

use toml_edit::{ImDocument, Item, Table, Value};

use super::values::{self, Problem};
use super::{
    did_you_mean, validate, Action, Config, ConfigError, ConfigErrors, Forward, Host, Mode,
    Network, Policy, Sources, Uplink,
};

const TOP_KEYS: &[&str] = &["uplink", "network", "host", "forward", "policy"];
const UPLINK_KEYS: &[&str] = &["interface"];
const NETWORK_KEYS: &[&str] =
    &["name", "bridge", "address", "masquerade", "antispoof", "stp", "forward_delay"];
const HOST_KEYS: &[&str] = &["name", "network", "mac", "addresses", "vif"];
const FORWARD_KEYS: &[&str] = &["proto", "port", "to"];
const POLICY_KEYS: &[&str] = &["from", "to", "action", "services", "log"];

/// Parse and validate a TOML configuration. `origin` is the file name used in messages.
pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigErrors> {
    let mut p = Parser { text, src: Sources::new(origin), errors: Vec::new() };
    let doc = ImDocument::parse(text).map_err(|e| {
        let line = e.span().map(|s| p.line_of(s.start));
        ConfigError {
            origin: origin.to_string(),
            line,
            key: "(syntax)".into(),
            value: None,
            problem: format!("is not valid TOML: {}", e.message()),
            hint: "fix the syntax (see fixtures/seed.toml for the format)".into(),
        }
    })?;
    let config = p.config(doc.as_table());
    if !p.errors.is_empty() {
        return Err(ConfigErrors(p.errors));
    }
    validate(&config, &p.src)?;
    Ok(config)
}

struct Parser<'t> {
    text: &'t str,
    src: Sources,
    errors: Vec<ConfigError>,
}

/// One TOML table being read, with its key path (`network[1]`).
struct Tab<'a> {
    path: String,
    table: &'a Table,
}

impl Parser<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())].bytes().filter(|b| *b == b'\n').count() + 1
    }

    fn key_path(tab: &Tab, key: &str) -> String {
        if tab.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", tab.path)
        }
    }

    fn push(&mut self, key: &str, problem: Problem) {
        let e = self.src.error(key, problem.0, problem.1);
        self.errors.push(e);
    }

    /// Record the table header position and reject keys the table does not know.
    fn open<'a>(&mut self, path: String, table: &'a Table, allowed: &[&str]) -> Tab<'a> {
        let line = table.span().map(|s| self.line_of(s.start));
        self.src.record(path.clone(), line, format!("[{path}]"));
        let tab = Tab { path, table };
        for (key, item) in table.iter() {
            let kp = Self::key_path(&tab, key);
            let line = table
                .key(key)
                .and_then(|k| k.span())
                .or_else(|| item.span())
                .map(|s| self.line_of(s.start));
            let text = item
                .as_value()
                .and_then(|v| v.span())
                .and_then(|s| self.text.get(s))
                .map(|t| t.trim().to_string())
                .unwrap_or_default();
            self.src.record(kp.clone(), line, text);
            if !allowed.contains(&key) {
                let hint = match did_you_mean(key, allowed) {
                    Some(s) => format!("did you mean `{s}`? (known keys: {})", allowed.join(", ")),
                    None => format!("known keys here: {}", allowed.join(", ")),
                };
                let e = ConfigError {
                    origin: self.src.origin.clone(),
                    line,
                    key: kp,
                    value: None,
                    problem: "is not a known key".into(),
                    hint,
                };
                self.errors.push(e);
            }
        }
        tab
    }

    fn value<'a>(&self, tab: &Tab<'a>, key: &str) -> Option<&'a Value> {
        tab.table.get(key).and_then(Item::as_value)
    }

    fn string(&mut self, tab: &Tab, key: &str) -> Option<String> {
        let kp = Self::key_path(tab, key);
        let v = self.value(tab, key)?;
        match v.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.push(&kp, ("must be a string".into(), format!("quote it: {key} = \"…\"")));
                None
            }
        }
    }

    fn required_string(&mut self, tab: &Tab, key: &str, hint: &str) -> Option<String> {
        if tab.table.get(key).is_none() {
            let e = self.src.missing(&Self::key_path(tab, key), &tab.path, hint);
            self.errors.push(e);
            return None;
        }
        self.string(tab, key)
    }

    fn boolean(&mut self, tab: &Tab, key: &str, default: bool) -> bool {
        let kp = Self::key_path(tab, key);
        match self.value(tab, key) {
            None => default,
            Some(v) => match v.as_bool() {
                Some(b) => b,
                None => {
                    self.push(&kp, ("must be true or false".into(), format!("write {key} = true or {key} = false")));
                    default
                }
            },
        }
    }

    fn string_list(&mut self, tab: &Tab, key: &str) -> Vec<String> {
        let kp = Self::key_path(tab, key);
        let Some(v) = self.value(tab, key) else { return Vec::new() };
        let strings: Option<Vec<String>> =
            v.as_array().and_then(|a| a.iter().map(|x| x.as_str().map(str::to_string)).collect());
        match strings {
            Some(s) => s,
            None => {
                self.push(&kp, ("must be a list of strings".into(), format!("write {key} = [\"…\", \"…\"]")));
                Vec::new()
            }
        }
    }

    /// Each `[[name]]` entry, or an error if `name` is not an array of tables.
    fn array_of_tables<'a>(&mut self, root: &'a Table, name: &str) -> Vec<&'a Table> {
        match root.get(name) {
            None => Vec::new(),
            Some(Item::ArrayOfTables(a)) => a.iter().collect(),
            Some(_) => {
                self.push(name, (format!("must be written as [[{name}]] sections"), format!("start each entry with a [[{name}]] line")));
                Vec::new()
            }
        }
    }

    fn config(&mut self, root: &Table) -> Config {
        let top = self.open(String::new(), root, TOP_KEYS);
        let _ = top;

        let uplink = match root.get("uplink") {
            None => None,
            Some(Item::Table(t)) => {
                let tab = self.open("uplink".into(), t, UPLINK_KEYS);
                self.required_string(&tab, "interface", "name the external NIC, e.g. interface = \"eth0\"")
                    .map(|interface| Uplink { interface })
            }
            Some(_) => {
                self.push("uplink", ("must be a [uplink] section".into(), "write [uplink] then interface = \"eth0\"".into()));
                None
            }
        };

        let mut networks = Vec::new();
        for (i, t) in self.array_of_tables(root, "network").into_iter().enumerate() {
            if let Some(n) = self.network(i, t) {
                networks.push(n);
            }
        }
        let mut hosts = Vec::new();
        for (i, t) in self.array_of_tables(root, "host").into_iter().enumerate() {
            if let Some(h) = self.host(i, t) {
                hosts.push(h);
            }
        }
        let mut forwards = Vec::new();
        for (i, t) in self.array_of_tables(root, "forward").into_iter().enumerate() {
            if let Some(f) = self.forward(i, t, &hosts) {
                forwards.push(f);
            }
        }
        let mut policies = Vec::new();
        for (i, t) in self.array_of_tables(root, "policy").into_iter().enumerate() {
            if let Some(p) = self.policy(i, t) {
                policies.push(p);
            }
        }
        Config { origin: self.src.origin.clone(), mode: Mode::File, uplink, networks, hosts, forwards, policies }
    }

    fn network(&mut self, i: usize, t: &Table) -> Option<Network> {
        let tab = self.open(format!("network[{i}]"), t, NETWORK_KEYS);
        let name = self.required_string(&tab, "name", "give the network a name, e.g. name = \"dmz\"");
        let bridge = self.string(&tab, "bridge").unwrap_or_else(|| format!("xenbr{i}"));
        let address_text =
            self.required_string(&tab, "address", "give the bridge its address, e.g. address = \"10.98.98.1/24\"");
        let address = address_text.and_then(|a| match values::parse_cidr(&a) {
            Ok(n) => Some(n),
            Err(p) => {
                self.push(&Self::key_path(&tab, "address"), p);
                None
            }
        });
        let masquerade = self.boolean(&tab, "masquerade", true);
        let antispoof = self.boolean(&tab, "antispoof", false);
        let stp = self.boolean(&tab, "stp", false);
        let forward_delay = match self.value(&tab, "forward_delay") {
            None => 0,
            Some(v) => match v.as_integer() {
                Some(n) if (0..=30).contains(&n) => n as u32,
                _ => {
                    self.push(
                        &Self::key_path(&tab, "forward_delay"),
                        ("must be a number of seconds from 0 to 30".into(), "write forward_delay = 0".into()),
                    );
                    0
                }
            },
        };
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
        })
    }

    fn host(&mut self, i: usize, t: &Table) -> Option<Host> {
        let tab = self.open(format!("host[{i}]"), t, HOST_KEYS);
        let name = self.required_string(&tab, "name", "name the host, e.g. name = \"web1\"");
        let network =
            self.required_string(&tab, "network", "say which network the host is on, e.g. network = \"dmz\"");
        let mac = self.string(&tab, "mac").and_then(|m| match values::parse_mac(&m) {
            Ok(m) => Some(m),
            Err(p) => {
                self.push(&Self::key_path(&tab, "mac"), p);
                None
            }
        });
        let mut addresses = Vec::new();
        for a in self.string_list(&tab, "addresses") {
            match values::parse_ipv4(&a) {
                Ok(ip) => addresses.push(ip),
                Err((problem, hint)) => {
                    let kp = Self::key_path(&tab, "addresses");
                    let mut e = self.src.error(&kp, format!("{a:?} {problem}"), hint);
                    e.value = Some(format!("{a:?}"));
                    self.errors.push(e);
                }
            }
        }
        let vif = self.string(&tab, "vif");
        Some(Host { name: name?, network: network?, mac, addresses, vif })
    }

    fn forward(&mut self, i: usize, t: &Table, hosts: &[Host]) -> Option<Forward> {
        let tab = self.open(format!("forward[{i}]"), t, FORWARD_KEYS);
        let proto = self
            .required_string(&tab, "proto", "write proto = \"tcp\" or proto = \"udp\"")
            .and_then(|p| values::parse_proto(&p).map_err(|e| self.push(&Self::key_path(&tab, "proto"), e)).ok());
        let port_key = Self::key_path(&tab, "port");
        let ports = match self.value(&tab, "port") {
            None => {
                let e = self.src.missing(&port_key, &tab.path, "write port = 8080 or port = \"8000-8099\"");
                self.errors.push(e);
                None
            }
            Some(v) => {
                let text = match (v.as_integer(), v.as_str()) {
                    (Some(n), _) => n.to_string(),
                    (_, Some(s)) => s.to_string(),
                    _ => String::from("?"),
                };
                values::parse_port_range(&text).map_err(|e| self.push(&port_key, e)).ok()
            }
        };
        let to = self.required_string(&tab, "to", "write to = \"web1:80\" (a host name or address, optional port)");
        let target = to.and_then(|to| {
            let to_key = Self::key_path(&tab, "to");
            let (who, port) = match to.rsplit_once(':') {
                Some((w, p)) => (w.to_string(), Some(p.to_string())),
                None => (to.clone(), None),
            };
            let to_port = match port {
                None => None,
                Some(p) => match values::parse_port(&p) {
                    Ok(p) => Some(p),
                    Err((problem, hint)) => {
                        self.push(&to_key, (format!("has a bad port: {problem}"), hint));
                        return None;
                    }
                },
            };
            if let Ok(addr) = who.parse::<Ipv4Addr>() {
                return Some((None, addr, to_port));
            }
            match hosts.iter().find(|h| h.name == who) {
                Some(h) => match h.addresses.first() {
                    Some(a) => Some((Some(who), *a, to_port)),
                    None => {
                        self.push(&to_key, (format!("names host {who:?}, which has no addresses"), format!("give host {who:?} addresses = [\"…\"]")));
                        None
                    }
                },
                None => {
                    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
                    let hint = match did_you_mean(&who, &names) {
                        Some(s) => format!("did you mean host {s:?}?"),
                        None if names.is_empty() => "declare it in a [[host]] section or forward to an address".into(),
                        None => format!("known hosts: {}", names.join(", ")),
                    };
                    self.push(&to_key, (format!("names unknown host {who:?}"), hint));
                    None
                }
            }
        });
        let (host, addr, to_port) = target?;
        Some(Forward { proto: proto?, ports: ports?, host, addr, to_port })
    }

    fn policy(&mut self, i: usize, t: &Table) -> Option<Policy> {
        let tab = self.open(format!("policy[{i}]"), t, POLICY_KEYS);
        let from = self.required_string(&tab, "from", "name the source zone, e.g. from = \"dmz\"");
        let to = self.required_string(&tab, "to", "name the destination zone, e.g. to = \"external\"");
        let action = self
            .required_string(&tab, "action", "write action = \"accept\", \"drop\" or \"reject\"")
            .and_then(|a| values::parse_action(&a).map_err(|e| self.push(&Self::key_path(&tab, "action"), e)).ok());
        let mut services = Vec::new();
        for s in self.string_list(&tab, "services") {
            match values::parse_service(&s) {
                Ok(sv) => services.push(sv),
                Err((problem, hint)) => {
                    let kp = Self::key_path(&tab, "services");
                    let mut e = self.src.error(&kp, format!("{s:?} {problem}"), hint);
                    e.value = Some(format!("{s:?}"));
                    self.errors.push(e);
                }
            }
        }
        let log = self.boolean(&tab, "log", false);
        let action: Action = action?;
        Some(Policy { from: from?, to: to?, action, services, log })
    }
}
