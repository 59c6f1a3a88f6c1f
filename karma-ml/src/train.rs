//! Training: the Adam optimiser, supervised node classification (softmax
//! cross-entropy) and the GraphSAGE paper's unsupervised objective
//! (random-walk co-occurrence positives, negative sampling), with progress
//! reported through a callback.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::adjacency::Adjacency;
use crate::error::{MlError, Result};
use crate::rng::Rng;
use crate::sage::{ConvGrads, Sage};

/// Adam (Kingma & Ba 2015), with PyTorch's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    /// Step size.
    pub learning_rate: f32,
    /// Decay of the first moment.
    pub beta1: f32,
    /// Decay of the second moment.
    pub beta2: f32,
    /// Added to the denominator.
    pub epsilon: f32,
    steps: i32,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    /// Adam with this learning rate and β = (0.9, 0.999), ε = 1e-8.
    pub fn new(learning_rate: f32) -> Self {
        Self { learning_rate, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, steps: 0, m: Vec::new(), v: Vec::new() }
    }

    /// One update of `model` from its gradients.
    pub fn step(&mut self, model: &mut Sage, grads: &[ConvGrads]) -> Result<()> {
        let mut p = model.parameters();
        let g = Sage::flatten_grads(grads);
        if g.len() != p.len() {
            return Err(MlError::Shape(format!("{} gradients for {} parameters", g.len(), p.len())));
        }
        if self.m.len() != p.len() {
            self.m = vec![0.0; p.len()];
            self.v = vec![0.0; p.len()];
            self.steps = 0;
        }
        self.steps += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let c1 = 1.0 - b1.powi(self.steps);
        let c2 = 1.0 - b2.powi(self.steps);
        for (((p, &g), m), v) in p.iter_mut().zip(&g).zip(&mut self.m).zip(&mut self.v) {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *p -= self.learning_rate * (*m / c1) / ((*v / c2).sqrt() + self.epsilon);
        }
        model.set_parameters(&p)
    }
}

/// Where training is, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// The epoch (from 0).
    pub epoch: usize,
    /// The batch within the epoch (from 0).
    pub batch: usize,
    /// Batches per epoch.
    pub batches: usize,
    /// The batch's loss.
    pub loss: f32,
}

/// How to train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Passes over the data.
    pub epochs: usize,
    /// Adam's learning rate.
    pub learning_rate: f32,
    /// Seeds sampling (walks, negatives, batches).
    pub seed: u64,
    /// Unsupervised: walks started from each node per epoch.
    pub walks_per_node: usize,
    /// Unsupervised: steps per walk; each visited node is a positive for the start.
    pub walk_length: usize,
    /// Unsupervised: negatives per positive pair.
    pub negatives: usize,
    /// Unsupervised: positive pairs per optimiser step.
    pub batch_size: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            epochs: 10,
            learning_rate: 0.01,
            seed: 0,
            walks_per_node: 1,
            walk_length: 5,
            negatives: 5,
            batch_size: 4096,
        }
    }
}

/// Supervised node classification: the model's outputs are class logits;
/// the loss is the mean softmax cross-entropy over the labelled nodes
/// (`labels[i] = None` for unlabelled ones). One full-graph step per epoch.
/// Returns each epoch's loss.
pub fn train_supervised(
    model: &mut Sage,
    x: ArrayView2<'_, f32>,
    adj: &Adjacency,
    labels: &[Option<usize>],
    options: &TrainOptions,
    mut progress: impl FnMut(Progress),
) -> Result<Vec<f32>> {
    let classes = model.outputs();
    if labels.len() != adj.len() {
        return Err(MlError::Shape(format!("{} labels for {} nodes", labels.len(), adj.len())));
    }
    if let Some(bad) = labels.iter().flatten().find(|&&c| c >= classes) {
        return Err(MlError::Invalid(format!("label {bad} for a model of {classes} outputs")));
    }
    let count = labels.iter().flatten().count();
    if count == 0 {
        return Err(MlError::Invalid("no labelled node".into()));
    }
    let mut adam = Adam::new(options.learning_rate);
    let mut losses = Vec::with_capacity(options.epochs);
    for epoch in 0..options.epochs {
        let cache = model.forward_cached(x, adj)?;
        let (loss, d) = cross_entropy(cache.output(), labels, count);
        let grads = model.backward(adj, &cache, d.view());
        adam.step(model, &grads)?;
        progress(Progress { epoch, batch: 0, batches: 1, loss });
        losses.push(loss);
    }
    Ok(losses)
}

