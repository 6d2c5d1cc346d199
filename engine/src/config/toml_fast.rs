//! A fast reader for the plain TOML that brouter's files are written in.
//!
//! toml_edit's parser builds a document that keeps every byte's position and formatting;
//! for a 10,000-forward file that is most of a re-read (bench case 7b). brouter's files
//! use a small part of TOML: `[name]` and `[[name]]` headers, `key = value` lines whose
//! value is a string without escapes, a decimal integer, a boolean or a one-line list of
//! such strings, comments and blank lines. This reads exactly that subset into the same
//! [`Table`] toml_edit would give (without positions), line by line, and answers `None`
//! for anything else — an escape, a dotted key, an inline table, a duplicate key or
//! header, anything it is unsure of — so the caller then parses with toml_edit. Errors
//! are never reported from this path: a file that fails to read, parse or validate here
//! is read again by toml_edit, whose positions the messages need.

use toml_edit::{Array, ArrayOfTables, Item, Table, Value};

/// `text` without its `[[name]]` sections, and the body of each (the lines after its
/// header, up to the next header), in order. In the plain subset every line that starts
/// with `[` is a header; a file outside it may be split wrongly, but then [`read`] refuses
/// a piece (an unclosed list, a multi-line string) and the caller parses the whole file
/// with toml_edit. `None` when a header names `name` in another way (`[name]`, spaces).
pub fn split_sections<'t>(text: &'t str, name: &str) -> Option<(String, Vec<&'t str>)> {
    let header = format!("[[{name}]]");
    let mut rest = String::with_capacity(text.len());
    let mut bodies = Vec::new();
    // The byte where the current section's body starts, when it is one of `name`'s.
    let mut body_start: Option<usize> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = strip_comment(line.trim_end_matches(['\n', '\r']))
            .unwrap_or(line)
            .trim_matches([' ', '\t']);
        if trimmed.starts_with('[') {
            if let Some(start) = body_start.take() {
                bodies.push(&text[start..offset]);
            }
            if trimmed == header {
                body_start = Some(offset + line.len());
            } else if trimmed.contains(name) && trimmed.replace([' ', '\t'], "").contains(&header) {
                return None;
            }
        }
        if body_start.is_none() && trimmed != header {
            rest.push_str(line);
        }
        offset += line.len();
    }
    if let Some(start) = body_start {
        bodies.push(&text[start..]);
    }
    Some((rest, bodies))
}

/// The root table of `text`, or `None` when `text` is not in the plain subset.
pub fn read(text: &str) -> Option<Table> {
    if text.starts_with('\u{feff}') {
        return None;
    }
    let mut root = Table::new();
    // Where `key = value` lines go: the root, a `[name]` table, or the last `[[name]]`.
    let mut current: Option<(String, bool)> = None;
    let mut table = Table::new();
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.contains('\r') {
            return None;
        }
        let line = strip_comment(line)?;
        let line = line.trim_matches([' ', '\t']);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let (name, array) = match rest.strip_prefix('[') {
                Some(inner) => (inner.strip_suffix("]]")?, true),
                None => (rest.strip_suffix(']')?, false),
            };
            let name = name.trim_matches([' ', '\t']);
            if !is_bare_key(name) {
                return None;
            }
            close(&mut root, &mut current, &mut table)?;
            match (root.get(name), array) {
                (None, _) => {}
                (Some(Item::ArrayOfTables(_)), true) => {}
                _ => return None,
            }
            current = Some((name.to_string(), array));
            continue;
        }
        let (key, value) = line.split_once('=')?;
        let key = key.trim_matches([' ', '\t']);
        if !is_bare_key(key) {
            return None;
        }
        let value = parse_value(value.trim_matches([' ', '\t']))?;
        let target = if current.is_some() { &mut table } else { &mut root };
        if target.contains_key(key) {
            return None;
        }
        target.insert(key, Item::Value(value));
    }
    close(&mut root, &mut current, &mut table)?;
    Some(root)
}

/// Put the table being filled where its header said.
fn close(root: &mut Table, current: &mut Option<(String, bool)>, table: &mut Table) -> Option<()> {
    let Some((name, array)) = current.take() else {
        return Some(());
    };
    let t = std::mem::take(table);
    if array {
        match root.get_mut(&name) {
            Some(Item::ArrayOfTables(a)) => a.push(t),
            None => {
                let mut a = ArrayOfTables::new();
                a.push(t);
                root.insert(&name, Item::ArrayOfTables(a));
            }
            Some(_) => return None,
        }
    } else {
        if root.contains_key(&name) {
            return None;
        }
        root.insert(&name, Item::Table(t));
    }
    Some(())
}

