//! GraphSAGE layers with PyTorch Geometric's `SAGEConv` semantics, exactly,
//! and multi-layer models; forward passes for inference and training, and
//! hand-derived backward passes.
//!
//! Per layer, for each node `i` over the nodes `N(i)` whose messages it
//! aggregates (its in-neighbours under [`Flow::SourceToTarget`](crate::Flow)):
//!
//! ```text
//! src_j = x_j                         or relu(W_p x_j + b_p) when projecting
//! agg_i = mean_{j ∈ N(i)} src_j       (0 when N(i) is empty; parallel edges count twice)
//!       | max_{j ∈ N(i)} src_j        (element-wise; 0 when empty) — the paper's pooling
//! out_i = W_l agg_i + b_l [+ W_r x_i]  (the root term uses x_i, never projected)
//! out_i = out_i / max(‖out_i‖₂, 1e-12) when normalising — before any ReLU, as PyG does
//! ```
//!
//! Weights are in torch's layout (`[out, in]`, `y = x Wᵀ + b`), so PyG
//! state dicts load as they are.

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Axis, CowArray, Ix2, Zip};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::adjacency::Adjacency;
use crate::dense;
use crate::error::{MlError, Result};
use crate::rng::Rng;

const NORM_EPS: f32 = 1e-12;

/// Features summed at once in the mean's register-held accumulator.
const LANES: usize = 16;

/// How many nodes ahead inference prefetches the rows a node will gather
/// (2 to 8 measured alike; none was 5–10% slower).
const PREFETCH_AHEAD: usize = 4;

/// A dense layer: `y = x Wᵀ + b`, `W` of shape `[outputs, inputs]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Linear {
    /// `[outputs, inputs]`.
    pub weight: Array2<f32>,
    /// `[outputs]`, if the layer has a bias.
    pub bias: Option<Array1<f32>>,
}

impl Linear {
    /// A layer from its weights; the bias must have one entry per output.
    pub fn new(weight: Array2<f32>, bias: Option<Array1<f32>>) -> Result<Self> {
        if let Some(b) = &bias
            && b.len() != weight.nrows()
        {
            return Err(MlError::Shape(format!("bias of {} for {} outputs", b.len(), weight.nrows())));
        }
        Ok(Self { weight, bias })
    }

    /// Glorot-uniform weights (zero bias), seeded.
    pub fn glorot(inputs: usize, outputs: usize, bias: bool, rng: &mut Rng) -> Self {
        let a = (6.0 / (inputs + outputs) as f32).sqrt();
        let weight = Array2::from_shape_simple_fn((outputs, inputs), || rng.symmetric(a));
        Self { weight, bias: bias.then(|| Array1::zeros(outputs)) }
    }

    /// Inputs per row.
    pub fn inputs(&self) -> usize {
        self.weight.ncols()
    }

    /// Outputs per row.
    pub fn outputs(&self) -> usize {
        self.weight.nrows()
    }

    /// `x Wᵀ + b` for every row of `x`.
    pub fn forward(&self, x: ArrayView2<'_, f32>) -> Array2<f32> {
        let mut y = dense::par_mul_t(x, self.weight.view());
        if let Some(b) = &self.bias {
            y += b;
        }
        y
    }

    /// Gradients of a loss through `y = x Wᵀ + b`: returns (dW, db) and adds
    /// `dy W` into `dx` when given.
    fn backward(&self, x: ArrayView2<'_, f32>, dy: ArrayView2<'_, f32>, dx: Option<&mut Array2<f32>>) -> LinearGrads {
        let weight = dy.t().dot(&x);
        let bias = self.bias.as_ref().map(|_| dy.sum_axis(Axis(0)));
        if let Some(dx) = dx {
            *dx += &dy.dot(&self.weight);
        }
        LinearGrads { weight, bias }
    }
}

/// The gradient of a loss with respect to a [`Linear`]'s parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearGrads {
    /// `∂L/∂W`, shaped like the weight.
    pub weight: Array2<f32>,
    /// `∂L/∂b`, if the layer has a bias.
    pub bias: Option<Array1<f32>>,
}

/// How a node combines its neighbours' messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Aggregation {
    /// The mean (PyG `aggr="mean"`).
    #[default]
    Mean,
    /// The element-wise maximum (PyG `aggr="max"`; with projection, the
    /// paper's max-pooling aggregator).
    Max,
}