/// Mean cross-entropy of softmax(logits) over the labelled rows, and its
/// gradient with respect to the logits.
pub fn cross_entropy(logits: &Array2<f32>, labels: &[Option<usize>], count: usize) -> (f32, Array2<f32>) {
    let mut d = Array2::zeros(logits.raw_dim());
    let mut loss = 0.0f64;
    for ((row, mut drow), label) in logits.axis_iter(Axis(0)).zip(d.axis_iter_mut(Axis(0))).zip(labels) {
        let Some(c) = *label else { continue };
        let max = row.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let exp: Vec<f32> = row.iter().map(|&v| (v - max).exp()).collect();
        let sum: f32 = exp.iter().sum();
        loss -= f64::from((exp[c] / sum).ln());
        for (k, e) in exp.iter().enumerate() {
            drow[k] = (e / sum - if k == c { 1.0 } else { 0.0 }) / count as f32;
        }
    }
    ((loss / count as f64) as f32, d)
}

/// The GraphSAGE paper's unsupervised objective: nodes that co-occur on
/// short random walks get similar embeddings, random nodes (drawn in
/// proportion to degree^0.75) dissimilar ones:
/// `J(u) = −log σ(z_u·z_v) − Σ_n log σ(−z_u·z_n)`. Walks follow the
/// adjacency's messages (use an undirected one for the paper's setting).
/// Each step runs the model on the whole graph. Returns each epoch's mean loss.
pub fn train_unsupervised(
    model: &mut Sage,
    x: ArrayView2<'_, f32>,
    adj: &Adjacency,
    options: &TrainOptions,
    mut progress: impl FnMut(Progress),
) -> Result<Vec<f32>> {
    let n = adj.len();
    if n < 2 {
        return Err(MlError::Invalid("unsupervised training needs at least two nodes".into()));
    }
    let sampler = NegativeSampler::new(adj);
    let mut adam = Adam::new(options.learning_rate);
    let mut rng = Rng::new(options.seed);
    let mut losses = Vec::with_capacity(options.epochs);
    for epoch in 0..options.epochs {
        let pairs = walk_pairs(adj, options, &rng.fork(epoch as u64));
        if pairs.is_empty() {
            return Err(MlError::Invalid("the graph has no edges to walk".into()));
        }
        let batches = pairs.len().div_ceil(options.batch_size.max(1));
        let mut total = 0.0f32;
        for (batch, chunk) in pairs.chunks(options.batch_size.max(1)).enumerate() {
            let negatives: Vec<u32> = (0..chunk.len() * options.negatives).map(|_| sampler.draw(&mut rng)).collect();
            let cache = model.forward_cached(x, adj)?;
            let (loss, d) = skip_gram(cache.output(), chunk, &negatives, options.negatives);
            let grads = model.backward(adj, &cache, d.view());
            adam.step(model, &grads)?;
            progress(Progress { epoch, batch, batches, loss });
            total += loss;
        }
        losses.push(total / batches as f32);
    }
    Ok(losses)
}

/// (start, visited) pairs from random walks, parallel and seeded per node.
fn walk_pairs(adj: &Adjacency, options: &TrainOptions, rng: &Rng) -> Vec<(u32, u32)> {
    let mut pairs: Vec<(u32, u32)> = (0..adj.len())
        .into_par_iter()
        .flat_map_iter(|start| {
            let mut r = rng.fork(start as u64);
            let mut out = Vec::with_capacity(options.walks_per_node * options.walk_length);
            for _ in 0..options.walks_per_node {
                let mut at = start;
                for _ in 0..options.walk_length {
                    let nbs = adj.incoming(at);
                    if nbs.is_empty() {
                        break;
                    }
                    at = nbs[r.below(nbs.len())] as usize;
                    if at != start {
                        out.push((start as u32, at as u32));
                    }
                }
            }
            out
        })
        .collect();
    // Shuffle so that batches mix the graph (Fisher–Yates, seeded).
    let mut r = rng.fork(u64::MAX);
    for i in (1..pairs.len()).rev() {
        pairs.swap(i, r.below(i + 1));
    }
    pairs
}

/// Negative sampling in proportion to degree^0.75 (Mikolov et al.), by a
/// cumulative table and binary search.
struct NegativeSampler {
    cumulative: Vec<f64>,
}

