//! Anomalies in parameter sets, per kind: numbers far from their peers
//! (median and MAD), rare categories, rare combinations of common values,
//! and components whose embeddings sit far from their kind's.

use std::collections::BTreeMap;
use std::fmt;

use karma_core::{Component, Key, Name, Snapshot, Value};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// How sensitive the scan is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnomalyConfig {
    /// A number is an outlier beyond this modified z-score
    /// (0.6745 · |x − median| / MAD; Iglewicz & Hoaglin recommend 3.5).
    pub z_threshold: f32,
    /// A category (or a pair of categories) is rare below this share of its
    /// kind's components.
    pub rare_share: f32,
    /// Kinds (or params) with fewer components are not judged.
    pub min_peers: usize,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self { z_threshold: 3.5, rare_share: 0.01, min_peers: 20 }
    }
}

/// What the peers of a flagged value have.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Peers {
    /// Numbers: the median and the range holding the non-outliers.
    Range {
        /// The median.
        median: f64,
        /// Lowest value within the threshold.
        low: f64,
        /// Highest value within the threshold.
        high: f64,
    },
    /// Categories: the most common values with their shares.
    Common(Vec<(String, f32)>),
}

/// Why a value was flagged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnomalyKind {
    /// A number far from its kind's median.
    Outlier,
    /// A category almost no peer has.
    RareValue,
    /// Two values each common, rarely seen together; names the other param.
    RareCombination(Name),
    /// An embedding far from its kind's centre.
    Embedding,
}

/// One flagged value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    /// The component.
    pub key: Key,
    /// The param (empty for embedding outliers).
    pub param: Name,
    /// Its value (null for embedding outliers).
    pub value: Value,
    /// Why.
    pub kind: AnomalyKind,
    /// What the peers have.
    pub peers: Peers,
    /// How unusual: the modified z-score, or `1 − share / rare_share` for
    /// categories (higher is stranger).
    pub score: f32,
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{} = {} ", self.key, self.param, self.value)?;
        match &self.peers {
            Peers::Range { median, low, high } => write!(f, "(peers {low}..{high}, median {median})")?,
            Peers::Common(values) => {
                let list: Vec<String> = values.iter().map(|(v, s)| format!("{v} {:.0}%", s * 100.0)).collect();
                write!(f, "(peers: {})", list.join(", "))?;
            }
        }
        write!(f, " score {:.2}", self.score)
    }
}

/// Scans every kind of `snapshot` in parallel; findings sorted by score,
/// highest first. Secrets and references are not judged.
pub fn scan(snapshot: &Snapshot, config: &AnomalyConfig) -> Vec<Anomaly> {
    let mut by_kind: BTreeMap<&Name, Vec<&Component>> = BTreeMap::new();
    for c in snapshot.components() {
        by_kind.entry(c.kind()).or_default().push(c);
    }
    let mut out: Vec<Anomaly> = by_kind
        .into_par_iter()
        .filter(|(_, peers)| peers.len() >= config.min_peers)
        .flat_map_iter(|(_, peers)| scan_kind(&peers, config))
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.key.cmp(&b.key)).then_with(|| a.param.cmp(&b.param)));
    out
}

/// A category's text, borrowed where it can be.
fn category(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s.as_str()),
        Value::Bool(true) => Some("true"),
        Value::Bool(false) => Some("false"),
        _ => None,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(x) if x.is_finite() => Some(*x),
        _ => None,
    }
}

/// The median of `values` (reordered in place), in linear time.
fn median(values: &mut [f64]) -> f64 {
    let n = values.len();
    let (_, &mut upper, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        upper
    } else {
        let lower = values[..n / 2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        f64::midpoint(lower, upper)
    }
}

/// One categorical param of a kind: each component's value as a small id
/// (`u32::MAX`: none), the values, and how many have each.
struct Categories<'a> {
    name: &'a Name,
    ids: Vec<u32>,
    values: Vec<&'a str>,
    counts: Vec<usize>,
}