/// A layer's options, PyG's `SAGEConv` arguments; the default is PyG's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::struct_excessive_bools)] // the flags of `SAGEConv`, one for one
pub struct SageConfig {
    /// How neighbours combine.
    pub aggregation: Aggregation,
    /// L2-normalise each output row.
    pub normalize: bool,
    /// Add `W_r x_i` (the node's own features).
    pub root_weight: bool,
    /// Give `lin_l` a bias.
    pub bias: bool,
    /// Pass neighbours through `relu(W_p x + b_p)` before aggregating.
    pub project: bool,
}

impl Default for SageConfig {
    fn default() -> Self {
        Self { aggregation: Aggregation::Mean, normalize: false, root_weight: true, bias: true, project: false }
    }
}

/// One GraphSAGE layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SageConv {
    /// How neighbours combine.
    pub aggregation: Aggregation,
    /// Whether outputs are L2-normalised.
    pub normalize: bool,
    /// Applied to the aggregate; carries the layer's only bias.
    pub lin_l: Linear,
    /// Applied to the node itself, without bias (`None`: no root term).
    pub lin_r: Option<Linear>,
    /// Applied (then ReLU) to neighbours before aggregating, `[in, in]`.
    pub project: Option<Linear>,
}

/// A layer's product weights in standard layout (borrowed when they are).
struct Weights<'a> {
    l: CowArray<'a, f32, Ix2>,
    r: Option<CowArray<'a, f32, Ix2>>,
}

/// What a training forward pass keeps for the backward pass.
#[derive(Clone, Debug)]
pub struct ConvCache {
    /// `x W_pᵀ + b_p` before the ReLU, when projecting.
    projected: Option<Array2<f32>>,
    aggregate: Array2<f32>,
    /// For max: per node and feature, the neighbour chosen (`u32::MAX`: none).
    argmax: Option<Vec<u32>>,
    /// The output before normalising, when normalising.
    unnormalised: Option<Array2<f32>>,
    /// The layer's output.
    output: Array2<f32>,
}

impl ConvCache {
    /// The layer's output.
    pub fn output(&self) -> &Array2<f32> {
        &self.output
    }

    /// The neighbour aggregate (of the projected messages, when projecting).
    pub fn aggregate(&self) -> &Array2<f32> {
        &self.aggregate
    }
}

/// The gradient of a loss with respect to one layer's parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvGrads {
    /// For `lin_l`.
    pub lin_l: LinearGrads,
    /// For `lin_r`.
    pub lin_r: Option<LinearGrads>,
    /// For the projection.
    pub project: Option<LinearGrads>,
}

impl SageConv {
    /// A layer with seeded Glorot weights.
    pub fn new(inputs: usize, outputs: usize, config: SageConfig, rng: &mut Rng) -> Self {
        Self {
            aggregation: config.aggregation,
            normalize: config.normalize,
            project: config.project.then(|| Linear::glorot(inputs, inputs, true, rng)),
            lin_l: Linear::glorot(inputs, outputs, config.bias, rng),
            lin_r: config.root_weight.then(|| Linear::glorot(inputs, outputs, false, rng)),
        }
    }

    /// A layer from given weights (e.g. a PyG state dict), shapes checked.
    pub fn from_weights(
        aggregation: Aggregation,
        normalize: bool,
        lin_l: Linear,
        lin_r: Option<Linear>,
        project: Option<Linear>,
    ) -> Result<Self> {
        let inputs = lin_l.inputs();
        if let Some(r) = &lin_r
            && (r.inputs() != inputs || r.outputs() != lin_l.outputs() || r.bias.is_some())
        {
            return Err(MlError::Shape("lin_r must be [out, in] like lin_l, without bias".into()));
        }
        if let Some(p) = &project
            && (p.inputs() != inputs || p.outputs() != inputs)
        {
            return Err(MlError::Shape("the projection must be [in, in]".into()));
        }
        Ok(Self { aggregation, normalize, lin_l, lin_r, project })
    }

    /// Features in.
    pub fn inputs(&self) -> usize {
        self.lin_l.inputs()
    }

    /// Features out.
    pub fn outputs(&self) -> usize {
        self.lin_l.outputs()
    }

    /// The layer's output for every node.
    pub fn forward(&self, x: ArrayView2<'_, f32>, adj: &Adjacency) -> Result<Array2<f32>> {
        self.check_input(x, adj)?;
        let x = x.as_standard_layout();
        let mut out = Array2::zeros((adj.len(), self.outputs()));
        let xs = x.as_slice().expect("standard layout");
        self.infer_into(xs, adj, false, out.as_slice_mut().expect("standard layout"));
        Ok(out)
    }

