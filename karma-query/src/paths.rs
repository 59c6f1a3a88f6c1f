//! Paths between selections: shortest by hops or by weight, k shortest
//! simple paths, and every component on some path.

use std::borrow::Cow;
use std::collections::HashSet;

use karma_core::Key;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::radix::RadixHeap;
use crate::select::Selector;
use crate::traverse::{Direction, Traversal};
use crate::view::{Csr, EdgeWeights, NodeId, View};

/// A path through the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Path {
    /// The components along it, both ends included.
    pub keys: Vec<Key>,
    /// Its length: hops, or the sum of edge weights for a weighted search.
    pub cost: f64,
}

impl Path {
    fn of(view: &View, ids: &[NodeId], cost: f64) -> Self {
        Self { keys: ids.iter().map(|&id| view.key(id).clone()).collect(), cost }
    }
}

/// Per-position weights for walking `direction`: the forward weights, or
/// the same weights laid out along the reverse rows.
fn directed_weights<'w>(view: &View, weights: &'w EdgeWeights, direction: Direction) -> Cow<'w, [f64]> {
    match direction {
        Direction::Dependencies => Cow::Borrowed(&weights.weights),
        Direction::Dependents => {
            let n = view.len();
            let mut fill: Vec<u32> = view.reverse.offsets[..n].to_vec();
            let mut out = vec![0.0; weights.weights.len()];
            for from in 0..n as NodeId {
                for pos in view.forward.range(from) {
                    let to = view.forward.targets[pos] as usize;
                    out[fill[to] as usize] = weights.weights[pos];
                    fill[to] += 1;
                }
            }
            Cow::Owned(out)
        }
    }
}

/// Single- or multi-source shortest distances by weight: see
/// [`View::dijkstra`].
#[derive(Clone, Debug)]
pub struct Distances {
    dist: Vec<f64>,
    parent: Vec<NodeId>,
}

impl Distances {
    /// The distance to `id`, if reached.
    pub fn distance(&self, id: NodeId) -> Option<f64> {
        self.dist.get(id as usize).copied().filter(|d| d.is_finite())
    }

    /// One shortest path from a source to `id` (empty if unreached).
    pub fn path(&self, id: NodeId) -> Vec<NodeId> {
        if self.distance(id).is_none() {
            return Vec::new();
        }
        let mut path = vec![id];
        let mut at = id;
        while self.parent[at as usize] != at {
            at = self.parent[at as usize];
            path.push(at);
        }
        path.reverse();
        path
    }

    /// How many nodes were reached, sources included.
    pub fn reached(&self) -> usize {
        self.dist.par_iter().filter(|d| d.is_finite()).count()
    }
}

impl View {
    /// Dijkstra from `sources` over the whole graph in `direction`, with
    /// `weights` (see [`View::edge_weights`]).
    pub fn dijkstra(&self, sources: &[NodeId], direction: Direction, weights: &EdgeWeights) -> Distances {
        let (rows, _) = self.adjacency(direction);
        let w = directed_weights(self, weights, direction);
        let (dist, parent) = dijkstra_inner(rows, &w, sources, |_| false, |_, _| false, None);
        Distances { dist, parent }
    }
}

/// Dijkstra over `rows` with per-position weights; `banned_node` and
/// `banned_edge(from, to)` exclude parts of the graph (for Yen's
/// algorithm); stops early once a node of `targets` is settled.
fn dijkstra_inner(
    rows: &Csr,
    weights: &[f64],
    sources: &[NodeId],
    banned_node: impl Fn(NodeId) -> bool,
    banned_edge: impl Fn(NodeId, NodeId) -> bool,
    targets: Option<&[bool]>,
) -> (Vec<f64>, Vec<NodeId>) {
    let n = rows.offsets.len() - 1;
    let mut dist = vec![f64::INFINITY; n];
    let mut parent = vec![NodeId::MAX; n];
    // A monotone queue of (distance bits, node): non-negative floats order
    // like their bit patterns, and no relaxation goes below the distance
    // just settled (weights are checked non-negative), so a radix heap serves.
    let mut heap: RadixHeap<NodeId> = RadixHeap::new();
    for &s in sources {
        if !banned_node(s) {
            dist[s as usize] = 0.0;
            parent[s as usize] = s;
            heap.push(0.0f64.to_bits(), s);
        }
    }
    while let Some((bits, u)) = heap.pop() {
        let d = f64::from_bits(bits);
        if d > dist[u as usize] {
            continue;
        }
        if targets.is_some_and(|t| t[u as usize]) {
            break;
        }
        for pos in rows.range(u) {
            let v = rows.targets[pos];
            if banned_node(v) || banned_edge(u, v) {
                continue;
            }
            let nd = d + weights[pos];
            if nd < dist[v as usize] {
                dist[v as usize] = nd;
                parent[v as usize] = u;
                heap.push(nd.to_bits(), v);
            }
        }
    }
    (dist, parent)
}

