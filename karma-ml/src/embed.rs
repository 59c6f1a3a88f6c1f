//! What embeddings are for: nearest neighbours (exact, parallel, behind a
//! trait), k-means, near-duplicates across environments; and the measures
//! used to judge them (adjusted Rand index, ROC AUC).

use karma_core::{Key, Snapshot};
use karma_query::View;
use ndarray::{Array2, ArrayView1, ArrayView2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{MlError, Result};
use crate::rng::Rng;

/// Finds the rows nearest to a query. [`ExactIndex`] compares with every
/// row; an approximate index (HNSW, IVF) can implement this for large graphs.
pub trait NearestNeighbours: Sync {
    /// The `k` rows most similar to `query` (cosine), most similar first,
    /// leaving out `exclude`.
    fn nearest(&self, query: ArrayView1<'_, f32>, k: usize, exclude: Option<u32>) -> Vec<(u32, f32)>;
}

/// Exact cosine search over L2-normalised rows, parallel over rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExactIndex {
    unit: Array2<f32>,
}

impl ExactIndex {
    /// Indexes the rows of `vectors`.
    pub fn new(vectors: ArrayView2<'_, f32>) -> Self {
        let mut unit = vectors.to_owned();
        for mut row in unit.axis_iter_mut(Axis(0)) {
            let norm = row.dot(&row).sqrt();
            if norm > 0.0 {
                row /= norm;
            }
        }
        Self { unit }
    }
}

impl NearestNeighbours for ExactIndex {
    fn nearest(&self, query: ArrayView1<'_, f32>, k: usize, exclude: Option<u32>) -> Vec<(u32, f32)> {
        let norm = query.dot(&query).sqrt();
        if norm == 0.0 || k == 0 {
            return Vec::new();
        }
        let scores: Vec<(u32, f32)> = self
            .unit
            .axis_iter(Axis(0))
            .into_par_iter()
            .enumerate()
            .filter(|(i, _)| Some(*i as u32) != exclude)
            .map(|(i, row)| (i as u32, row.dot(&query) / norm))
            .collect();
        top_k(scores, k)
    }
}

/// The `k` best (highest score; ties by lower id), best first.
fn top_k(mut scores: Vec<(u32, f32)>, k: usize) -> Vec<(u32, f32)> {
    let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if scores.len() > k {
        scores.select_nth_unstable_by(k - 1, order);
        scores.truncate(k);
    }
    scores.sort_by(order);
    scores
}

/// Embeddings of a graph's components, keyed, with a search index.
pub struct Embeddings<I: NearestNeighbours = ExactIndex> {
    keys: Vec<Key>,
    vectors: Array2<f32>,
    index: I,
}

impl Embeddings<ExactIndex> {
    /// Embeddings for a view's components (row `i` is the view's id `i`),
    /// with exact search.
    pub fn new(view: &View, vectors: Array2<f32>) -> Result<Self> {
        if vectors.nrows() != view.len() {
            return Err(MlError::Shape(format!("{} rows for {} components", vectors.nrows(), view.len())));
        }
        let keys = (0..view.len() as u32).map(|i| view.key(i).clone()).collect();
        let index = ExactIndex::new(vectors.view());
        Ok(Self { keys, vectors, index })
    }
}

impl<I: NearestNeighbours> Embeddings<I> {
    /// With another index over the same rows.
    pub fn with_index<J: NearestNeighbours>(self, index: J) -> Embeddings<J> {
        Embeddings { keys: self.keys, vectors: self.vectors, index }
    }

    /// The vectors, one row per component.
    pub fn vectors(&self) -> &Array2<f32> {
        &self.vectors
    }

    /// The component of row `i`.
    pub fn key(&self, i: u32) -> &Key {
        &self.keys[i as usize]
    }

    /// The row of `key`.
    pub fn row(&self, key: &Key) -> Option<u32> {
        self.keys.binary_search(key).ok().map(|i| i as u32)
    }

    /// The `k` components most similar to `key` (cosine), most similar first.
    pub fn similar(&self, key: &Key, k: usize) -> Result<Vec<(Key, f32)>> {
        let i = self.row(key).ok_or_else(|| MlError::UnknownComponent(key.to_string()))?;
        Ok(self.resolve(self.index.nearest(self.vectors.row(i as usize), k, Some(i))))
    }

    /// The `k` components nearest to a vector (e.g. the embedding of a
    /// description of a component that does not exist yet).
    pub fn search(&self, vector: ArrayView1<'_, f32>, k: usize) -> Result<Vec<(Key, f32)>> {
        if vector.len() != self.vectors.ncols() {
            return Err(MlError::Shape(format!(
                "a query of {} for embeddings of {}",
                vector.len(),
                self.vectors.ncols()
            )));
        }
        Ok(self.resolve(self.index.nearest(vector, k, None)))
    }

    fn resolve(&self, hits: Vec<(u32, f32)>) -> Vec<(Key, f32)> {
        hits.into_iter().map(|(i, s)| (self.keys[i as usize].clone(), s)).collect()
    }

    /// Groups of components, in different environments (label `env_label`),
    /// whose embeddings are within `min_cosine` and whose params agree on at
    /// least `min_params` of their names and values (Jaccard): reuse
    /// candidates. Each group is sorted; groups by size, largest first.
    pub fn near_duplicates(
        &self,
        snapshot: &Snapshot,
        env_label: &str,
        min_cosine: f32,
        min_params: f32,
    ) -> Vec<Vec<Key>> {
        let n = self.keys.len();
        let candidates: Vec<(u32, u32)> = (0..n as u32)
            .into_par_iter()
            .flat_map_iter(|i| {
                let hits = self.index.nearest(self.vectors.row(i as usize), 8, Some(i));
                hits.into_iter().filter(move |&(j, s)| j > i && s >= min_cosine).map(move |(j, _)| (i, j))
            })
            .collect();
        let mut parent: Vec<u32> = (0..n as u32).collect();
        for (i, j) in candidates {
            let (Some(a), Some(b)) = (snapshot.get(&self.keys[i as usize]), snapshot.get(&self.keys[j as usize]))
            else {
                continue;
            };
            if a.kind() != b.kind() || a.label(env_label) == b.label(env_label) {
                continue;
            }
            if param_jaccard(a, b) >= min_params {
                let (ra, rb) = (find(&mut parent, i), find(&mut parent, j));
                parent[ra as usize] = rb;
            }
        }
        let mut groups: std::collections::BTreeMap<u32, Vec<Key>> = std::collections::BTreeMap::new();
        for i in 0..n as u32 {
            let r = find(&mut parent, i);
            groups.entry(r).or_default().push(self.keys[i as usize].clone());
        }
        let mut out: Vec<Vec<Key>> = groups.into_values().filter(|g| g.len() > 1).collect();
        for g in &mut out {
            g.sort();
        }
        out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        out
    }
}

/// Small subgraphs repeated across environments: the connected pieces
/// (by any edge) that near-duplicate components form within each
/// environment, grouped when two pieces in different environments are made
/// of the same near-duplicate groups — e.g. a service with its database and
/// cache, deployed alike in staging and prod: a candidate for one shared
/// module. `groups` comes from [`Embeddings::near_duplicates`]; pieces of a
/// single component are left out (they are the groups themselves).
/// Each result lists its pieces (sorted keys), largest pieces first.
pub fn repeated_subgraphs(snapshot: &Snapshot, env_label: &str, groups: &[Vec<Key>]) -> Vec<Vec<Vec<Key>>> {
    use std::collections::{BTreeMap, BTreeSet};
    let group_of: BTreeMap<&Key, usize> =
        groups.iter().enumerate().flat_map(|(g, keys)| keys.iter().map(move |k| (k, g))).collect();
    // Connected pieces among grouped components of one environment.
    let mut seen: BTreeSet<&Key> = BTreeSet::new();
    let mut signatures: BTreeMap<Vec<usize>, Vec<(String, Vec<Key>)>> = BTreeMap::new();
    for &start in group_of.keys() {
        if seen.contains(start) {
            continue;
        }
        let env = snapshot.get(start).and_then(|c| c.label(env_label)).unwrap_or("").to_string();
        let mut piece: Vec<Key> = Vec::new();
        let mut stack = vec![start];
        seen.insert(start);
        while let Some(k) = stack.pop() {
            piece.push(k.clone());
            let neighbours = snapshot
                .edges_from(k)
                .map(karma_core::Edge::to)
                .chain(snapshot.edges_to(k).map(karma_core::Edge::from));
            for n in neighbours {
                let Some((&n, _)) = group_of.get_key_value(n) else { continue };
                let same_env = snapshot.get(n).and_then(|c| c.label(env_label)).unwrap_or("") == env;
                if same_env && seen.insert(n) {
                    stack.push(n);
                }
            }
        }
        if piece.len() < 2 {
            continue;
        }
        piece.sort();
        let mut signature: Vec<usize> = piece.iter().map(|k| group_of[k]).collect();
        signature.sort_unstable();
        signatures.entry(signature).or_default().push((env, piece));
    }
    let mut out: Vec<Vec<Vec<Key>>> = signatures
        .into_values()
        .filter(|pieces| pieces.iter().map(|(e, _)| e).collect::<BTreeSet<_>>().len() > 1)
        .map(|pieces| pieces.into_iter().map(|(_, p)| p).collect())
        .collect();
    out.sort_by(|a, b| b[0].len().cmp(&a[0].len()).then_with(|| a.cmp(b)));
    out
}

/// Union-find root, halving paths.
fn find(p: &mut [u32], mut x: u32) -> u32 {
    while p[x as usize] != x {
        p[x as usize] = p[p[x as usize] as usize];
        x = p[x as usize];
    }
    x
}

fn param_jaccard(a: &karma_core::Component, b: &karma_core::Component) -> f32 {
    let names: std::collections::BTreeSet<&str> =
        a.params().iter().chain(b.params().iter()).map(|(k, _)| k.as_str()).collect();
    if names.is_empty() {
        return 1.0;
    }
    let same = names.iter().filter(|n| a.param_value(n).is_some() && a.param_value(n) == b.param_value(n)).count();
    same as f32 / names.len() as f32
}

/// k-means with k-means++ seeding (Arthur & Vassilvitskii 2007), seeded;
/// Lloyd iterations until no assignment changes or `max_iterations`; run
/// `restarts` times from different seeds, keeping the clustering with the
/// least within-cluster sum of squares (as scikit-learn's `n_init`).
/// Returns each row's cluster and the centroids.
pub fn kmeans(
    x: ArrayView2<'_, f32>,
    k: usize,
    seed: u64,
    max_iterations: usize,
    restarts: usize,
) -> Result<(Vec<usize>, Array2<f32>)> {
    let root = Rng::new(seed);
    let mut best: Option<(f64, Vec<usize>, Array2<f32>)> = None;
    for r in 0..restarts.max(1) {
        let (assignment, centroids) = kmeans_once(x, k, &mut root.fork(r as u64), max_iterations)?;
        let inertia: f64 = assignment
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                x.row(i).iter().zip(centroids.row(c)).map(|(p, q)| f64::from((p - q) * (p - q))).sum::<f64>()
            })
            .sum();
        if best.as_ref().is_none_or(|(b, _, _)| inertia < *b) {
            best = Some((inertia, assignment, centroids));
        }
    }
    let (_, assignment, centroids) = best.expect("at least one run");
    Ok((assignment, centroids))
}