    fn check_input(&self, x: ArrayView2<'_, f32>, adj: &Adjacency) -> Result<()> {
        if x.ncols() != self.inputs() || x.nrows() != adj.len() {
            return Err(MlError::Shape(format!(
                "features {:?} for a layer of {} inputs on {} nodes",
                x.dim(),
                self.inputs(),
                adj.len()
            )));
        }
        Ok(())
    }

    /// The projected messages before and after their ReLU, when projecting.
    fn project(&self, x: ArrayView2<'_, f32>) -> (Option<Array2<f32>>, Option<Array2<f32>>) {
        match &self.project {
            Some(p) => {
                let pre = p.forward(x);
                let src = pre.mapv(|v| v.max(0.0));
                (Some(pre), Some(src))
            }
            None => (None, None),
        }
    }

    /// Inference keeping nothing for a backward pass into `out` (`n ×
    /// outputs`, row-major), from `xs` (`n × inputs`, row-major, checked by
    /// the caller), then the ReLU of a hidden layer when `relu`. Block by
    /// block of rows, the neighbour aggregate goes into a block-sized buffer
    /// and straight through both products, the bias, the normalisation and
    /// the ReLU: it is never written out whole, and `out` is written once.
    fn infer_into(&self, xs: &[f32], adj: &Adjacency, relu: bool, out: &mut [f32]) {
        let (d_in, d_out, n) = (self.inputs(), self.outputs(), adj.len());
        if d_out == 0 {
            return;
        }
        // Inference needs the projected messages only after their ReLU,
        // applied in place (the training pass also keeps them before it).
        let source = self.project.as_ref().map(|p| {
            let mut src = p.forward(ArrayView2::from_shape((n, d_in), xs).expect("checked by the caller"));
            src.mapv_inplace(|v| v.max(0.0));
            src
        });
        let messages = source.as_ref().map_or(xs, |s| s.as_slice().expect("standard layout"));
        let weights = self.weights();
        let aggregation = self.aggregation;
        out.par_chunks_mut(dense::BLOCK_ROWS * d_out).enumerate().for_each_init(
            || (Vec::new(), Vec::new()),
            |(agg, arg): &mut (Vec<f32>, Vec<u32>), (b, block)| {
                let first = b * dense::BLOCK_ROWS;
                let rows = block.len() / d_out;
                agg.resize(rows * d_in, 0.0);
                if aggregation == Aggregation::Max {
                    arg.resize(d_in, u32::MAX);
                }
                for (r, row) in agg.chunks_exact_mut(d_in.max(1)).enumerate() {
                    let nbs = adj.incoming(first + r);
                    // The rows a few nodes ahead will gather: their cache
                    // misses then overlap this node's sums.
                    if first + r + PREFETCH_AHEAD < n {
                        for &j in adj.incoming(first + r + PREFETCH_AHEAD) {
                            dense::prefetch(&messages[j as usize * d_in..(j as usize + 1) * d_in]);
                        }
                    }
                    let message = |j: usize| &messages[j * d_in..(j + 1) * d_in];
                    match aggregation {
                        Aggregation::Mean => mean_row(row, nbs, message),
                        Aggregation::Max => max_row(row, arg, nbs, message),
                    }
                }
                self.combine_block(&weights, block, agg, &xs[first * d_in..(first + rows) * d_in]);
                for row in block.chunks_exact_mut(d_out) {
                    if self.normalize {
                        normalise_row(row);
                    }
                    if relu {
                        for v in row {
                            *v = v.max(0.0);
                        }
                    }
                }
            },
        );
    }

    /// The forward pass, keeping what the backward pass needs.
    pub fn forward_cached(&self, x: ArrayView2<'_, f32>, adj: &Adjacency) -> Result<ConvCache> {
        self.check_input(x, adj)?;
        let (projected, source) = self.project(x);
        let messages = source.as_ref().map_or(x, |s| s.view());
        let (aggregate, argmax) = match self.aggregation {
            Aggregation::Mean => (mean_aggregate(messages, adj), None),
            Aggregation::Max => {
                let (a, arg) = max_aggregate(messages, adj);
                (a, Some(arg))
            }
        };
        let (out, unnormalised) = self.combine(aggregate.view(), x, true);
        Ok(ConvCache { projected, aggregate, argmax, unnormalised, output: out })
    }

