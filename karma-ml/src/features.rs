//! Feature extraction: components into rows of an `Array2<f32>`, rayon-
//! parallel, deterministic given a seed, fitted on one graph and applied
//! unchanged to others.
//!
//! The columns, in order (see [`FeatureExtractor::feature_names`]):
//!
//! 1. `kind=<k>` one-hot over the kinds seen when fitting, then
//!    `kind=<unknown>`;
//! 2. for each numeric param name seen (ints, floats, booleans):
//!    `num:<param>` — the value standardised with the mean and standard
//!    deviation of that param *within the component's kind* (0 when the
//!    kind never had it) — and `missing:<param>`, 1 when the component's
//!    kind had the param when fitting but this component has no number
//!    there;
//! 3. `hash:<i>` — string and other params through the hashing trick:
//!    `param=value` hashed (seeded) to a column and a sign;
//! 4. `label:<i>` — labels, hashed the same way;
//! 5. `in:<edge kind>`, `out:<edge kind>` — `ln(1 + degree)` per edge kind
//!    seen, then `in:<other>`, `out:<other>`;
//! 6. with history: `age`, `versions`, `change_rate`, `since_change`
//!    (days, `ln(1 + x)`; changes per day).

use std::collections::BTreeMap;

use karma_core::{Component, ComponentChange, Delta, Key, Name, Timestamp, Value};
use karma_query::View;
use ndarray::Array2;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::error::{MlError, Result};

/// Options of a feature extractor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// Columns of the hashing trick for params (and again for labels).
    pub hash_width: usize,
    /// Seeds the hashing.
    pub seed: u64,
    /// Hash labels into their own block.
    pub labels: bool,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self { hash_width: 32, seed: 0, labels: true }
    }
}

/// Per-component history: when it appeared, how often it changed, when last.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    now: Timestamp,
    stats: FxHashMap<Key, (Timestamp, u32, Timestamp)>,
}

impl History {
    /// From a sequence of commits' deltas, oldest first, each with its time;
    /// `now` is the time features are taken at.
    pub fn from_deltas<'a>(now: Timestamp, deltas: impl IntoIterator<Item = (Timestamp, &'a Delta)>) -> Self {
        let mut stats: FxHashMap<Key, (Timestamp, u32, Timestamp)> = FxHashMap::default();
        for (t, delta) in deltas {
            for change in &delta.components {
                let key = match change {
                    ComponentChange::Added(c) | ComponentChange::Removed(c) => c.key(),
                    ComponentChange::Changed(d) => &d.key,
                };
                let e = stats.entry(key.clone()).or_insert((t, 0, t));
                e.1 += 1;
                e.2 = t;
            }
        }
        Self { now, stats }
    }

    /// From the components' own stamps (created, updated, version), as of `now`.
    pub fn from_stamps(now: Timestamp) -> Self {
        Self { now, stats: FxHashMap::default() }
    }

    fn of(&self, c: &Component) -> [f32; 4] {
        let (first, versions, last) =
            self.stats.get(c.key()).copied().unwrap_or((c.created(), c.version() as u32, c.updated()));
        let day = 86_400.0;
        let age = (self.now.as_secs() - first.as_secs()).max(0) as f32 / day;
        let since = (self.now.as_secs() - last.as_secs()).max(0) as f32 / day;
        [age.ln_1p(), (versions as f32).ln_1p(), versions as f32 / age.max(1.0), since.ln_1p()]
    }
}

/// Turns components into feature rows. Fit it on a graph, then apply it to
/// that graph or any other; it serialises with serde.
///
/// ```
/// use karma_core::{Component, Graph};
/// use karma_ml::{FeatureConfig, FeatureExtractor};
/// use karma_query::View;
///
/// let mut g = Graph::new();
/// g.insert(Component::new("Database", "orders")?.with_param("port", 5432).with_param("engine", "postgres"))?;
/// g.insert(Component::new("Database", "users")?.with_param("port", 6432).with_param("engine", "mysql"))?;
/// let snap = g.snapshot();
/// let extractor = FeatureExtractor::fit(&snap, FeatureConfig::default());
/// let x = extractor.transform(&View::new(&snap), None)?;
/// assert_eq!(x.ncols(), extractor.feature_names().len());
/// let port = extractor.feature_names().iter().position(|n| n == "num:port").unwrap();
/// assert!((x[[0, port]] + x[[1, port]]).abs() < 1e-6); // standardised within the kind
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureExtractor {
    config: FeatureConfig,
    kinds: Vec<Name>,
    numeric: Vec<Name>,
    /// (kind, param, mean, standard deviation), sorted.
    stats: Vec<(Name, Name, f32, f32)>,
    edge_kinds: Vec<String>,
    history: bool,
}

