//! Where each configuration value came from, so semantic errors can point at it.

use std::collections::HashMap;

use super::ConfigError;

/// The position and original text of one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub line: Option<usize>,
    pub text: String,
}

/// Key path (`network[0].address`, `bridgeip`) → where it was written.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub origin: String,
    map: HashMap<String, Located>,
}

impl Sources {
    pub fn new(origin: impl Into<String>) -> Self {
        Sources {
            origin: origin.into(),
            map: HashMap::new(),
        }
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

    pub fn get(&self, key: &str) -> Option<&Located> {
        self.map.get(key)
    }

    /// An error about `key`, quoting the value as it was written there. A key recorded
    /// without text (a section header such as `policy[1]`) is reported without a value.
    pub fn error(&self, key: &str, problem: impl Into<String>, hint: impl Into<String>) -> ConfigError {
        let loc = self.get(key);
        ConfigError {
            origin: self.origin.clone(),
            line: loc.and_then(|l| l.line),
            key: key.to_string(),
            value: loc.map(|l| l.text.clone()).filter(|t| !t.is_empty()),
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