fn kmeans_once(
    x: ArrayView2<'_, f32>,
    k: usize,
    rng: &mut Rng,
    max_iterations: usize,
) -> Result<(Vec<usize>, Array2<f32>)> {
    let n = x.nrows();
    if k == 0 || k > n {
        return Err(MlError::Invalid(format!("k = {k} for {n} points")));
    }
    let dist =
        |a: ArrayView1<'_, f32>, b: ArrayView1<'_, f32>| a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum::<f32>();
    let mut centroids = Array2::zeros((k, x.ncols()));
    centroids.row_mut(0).assign(&x.row(rng.below(n)));
    let mut nearest: Vec<f32> = (0..n).map(|i| dist(x.row(i), centroids.row(0))).collect();
    for c in 1..k {
        let total: f64 = nearest.iter().map(|&d| f64::from(d)).sum();
        let pick = if total > 0.0 {
            let t = f64::from(rng.unit()) * total;
            let mut acc = 0.0;
            nearest
                .iter()
                .position(|&d| {
                    acc += f64::from(d);
                    acc > t
                })
                .unwrap_or(n - 1)
        } else {
            rng.below(n)
        };
        centroids.row_mut(c).assign(&x.row(pick));
        for (i, d) in nearest.iter_mut().enumerate() {
            *d = d.min(dist(x.row(i), centroids.row(c)));
        }
    }
    let mut assignment = vec![usize::MAX; n];
    for _ in 0..max_iterations.max(1) {
        let next: Vec<usize> = (0..n)
            .into_par_iter()
            .map(|i| {
                (0..k)
                    .map(|c| (c, dist(x.row(i), centroids.row(c))))
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .map_or(0, |(c, _)| c)
            })
            .collect();
        let changed = next != assignment;
        assignment = next;
        let mut sums = Array2::<f32>::zeros((k, x.ncols()));
        let mut counts = vec![0usize; k];
        for (i, &c) in assignment.iter().enumerate() {
            sums.row_mut(c).scaled_add(1.0, &x.row(i));
            counts[c] += 1;
        }
        for (c, &count) in counts.iter().enumerate() {
            if count > 0 {
                centroids.row_mut(c).assign(&(&sums.row(c) / count as f32));
            }
        }
        if !changed {
            break;
        }
    }
    Ok((assignment, centroids))
}