impl FeatureExtractor {
    /// Fits the vocabularies and statistics on `snapshot`.
    pub fn fit(snapshot: &karma_core::Snapshot, config: FeatureConfig) -> Self {
        let mut kinds: Vec<Name> = Vec::new();
        let mut sums: BTreeMap<(Name, Name), (f64, f64, u64)> = BTreeMap::new();
        for c in snapshot.components() {
            kinds.push(c.kind().clone());
            for (name, p) in c.params().iter() {
                if let Some(v) = number(&p.value) {
                    let e = sums.entry((c.kind().clone(), name.clone())).or_insert((0.0, 0.0, 0));
                    e.0 += v;
                    e.1 += v * v;
                    e.2 += 1;
                }
            }
        }
        kinds.sort();
        kinds.dedup();
        let stats: Vec<(Name, Name, f32, f32)> = sums
            .into_iter()
            .map(|((kind, param), (s, s2, n))| {
                let mean = s / n as f64;
                let var = (s2 / n as f64 - mean * mean).max(0.0);
                (kind, param, mean as f32, (var.sqrt() as f32).max(1e-6))
            })
            .collect();
        let mut numeric: Vec<Name> = stats.iter().map(|(_, p, _, _)| p.clone()).collect();
        numeric.sort();
        numeric.dedup();
        let mut edge_kinds: Vec<String> = snapshot.edges().map(|e| e.kind().label().to_string()).collect();
        edge_kinds.sort();
        edge_kinds.dedup();
        Self { config, kinds, numeric, stats, edge_kinds, history: false }
    }

    /// Adds the four history columns (then pass a [`History`] to
    /// [`transform`](Self::transform)).
    #[must_use]
    pub fn with_history(mut self) -> Self {
        self.history = true;
        self
    }

    /// The number of columns.
    pub fn width(&self) -> usize {
        let labels = if self.config.labels { self.config.hash_width } else { 0 };
        self.kinds.len()
            + 1
            + 2 * self.numeric.len()
            + self.config.hash_width
            + labels
            + 2 * (self.edge_kinds.len() + 1)
            + if self.history { 4 } else { 0 }
    }

    /// What each column holds, in order.
    pub fn feature_names(&self) -> Vec<String> {
        let mut out: Vec<String> = self.kinds.iter().map(|k| format!("kind={k}")).collect();
        out.push("kind=<unknown>".into());
        for p in &self.numeric {
            out.push(format!("num:{p}"));
            out.push(format!("missing:{p}"));
        }
        out.extend((0..self.config.hash_width).map(|i| format!("hash:{i}")));
        if self.config.labels {
            out.extend((0..self.config.hash_width).map(|i| format!("label:{i}")));
        }
        for side in ["in", "out"] {
            out.extend(self.edge_kinds.iter().map(|k| format!("{side}:{k}")));
            out.push(format!("{side}:<other>"));
        }
        if self.history {
            out.extend(["age", "versions", "change_rate", "since_change"].map(String::from));
        }
        out
    }

    /// One row per component of `view`, in the view's id order. History
    /// columns need `history` when the extractor has them.
    pub fn transform(&self, view: &View, history: Option<&History>) -> Result<Array2<f32>> {
        self.transform_range(view, 0..view.len(), history)
    }

    /// The rows of the view's ids in `range` only: for streaming a large
    /// graph out in bounded memory.
    pub fn transform_range(
        &self,
        view: &View,
        range: std::ops::Range<usize>,
        history: Option<&History>,
    ) -> Result<Array2<f32>> {
        if self.history && history.is_none() {
            return Err(MlError::Invalid("this extractor has history columns: pass a History".into()));
        }
        if range.end > view.len() || range.start > range.end {
            return Err(MlError::Invalid(format!("rows {range:?} of a view of {}", view.len())));
        }
        let width = self.width();
        let layout = Layout::new(self);
        let mut data = vec![0.0f32; range.len() * width];
        data.par_chunks_mut(width.max(1)).enumerate().for_each(|(offset, row)| {
            // Write before reading: a fresh page first read is mapped to the
            // shared zero page, and the write after it costs a copy and a TLB
            // shootdown across cores (a third of the time, measured).
            row.fill(0.0);
            let id = (range.start + offset) as u32;
            self.fill(view.component(id), row, &layout);
            let in_base = layout.degree;
            let out_base = in_base + self.edge_kinds.len() + 1;
            let mut bump = |base: usize, label: &str| {
                let i = self.edge_kinds.binary_search_by(|k| k.as_str().cmp(label)).unwrap_or(self.edge_kinds.len());
                row[base + i] += 1.0;
            };
            for (_, label) in view.dependents_of(id) {
                bump(in_base, label);
            }
            for (_, label) in view.dependencies_of(id) {
                bump(out_base, label);
            }
            for v in &mut row[in_base..in_base + 2 * (self.edge_kinds.len() + 1)] {
                *v = v.ln_1p();
            }
            if let (true, Some(h)) = (self.history, history) {
                row[layout.history..layout.history + 4].copy_from_slice(&h.of(view.component(id)));
            }
        });
        Ok(Array2::from_shape_vec((range.len(), width), data).expect("sized"))
    }