/// Breadth-first search from `sources` until the first level holding a
/// target; returns the nearest target's path (ties: lowest id).
fn bfs_to_target(rows: &Csr, sources: &[NodeId], targets: &[bool]) -> Option<Vec<NodeId>> {
    let n = rows.offsets.len() - 1;
    let mut parent = vec![NodeId::MAX; n];
    let mut frontier: Vec<NodeId> = Vec::new();
    for &s in sources {
        if parent[s as usize] == NodeId::MAX {
            parent[s as usize] = s;
            frontier.push(s);
        }
    }
    let walk = |parent: &[NodeId], mut at: NodeId| {
        let mut path = vec![at];
        while parent[at as usize] != at {
            at = parent[at as usize];
            path.push(at);
        }
        path.reverse();
        path
    };
    while !frontier.is_empty() {
        if let Some(&hit) = frontier.iter().filter(|&&v| targets[v as usize]).min() {
            return Some(walk(&parent, hit));
        }
        let mut next = Vec::new();
        for &u in &frontier {
            for &v in rows.row(u) {
                if parent[v as usize] == NodeId::MAX {
                    parent[v as usize] = u;
                    next.push(v);
                }
            }
        }
        frontier = next;
    }
    None
}

/// The shortest path from any component `from` selects to any `to`
/// selects, walking `direction` (`Dependents`: from a producer to what
/// consumes it, the way data flows), by hops or, with `weights`, by the
/// sum of edge weights. A component selected by both is a path of length 0.
///
/// ```
/// use karma_core::{Component, EdgeKind, Graph};
/// use karma_query::{Direction, Selector, View, shortest_path};
///
/// let mut g = Graph::new();
/// g.insert(Component::new("DataSource", "events")?)?;
/// g.insert(Component::new("Pipeline", "etl")?)?;
/// g.insert(Component::new("Api", "public")?.with_label("public", "true"))?;
/// g.connect("Pipeline/etl", "DataSource/events", EdgeKind::DependsOn, [])?;
/// g.connect("Api/public", "Pipeline/etl", EdgeKind::DependsOn, [])?;
/// let view = View::new(&g);
/// let path = shortest_path(&view, &Selector::kind("DataSource"), &Selector::has_label("public"), None)?.unwrap();
/// assert_eq!(path.keys.len(), 3);
/// assert_eq!(path.cost, 2.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn shortest_path(
    view: &View,
    from: &Selector,
    to: &Selector,
    weights: Option<&EdgeWeights>,
) -> Result<Option<Path>> {
    shortest_path_directed(view, from, to, Direction::Dependents, weights)
}

/// [`shortest_path`] walking a chosen direction.
pub fn shortest_path_directed(
    view: &View,
    from: &Selector,
    to: &Selector,
    direction: Direction,
    weights: Option<&EdgeWeights>,
) -> Result<Option<Path>> {
    let sources = from.select(view);
    let targets = to.mask(view);
    let (rows, _) = view.adjacency(direction);
    Ok(match weights {
        None => bfs_to_target(rows, &sources, &targets).map(|p| {
            let cost = (p.len() - 1) as f64;
            Path::of(view, &p, cost)
        }),
        Some(weights) => {
            let w = directed_weights(view, weights, direction);
            let (dist, parent) = dijkstra_inner(rows, &w, &sources, |_| false, |_, _| false, Some(&targets));
            nearest_target(&dist, &targets).map(|t| {
                let d = Distances { dist, parent };
                Path::of(view, &d.path(t), d.dist[t as usize])
            })
        }
    })
}

fn nearest_target(dist: &[f64], targets: &[bool]) -> Option<NodeId> {
    (0..dist.len())
        .filter(|&i| targets[i] && dist[i].is_finite())
        .min_by(|&a, &b| dist[a].total_cmp(&dist[b]).then(a.cmp(&b)))
        .map(|i| i as NodeId)
}