/// The adjusted Rand index of two partitions (Hubert & Arabie 1985): 1 for
/// identical partitions, about 0 for independent ones.
///
/// # Panics
///
/// If the two partitions are not of the same points (lengths differ).
pub fn adjusted_rand_index(a: &[usize], b: &[usize]) -> f64 {
    assert_eq!(a.len(), b.len(), "partitions of the same points");
    let mut table: std::collections::HashMap<(usize, usize), u64> = std::collections::HashMap::new();
    let mut rows: std::collections::HashMap<usize, u64> = std::collections::HashMap::new();
    let mut cols: std::collections::HashMap<usize, u64> = std::collections::HashMap::new();
    for (&x, &y) in a.iter().zip(b) {
        *table.entry((x, y)).or_default() += 1;
        *rows.entry(x).or_default() += 1;
        *cols.entry(y).or_default() += 1;
    }
    let pairs = |n: u64| (n * n.saturating_sub(1) / 2) as f64;
    let index: f64 = table.values().map(|&n| pairs(n)).sum();
    let sum_a: f64 = rows.values().map(|&n| pairs(n)).sum();
    let sum_b: f64 = cols.values().map(|&n| pairs(n)).sum();
    let total = pairs(a.len() as u64);
    let expected = sum_a * sum_b / total;
    let max = f64::midpoint(sum_a, sum_b);
    if (max - expected).abs() < f64::EPSILON {
        return 1.0;
    }
    (index - expected) / (max - expected)
}

