//! Configuration errors, written for the admin at 3 a.m.
//!
//! Every error names where (file and line, or "command line"), which key, the bad value,
//! what is wrong with it and what would be right. The bad-config catalogue in
//! `fixtures/bad/` pins these messages word for word.

use std::fmt;

/// One problem in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the config came from, or `command line` for Xen `VAR=VAL` words.
    pub origin: String,
    /// 1-based line in the file, where the format gives one.
    pub line: Option<usize>,
    /// The key, as a path (`network[1].address`, `bridgeip`).
    pub key: String,
    /// The offending value as written, if there is one.
    pub value: Option<String>,
    /// What is wrong.
    pub problem: String,
    /// What would be right.
    pub hint: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.key)?;
        if let Some(v) = &self.value {
            write!(f, " = {v}")?;
        }
        write!(f, ": {}", self.problem)?;
        if !self.hint.is_empty() {
            write!(f, "; {}", self.hint)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// All problems found in one configuration (validation does not stop at the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

/// "did you mean `x`?" for a misspelt key or value, when one candidate is close.
///
/// Close means at most one edit (insert, delete, substitute or swap two neighbours) per
/// three characters, or a high Jaro-Winkler similarity for longer words. Edit distance
/// catches short names (`dzm` → `dmz`) that Jaro-Winkler misses; the closest wins.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .filter(|c| **c != word)
        .map(|c| {
            (
                strsim::damerau_levenshtein(word, c),
                strsim::jaro_winkler(word, c),
                *c,
            )
        })
        .filter(|(dist, jw, c)| *dist <= (word.len().max(c.len()) / 3).max(1) || *jw >= 0.9)
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map(|(_, _, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn did_you_mean_finds_typos_and_not_strangers() {
        let keys = [
            "name",
            "bridge",
            "address",
            "masquerade",
            "antispoof",
            "stp",
            "forward_delay",
        ];
        assert_eq!(did_you_mean("adress", &keys).as_deref(), Some("address"));
        assert_eq!(did_you_mean("masqerade", &keys).as_deref(), Some("masquerade"));
        assert_eq!(
            did_you_mean("forward-delay", &keys).as_deref(),
            Some("forward_delay")
        );
        assert_eq!(did_you_mean("colour", &keys), None);
        let zones = ["external", "dom0", "dmz", "hosting"];
        assert_eq!(did_you_mean("dzm", &zones).as_deref(), Some("dmz"));
        assert_eq!(did_you_mean("extrenal", &zones).as_deref(), Some("external"));
        assert_eq!(did_you_mean("internet", &zones), None);
        assert_eq!(
            did_you_mean("brigdeip", &["bridgeip", "brnet", "bridge"]).as_deref(),
            Some("bridgeip")
        );
        assert_eq!(did_you_mean("anything", &[]), None);
    }
}
