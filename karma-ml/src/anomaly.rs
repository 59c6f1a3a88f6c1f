//! Anomalies in parameter sets, per kind: numbers far from their peers
//! (median and MAD), rare categories, rare combinations of common values,
//! and components whose embeddings sit far from their kind's.

use std::collections::BTreeMap;
use std::fmt;

use karma_core::{Component, Key, Name, Snapshot, Value};
use rayon::prelude::*;
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

fn category(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_string()),
        Value::Bool(b) => Some(b.to_string()),
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

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 { sorted[n / 2] } else { f64::midpoint(sorted[n / 2 - 1], sorted[n / 2]) }
}

fn scan_kind(peers: &[&Component], config: &AnomalyConfig) -> Vec<Anomaly> {
    let mut names: Vec<&Name> = peers.iter().flat_map(|c| c.params().iter().map(|(n, _)| n)).collect();
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    let mut categorical: Vec<(&Name, BTreeMap<String, usize>)> = Vec::new();
    for name in names {
        let numbers: Vec<(usize, f64)> = peers
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.param_value(name).and_then(number).map(|v| (i, v)))
            .collect();
        let categories: Vec<(usize, String)> = peers
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.param_value(name).and_then(category).map(|v| (i, v)))
            .collect();
        if numbers.len() >= config.min_peers {
            out.extend(numeric_outliers(peers, name, &numbers, config));
        }
        if categories.len() >= config.min_peers {
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for (_, v) in &categories {
                *counts.entry(v.clone()).or_default() += 1;
            }
            let total = categories.len() as f32;
            let common = common_values(&counts, total);
            for (i, v) in &categories {
                let share = counts[v] as f32 / total;
                if share < config.rare_share {
                    out.push(Anomaly {
                        key: peers[*i].key().clone(),
                        param: name.clone(),
                        value: peers[*i].param_value(name).cloned().unwrap_or(Value::Null),
                        kind: AnomalyKind::RareValue,
                        peers: Peers::Common(common.clone()),
                        score: 1.0 - share / config.rare_share,
                    });
                }
            }
            categorical.push((name, counts));
        }
    }
    out.extend(rare_combinations(peers, &categorical, config));
    out
}

fn common_values(counts: &BTreeMap<String, usize>, total: f32) -> Vec<(String, f32)> {
    let mut common: Vec<(String, f32)> = counts.iter().map(|(v, &c)| (v.clone(), c as f32 / total)).collect();
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
    let mut sorted: Vec<f64> = numbers.iter().map(|&(_, v)| v).collect();
    sorted.sort_by(f64::total_cmp);
    let med = median(&sorted);
    let mut deviations: Vec<f64> = sorted.iter().map(|v| (v - med).abs()).collect();
    deviations.sort_by(f64::total_cmp);
    let mut mad = median(&deviations);
    if mad == 0.0 {
        // Most values equal: fall back to the mean absolute deviation
        // (scaled to agree with the MAD on normal data).
        mad = deviations.iter().sum::<f64>() / deviations.len() as f64 * 0.7979;
    }
    if mad == 0.0 {
        return Vec::new();
    }
    let z = |v: f64| 0.6745 * (v - med).abs() / mad;
    let inliers: Vec<f64> = sorted.iter().copied().filter(|&v| z(v) <= f64::from(config.z_threshold)).collect();
    let (low, high) = (inliers.first().copied().unwrap_or(med), inliers.last().copied().unwrap_or(med));
    numbers
        .iter()
        .filter(|&&(_, v)| z(v) > f64::from(config.z_threshold))
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
/// rare share) but rarely together.
fn rare_combinations(
    peers: &[&Component],
    categorical: &[(&Name, BTreeMap<String, usize>)],
    config: &AnomalyConfig,
) -> Vec<Anomaly> {
    let total = peers.len() as f32;
    let mut out = Vec::new();
    for (a, (na, ca)) in categorical.iter().enumerate() {
        for (nb, cb) in &categorical[a + 1..] {
            let mut pairs: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
            for (i, c) in peers.iter().enumerate() {
                if let (Some(va), Some(vb)) =
                    (c.param_value(na).and_then(category), c.param_value(nb).and_then(category))
                {
                    pairs.entry((va, vb)).or_default().push(i);
                }
            }
            for ((va, vb), members) in &pairs {
                let share = members.len() as f32 / total;
                let common_a = ca[va] as f32 / total >= 4.0 * config.rare_share;
                let common_b = cb[vb] as f32 / total >= 4.0 * config.rare_share;
                if share < config.rare_share && common_a && common_b {
                    let with: Vec<(String, f32)> = pairs
                        .iter()
                        .filter(|((x, _), _)| x == va)
                        .map(|((_, y), m)| (format!("{nb}={y}"), m.len() as f32 / ca[va] as f32))
                        .collect();
                    let mut with = with;
                    with.sort_by(|x, y| y.1.total_cmp(&x.1));
                    with.truncate(3);
                    for &i in members {
                        out.push(Anomaly {
                            key: peers[i].key().clone(),
                            param: (*na).clone(),
                            value: peers[i].param_value(na).cloned().unwrap_or(Value::Null),
                            kind: AnomalyKind::RareCombination((*nb).clone()),
                            peers: Peers::Common(with.clone()),
                            score: 1.0 - share / config.rare_share,
                        });
                    }
                }
            }
        }
    }
    out
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
        let med = median(&sorted);
        let mut dev: Vec<f64> = sorted.iter().map(|v| (v - med).abs()).collect();
        dev.sort_by(f64::total_cmp);
        let mad = median(&dev).max(1e-12);
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