fn scan_kind(peers: &[&Component], config: &AnomalyConfig) -> Vec<Anomaly> {
    // The kind's param names: few, and mostly the same for every component,
    // so a small sorted list beats sorting every name of every component.
    let mut names: Vec<&Name> = Vec::new();
    for c in peers {
        for (name, _) in c.params().iter() {
            if let Err(at) = names.binary_search(&name) {
                names.insert(at, name);
            }
        }
    }
    // Every component's value of every param, row by row, found by merging
    // its sorted params with the sorted names (no lookups).
    let width = names.len();
    let mut table: Vec<Option<&Value>> = vec![None; peers.len() * width];
    table.par_chunks_mut(width.max(1)).zip(peers.par_iter()).for_each(|(row, c)| {
        let mut k = 0;
        for (name, p) in c.params().iter() {
            while k < width && names[k] < name {
                k += 1;
            }
            if k < width && names[k] == name {
                row[k] = Some(&p.value);
            }
        }
    });
    // Each param on its own, in parallel: numbers and categories.
    let per_param: Vec<(Vec<Anomaly>, Option<Categories<'_>>)> = names
        .par_iter()
        .enumerate()
        .map(|(column, &name)| {
            let mut out = Vec::new();
            let values: Vec<Option<&Value>> = (0..peers.len()).map(|i| table[i * width + column]).collect();
            let numbers: Vec<(usize, f64)> =
                values.iter().enumerate().filter_map(|(i, v)| v.and_then(number).map(|x| (i, x))).collect();
            if numbers.len() >= config.min_peers {
                out.extend(numeric_outliers(peers, name, &numbers, config));
            }
            let mut index: FxHashMap<&str, u32> = FxHashMap::default();
            let mut cats =
                Categories { name, ids: vec![u32::MAX; peers.len()], values: Vec::new(), counts: Vec::new() };
            for (i, v) in values.iter().enumerate() {
                if let Some(text) = v.and_then(category) {
                    let id = *index.entry(text).or_insert_with(|| {
                        cats.values.push(text);
                        cats.counts.push(0);
                        (cats.values.len() - 1) as u32
                    });
                    cats.ids[i] = id;
                    cats.counts[id as usize] += 1;
                }
            }
            let total: usize = cats.counts.iter().sum();
            if total < config.min_peers {
                return (out, None);
            }
            let common = common_values(&cats, total as f32);
            for (i, &id) in cats.ids.iter().enumerate() {
                if id == u32::MAX {
                    continue;
                }
                let share = cats.counts[id as usize] as f32 / total as f32;
                if share < config.rare_share {
                    out.push(Anomaly {
                        key: peers[i].key().clone(),
                        param: name.clone(),
                        value: values[i].cloned().unwrap_or(Value::Null),
                        kind: AnomalyKind::RareValue,
                        peers: Peers::Common(common.clone()),
                        score: 1.0 - share / config.rare_share,
                    });
                }
            }
            (out, Some(cats))
        })
        .collect();
    let mut out = Vec::new();
    let mut categorical = Vec::new();
    for (found, cats) in per_param {
        out.extend(found);
        categorical.extend(cats);
    }
    out.extend(rare_combinations(peers, &categorical, config));
    out
}

fn common_values(cats: &Categories<'_>, total: f32) -> Vec<(String, f32)> {
    let mut common: Vec<(String, f32)> =
        cats.values.iter().zip(&cats.counts).map(|(v, &c)| ((*v).to_string(), c as f32 / total)).collect();
    common.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    common.truncate(3);
    common
}

fn numeric_outliers(
    peers: &[&Component],
    name: &Name,
    numbers: &[(usize, f64)],
    config: &AnomalyConfig,
) -> Vec<Anomaly> {
    let mut values: Vec<f64> = numbers.iter().map(|&(_, v)| v).collect();
    let med = median(&mut values);
    let mut deviations: Vec<f64> = values.iter().map(|v| (v - med).abs()).collect();
    let mut mad = median(&mut deviations);
    if mad == 0.0 {
        // Most values equal: fall back to the mean absolute deviation
        // (scaled to agree with the MAD on normal data).
        mad = deviations.iter().sum::<f64>() / deviations.len() as f64 * 0.7979;
    }
    if mad == 0.0 {
        return Vec::new();
    }
    let threshold = f64::from(config.z_threshold);
    let z = |v: f64| 0.6745 * (v - med).abs() / mad;
    let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in &values {
        if z(v) <= threshold {
            low = low.min(v);
            high = high.max(v);
        }
    }
    if low > high {
        (low, high) = (med, med);
    }
    numbers
        .iter()
        .filter(|&&(_, v)| z(v) > threshold)
        .map(|&(i, v)| Anomaly {
            key: peers[i].key().clone(),
            param: name.clone(),
            value: peers[i].param_value(name).cloned().unwrap_or(Value::Null),
            kind: AnomalyKind::Outlier,
            peers: Peers::Range { median: med, low, high },
            score: z(v) as f32,
        })
        .collect()
}

/// Pairs of categories each common on its own (at least four times the
/// rare share) but rarely together; pairs counted by their value ids.
fn rare_combinations(peers: &[&Component], categorical: &[Categories<'_>], config: &AnomalyConfig) -> Vec<Anomaly> {
    let total = peers.len() as f32;
    let pairs: Vec<(usize, usize)> =
        (0..categorical.len()).flat_map(|a| (a + 1..categorical.len()).map(move |b| (a, b))).collect();
    pairs
        .par_iter()
        .flat_map_iter(|&(a, b)| {
            let (ca, cb) = (&categorical[a], &categorical[b]);
            let mut counts: FxHashMap<(u32, u32), usize> = FxHashMap::default();
            for (&x, &y) in ca.ids.iter().zip(&cb.ids) {
                if x != u32::MAX && y != u32::MAX {
                    *counts.entry((x, y)).or_default() += 1;
                }
            }
            let rare: FxHashMap<(u32, u32), usize> = counts
                .iter()
                .filter(|&(&(x, y), &n)| {
                    n as f32 / total < config.rare_share
                        && ca.counts[x as usize] as f32 / total >= 4.0 * config.rare_share
                        && cb.counts[y as usize] as f32 / total >= 4.0 * config.rare_share
                })
                .map(|(&k, &n)| (k, n))
                .collect();
            let mut out = Vec::new();
            if rare.is_empty() {
                return out;
            }
            for (i, (&x, &y)) in ca.ids.iter().zip(&cb.ids).enumerate() {
                let Some(&n) = rare.get(&(x, y)) else { continue };
                // What the peers with this value of `a` have for `b`.
                let mut with: Vec<(String, f32)> = counts
                    .iter()
                    .filter(|&(&(px, _), _)| px == x)
                    .map(|(&(_, py), &m)| {
                        (format!("{}={}", cb.name, cb.values[py as usize]), m as f32 / ca.counts[x as usize] as f32)
                    })
                    .collect();
                with.sort_by(|p, q| q.1.total_cmp(&p.1).then_with(|| p.0.cmp(&q.0)));
                with.truncate(3);
                out.push(Anomaly {
                    key: peers[i].key().clone(),
                    param: ca.name.clone(),
                    value: peers[i].param_value(ca.name).cloned().unwrap_or(Value::Null),
                    kind: AnomalyKind::RareCombination(cb.name.clone()),
                    peers: Peers::Common(with),
                    score: 1.0 - n as f32 / total / config.rare_share,
                });
            }
            out
        })
        .collect()
}

/// Components whose embeddings are far from their kind's centre: distance
/// to the kind's mean embedding, as a modified z-score among the kind.
pub fn embedding_outliers(
    snapshot: &Snapshot,
    keys: &[Key],
    embeddings: ndarray::ArrayView2<'_, f32>,
    config: &AnomalyConfig,
) -> Vec<Anomaly> {
    let mut by_kind: BTreeMap<&Name, Vec<usize>> = BTreeMap::new();
    for (i, k) in keys.iter().enumerate() {
        if let Some(c) = snapshot.get(k) {
            by_kind.entry(c.kind()).or_default().push(i);
        }
    }
    let mut out = Vec::new();
    for rows in by_kind.values().filter(|r| r.len() >= config.min_peers) {
        let d = embeddings.ncols();
        let mut centre = vec![0.0f32; d];
        for &i in rows {
            for (c, v) in centre.iter_mut().zip(embeddings.row(i)) {
                *c += v / rows.len() as f32;
            }
        }
        let dist: Vec<f64> = rows
            .iter()
            .map(|&i| {
                f64::from(embeddings.row(i).iter().zip(&centre).map(|(v, c)| (v - c) * (v - c)).sum::<f32>().sqrt())
            })
            .collect();
        let mut sorted = dist.clone();
        sorted.sort_by(f64::total_cmp);
        let med = median(&mut sorted.clone());
        let mut dev: Vec<f64> = sorted.iter().map(|v| (v - med).abs()).collect();
        let mad = median(&mut dev).max(1e-12);
        for (&i, &x) in rows.iter().zip(&dist) {
            let z = 0.6745 * (x - med) / mad;
            if z > f64::from(config.z_threshold) {
                out.push(Anomaly {
                    key: keys[i].clone(),
                    param: Name::default(),
                    value: Value::Null,
                    kind: AnomalyKind::Embedding,
                    peers: Peers::Range { median: med, low: sorted[0], high: sorted[sorted.len() - 1] },
                    score: z as f32,
                });
            }
        }
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}