/// The area under the ROC curve: the probability that a random positive
/// scores above a random negative (ties count half); NaN when either list
/// is empty.
pub fn roc_auc(positives: &[f32], negatives: &[f32]) -> f64 {
    let mut all: Vec<(f32, bool)> =
        positives.iter().map(|&s| (s, true)).chain(negatives.iter().map(|&s| (s, false))).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of the (average, for ties) ranks of the positives: Mann–Whitney U.
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0.total_cmp(&all[i].0).is_eq() {
            j += 1;
        }
        let rank = f64::midpoint((i + 1) as f64, j as f64); // the average of ranks i+1..=j
        rank_sum += rank * all[i..j].iter().filter(|(_, p)| *p).count() as f64;
        i = j;
    }
    let (p, n) = (positives.len() as f64, negatives.len() as f64);
    (rank_sum - p * (p + 1.0) / 2.0) / (p * n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_against_hand_computed_values() {
        assert!((adjusted_rand_index(&[0, 0, 1, 1], &[5, 5, 7, 7]) - 1.0).abs() < 1e-12);
        // sklearn.metrics.adjusted_rand_score([0,0,1,1],[0,0,1,2]) = 0.5714285714285715
        assert!((adjusted_rand_index(&[0, 0, 1, 1], &[0, 0, 1, 2]) - 0.571_428_571_428_571_5).abs() < 1e-12);
        assert!((roc_auc(&[0.9, 0.8], &[0.1, 0.2]) - 1.0).abs() < 1e-12);
        assert!((roc_auc(&[0.5], &[0.5]) - 0.5).abs() < 1e-12);
        assert!((roc_auc(&[0.1, 0.9], &[0.5]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn exact_search_and_kmeans() {
        let x = Array2::from_shape_vec((4, 2), vec![1.0, 0.0, 0.9, 0.1, 0.0, 1.0, 0.1, 0.9]).unwrap();
        let index = ExactIndex::new(x.view());
        let hits = index.nearest(x.row(0), 2, Some(0));
        assert_eq!(hits[0].0, 1);
        assert_eq!(hits.len(), 2);
        let (assign, _) = kmeans(x.view(), 2, 3, 20, 4).unwrap();
        assert_eq!(assign[0], assign[1]);
        assert_eq!(assign[2], assign[3]);
        assert_ne!(assign[0], assign[2]);
        assert!(kmeans(x.view(), 5, 0, 1, 1).is_err());
    }
}
