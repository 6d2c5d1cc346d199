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