    /// The kinds seen when fitting, in column order.
    pub fn kinds(&self) -> &[Name] {
        &self.kinds
    }

    /// The row of a component that need not be in any graph (e.g. a
    /// partial description to search with); degree and history columns 0.
    pub fn row(&self, component: &Component) -> Vec<f32> {
        let mut row = vec![0.0; self.width()];
        self.fill(component, &mut row, &Layout::new(self));
        row
    }

    fn fill(&self, c: &Component, row: &mut [f32], layout: &Layout) {
        let kind = self.kinds.binary_search(c.kind()).unwrap_or(self.kinds.len());
        row[kind] = 1.0;
        // Numeric params, standardised within the kind: every param the kind
        // had starts missing, and is filled in by a merge of the component's
        // (sorted) params with the (sorted) numeric names.
        let stats = &layout.per_kind[kind];
        for (i, s) in stats.iter().enumerate() {
            if s.is_some() {
                row[layout.numeric + 2 * i + 1] = 1.0;
            }
        }
        let width = self.config.hash_width;
        let mut k = 0;
        for (name, p) in c.params().iter() {
            while k < self.numeric.len() && self.numeric[k] < *name {
                k += 1;
            }
            if k < self.numeric.len()
                && self.numeric[k] == *name
                && let Some(v) = number(&p.value)
            {
                if let Some((mean, std)) = stats[k] {
                    row[layout.numeric + 2 * k] = (v as f32 - mean) / std;
                    row[layout.numeric + 2 * k + 1] = 0.0;
                }
                continue;
            }
            let (bucket, sign) = self.hashed(name, &p.value);
            if width > 0 {
                row[layout.hash + bucket % width] += sign;
            }
        }
        if self.config.labels && width > 0 {
            for (name, value) in c.labels().iter() {
                let (bucket, sign) = self.hashed(name, &Value::String(value.clone()));
                row[layout.labels + bucket % width] += sign;
            }
        }
    }

    fn hashed(&self, name: &str, value: &Value) -> (usize, f32) {
        let mut h = fnv(self.config.seed, name.as_bytes());
        h = fnv(h, b"=");
        h = match value {
            Value::String(s) => fnv(h, s.as_bytes()),
            other => fnv(h, other.to_json().to_string().as_bytes()),
        };
        let h = mix(h);
        ((h >> 1) as usize, if h & 1 == 0 { 1.0 } else { -1.0 })
    }
}

/// Column offsets and a borrowed lookup for one transform.
struct Layout {
    numeric: usize,
    hash: usize,
    labels: usize,
    degree: usize,
    history: usize,
    /// Per kind (the unknown kind last), per numeric param: (mean, std).
    per_kind: Vec<Vec<Option<(f32, f32)>>>,
}

impl Layout {
    fn new(e: &FeatureExtractor) -> Self {
        let numeric = e.kinds.len() + 1;
        let hash = numeric + 2 * e.numeric.len();
        let labels = hash + e.config.hash_width;
        let degree = labels + if e.config.labels { e.config.hash_width } else { 0 };
        let history = degree + 2 * (e.edge_kinds.len() + 1);
        let mut per_kind = vec![vec![None; e.numeric.len()]; e.kinds.len() + 1];
        for (kind, param, mean, std) in &e.stats {
            if let (Ok(k), Ok(p)) = (e.kinds.binary_search(kind), e.numeric.binary_search(param)) {
                per_kind[k][p] = Some((*mean, *std));
            }
        }
        Self { numeric, hash, labels, degree, history, per_kind }
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(x) if x.is_finite() => Some(*x),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

fn fnv(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed ^ 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
