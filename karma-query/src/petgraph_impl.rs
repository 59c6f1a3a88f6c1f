//! petgraph's visit traits for [`View`], so petgraph's algorithms (`Bfs`,
//! `Dfs`, `dijkstra`, `toposort`, `tarjan_scc`, …) run on a view directly.
//! Edges point from dependent to dependency; wrap in
//! [`petgraph::visit::Reversed`] to walk towards dependents.

use fixedbitset::FixedBitSet;
use petgraph::Direction as PgDirection;
use petgraph::visit::{
    Data, EdgeCount, EdgeRef, GraphBase, GraphProp, IntoEdgeReferences, IntoEdges, IntoEdgesDirected, IntoNeighbors,
    IntoNeighborsDirected, IntoNodeIdentifiers, NodeCompactIndexable, NodeCount, NodeIndexable, Visitable,
};

use crate::view::{NodeId, View};

/// An edge of a [`View`] as petgraph sees it: its forward position is its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewEdge {
    source: NodeId,
    target: NodeId,
    id: u32,
}

impl EdgeRef for ViewEdge {
    type NodeId = NodeId;
    type EdgeId = u32;
    type Weight = ();
    fn source(&self) -> NodeId {
        self.source
    }
    fn target(&self) -> NodeId {
        self.target
    }
    fn weight(&self) -> &() {
        &()
    }
    fn id(&self) -> u32 {
        self.id
    }
}

impl GraphBase for View {
    type NodeId = NodeId;
    type EdgeId = u32;
}

impl Data for View {
    type NodeWeight = ();
    type EdgeWeight = ();
}

impl GraphProp for &View {
    type EdgeType = petgraph::Directed;
}

impl NodeCount for &View {
    fn node_count(&self) -> usize {
        self.len()
    }
}

impl EdgeCount for &View {
    fn edge_count(&self) -> usize {
        View::edge_count(self)
    }
}

impl NodeIndexable for &View {
    fn node_bound(&self) -> usize {
        self.len()
    }
    fn to_index(&self, a: NodeId) -> usize {
        a as usize
    }
    fn from_index(&self, i: usize) -> NodeId {
        i as NodeId
    }
}

impl NodeCompactIndexable for &View {}

impl Visitable for &View {
    type Map = FixedBitSet;
    fn visit_map(&self) -> FixedBitSet {
        FixedBitSet::with_capacity(self.len())
    }
    fn reset_map(&self, map: &mut FixedBitSet) {
        map.clear();
        map.grow(self.len());
    }
}

impl<'a> IntoNeighbors for &'a View {
    type Neighbors = std::iter::Copied<std::slice::Iter<'a, NodeId>>;
    fn neighbors(self, a: NodeId) -> Self::Neighbors {
        self.forward.row(a).iter().copied()
    }
}

impl<'a> IntoNeighborsDirected for &'a View {
    type NeighborsDirected = std::iter::Copied<std::slice::Iter<'a, NodeId>>;
    fn neighbors_directed(self, a: NodeId, d: PgDirection) -> Self::NeighborsDirected {
        match d {
            PgDirection::Outgoing => self.forward.row(a).iter().copied(),
            PgDirection::Incoming => self.reverse.row(a).iter().copied(),
        }
    }
}

impl IntoNodeIdentifiers for &View {
    type NodeIdentifiers = std::ops::Range<NodeId>;
    fn node_identifiers(self) -> Self::NodeIdentifiers {
        self.ids()
    }
}

/// The edges of one node, or of all.
pub struct ViewEdges<'a> {
    view: &'a View,
    /// The node whose row is walked, for all-edges iteration the current row.
    node: NodeId,
    pos: usize,
    end: usize,
    /// `None`: one row only; `Some(last)`: continue rows up to `last`.
    all: bool,
    incoming: bool,
}

impl Iterator for ViewEdges<'_> {
    type Item = ViewEdge;
    fn next(&mut self) -> Option<ViewEdge> {
        let rows = if self.incoming { &self.view.reverse } else { &self.view.forward };
        loop {
            if self.pos < self.end {
                let pos = self.pos;
                self.pos += 1;
                let other = rows.targets[pos];
                return Some(if self.incoming {
                    // The forward position of (other → node): find it in other's row.
                    // Parallel edges of several kinds sit side by side in both rows, in the same order.
                    let start = rows.range(self.node).start;
                    let earlier = rows.targets[start..pos].iter().rev().take_while(|&&t| t == other).count();
                    let id = self.view.forward.range(other).start
                        + self.view.forward.row(other).partition_point(|&t| t < self.node)
                        + earlier;
                    ViewEdge { source: other, target: self.node, id: id as u32 }
                } else {
                    ViewEdge { source: self.node, target: other, id: pos as u32 }
                });
            }
            if !self.all || self.node as usize + 1 >= self.view.len() {
                return None;
            }
            self.node += 1;
            let r = rows.range(self.node);
            (self.pos, self.end) = (r.start, r.end);
        }
    }
}

impl<'a> ViewEdges<'a> {
    fn row(view: &'a View, node: NodeId, incoming: bool) -> Self {
        let r = if incoming { view.reverse.range(node) } else { view.forward.range(node) };
        Self { view, node, pos: r.start, end: r.end, all: false, incoming }
    }
}

impl<'a> IntoEdgeReferences for &'a View {
    type EdgeRef = ViewEdge;
    type EdgeReferences = ViewEdges<'a>;
    fn edge_references(self) -> ViewEdges<'a> {
        if self.is_empty() {
            return ViewEdges { view: self, node: 0, pos: 0, end: 0, all: false, incoming: false };
        }
        let mut edges = ViewEdges::row(self, 0, false);
        edges.all = true;
        edges
    }
}

impl<'a> IntoEdges for &'a View {
    type Edges = ViewEdges<'a>;
    fn edges(self, a: NodeId) -> ViewEdges<'a> {
        ViewEdges::row(self, a, false)
    }
}

impl<'a> IntoEdgesDirected for &'a View {
    type EdgesDirected = ViewEdges<'a>;
    fn edges_directed(self, a: NodeId, d: PgDirection) -> ViewEdges<'a> {
        ViewEdges::row(self, a, d == PgDirection::Incoming)
    }
}
