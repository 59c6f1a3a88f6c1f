//! Neighbour-sampled mini-batch inference (GraphSAGE's Algorithm 2, PyG's
//! `NeighborLoader`): for a batch of seed nodes, sample up to `fanouts[0]`
//! neighbours of each seed, up to `fanouts[1]` of each of those, and so on
//! (without replacement; all of them when there are fewer), then run the
//! model on that small subgraph. Each node aggregates the neighbours sampled
//! for it at the hop it was first reached, as in PyG.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

use crate::adjacency::Adjacency;
use crate::error::{MlError, Result};
use crate::rng::Rng;
use crate::sage::{Sage, aggregate_rows};

/// The sampled computation graph of a batch: its nodes (seeds first) and
/// their sampled in-neighbours, in local ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampledBatch {
    /// Global ids; the first `seeds` are the batch's seeds.
    pub nodes: Vec<u32>,
    /// How many of `nodes` are seeds.
    pub seeds: usize,
    /// The sampled messages, in local ids.
    pub adjacency: Adjacency,
    /// `hop_ends[h]`: how many of `nodes` are at most `h` hops from a seed
    /// (nodes are in the order they were reached).
    pub hop_ends: Vec<usize>,
}

/// Samples the computation graph of `seeds` with `fanouts` per hop.
pub fn sample_batch(adj: &Adjacency, seeds: &[u32], fanouts: &[usize], rng: &mut Rng) -> SampledBatch {
    // Global id → local id (u32::MAX: not reached yet), dense for speed.
    let mut local: Vec<u32> = vec![u32::MAX; adj.len()];
    let mut nodes: Vec<u32> = Vec::with_capacity(seeds.len() * 4);
    for &s in seeds {
        if local[s as usize] == u32::MAX {
            local[s as usize] = nodes.len() as u32;
            nodes.push(s);
        }
    }
    let mut hop_ends = vec![nodes.len()];
    // Receivers are handled in local-id order, so their sampled rows are
    // appended in CSR order directly.
    let mut offsets: Vec<usize> = vec![0];
    let mut neighbours: Vec<u32> = Vec::new();
    let mut positions: Vec<u32> = Vec::new();
    let mut start = 0;
    for &fanout in fanouts {
        let end = nodes.len();
        for r in start..end {
            let v = nodes[r];
            let nbs = adj.incoming(v as usize);
            let mut take = |u: u32, nodes: &mut Vec<u32>| {
                if local[u as usize] == u32::MAX {
                    local[u as usize] = nodes.len() as u32;
                    nodes.push(u);
                }
                neighbours.push(local[u as usize]);
            };
            if nbs.len() <= fanout {
                for &u in nbs {
                    take(u, &mut nodes);
                }
            } else {
                // Partial Fisher–Yates over positions: `fanout` distinct picks.
                positions.clear();
                positions.extend(0..nbs.len() as u32);
                for i in 0..fanout {
                    let j = i + rng.below(nbs.len() - i);
                    positions.swap(i, j);
                    take(nbs[positions[i] as usize], &mut nodes);
                }
            }
            offsets.push(neighbours.len());
        }
        start = end;
        hop_ends.push(nodes.len());
    }
    // The last hop's nodes aggregate nothing.
    offsets.resize(nodes.len() + 1, neighbours.len());
    let adjacency = Adjacency::from_incoming_rows(offsets, neighbours);
    SampledBatch { nodes, seeds: hop_ends[0], adjacency, hop_ends }
}

impl Sage {
    /// Neighbour-sampled inference of every node, in batches of
    /// `batch_size` seeds, `fanouts[h]` neighbours sampled at hop `h` (one
    /// per layer; e.g. `[25, 10]` for two layers), seeded: the same seed
    /// gives the same embeddings. Batches run in parallel.
    pub fn forward_sampled(
        &self,
        x: ArrayView2<'_, f32>,
        adj: &Adjacency,
        fanouts: &[usize],
        batch_size: usize,
        seed: u64,
    ) -> Result<Array2<f32>> {
        if fanouts.len() != self.layers.len() {
            return Err(MlError::Invalid(format!("{} fan-outs for {} layers", fanouts.len(), self.layers.len())));
        }
        if x.nrows() != adj.len() || batch_size == 0 {
            return Err(MlError::Shape(format!(
                "{} feature rows, {} nodes, batches of {batch_size}",
                x.nrows(),
                adj.len()
            )));
        }
        let rng = Rng::new(seed);
        let all: Vec<u32> = (0..adj.len() as u32).collect();
        let batches: Vec<Result<Array2<f32>>> = all
            .par_chunks(batch_size)
            .enumerate()
            .map(|(b, seeds)| {
                let mut r = rng.fork(b as u64);
                let batch = sample_batch(adj, seeds, fanouts, &mut r);
                self.forward_batch(x, &batch)
            })
            .collect();
        let mut out = Array2::zeros((adj.len(), self.outputs()));
        for (b, part) in batches.into_iter().enumerate() {
            let part = part?;
            let start = b * batch_size;
            out.slice_axis_mut(Axis(0), ndarray::Slice::from(start..start + part.nrows())).assign(&part);
        }
        Ok(out)
    }
}

