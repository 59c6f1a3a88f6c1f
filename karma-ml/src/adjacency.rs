//! Who sends messages to whom: compressed sparse rows of in-neighbours
//! (and their transpose, for gradients), built from edge lists or from a
//! karma-query [`View`].

use karma_query::View;
use std::sync::OnceLock;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{MlError, Result};

/// Which way messages travel along an edge `s → t` — PyTorch Geometric's
/// `flow`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Flow {
    /// `x_s` is aggregated at `t`: a node averages over its in-neighbours
    /// (PyG's default, `source_to_target`).
    #[default]
    SourceToTarget,
    /// `x_t` is aggregated at `s`: a node averages over its out-neighbours.
    TargetToSource,
}

/// One direction of a sparse graph in CSR form: for each node, the nodes
/// whose messages it aggregates, parallel edges kept (counted with
/// multiplicity, as PyG does).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Csr {
    offsets: Vec<usize>,
    neighbours: Vec<u32>,
}

impl Csr {
    /// Rows from `(row, neighbour)` pairs over `n` nodes (a counting sort:
    /// neighbours keep the order the pairs came in).
    fn from_pairs(n: usize, pairs: impl Iterator<Item = (u32, u32)> + Clone) -> Self {
        let mut offsets = vec![0usize; n + 1];
        for (row, _) in pairs.clone() {
            offsets[row as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut neighbours = vec![0u32; offsets[n]];
        for (row, nb) in pairs {
            neighbours[fill[row as usize]] = nb;
            fill[row as usize] += 1;
        }
        Self { offsets, neighbours }
    }

    /// Number of rows (nodes).
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of stored edges.
    pub fn edge_count(&self) -> usize {
        self.neighbours.len()
    }

    /// The neighbours of row `i`.
    pub fn row(&self, i: usize) -> &[u32] {
        &self.neighbours[self.offsets[i]..self.offsets[i + 1]]
    }
}

/// The message graph of a GraphSAGE model: for each node the neighbours it
/// aggregates (`incoming`), and the transpose (`outgoing`) that carries
/// gradients back — built on first use, since inference never needs it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Adjacency {
    incoming: Csr,
    #[serde(skip)]
    outgoing: OnceLock<Csr>,
}

impl PartialEq for Adjacency {
    fn eq(&self, other: &Self) -> bool {
        self.incoming == other.incoming
    }
}

impl Eq for Adjacency {}

impl Adjacency {
    /// From directed edges `s → t` over `n` nodes, messages travelling as
    /// `flow` says. Fails on an endpoint `>= n`.
    pub fn from_edges(n: usize, edges: &[(u32, u32)], flow: Flow) -> Result<Self> {
        if let Some(&(s, t)) = edges.iter().find(|&&(s, t)| s as usize >= n || t as usize >= n) {
            return Err(MlError::Shape(format!("edge {s} -> {t} names a node outside 0..{n}")));
        }
        // (receiver, sender) pairs.
        let pairs: Vec<(u32, u32)> = match flow {
            Flow::SourceToTarget => edges.iter().map(|&(s, t)| (t, s)).collect(),
            Flow::TargetToSource => edges.iter().map(|&(s, t)| (s, t)).collect(),
        };
        Ok(Self::from_receivers(n, &pairs))
    }

    /// Messages both ways along every edge (each edge counted once per
    /// direction): the usual choice for unsupervised embeddings.
    pub fn undirected(n: usize, edges: &[(u32, u32)]) -> Result<Self> {
        let both: Vec<(u32, u32)> = edges.iter().flat_map(|&(s, t)| [(s, t), (t, s)]).collect();
        Self::from_edges(n, &both, Flow::SourceToTarget)
    }

    /// From a view's edges (`a → b`: *a depends on b*), node ids as the
    /// view's: with [`Flow::SourceToTarget`] a component aggregates its
    /// dependents, with [`Flow::TargetToSource`] its dependencies.
    pub fn from_view(view: &View, flow: Flow) -> Self {
        let edges = view_edges(view);
        Self::from_edges(view.len(), &edges, flow).expect("view ids are in range")
    }

    /// Both directions of a view's edges.
    pub fn undirected_from_view(view: &View) -> Self {
        Self::undirected(view.len(), &view_edges(view)).expect("view ids are in range")
    }

    /// From incoming rows already in CSR form (offsets of length `n + 1`).
    pub(crate) fn from_incoming_rows(offsets: Vec<usize>, neighbours: Vec<u32>) -> Self {
        Self { incoming: Csr { offsets, neighbours }, outgoing: OnceLock::new() }
    }

    fn from_receivers(n: usize, pairs: &[(u32, u32)]) -> Self {
        Self { incoming: Csr::from_pairs(n, pairs.iter().copied()), outgoing: OnceLock::new() }
    }

    fn transpose(&self) -> Csr {
        let n = self.len();
        let pairs: Vec<(u32, u32)> =
            (0..n).flat_map(|r| self.incoming.row(r).iter().map(move |&s| (s, r as u32))).collect();
        Csr::from_pairs(n, pairs.into_iter())
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.incoming.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.incoming.is_empty()
    }

    /// Number of messages (edges, counted per direction they carry).
    pub fn edge_count(&self) -> usize {
        self.incoming.edge_count()
    }

    /// The nodes whose messages node `i` aggregates.
    pub fn incoming(&self, i: usize) -> &[u32] {
        self.incoming.row(i)
    }

    /// The nodes that aggregate node `i`'s message (with multiplicity).
    pub fn outgoing(&self, i: usize) -> &[u32] {
        self.outgoing.get_or_init(|| self.transpose()).row(i)
    }

    /// The subgraph on `nodes` (new ids are positions in `nodes`), keeping
    /// only messages between them.
    pub fn induced(&self, nodes: &[u32]) -> Self {
        let mut position = vec![u32::MAX; self.len()];
        for (i, &v) in nodes.iter().enumerate() {
            position[v as usize] = i as u32;
        }
        let pairs: Vec<(u32, u32)> = nodes
            .par_iter()
            .enumerate()
            .flat_map_iter(|(i, &v)| {
                let position = &position;
                self.incoming(v as usize).iter().filter_map(move |&s| {
                    let p = position[s as usize];
                    (p != u32::MAX).then_some((i as u32, p))
                })
            })
            .collect();
        Self::from_receivers(nodes.len(), &pairs)
    }
}

fn view_edges(view: &View) -> Vec<(u32, u32)> {
    (0..view.len() as u32).flat_map(|a| view.dependencies_of(a).map(move |(b, _)| (a, b))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_multiplicity_and_flow() {
        let edges = [(0, 1), (0, 1), (2, 1), (1, 0)];
        let a = Adjacency::from_edges(3, &edges, Flow::SourceToTarget).unwrap();
        assert_eq!(a.incoming(1), &[0, 0, 2]);
        assert_eq!(a.incoming(0), &[1]);
        assert_eq!(a.incoming(2), &[] as &[u32]);
        assert_eq!(a.outgoing(0), &[1, 1]);
        let r = Adjacency::from_edges(3, &edges, Flow::TargetToSource).unwrap();
        assert_eq!(r.incoming(0), &[1, 1]);
        assert!(Adjacency::from_edges(2, &edges, Flow::SourceToTarget).is_err());
        let u = Adjacency::undirected(3, &[(0, 2)]).unwrap();
        assert_eq!((u.incoming(0), u.incoming(2)), (&[2u32][..], &[0u32][..]));
        let sub = a.induced(&[1, 0]);
        assert_eq!(sub.incoming(0), &[1, 1]);
        assert_eq!(sub.incoming(1), &[0]);
    }
}