impl NegativeSampler {
    fn new(adj: &Adjacency) -> Self {
        let mut total = 0.0;
        let cumulative = (0..adj.len())
            .map(|i| {
                total += ((adj.incoming(i).len() + adj.outgoing(i).len()) as f64 + 1.0).powf(0.75);
                total
            })
            .collect();
        Self { cumulative }
    }

    fn draw(&self, rng: &mut Rng) -> u32 {
        let total = *self.cumulative.last().expect("nodes");
        let t = f64::from(rng.unit()) * total;
        self.cumulative.partition_point(|&c| c <= t).min(self.cumulative.len() - 1) as u32
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The negative-sampling loss over `pairs` (mean per pair) and its gradient
/// with respect to the embeddings.
pub(crate) fn skip_gram(z: &Array2<f32>, pairs: &[(u32, u32)], negatives: &[u32], per: usize) -> (f32, Array2<f32>) {
    let mut d = Array2::zeros(z.raw_dim());
    let mut loss = 0.0f64;
    let scale = 1.0 / pairs.len() as f32;
    for (p, &(u, v)) in pairs.iter().enumerate() {
        let (u, v) = (u as usize, v as usize);
        let zu = z.row(u).to_owned();
        let s = zu.dot(&z.row(v));
        loss -= f64::from(sigmoid(s).max(1e-7).ln());
        let g = (sigmoid(s) - 1.0) * scale;
        d.row_mut(u).scaled_add(g, &z.row(v));
        d.row_mut(v).scaled_add(g, &zu);
        for &n in &negatives[p * per..(p + 1) * per] {
            let n = n as usize;
            let s = zu.dot(&z.row(n));
            loss -= f64::from(sigmoid(-s).max(1e-7).ln());
            let g = sigmoid(s) * scale;
            d.row_mut(u).scaled_add(g, &z.row(n));
            d.row_mut(n).scaled_add(g, &zu);
        }
    }
    ((loss / pairs.len() as f64) as f32, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_gradient_matches_finite_differences() {
        let logits =
            Array2::from_shape_vec((3, 4), vec![0.1, -0.4, 0.9, 0.0, 1.2, 0.3, -0.7, 0.5, 0.0, 0.0, 0.0, 0.0]).unwrap();
        let labels = [Some(2), None, Some(0)];
        let (_, d) = cross_entropy(&logits, &labels, 2);
        let eps = 1e-3;
        for ((i, j), &g) in d.indexed_iter() {
            let mut up = logits.clone();
            up[[i, j]] += eps;
            let mut down = logits.clone();
            down[[i, j]] -= eps;
            let numeric = (cross_entropy(&up, &labels, 2).0 - cross_entropy(&down, &labels, 2).0) / (2.0 * eps);
            assert!((numeric - g).abs() < 1e-3, "({i},{j}): {g} vs {numeric}");
        }
        assert!(d.row(1).iter().all(|&v| v == 0.0), "unlabelled rows get no gradient");
    }

    #[test]
    fn skip_gram_gradient_matches_finite_differences() {
        let mut rng = Rng::new(3);
        let z = Array2::from_shape_simple_fn((5, 3), || rng.symmetric(1.0));
        let pairs = [(0u32, 1u32), (2, 3)];
        let negatives = [4u32, 2, 1, 0];
        let (_, d) = skip_gram(&z, &pairs, &negatives, 2);
        let eps = 1e-3;
        for ((i, j), &g) in d.indexed_iter() {
            let mut up = z.clone();
            up[[i, j]] += eps;
            let mut down = z.clone();
            down[[i, j]] -= eps;
            let numeric =
                (skip_gram(&up, &pairs, &negatives, 2).0 - skip_gram(&down, &pairs, &negatives, 2).0) / (2.0 * eps);
            assert!((numeric - g).abs() < 2e-3, "({i},{j}): {g} vs {numeric}");
        }
    }

    #[test]
    fn negatives_follow_degree() {
        let adj = Adjacency::undirected(4, &[(0, 1), (0, 2), (0, 3)]).unwrap();
        let s = NegativeSampler::new(&adj);
        let mut rng = Rng::new(1);
        let mut counts = [0usize; 4];
        for _ in 0..20_000 {
            counts[s.draw(&mut rng) as usize] += 1;
        }
        assert!(counts[0] > counts[1] * 3 / 2, "the hub is drawn most: {counts:?}");
    }
}