    /// `W_l agg + b_l [+ W_r root]`, normalised when configured; with
    /// `keep`, also the output before normalising.
    pub(crate) fn combine(
        &self,
        aggregate: ArrayView2<'_, f32>,
        root: ArrayView2<'_, f32>,
        keep: bool,
    ) -> (Array2<f32>, Option<Array2<f32>>) {
        let (rows, d_in, d_out) = (aggregate.nrows(), self.inputs(), self.outputs());
        let aggregate = aggregate.as_standard_layout();
        let agg = aggregate.as_slice().expect("standard layout");
        let root = root.as_standard_layout();
        let root = root.as_slice().expect("standard layout");
        let weights = self.weights();
        let mut out = Array2::zeros((rows, d_out));
        if d_out > 0 {
            let slice = out.as_slice_mut().expect("standard layout");
            slice.par_chunks_mut(dense::BLOCK_ROWS * d_out).enumerate().for_each(|(b, block)| {
                let range = b * dense::BLOCK_ROWS * d_in..(b * dense::BLOCK_ROWS + block.len() / d_out) * d_in;
                self.combine_block(&weights, block, &agg[range.clone()], root.get(range).unwrap_or_default());
            });
        }
        let unnormalised = self.normalize.then(|| {
            let raw = keep.then(|| out.clone());
            normalise_rows(&mut out);
            raw
        });
        (out, unnormalised.flatten())
    }

    /// The product weights in standard layout, as slices borrow them.
    fn weights(&self) -> Weights<'_> {
        Weights {
            l: self.lin_l.weight.as_standard_layout(),
            r: self.lin_r.as_ref().map(|r| r.weight.as_standard_layout()),
        }
    }

    /// `out = root W_rᵀ + agg W_lᵀ + b` for one block of rows (row-major
    /// slices; `root` is ignored without a root weight): the root product
    /// writes the block, the neighbour product accumulates into it.
    fn combine_block(&self, w: &Weights<'_>, out: &mut [f32], agg: &[f32], root: &[f32]) {
        let (d_in, d_out) = (self.inputs(), self.outputs());
        let wl = w.l.as_slice().expect("standard layout");
        match &w.r {
            Some(wr) => {
                dense::mul_t_into(out, root, wr.as_slice().expect("standard layout"), d_out, d_in, false);
                dense::mul_t_into(out, agg, wl, d_out, d_in, true);
            }
            None => dense::mul_t_into(out, agg, wl, d_out, d_in, false),
        }
        if let Some(b) = &self.lin_l.bias {
            for row in out.chunks_exact_mut(d_out) {
                for (o, b) in row.iter_mut().zip(b) {
                    *o += b;
                }
            }
        }
    }

    /// Back through the layer: the parameter gradients, and `∂L/∂x`.
    pub fn backward(
        &self,
        x: ArrayView2<'_, f32>,
        adj: &Adjacency,
        cache: &ConvCache,
        d_out: ArrayView2<'_, f32>,
    ) -> (ConvGrads, Array2<f32>) {
        let d_pre = match &cache.unnormalised {
            Some(raw) => normalise_backward(raw.view(), cache.output.view(), d_out),
            None => d_out.to_owned(),
        };
        let mut d_agg = Array2::zeros(cache.aggregate.raw_dim());
        let lin_l = self.lin_l.backward(cache.aggregate.view(), d_pre.view(), Some(&mut d_agg));
        let mut dx = Array2::zeros(x.raw_dim());
        let lin_r = self.lin_r.as_ref().map(|r| r.backward(x, d_pre.view(), Some(&mut dx)));
        let d_source = match (&self.aggregation, &cache.argmax) {
            (Aggregation::Max, Some(argmax)) => max_backward(d_agg.view(), argmax, adj.len()),
            _ => mean_backward(d_agg.view(), adj),
        };
        let project = if let (Some(p), Some(pre)) = (&self.project, &cache.projected) {
            let mut d_pre_p = d_source;
            Zip::from(&mut d_pre_p).and(pre).for_each(|d, &v| {
                if v <= 0.0 {
                    *d = 0.0;
                }
            });
            Some(p.backward(x, d_pre_p.view(), Some(&mut dx)))
        } else {
            dx += &d_source;
            None
        };
        (ConvGrads { lin_l, lin_r, project }, dx)
    }
}

/// Row-wise mean of each node's incoming messages (zeros when none),
/// parallel over nodes.
pub fn mean_aggregate(x: ArrayView2<'_, f32>, adj: &Adjacency) -> Array2<f32> {
    let d = x.ncols();
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    aggregate_rows(Aggregation::Mean, adj, adj.len(), d, |j| &xs[j * d..(j + 1) * d]).0
}

