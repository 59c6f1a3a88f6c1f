//! Neighbour-sampled mini-batch inference (GraphSAGE's Algorithm 2, PyG's
//! `NeighborLoader`): for a batch of seed nodes, sample up to `fanouts[0]`
//! neighbours of each seed, up to `fanouts[1]` of each of those, and so on
//! (without replacement; all of them when there are fewer), then run the
//! model on that small subgraph. Each node aggregates the neighbours sampled
//! for it at the hop it was first reached, as in PyG.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::adjacency::Adjacency;
use crate::error::{MlError, Result};
use crate::rng::Rng;
use crate::sage::Sage;

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
}

/// Samples the computation graph of `seeds` with `fanouts` per hop.
pub fn sample_batch(adj: &Adjacency, seeds: &[u32], fanouts: &[usize], rng: &mut Rng) -> SampledBatch {
    let mut local: FxHashMap<u32, u32> = FxHashMap::default();
    let mut nodes: Vec<u32> = Vec::with_capacity(seeds.len() * 4);
    for &s in seeds {
        local.entry(s).or_insert_with(|| {
            nodes.push(s);
            (nodes.len() - 1) as u32
        });
    }
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    let mut frontier: Vec<u32> = nodes.clone();
    let mut scratch: Vec<u32> = Vec::new();
    for &fanout in fanouts {
        let mut next = Vec::new();
        for &v in &frontier {
            let nbs = adj.incoming(v as usize);
            scratch.clear();
            if nbs.len() <= fanout {
                scratch.extend_from_slice(nbs);
            } else {
                // Partial Fisher–Yates over positions: `fanout` distinct picks.
                let mut positions: Vec<u32> = (0..nbs.len() as u32).collect();
                for i in 0..fanout {
                    let j = i + rng.below(nbs.len() - i);
                    positions.swap(i, j);
                    scratch.push(nbs[positions[i] as usize]);
                }
            }
            let receiver = local[&v];
            for &u in &scratch {
                let id = *local.entry(u).or_insert_with(|| {
                    nodes.push(u);
                    next.push(u);
                    (nodes.len() - 1) as u32
                });
                pairs.push((id, receiver));
            }
        }
        frontier = next;
    }
    let adjacency =
        Adjacency::from_edges(nodes.len(), &pairs, crate::Flow::SourceToTarget).expect("local ids in range");
    SampledBatch { nodes, seeds: seeds.len(), adjacency }
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
                let idx: Vec<usize> = batch.nodes.iter().map(|&v| v as usize).collect();
                let local_x = x.select(Axis(0), &idx);
                let out = self.forward(local_x.view(), &batch.adjacency)?;
                Ok(out.slice_axis(Axis(0), ndarray::Slice::from(..batch.seeds)).to_owned())
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