impl Sage {
    /// The outputs of a sampled batch's seeds. Each layer runs only for the
    /// nodes the next one reads (layer `k` of `L` for nodes at most
    /// `L − 1 − k` hops out), reading the first layer's inputs straight from
    /// `x`: the work is proportional to the sampled graph, not to the graph.
    pub fn forward_batch(&self, x: ArrayView2<'_, f32>, batch: &SampledBatch) -> Result<Array2<f32>> {
        let layers = self.layers.len();
        if batch.hop_ends.len() < layers + 1 || x.ncols() != self.inputs() {
            return Err(MlError::Shape(format!(
                "a batch sampled {} hops for {layers} layers, features of {} for {}",
                batch.hop_ends.len() - 1,
                x.ncols(),
                self.inputs()
            )));
        }
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        let mut h: Option<Array2<f32>> = None;
        for (k, layer) in self.layers.iter().enumerate() {
            let rows = batch.hop_ends[layers - 1 - k];
            let inputs = batch.hop_ends[layers - k];
            let d = layer.inputs();
            // This layer's input rows (local ids 0..inputs): the previous
            // layer's output, or the features of the sampled nodes.
            let gathered;
            let local: ArrayView2<'_, f32> = if let Some(h) = &h {
                h.view()
            } else if layer.project.is_some() {
                let idx: Vec<usize> = batch.nodes[..inputs].iter().map(|&v| v as usize).collect();
                gathered = x.select(Axis(0), &idx);
                gathered.view()
            } else {
                ndarray::ArrayView2::from_shape((0, d), &[]).expect("empty")
            };
            let projected = layer.project.as_ref().map(|p| p.forward(local).mapv(|v| v.max(0.0)));
            let (aggregate, _) = match (&projected, &h) {
                (Some(p), _) => {
                    let ps = p.as_slice().expect("standard layout");
                    aggregate_rows(layer.aggregation, &batch.adjacency, rows, d, |j| &ps[j * d..(j + 1) * d])
                }
                (None, Some(h)) => {
                    let hs = h.as_slice().expect("standard layout");
                    aggregate_rows(layer.aggregation, &batch.adjacency, rows, d, |j| &hs[j * d..(j + 1) * d])
                }
                (None, None) => aggregate_rows(layer.aggregation, &batch.adjacency, rows, d, |j| {
                    let g = batch.nodes[j] as usize;
                    &xs[g * d..(g + 1) * d]
                }),
            };
            let root = if let Some(h) = &h {
                h.slice_axis(Axis(0), ndarray::Slice::from(..rows)).to_owned()
            } else {
                let idx: Vec<usize> = batch.nodes[..rows].iter().map(|&v| v as usize).collect();
                x.select(Axis(0), &idx)
            };
            let (mut out, _) = layer.combine(aggregate.view(), root.view(), false);
            if k + 1 < layers {
                out.mapv_inplace(|v| v.max(0.0));
            }
            h = Some(out);
        }
        Ok(h.expect("at least one layer"))
    }

    /// The embedding a node that does not exist yet would get: features
    /// `features` (e.g. [`FeatureExtractor::row`](crate::FeatureExtractor::row)
    /// of a partial component) and messages from `neighbours` (the
    /// components it is meant to connect to), everything else as in `adj`.
    /// Computed exactly on the neighbours' computation graph; the new node's
    /// own messages to its neighbours are not taken into account. Search
    /// with it through [`Embeddings::search`](crate::Embeddings::search).
    pub fn embed_new(
        &self,
        x: ArrayView2<'_, f32>,
        adj: &Adjacency,
        features: &[f32],
        neighbours: &[u32],
    ) -> Result<ndarray::Array1<f32>> {
        if features.len() != x.ncols() {
            return Err(MlError::Shape(format!("{} features for a model of {}", features.len(), x.ncols())));
        }
        if let Some(bad) = neighbours.iter().find(|&&v| v as usize >= adj.len()) {
            return Err(MlError::Invalid(format!("neighbour {bad} is not a node")));
        }
        let mut distinct = neighbours.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let hops = vec![usize::MAX; self.layers.len().saturating_sub(1)];
        let batch = sample_batch(adj, &distinct, &hops, &mut Rng::new(0));
        let new = batch.nodes.len() as u32;
        let mut pairs: Vec<(u32, u32)> = (0..batch.nodes.len())
            .flat_map(|i| batch.adjacency.incoming(i).iter().map(move |&s| (s, i as u32)))
            .collect();
        pairs.extend((0..distinct.len() as u32).map(|i| (i, new)));
        let local = Adjacency::from_edges(batch.nodes.len() + 1, &pairs, crate::Flow::SourceToTarget)?;
        let idx: Vec<usize> = batch.nodes.iter().map(|&v| v as usize).collect();
        let mut local_x = x.select(Axis(0), &idx);
        local_x.push_row(ndarray::ArrayView1::from(features)).map_err(|e| MlError::Shape(e.to_string()))?;
        let out = self.forward(local_x.view(), &local)?;
        Ok(out.row(new as usize).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Flow, SageConfig};

    #[test]
    fn samples_respect_fanouts_and_seeds() {
        // A star: 0 ← 1..=30, and 1 ← 31..=60.
        let mut edges: Vec<(u32, u32)> = (1..=30).map(|i| (i, 0)).collect();
        edges.extend((31..=60).map(|i| (i, 1)));
        let adj = Adjacency::from_edges(61, &edges, Flow::SourceToTarget).unwrap();
        let batch = sample_batch(&adj, &[0], &[5, 3], &mut Rng::new(1));
        assert_eq!(batch.nodes[0], 0);
        assert_eq!(batch.adjacency.incoming(0).len(), 5);
        let mut distinct = batch.adjacency.incoming(0).to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 5, "without replacement");
        assert_eq!(batch, sample_batch(&adj, &[0], &[5, 3], &mut Rng::new(1)), "seeded");
    }

    #[test]
    fn trimmed_batches_agree_with_the_whole_sampled_graph() {
        let mut rng = Rng::new(5);
        let n = 200;
        let edges: Vec<(u32, u32)> = (0..1500).map(|_| (rng.below(n) as u32, rng.below(n) as u32)).collect();
        let adj = Adjacency::from_edges(n, &edges, Flow::SourceToTarget).unwrap();
        let x = Array2::from_shape_simple_fn((n, 6), || rng.symmetric(1.0));
        for config in [
            SageConfig::default(),
            SageConfig { normalize: true, ..SageConfig::default() },
            SageConfig { aggregation: crate::Aggregation::Max, project: true, ..SageConfig::default() },
        ] {
            let model = Sage::new(&[6, 8, 5, 4], config, 11).unwrap();
            let batch = sample_batch(&adj, &[3, 17, 42, 3], &[4, 3, 2], &mut Rng::new(9));
            assert_eq!(batch.seeds, 3, "seeds deduplicated");
            let idx: Vec<usize> = batch.nodes.iter().map(|&v| v as usize).collect();
            let whole = model.forward(x.select(Axis(0), &idx).view(), &batch.adjacency).unwrap();
            let trimmed = model.forward_batch(x.view(), &batch).unwrap();
            assert_eq!(trimmed.nrows(), 3);
            let worst = (&trimmed - &whole.slice_axis(Axis(0), ndarray::Slice::from(..3)))
                .mapv(f32::abs)
                .fold(0.0f32, |a, &b| a.max(b));
            assert!(worst < 1e-5, "{config:?}: {worst}");
        }
    }

    #[test]
    fn a_new_node_embeds_like_an_existing_one_with_the_same_inputs() {
        let mut rng = Rng::new(8);
        let n = 30;
        // Node 29 reads from 1, 5 and 9 and sends to no one: adding it anew
        // with those neighbours must give its embedding exactly.
        let mut edges: Vec<(u32, u32)> = (0..90).map(|_| (rng.below(n - 1) as u32, rng.below(n - 1) as u32)).collect();
        edges.extend([(1, 29), (5, 29), (9, 29)]);
        let adj = Adjacency::from_edges(n, &edges, Flow::SourceToTarget).unwrap();
        let x = Array2::from_shape_simple_fn((n, 5), || rng.symmetric(1.0));
        let model = Sage::new(&[5, 8, 4], SageConfig::default(), 2).unwrap();
        let full = model.forward(x.view(), &adj).unwrap();
        let features: Vec<f32> = x.row(29).to_vec();
        let z = model.embed_new(x.view(), &adj, &features, &[9, 1, 5]).unwrap();
        let worst = (&z - &full.row(29)).mapv(f32::abs).fold(0.0f32, |a, &b| a.max(b));
        assert!(worst < 1e-5, "{worst}");
        assert!(model.embed_new(x.view(), &adj, &features[..2], &[]).is_err());
    }

    #[test]
    fn with_fanouts_above_every_degree_sampling_is_exact() {
        let mut rng = Rng::new(4);
        let n = 40;
        let edges: Vec<(u32, u32)> = (0..120).map(|_| (rng.below(n) as u32, rng.below(n) as u32)).collect();
        let adj = Adjacency::from_edges(n, &edges, Flow::SourceToTarget).unwrap();
        let x = Array2::from_shape_simple_fn((n, 6), || rng.symmetric(1.0));
        let model = Sage::new(&[6, 8, 4], SageConfig::default(), 9).unwrap();
        let full = model.forward(x.view(), &adj).unwrap();
        let sampled = model.forward_sampled(x.view(), &adj, &[1000, 1000], 7, 3).unwrap();
        let worst = (&full - &sampled).mapv(f32::abs).fold(0.0f32, |a, &b| a.max(b));
        assert!(worst < 1e-5, "{worst}");
        let small = model.forward_sampled(x.view(), &adj, &[2, 2], 7, 3).unwrap();
        assert_eq!(small, model.forward_sampled(x.view(), &adj, &[2, 2], 7, 3).unwrap());
    }
}