/// Element-wise maximum of each node's incoming messages (zeros when none)
/// and, per node and feature, which neighbour gave it.
pub fn max_aggregate(x: ArrayView2<'_, f32>, adj: &Adjacency) -> (Array2<f32>, Vec<u32>) {
    let d = x.ncols();
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let (agg, arg) = aggregate_rows(Aggregation::Max, adj, adj.len(), d, |j| &xs[j * d..(j + 1) * d]);
    (agg, arg.expect("max keeps its choices"))
}

/// The aggregate of the first `rows` nodes, reading message `j` through
/// `message(j)` (`d` values): parallel over nodes. For the maximum, also
/// which neighbour gave each value.
pub(crate) fn aggregate_rows<'a>(
    aggregation: Aggregation,
    adj: &Adjacency,
    rows: usize,
    d: usize,
    message: impl Fn(usize) -> &'a [f32] + Sync,
) -> (Array2<f32>, Option<Vec<u32>>) {
    let mut out = vec![0.0f32; rows * d];
    let chunk = d.max(1);
    let arg = match aggregation {
        Aggregation::Mean => {
            out.par_chunks_mut(chunk).enumerate().for_each(|(i, row)| mean_row(row, adj.incoming(i), &message));
            None
        }
        Aggregation::Max => {
            let mut arg = vec![u32::MAX; rows * d];
            out.par_chunks_mut(chunk)
                .zip(arg.par_chunks_mut(chunk))
                .enumerate()
                .for_each(|(i, (row, arg))| max_row(row, arg, adj.incoming(i), &message));
            Some(arg)
        }
    };
    (Array2::from_shape_vec((rows, d), out).expect("sized"), arg)
}

/// The mean of the messages of `nbs` into `row` (zeros when there are none).
fn mean_row<'a>(row: &mut [f32], nbs: &[u32], message: impl Fn(usize) -> &'a [f32]) {
    let d = row.len();
    if nbs.is_empty() || d == 0 {
        row.fill(0.0);
        return;
    }
    // `LANES` features at a time in a register-held accumulator, so the
    // neighbours' loads overlap instead of waiting on stores to `row` (the
    // gathers are latency-bound: 2× from 2 cores).
    let mut blocks = row.chunks_exact_mut(LANES);
    for (b, block) in (&mut blocks).enumerate() {
        let mut acc = [0.0f32; LANES];
        for &j in nbs {
            let src: &[f32; LANES] = message(j as usize)[b * LANES..(b + 1) * LANES].try_into().expect("a block");
            for (a, s) in acc.iter_mut().zip(src) {
                *a += s;
            }
        }
        block.copy_from_slice(&acc);
    }
    let tail = blocks.into_remainder();
    if !tail.is_empty() {
        let start = d - tail.len();
        // Written before read (see `FeatureExtractor::transform`).
        tail.fill(0.0);
        for &j in nbs {
            for (o, s) in tail.iter_mut().zip(&message(j as usize)[start..]) {
                *o += s;
            }
        }
    }
    let inv = 1.0 / nbs.len() as f32;
    for o in row.iter_mut() {
        *o *= inv;
    }
}

/// The element-wise maximum of the messages of `nbs` into `row`, and which
/// neighbour gave each value into `arg` (zeros and `u32::MAX` when none).
fn max_row<'a>(row: &mut [f32], arg: &mut [u32], nbs: &[u32], message: impl Fn(usize) -> &'a [f32]) {
    if nbs.is_empty() {
        row.fill(0.0);
        arg.fill(u32::MAX);
        return;
    }
    row.fill(f32::NEG_INFINITY);
    for &j in nbs {
        let src = message(j as usize);
        for f in 0..row.len() {
            if src[f] > row[f] {
                row[f] = src[f];
                arg[f] = j;
            }
        }
    }
}

/// `∂L/∂messages` from `∂L/∂aggregate` for the mean: each node's message
/// gets the gradient of every node that averaged it, divided by that node's
/// count (parallel over senders, through the transposed rows).
fn mean_backward(d_agg: ArrayView2<'_, f32>, adj: &Adjacency) -> Array2<f32> {
    let d = d_agg.ncols();
    let g = d_agg.as_standard_layout();
    let gs = g.as_slice().expect("standard layout");
    let mut out = vec![0.0f32; adj.len() * d];
    out.par_chunks_mut(d.max(1)).enumerate().for_each(|(j, row)| {
        row.fill(0.0); // written before read
        for &i in adj.outgoing(j) {
            let inv = 1.0 / adj.incoming(i as usize).len() as f32;
            let src = &gs[i as usize * d..(i as usize + 1) * d];
            for (o, s) in row.iter_mut().zip(src) {
                *o += s * inv;
            }
        }
    });
    Array2::from_shape_vec((adj.len(), d), out).expect("sized")
}