/// Up to `k` shortest simple paths (no repeated component) from any
/// component `from` selects to any `to` selects, walking `direction`, by
/// hops or weight; cheapest first (Yen's algorithm).
pub fn k_shortest_paths(
    view: &View,
    from: &Selector,
    to: &Selector,
    k: usize,
    direction: Direction,
    weights: Option<&EdgeWeights>,
) -> Result<Vec<Path>> {
    let sources = from.select(view);
    let targets = to.mask(view);
    let (rows, _) = view.adjacency(direction);
    let w = match weights {
        Some(weights) => directed_weights(view, weights, direction),
        None => Cow::Owned(vec![1.0; rows.edge_count()]),
    };
    let cost_of = |path: &[NodeId]| -> f64 {
        path.windows(2)
            .map(|pair| {
                // Parallel edges of several kinds: the cheapest one counts.
                rows.range(pair[0])
                    .filter(|&pos| rows.targets[pos] == pair[1])
                    .map(|pos| w[pos])
                    .fold(f64::INFINITY, f64::min)
            })
            .sum()
    };
    let search = |starts: &[NodeId], banned_nodes: &HashSet<NodeId>, banned_edges: &HashSet<(NodeId, NodeId)>| {
        let (dist, parent) = dijkstra_inner(
            rows,
            &w,
            starts,
            |v| banned_nodes.contains(&v),
            |a, b| banned_edges.contains(&(a, b)),
            Some(&targets),
        );
        nearest_target(&dist, &targets).map(|t| Distances { dist, parent }.path(t))
    };
    let mut found: Vec<Vec<NodeId>> = Vec::new();
    let Some(first) = search(&sources, &HashSet::new(), &HashSet::new()) else { return Ok(Vec::new()) };
    found.push(first);
    let mut candidates: Vec<(f64, Vec<NodeId>)> = Vec::new();
    while found.len() < k {
        let last = found.last().expect("at least one").clone();
        // Spur from the virtual start (another source) and from each node.
        for i in 0..last.len() {
            let root = &last[..i];
            let mut banned_edges = HashSet::new();
            let mut banned_starts = HashSet::new();
            for p in &found {
                if p.len() > i && p[..i] == *root {
                    if i == 0 {
                        banned_starts.insert(p[0]);
                    } else {
                        banned_edges.insert((p[i - 1], p[i]));
                    }
                }
            }
            let banned_nodes: HashSet<NodeId> = root.iter().take(i.saturating_sub(1)).copied().collect();
            let spur = if i == 0 {
                let starts: Vec<NodeId> = sources.iter().copied().filter(|s| !banned_starts.contains(s)).collect();
                search(&starts, &banned_nodes, &banned_edges)
            } else {
                search(&[last[i - 1]], &banned_nodes, &banned_edges).map(|mut p| {
                    let mut full = root[..i - 1].to_vec();
                    full.append(&mut p);
                    full
                })
            };
            if let Some(path) = spur {
                let simple = path.iter().collect::<HashSet<_>>().len() == path.len();
                if simple && !found.contains(&path) && !candidates.iter().any(|(_, c)| *c == path) {
                    candidates.push((cost_of(&path), path));
                }
            }
        }
        let Some(best) = candidates
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.0.total_cmp(&b.1.0).then_with(|| a.1.1.cmp(&b.1.1)))
            .map(|(i, _)| i)
        else {
            break;
        };
        found.push(candidates.swap_remove(best).1);
    }
    Ok(found.iter().map(|p| Path::of(view, p, cost_of(p))).collect())
}

/// Every component lying on some path from a component `from` selects to
/// one `to` selects, walking `direction` (both ends included), in key
/// order: reachable from the first set and reaching the second.
pub fn on_paths_between(view: &View, from: &Selector, to: &Selector, direction: Direction) -> Result<Vec<Key>> {
    let sources = from.select(view);
    let targets = to.select(view);
    let forward = view.reach(&sources, direction, &Traversal::default());
    let backward = view.reach(&targets, direction.reversed(), &Traversal::default());
    Ok(view
        .ids()
        .into_par_iter()
        .filter(|&id| forward.seen(id) && backward.seen(id))
        .map(|id| view.key(id).clone())
        .collect())
}