/// `line` without its comment; `None` if a comment holds a character TOML forbids there
/// or a quote makes the line ambiguous to this reader.
fn strip_comment(line: &str) -> Option<&str> {
    let mut in_string = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_string = !in_string,
            '\'' | '\\' => return None,
            '#' if !in_string => {
                let comment = &line[i + 1..];
                if comment.chars().any(|c| c.is_control() && c != '\t') {
                    return None;
                }
                return Some(&line[..i]);
            }
            c if c.is_control() && c != '\t' => return None,
            _ => {}
        }
    }
    if in_string {
        return None;
    }
    Some(line)
}

fn is_bare_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn parse_value(v: &str) -> Option<Value> {
    if let Some(s) = parse_string(v) {
        return Some(Value::from(s));
    }
    match v {
        "true" => return Some(Value::from(true)),
        "false" => return Some(Value::from(false)),
        _ => {}
    }
    if let Some(inner) = v.strip_prefix('[') {
        let inner = inner.strip_suffix(']')?.trim_matches([' ', '\t']);
        let mut a = Array::new();
        if inner.is_empty() {
            return Some(Value::Array(a));
        }
        let inner = inner.strip_suffix(',').unwrap_or(inner);
        for item in inner.split(',') {
            a.push(parse_string(item.trim_matches([' ', '\t']))?);
        }
        return Some(Value::Array(a));
    }
    // A decimal integer without sign, underscores or leading zeros.
    let digits = v.bytes().all(|b| b.is_ascii_digit());
    if digits && !v.is_empty() && (v == "0" || !v.starts_with('0')) && v.len() <= 18 {
        return v.parse::<i64>().ok().map(Value::from);
    }
    None
}

/// `"…"` without escapes or inner quotes.
fn parse_string(v: &str) -> Option<&str> {
    let inner = v.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains(['"', '\\']) {
        return None;
    }
    Some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The data of a table, without formatting or positions.
    fn tree(t: &Table) -> String {
        let mut out = String::from("{");
        for (k, item) in t.iter() {
            out.push_str(&format!("{k}:{};", item_tree(item)));
        }
        out + "}"
    }

    fn item_tree(item: &Item) -> String {
        match item {
            Item::Table(t) => tree(t),
            Item::ArrayOfTables(a) => a.iter().map(tree).collect::<Vec<_>>().join(",") + "]",
            Item::Value(v) => value_tree(v),
            Item::None => "none".into(),
        }
    }

    fn value_tree(v: &Value) -> String {
        match v {
            Value::String(s) => format!("s{:?}", s.value()),
            Value::Integer(i) => format!("i{}", i.value()),
            Value::Boolean(b) => format!("b{}", b.value()),
            Value::Array(a) => format!("[{}]", a.iter().map(value_tree).collect::<Vec<_>>().join(",")),
            other => format!("other {}", other.type_name()),
        }
    }

    fn same_as_toml_edit(text: &str) {
        let fast = read(text).expect("in the plain subset");
        let full = toml_edit::ImDocument::parse(text).unwrap();
        assert_eq!(tree(&fast), tree(full.as_table()), "{text}");
    }

    #[test]
    fn every_plain_fixture_reads_as_toml_edit_reads_it() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
        let mut plain = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                if read(&text).is_some() {
                    same_as_toml_edit(&text);
                    plain += 1;
                }
            }
        }
        assert!(plain >= 2, "the fixtures should be plain TOML");
    }

    #[test]
    fn reads_the_plain_subset_as_toml_edit_does() {
        same_as_toml_edit(
            "# c\n[uplink]\ninterface = \"eth0\" # x\n\n[[network]]\nname = \"a#b\"\nantispoof = true\n\
             forward_delay = 0\n[[network]]\nname=\"b\"\n[[host]]\naddresses = [\"10.0.0.1\", \"10.0.0.2\",]\n\
             [log]\nrate = 10\n",
        );
    }

    #[test]
    fn anything_else_is_left_to_toml_edit() {
        for text in [
            "a = 'x'\n",
            "a = \"x\\ty\"\n",
            "a.b = 1\n",
            "a = { b = 1 }\n",
            "a = 1\na = 2\n",
            "[t]\n[t]\n",
            "[[t]]\n[t]\n",
            "[t]\n[[t]]\n",
            "a = 0x10\n",
            "a = 1_000\n",
            "a = -1\n",
            "a = 01\n",
            "a = 1979-05-27\n",
            "a = \"\"\"x\"\"\"\n",
            "a = [\n\"x\"]\n",
            "a = [1, 2]\n",
            "\"a\" = 1\n",
            "[a.b]\n",
            "a = \"x\" # \u{7}\n",
            "a = \"x\"\r\r\n",
            "a = 1 2\n",
            "a = \"x\" \"y\"\n",
            "a =\n",
            "[t] x\n",
            "\u{feff}a = 1\n",
        ] {
            assert!(read(text).is_none(), "{text:?} was taken as plain");
        }
    }
}
