//! Samples and their summary: median, min–max, p99 — what RESULTS.md quotes.

use serde_json::{json, Value};

/// Repeated measurements of one quantity (milliseconds, Gbit/s, …).
#[derive(Debug, Clone, Default)]
pub struct Samples {
    pub values: Vec<f64>,
}

impl Samples {
    pub fn push(&mut self, v: f64) {
        self.values.push(v);
    }

    /// `self[i] / other[i]` for each i: the ratio within each round, so a slow phase of
    /// the machine that hits both sides of a round cancels out.
    pub fn paired_ratio(&self, other: &Samples) -> Samples {
        Samples {
            values: self
                .values
                .iter()
                .zip(&other.values)
                .map(|(a, b)| a / b)
                .collect(),
        }
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.values.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        v
    }

    /// The `q` quantile (nearest rank), `q` in 0..=1.
    pub fn quantile(&self, q: f64) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            return f64::NAN;
        }
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1]
    }

    pub fn median(&self) -> f64 {
        let v = self.sorted();
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    pub fn min(&self) -> f64 {
        self.values.iter().copied().fold(f64::INFINITY, f64::min)
    }

    pub fn max(&self) -> f64 {
        self.values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }

    pub fn n(&self) -> usize {
        self.values.len()
    }

    /// `median (min–max)` with `digits` decimals.
    pub fn show(&self, digits: usize) -> String {
        format!(
            "{:.d$} ({:.d$}–{:.d$})",
            self.median(),
            self.min(),
            self.max(),
            d = digits
        )
    }

    pub fn to_json(&self) -> Value {
        json!({
            "median": self.median(), "min": self.min(), "max": self.max(),
            "p99": self.quantile(0.99), "n": self.n(), "values": self.values,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_quantiles_follow_nearest_rank() {
        let s = Samples {
            values: vec![5.0, 1.0, 3.0, 2.0, 4.0],
        };
        assert_eq!(s.median(), 3.0);
        assert_eq!(s.quantile(0.99), 5.0);
        assert_eq!((s.min(), s.max()), (1.0, 5.0));
    }
}
