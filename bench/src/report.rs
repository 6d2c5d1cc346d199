//! RESULTS.md (tables a person reads) and results.json (every sample), written together.

use std::fmt::Write;

use serde_json::{json, Map, Value};

/// One table of RESULTS.md.
pub struct Table {
    pub title: String,
    pub note: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(title: &str, note: &str, header: &[&str]) -> Table {
        Table {
            title: title.into(),
            note: note.into(),
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: vec![],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

/// A target of the issue, and whether this run met it.
pub struct Target {
    pub what: String,
    pub measured: String,
    pub goal: String,
    pub met: bool,
}

#[derive(Default)]
pub struct Report {
    pub tables: Vec<Table>,
    pub targets: Vec<Target>,
    pub data: Map<String, Value>,
}

impl Report {
    pub fn target(&mut self, what: &str, measured: String, goal: &str, met: bool) {
        self.targets.push(Target {
            what: what.into(),
            measured,
            goal: goal.into(),
            met,
        });
    }

    pub fn markdown(&self, machine: &str) -> String {
        let mut s = String::from("# brouter benchmarks\n\n");
        let _ = writeln!(
            s,
            "Produced by `just bench` (bench/src/main.rs) in throwaway network namespaces; \
             every figure is from the same run. Times are wall-clock medians with min–max over N runs. \
             brouter is run as its release binary, the way an admin or xl calls it.\n\n{machine}\n"
        );
        s.push_str("## Targets\n\n| target | measured | goal | met |\n|---|---|---|---|\n");
        for t in &self.targets {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                t.what,
                t.measured,
                t.goal,
                if t.met { "yes" } else { "**no**" }
            );
        }
        for t in &self.tables {
            let _ = writeln!(s, "\n## {}\n\n{}\n", t.title, t.note);
            let _ = writeln!(s, "| {} |", t.header.join(" | "));
            let _ = writeln!(s, "|{}", "---|".repeat(t.header.len()));
            for r in &t.rows {
                let _ = writeln!(s, "| {} |", r.join(" | "));
            }
        }
        s
    }

    pub fn json(&self, machine: &str) -> Value {
        let targets: Vec<Value> = self
            .targets
            .iter()
            .map(|t| json!({"target": t.what, "measured": t.measured, "goal": t.goal, "met": t.met}))
            .collect();
        json!({"machine": machine, "targets": targets, "cases": self.data})
    }
}

/// A run of some cases only (`$BENCH_ONLY`) laid over the full run's RESULTS.md: its
/// tables replace those of the same title (or are added), its targets replace the rows of
/// the same name (or are added); the rest of the earlier run stays, and the header says
/// which cases are from which run.
pub fn merge_markdown(earlier: &str, fresh: &str, only: &str) -> String {
    let sections = |md: &str| -> (String, Vec<String>, Vec<(String, String)>) {
        let mut parts = md.split("\n## ");
        let head = parts.next().unwrap_or_default().to_string();
        let mut targets = vec![];
        let mut tables = vec![];
        for p in parts {
            let title = p.lines().next().unwrap_or_default().to_string();
            if title == "Targets" {
                targets = p
                    .lines()
                    .filter(|l| l.starts_with("| ") && !l.starts_with("| target |"))
                    .map(str::to_string)
                    .collect();
            } else {
                tables.push((title, p.to_string()));
            }
        }
        (head, targets, tables)
    };
    let (_, mut targets, mut tables) = sections(earlier);
    let (head, new_targets, new_tables) = sections(fresh);
    let name = |row: &str| row.split(" | ").next().unwrap_or_default().to_string();
    for row in new_targets {
        match targets.iter().position(|r| name(r) == name(&row)) {
            Some(i) => targets[i] = row,
            None => targets.push(row),
        }
    }
    for (title, body) in new_tables {
        match tables.iter().position(|(t, _)| *t == title) {
            Some(i) => tables[i] = (title, body),
            None => tables.push((title, body)),
        }
    }
    let mut s = head.trim_end().to_string();
    let _ = write!(
        s,
        "\n\nThe cases `{only}` are from a later run (`BENCH_ONLY={only} just bench`, with the \
         machine line above); the other tables and targets are from the last full run on the \
         same host.\n\n## Targets\n\n| target | measured | goal | met |\n|---|---|---|---|\n"
    );
    for r in targets {
        let _ = writeln!(s, "{r}");
    }
    for (_, body) in tables {
        let _ = write!(s, "\n## {}", body.trim_end_matches('\n'));
        s.push('\n');
    }
    s
}

/// The same for results.json: targets by name, cases by key.
pub fn merge_json(mut earlier: Value, fresh: Value) -> Value {
    if let (Some(old), Some(new)) = (earlier["cases"].as_object_mut(), fresh["cases"].as_object()) {
        for (k, v) in new {
            old.insert(k.clone(), v.clone());
        }
    }
    if let (Some(old), Some(new)) = (earlier["targets"].as_array_mut(), fresh["targets"].as_array()) {
        for t in new {
            match old.iter().position(|o| o["target"] == t["target"]) {
                Some(i) => old[i] = t.clone(),
                None => old.push(t.clone()),
            }
        }
    }
    earlier["machine_of_later_cases"] = fresh["machine"].clone();
    earlier
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subset_run_replaces_its_own_tables_and_targets_only() {
        let earlier = "# b\n\nold head\n\n## Targets\n\n| target | measured | goal | met |\n|---|---|---|---|\n| a | 1 | x | yes |\n| b | 2 | y | yes |\n\n## 1. One\n\nnote\n\n| h |\n|---|\n| 1 |\n\n## 2. Two\n\nold two\n";
        let fresh = "# b\n\nnew head\n\n## Targets\n\n| target | measured | goal | met |\n|---|---|---|---|\n| b | 3 | y | yes |\n| c | 4 | z | yes |\n\n## 2. Two\n\nnew two\n\n## 3. Three\n\nthree\n";
        let m = merge_markdown(earlier, fresh, "two");
        assert!(m.contains("new head") && !m.contains("old head"), "{m}");
        assert!(
            m.contains("| a | 1 |") && m.contains("| b | 3 |") && m.contains("| c | 4 |"),
            "{m}"
        );
        assert!(!m.contains("| b | 2 |"), "{m}");
        assert!(
            m.contains("## 1. One") && m.contains("new two") && !m.contains("old two"),
            "{m}"
        );
        assert!(m.contains("## 3. Three"), "{m}");
    }
}