/// `∂L/∂messages` for the max: each feature's gradient goes to the
/// neighbour that gave the maximum.
fn max_backward(d_agg: ArrayView2<'_, f32>, argmax: &[u32], n: usize) -> Array2<f32> {
    let d = d_agg.ncols();
    let mut out = Array2::zeros((n, d));
    for ((i, f), &g) in d_agg.indexed_iter() {
        let j = argmax[i * d + f];
        if j != u32::MAX {
            out[[j as usize, f]] += g;
        }
    }
    out
}

fn normalise_rows(out: &mut Array2<f32>) {
    let d = out.ncols().max(1);
    out.as_slice_mut().expect("standard layout").par_chunks_mut(d).for_each(normalise_row);
}

fn normalise_row(row: &mut [f32]) {
    let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(NORM_EPS);
    for v in row {
        *v /= norm;
    }
}

/// Through `y = o / max(‖o‖, ε)`: `∂L/∂o = (g − y (y·g)) / ‖o‖`, or `g / ε`
/// where the norm is below ε.
fn normalise_backward(raw: ArrayView2<'_, f32>, y: ArrayView2<'_, f32>, g: ArrayView2<'_, f32>) -> Array2<f32> {
    let mut out = g.to_owned();
    Zip::from(out.rows_mut()).and(raw.rows()).and(y.rows()).for_each(|mut d, o, y| {
        let norm = o.dot(&o).sqrt();
        if norm > NORM_EPS {
            let proj = y.dot(&d);
            d.zip_mut_with(&y, |di, &yi| *di = (*di - yi * proj) / norm);
        } else {
            d /= NORM_EPS;
        }
    });
    out
}

/// Buffers that [`Sage::forward_with`] reuses from one inference to the
/// next: the hidden layers' outputs (two, used in turn). They keep the
/// size of the largest inference run through them until dropped.
#[derive(Clone, Debug, Default)]
pub struct Workspace {
    hidden: [Vec<f32>; 2],
}

impl Workspace {
    /// The bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.hidden.iter().map(|h| h.capacity() * size_of::<f32>()).sum()
    }
}

/// A stack of GraphSAGE layers with ReLU between them (none after the last).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sage {
    /// The layers, first to last.
    pub layers: Vec<SageConv>,
}

/// What a training forward pass of a whole model keeps.
#[derive(Clone, Debug)]
pub struct SageCache {
    /// Each layer's input (after the previous layer's ReLU).
    inputs: Vec<Array2<f32>>,
    layers: Vec<ConvCache>,
}

impl SageCache {
    /// The model's output.
    pub fn output(&self) -> &Array2<f32> {
        self.layers.last().expect("at least one layer").output()
    }

    /// Layer `i`'s cache.
    pub fn layer(&self, i: usize) -> &ConvCache {
        &self.layers[i]
    }
}

impl Sage {
    /// A model of `dims.len() - 1` layers (`dims` = input, hidden..., output),
    /// seeded Glorot weights, every layer configured alike.
    pub fn new(dims: &[usize], config: SageConfig, seed: u64) -> Result<Self> {
        if dims.len() < 2 {
            return Err(MlError::Invalid("a model needs an input and an output size".into()));
        }
        let mut rng = Rng::new(seed);
        Ok(Self { layers: dims.windows(2).map(|w| SageConv::new(w[0], w[1], config, &mut rng)).collect() })
    }

    /// Features in.
    pub fn inputs(&self) -> usize {
        self.layers[0].inputs()
    }

    /// Features out.
    pub fn outputs(&self) -> usize {
        self.layers.last().expect("layers").outputs()
    }

    /// Full-graph inference: every node's output.
    ///
    /// Each hidden layer's output is a fresh `n × width` matrix, freed at
    /// the end; to run inference again and again (every deployment, every
    /// graph of a batch), keep a [`Workspace`] and call
    /// [`forward_with`](Self::forward_with), which reuses them.
    pub fn forward(&self, x: ArrayView2<'_, f32>, adj: &Adjacency) -> Result<Array2<f32>> {
        self.forward_with(x, adj, &mut Workspace::default())
    }

