//! Expected values and transitions: a first-order Markov model over the
//! values a param took, from its history.

use std::collections::BTreeMap;

use karma_core::Value;
use serde::{Deserialize, Serialize};

/// Counts of observed transitions `from → to` between a param's values,
/// keyed by the values' canonical text.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Transitions {
    counts: BTreeMap<String, BTreeMap<String, u32>>,
    values: BTreeMap<String, Value>,
}

fn text(v: &Value) -> String {
    v.to_json().to_string()
}

impl Transitions {
    /// An empty model.
    pub fn new() -> Self {
        Self::default()
    }

    /// Learns from one history of values, oldest first (e.g. the values of
    /// `karma_store`'s param history); repeated values are not transitions.
    pub fn observe<'a>(&mut self, history: impl IntoIterator<Item = &'a Value>) {
        let mut previous: Option<String> = None;
        for v in history {
            let t = text(v);
            self.values.entry(t.clone()).or_insert_with(|| v.clone());
            if let Some(p) = previous.take()
                && p != t
            {
                *self.counts.entry(p).or_default().entry(t.clone()).or_default() += 1;
            }
            previous = Some(t);
        }
    }

    /// The probability of moving from `from` to `to`, among the moves seen
    /// from `from` (0 when `from` was never left).
    pub fn probability(&self, from: &Value, to: &Value) -> f64 {
        let Some(next) = self.counts.get(&text(from)) else { return 0.0 };
        let total: u32 = next.values().sum();
        f64::from(next.get(&text(to)).copied().unwrap_or(0)) / f64::from(total.max(1))
    }

    /// The most likely next value after `current`, with its probability
    /// (ties: the value first in text order).
    pub fn next(&self, current: &Value) -> Option<(Value, f64)> {
        let next = self.counts.get(&text(current))?;
        let total: u32 = next.values().sum();
        let (best, &count) = next.iter().max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))?;
        Some((self.values[best].clone(), f64::from(count) / f64::from(total)))
    }

    /// Whether `from → to` is improbable: seen from `from` at least
    /// `min_seen` times in all, and this move with probability below
    /// `threshold`.
    pub fn improbable(&self, from: &Value, to: &Value, threshold: f64, min_seen: u32) -> bool {
        let seen: u32 = self.counts.get(&text(from)).map_or(0, |n| n.values().sum());
        seen >= min_seen && self.probability(from, to) < threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    #[test]
    fn learns_a_lifecycle() {
        let mut m = Transitions::new();
        let cycle = [s("pending"), s("running"), s("running"), s("stopped"), s("pending"), s("running"), s("stopped")];
        for _ in 0..5 {
            m.observe(cycle.iter());
        }
        m.observe([s("running"), s("failed")].iter());
        let (next, p) = m.next(&s("running")).unwrap();
        assert_eq!(next, s("stopped"));
        assert!((p - 10.0 / 11.0).abs() < 1e-12, "{p}");
        assert!((m.probability(&s("pending"), &s("running")) - 1.0).abs() < 1e-12);
        assert!(m.improbable(&s("running"), &s("failed"), 0.2, 5));
        assert!(!m.improbable(&s("running"), &s("stopped"), 0.2, 5));
        assert!(m.improbable(&s("stopped"), &s("running"), 0.2, 5), "never seen");
        assert_eq!(m.next(&s("failed")), None);
        let ints = [Value::Int(1), Value::Int(2), Value::Int(3)];
        m.observe(ints.iter());
        assert_eq!(m.next(&Value::Int(2)).unwrap().0, Value::Int(3));
    }
}
