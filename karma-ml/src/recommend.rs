//! Configuration recommendation: values for the params a new or partial
//! component lacks, from the existing components most like it.

use std::collections::BTreeMap;

use karma_core::{Component, Key, Name, Snapshot, Value};
use ndarray::ArrayView1;
use serde::{Deserialize, Serialize};

use crate::embed::{Embeddings, NearestNeighbours};

/// A suggested value for one param.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    /// The param.
    pub param: Name,
    /// The value: the weighted vote for categories, the weighted median for
    /// numbers.
    pub value: Value,
    /// The share of the neighbours' weight that agrees with it (numbers:
    /// within 10% of it), in `[0, 1]`.
    pub confidence: f32,
    /// The components it came from (those that agree), with their weights.
    pub sources: Vec<(Key, f32)>,
}

/// Suggests values for the params `partial` lacks, from the `k` components
/// of its kind nearest to `vector` (its embedding — e.g. from
/// [`Sage::embed_new`](crate::Sage::embed_new)). Each neighbour weighs its
/// cosine similarity times one plus the share of `partial`'s params it
/// agrees with (param neighbours count more). `exclude` leaves components
/// out (e.g. the one being re-predicted). Suggestions by param name.
pub fn recommend<I: NearestNeighbours>(
    embeddings: &Embeddings<I>,
    snapshot: &Snapshot,
    partial: &Component,
    vector: ArrayView1<'_, f32>,
    k: usize,
    exclude: &[Key],
) -> Vec<Suggestion> {
    // Over-fetch, then keep the nearest of the same kind.
    let candidates = embeddings.search(vector, (k * 8).max(32)).unwrap_or_default();
    let neighbours: Vec<(&Component, f32)> = candidates
        .iter()
        .filter(|(key, _)| !exclude.contains(key))
        .filter_map(|(key, s)| snapshot.get(key).map(|c| (c, *s)))
        .filter(|(c, _)| c.kind() == partial.kind())
        .take(k)
        .map(|(c, s)| {
            let given = partial.params().iter().count().max(1) as f32;
            let agree = partial.params().iter().filter(|(n, p)| c.param_value(n) == Some(&p.value)).count() as f32;
            (c, s.max(0.0) * (1.0 + agree / given))
        })
        .filter(|(_, w)| *w > 0.0)
        .collect();
    let mut missing: BTreeMap<&Name, Vec<(&Component, &Value, f32)>> = BTreeMap::new();
    for &(c, w) in &neighbours {
        for (name, p) in c.params().iter() {
            if partial.param(name).is_none() && !matches!(p.value, Value::Secret(_) | Value::Ref(_)) {
                missing.entry(name).or_default().push((c, &p.value, w));
            }
        }
    }
    missing.into_iter().filter_map(|(name, votes)| suggest(name, &votes)).collect()
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(x) if x.is_finite() => Some(*x),
        _ => None,
    }
}

/// Which neighbours' values count as agreeing with a suggestion.
enum Agreement {
    /// Numbers within 10% of the median.
    Near(f64),
    /// The same value.
    Equal(Value),
}

impl Agreement {
    fn agrees(&self, v: &Value) -> bool {
        match self {
            Self::Near(m) => number(v).is_some_and(|x| (x - m).abs() <= 0.1 * m.abs().max(f64::EPSILON)),
            Self::Equal(e) => v == e,
        }
    }
}

fn suggest(name: &Name, votes: &[(&Component, &Value, f32)]) -> Option<Suggestion> {
    let total: f32 = votes.iter().map(|v| v.2).sum();
    if total <= 0.0 {
        return None;
    }
    let numeric: Option<Vec<(f64, &Value, f32)>> =
        votes.iter().map(|(_, v, w)| number(v).map(|x| (x, *v, *w))).collect();
    let (value, rule) = if let Some(mut nums) = numeric {
        // Weighted median.
        nums.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut acc = 0.0;
        let (median, value) = nums
            .iter()
            .find(|(_, _, w)| {
                acc += w;
                acc >= total / 2.0
            })
            .map_or((nums[0].0, nums[0].1), |(x, v, _)| (*x, *v));
        (value.clone(), Agreement::Near(median))
    } else {
        // Weighted vote (ties: the value first in text order).
        let mut tally: BTreeMap<String, (f32, &Value)> = BTreeMap::new();
        for (_, v, w) in votes {
            tally.entry(v.to_json().to_string()).or_insert((0.0, v)).0 += w;
        }
        let (_, (_, best)) = tally.iter().max_by(|a, b| a.1.0.total_cmp(&b.1.0).then_with(|| b.0.cmp(a.0)))?;
        ((*best).clone(), Agreement::Equal((*best).clone()))
    };
    let agrees = |v: &Value| rule.agrees(v);
    let sources: Vec<(Key, f32)> =
        votes.iter().filter(|(_, v, _)| agrees(v)).map(|(c, _, w)| (c.key().clone(), *w)).collect();
    let confidence = sources.iter().map(|s| s.1).sum::<f32>() / total;
    Some(Suggestion { param: name.clone(), value, confidence, sources })
}
