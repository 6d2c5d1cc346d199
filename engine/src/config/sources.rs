//! Where each configuration value came from, so semantic errors can point at it.
//!
//! Two kinds of origin: the Xen `VAR=VAL` words record each value as they are read; a TOML
//! file is looked up lazily in its parsed document, by key path, only when an error needs
//! the place. (Recording every key of a 10,000-forward file up front cost megabytes of
//! peak memory and a string per key, for errors that almost never happen.)

use std::collections::HashMap;

use toml_edit::{Item, Table, Value};

use super::ConfigError;

/// The position and original text of one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub line: Option<usize>,
    pub text: String,
}

/// Key path (`network[0].address`, `bridgeip`) → where it was written.
#[derive(Debug, Clone, Default)]
pub struct Sources<'d> {
    pub origin: String,
    map: HashMap<String, Located>,
    doc: Option<TomlDoc<'d>>,
}

/// A parsed TOML file and its text, to locate key paths in.
#[derive(Debug, Clone)]
pub struct TomlDoc<'d> {
    root: &'d Table,
    text: &'d str,
    line_starts: Vec<usize>,
}

impl<'d> TomlDoc<'d> {
    pub fn new(root: &'d Table, text: &'d str) -> Self {
        TomlDoc {
            root,
            text,
            line_starts: line_starts(text),
        }
    }

    /// The 1-based line of byte `offset`.
    pub fn line_of(&self, offset: usize) -> usize {
        line_at(&self.line_starts, self.text, offset)
    }

    /// A value as written in the file (`"10.98.98.1/24"`, `70000`).
    pub fn raw(&self, v: &Value) -> String {
        v.span()
            .and_then(|s| self.text.get(s))
            .map(|t| t.trim().to_string())
            .unwrap_or_default()
    }

    /// Where `path` (`host[0].addresses[1]`, `policy[2]`, `uplink`) is written: a value
    /// with its text, a table (or `[[name]]` entry) by its header's line.
    fn locate(&self, path: &str) -> Option<Located> {
        let mut cur = Cur::Table(self.root);
        let mut line = self.root.span().map(|s| s.start);
        // The value the walk ended on (inline tables included), for its text.
        let mut last: Option<&Value> = None;
        for seg in segments(path) {
            cur = match (seg, cur) {
                (Segment::Key(k), Cur::Table(table)) => {
                    let (key, found) = table.get_key_value(k)?;
                    line = key.span().or_else(|| found.span()).map(|s| s.start);
                    last = found.as_value();
                    match found {
                        Item::Table(t) => {
                            line = t.span().map(|s| s.start).or(line);
                            Cur::Table(t)
                        }
                        Item::Value(Value::InlineTable(t)) => Cur::Inline(t),
                        Item::Value(v) => Cur::Value(v),
                        Item::ArrayOfTables(a) => Cur::Tables(a),
                        Item::None => return None,
                    }
                }
                (Segment::Key(k), Cur::Inline(table)) => {
                    let (key, item) = table.get_key_value(k)?;
                    let v = item.as_value()?;
                    line = key.span().or_else(|| v.span()).map(|s| s.start);
                    last = Some(v);
                    match v {
                        Value::InlineTable(t) => Cur::Inline(t),
                        v => Cur::Value(v),
                    }
                }
                (Segment::Index(i), Cur::Tables(a)) => {
                    let t = a.get(i)?;
                    line = t.span().map(|s| s.start);
                    last = None;
                    Cur::Table(t)
                }
                (Segment::Index(i), Cur::Value(Value::Array(a))) => {
                    let v = a.get(i)?;
                    line = v.span().map(|s| s.start);
                    last = Some(v);
                    match v {
                        Value::InlineTable(t) => Cur::Inline(t),
                        v => Cur::Value(v),
                    }
                }
                _ => return None,
            };
        }
        let text = last.map(|v| self.raw(v)).unwrap_or_default();
        Some(Located {
            line: line.map(|o| self.line_of(o)),
            text,
        })
    }
}

/// Where a key path walk stands.
#[derive(Clone, Copy)]
enum Cur<'a> {
    Table(&'a Table),
    Inline(&'a toml_edit::InlineTable),
    Tables(&'a toml_edit::ArrayOfTables),
    Value(&'a Value),
}

/// One step of a key path.
enum Segment<'p> {
    Key(&'p str),
    Index(usize),
}

/// `host[0].addresses[1]` → Key(host), Index(0), Key(addresses), Index(1).
fn segments(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(Segment::Key(name));
        }
        while let Some(end) = rest.find(']') {
            if let Ok(i) = rest[1..end].parse() {
                out.push(Segment::Index(i));
            }
            rest = &rest[end + 1..];
        }
    }
    out
}

/// Byte offset where each line starts, so a key's line is a binary search: counting
/// newlines per key made a 10,000-forward file take seconds (quadratic).
pub fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// Lines starting at or before `offset`; the first line starts at 0, so this is ≥ 1.
pub fn line_at(line_starts: &[usize], text: &str, offset: usize) -> usize {
    line_starts.partition_point(|&s| s <= offset.min(text.len()))
}

impl<'d> Sources<'d> {
    pub fn new(origin: impl Into<String>) -> Self {
        Sources {
            origin: origin.into(),
            map: HashMap::new(),
            doc: None,
        }
    }

    /// Sources that locate key paths in a parsed TOML file.
    pub fn for_toml(origin: impl Into<String>, doc: TomlDoc<'d>) -> Self {
        Sources {
            origin: origin.into(),
            map: HashMap::new(),
            doc: Some(doc),
        }
    }

    /// The TOML file these sources locate keys in, if any.
    pub fn toml(&self) -> Option<&TomlDoc<'d>> {
        self.doc.as_ref()
    }

    pub fn record(&mut self, key: impl Into<String>, line: Option<usize>, text: impl Into<String>) {
        self.map.insert(
            key.into(),
            Located {
                line,
                text: text.into(),
            },
        );
    }

    pub fn get(&self, key: &str) -> Option<Located> {
        if let Some(l) = self.map.get(key) {
            return Some(l.clone());
        }
        self.doc.as_ref().and_then(|d| d.locate(key))
    }

    /// An error about `key`, quoting the value as it was written there. A key recorded
    /// without text (a section header such as `policy[1]`) is reported without a value.
    pub fn error(&self, key: &str, problem: impl Into<String>, hint: impl Into<String>) -> ConfigError {
        let loc = self.get(key);
        ConfigError {
            origin: self.origin.clone(),
            line: loc.as_ref().and_then(|l| l.line),
            key: key.to_string(),
            value: loc.map(|l| l.text).filter(|t| !t.is_empty()),
            problem: problem.into(),
            hint: hint.into(),
        }
    }

    /// An error about `key` where the key itself is missing; `at` is a nearby key
    /// (the table header) whose line to report.
    pub fn missing(&self, key: &str, at: &str, hint: impl Into<String>) -> ConfigError {
        ConfigError {
            origin: self.origin.clone(),
            line: self.get(at).and_then(|l| l.line),
            key: key.to_string(),
            value: None,
            problem: "is missing".into(),
            hint: hint.into(),
        }
    }
}