    /// [`forward`](Self::forward), with the hidden layers' outputs held in
    /// `workspace` and reused from call to call: a large hidden matrix
    /// freshly allocated is often fresh memory, and the kernel's first
    /// touch of each page (a fault, and zeroing it) cost 13–40% of a
    /// 100,000-node inference here, depending on what the allocator had
    /// done with the memory freed before (see `docs/performance.md`). With
    /// [`forward_into`](Self::forward_into) the output is reused too.
    ///
    /// ```
    /// use karma_ml::{Adjacency, Flow, Sage, SageConfig, Workspace};
    /// use ndarray::Array2;
    ///
    /// let adj = Adjacency::from_edges(3, &[(0, 1), (1, 2)], Flow::SourceToTarget)?;
    /// let model = Sage::new(&[4, 8, 2], SageConfig::default(), 7)?;
    /// let mut workspace = Workspace::default();
    /// for seed in 0..3 {
    ///     let x = Array2::from_elem((3, 4), seed as f32);
    ///     let y = model.forward_with(x.view(), &adj, &mut workspace)?;
    ///     assert_eq!(y, model.forward(x.view(), &adj)?);
    /// }
    /// # Ok::<(), karma_ml::MlError>(())
    /// ```
    pub fn forward_with(
        &self,
        x: ArrayView2<'_, f32>,
        adj: &Adjacency,
        workspace: &mut Workspace,
    ) -> Result<Array2<f32>> {
        let Some(last) = self.layers.last() else {
            return Err(MlError::Invalid("a model needs at least one layer".into()));
        };
        let mut out = Array2::zeros((adj.len(), last.outputs()));
        self.forward_into(x, adj, workspace, out.view_mut())?;
        Ok(out)
    }

    /// [`forward_with`](Self::forward_with), writing every node's output
    /// into `out` (`nodes × outputs`), so that a loop of inferences
    /// allocates nothing once its buffers have grown. Every element of
    /// `out` is overwritten.
    ///
    /// ```
    /// use karma_ml::{Adjacency, Flow, Sage, SageConfig, Workspace};
    /// use ndarray::Array2;
    ///
    /// let adj = Adjacency::from_edges(3, &[(0, 1), (1, 2)], Flow::SourceToTarget)?;
    /// let model = Sage::new(&[4, 8, 2], SageConfig::default(), 7)?;
    /// let x = Array2::from_elem((3, 4), 0.5f32);
    /// let mut out = Array2::from_elem((3, 2), f32::NAN);
    /// model.forward_into(x.view(), &adj, &mut Workspace::default(), out.view_mut())?;
    /// assert_eq!(out, model.forward(x.view(), &adj)?);
    /// // The wrong shape is an error, not a panic.
    /// let mut small = Array2::zeros((2, 2));
    /// assert!(model.forward_into(x.view(), &adj, &mut Workspace::default(), small.view_mut()).is_err());
    /// # Ok::<(), karma_ml::MlError>(())
    /// ```
    pub fn forward_into(
        &self,
        x: ArrayView2<'_, f32>,
        adj: &Adjacency,
        workspace: &mut Workspace,
        mut out: ArrayViewMut2<'_, f32>,
    ) -> Result<()> {
        let n = adj.len();
        let Some(first) = self.layers.first() else {
            return Err(MlError::Invalid("a model needs at least one layer".into()));
        };
        first.check_input(x, adj)?;
        if let Some(w) = self.layers.windows(2).find(|w| w[1].inputs() != w[0].outputs()) {
            return Err(MlError::Shape(format!(
                "a layer of {} outputs feeds one of {} inputs",
                w[0].outputs(),
                w[1].inputs()
            )));
        }
        let (last, rest) = self.layers.split_last().expect("checked above");
        if out.dim() != (n, last.outputs()) {
            return Err(MlError::Shape(format!(
                "an output of {:?} for {n} nodes and {} outputs",
                out.dim(),
                last.outputs()
            )));
        }
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        // Each hidden layer reads the one before from `input` and writes
        // `output`, then they swap. The first product of every row replaces
        // what the row held, so a reused buffer needs no clearing.
        let [a, b] = &mut workspace.hidden;
        let (mut input, mut output) = (a, b);
        let mut fed = false;
        for layer in rest {
            output.resize(n * layer.outputs(), 0.0);
            layer.infer_into(if fed { input } else { xs }, adj, true, output);
            std::mem::swap(&mut input, &mut output);
            fed = true;
        }
        let input = if fed { input.as_slice() } else { xs };
        if let Some(slice) = out.as_slice_mut() {
            last.infer_into(input, adj, false, slice);
        } else {
            // A view that is not one row-major stretch (a transposed or
            // strided matrix): computed apart, then copied in.
            let mut apart = vec![0.0; n * last.outputs()];
            last.infer_into(input, adj, false, &mut apart);
            out.assign(&ArrayView2::from_shape((n, last.outputs()), &apart).expect("sized above"));
        }
        Ok(())
    }

