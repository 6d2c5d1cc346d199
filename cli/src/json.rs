//! `--json` output (docs/json.md): every answer and every error is one JSON object on
//! stdout with a `"version": 1` field, so a script can refuse a shape it does not
//! know instead of misreading it.

use serde_json::{Map, Value};

/// The version of the shapes docs/json.md documents. Raised only when a field is renamed
/// or removed or changes meaning; adding a field keeps it.
pub const VERSION: u64 = 1;

/// `value` (an object) with its `"version"`; anything else is wrapped as
/// `{"version": 1, "value": …}`.
pub fn versioned(value: Value) -> Value {
    let mut out = Map::new();
    out.insert("version".into(), VERSION.into());
    match value {
        Value::Object(fields) => out.extend(fields.into_iter().filter(|(k, _)| k != "version")),
        other => {
            out.insert("value".into(), other);
        }
    }
    Value::Object(out)
}

/// Print `value` with its version, pretty, on stdout.
pub fn print(value: Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(&versioned(value)).expect("a JSON value serialises")
    );
}

/// Print anything serialisable as a versioned object.
pub fn print_ser<T: serde::Serialize>(value: &T) {
    print(serde_json::to_value(value).expect("brouter's answers serialise"));
}