    /// The forward pass, keeping what [`backward`](Self::backward) needs.
    pub fn forward_cached(&self, x: ArrayView2<'_, f32>, adj: &Adjacency) -> Result<SageCache> {
        if self.layers.is_empty() {
            return Err(MlError::Invalid("a model needs at least one layer".into()));
        }
        let mut inputs = vec![x.to_owned()];
        let mut layers = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let cache = layer.forward_cached(inputs[i].view(), adj)?;
            if i + 1 < self.layers.len() {
                inputs.push(cache.output().mapv(|v| v.max(0.0)));
            }
            layers.push(cache);
        }
        Ok(SageCache { inputs, layers })
    }

    /// Back through the model from `∂L/∂output`: each layer's gradients.
    pub fn backward(&self, adj: &Adjacency, cache: &SageCache, d_out: ArrayView2<'_, f32>) -> Vec<ConvGrads> {
        let mut grads = Vec::with_capacity(self.layers.len());
        let mut d = d_out.to_owned();
        for i in (0..self.layers.len()).rev() {
            let (g, mut dx) = self.layers[i].backward(cache.inputs[i].view(), adj, &cache.layers[i], d.view());
            grads.push(g);
            if i > 0 {
                // Through the ReLU that made this layer's input.
                Zip::from(&mut dx).and(&cache.inputs[i]).for_each(|g, &a| {
                    if a <= 0.0 {
                        *g = 0.0;
                    }
                });
            }
            d = dx;
        }
        grads.reverse();
        grads
    }

    /// Every parameter, flattened in [`visit_params`](Self::visit_params)
    /// order.
    pub fn parameters(&self) -> Vec<f32> {
        let mut out = Vec::new();
        self.each_linear(|l| {
            out.extend(l.weight.iter());
            if let Some(b) = &l.bias {
                out.extend(b.iter());
            }
        });
        out
    }

    /// Sets every parameter from a flat list in [`parameters`](Self::parameters)
    /// order.
    pub fn set_parameters(&mut self, values: &[f32]) -> Result<()> {
        let count = self.parameters().len();
        if values.len() != count {
            return Err(MlError::Shape(format!("{} values for {count} parameters", values.len())));
        }
        let mut at = 0;
        for layer in &mut self.layers {
            for l in [Some(&mut layer.lin_l), layer.lin_r.as_mut(), layer.project.as_mut()].into_iter().flatten() {
                for w in &mut l.weight {
                    *w = values[at];
                    at += 1;
                }
                if let Some(b) = &mut l.bias {
                    for v in b {
                        *v = values[at];
                        at += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// Gradients flattened like [`parameters`](Self::parameters).
    pub fn flatten_grads(grads: &[ConvGrads]) -> Vec<f32> {
        let mut out = Vec::new();
        for g in grads {
            for l in [Some(&g.lin_l), g.lin_r.as_ref(), g.project.as_ref()].into_iter().flatten() {
                out.extend(l.weight.iter());
                if let Some(b) = &l.bias {
                    out.extend(b.iter());
                }
            }
        }
        out
    }

    fn each_linear(&self, mut f: impl FnMut(&Linear)) {
        for layer in &self.layers {
            for l in [Some(&layer.lin_l), layer.lin_r.as_ref(), layer.project.as_ref()].into_iter().flatten() {
                f(l);
            }
        }
    }

    /// Every parameter tensor beside its gradient, in a fixed order (for
    /// optimisers).
    pub fn visit_params(&mut self, grads: &[ConvGrads], mut f: impl FnMut(&mut [f32], &[f32])) {
        fn linear(l: &mut Linear, g: &LinearGrads, f: &mut impl FnMut(&mut [f32], &[f32])) {
            f(l.weight.as_slice_mut().expect("standard layout"), g.weight.as_slice().expect("standard layout"));
            if let (Some(b), Some(gb)) = (&mut l.bias, &g.bias) {
                f(b.as_slice_mut().expect("contiguous"), gb.as_slice().expect("contiguous"));
            }
        }
        for (layer, g) in self.layers.iter_mut().zip(grads) {
            linear(&mut layer.lin_l, &g.lin_l, &mut f);
            if let (Some(r), Some(gr)) = (&mut layer.lin_r, &g.lin_r) {
                linear(r, gr, &mut f);
            }
            if let (Some(p), Some(gp)) = (&mut layer.project, &g.project) {
                linear(p, gp, &mut f);
            }
        }
    }
}
