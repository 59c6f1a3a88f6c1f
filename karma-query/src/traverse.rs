//! Transitive dependents and dependencies, with a witness path for each.

use karma_core::Key;

use crate::error::Result;
use crate::view::{NodeId, View};

/// Which way a traversal walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Towards what depends on the start (edges backwards): its dependents.
    Dependents,
    /// Towards what the start depends on (edges forwards): its dependencies.
    Dependencies,
}

/// Limits of a traversal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Traversal {
    /// Stop after this many hops (`None`: no limit).
    pub max_depth: Option<u32>,
    /// Follow only edges whose kind label is one of these (`depends-on`,
    /// `reference`, or a custom kind); `None`: every edge.
    pub edge_kinds: Option<Vec<String>>,
}

/// A component a traversal reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reached {
    /// The component.
    pub key: Key,
    /// Hops from the start (shortest).
    pub depth: u32,
    /// One shortest path from the start to it, both ends included: why it is
    /// reached.
    pub path: Vec<Key>,
}

/// Every component reachable from `start` in `direction`, nearest first (ties
/// in key order), each with its distance and one shortest witness path.
///
/// Breadth-first over the view's compressed rows with a bitset of visited
/// nodes; the start itself is not reported.
///
/// ```
/// use karma_core::{Component, EdgeKind, Graph};
/// use karma_query::{Direction, Traversal, View, reachable};
///
/// let mut g = Graph::new();
/// for name in ["db", "api", "gateway"] {
///     g.insert(Component::new("Node", name)?)?;
/// }
/// g.connect("Node/api", "Node/db", EdgeKind::DependsOn, [])?;
/// g.connect("Node/gateway", "Node/api", EdgeKind::DependsOn, [])?;
/// let view = View::new(&g);
/// let hit = reachable(&view, &"Node/db".parse()?, Direction::Dependents, &Traversal::default())?;
/// assert_eq!(hit.len(), 2);
/// assert_eq!(hit[1].path.iter().map(|k| k.as_str()).collect::<Vec<_>>(), ["Node/db", "Node/api", "Node/gateway"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn reachable(view: &View, start: &Key, direction: Direction, limits: &Traversal) -> Result<Vec<Reached>> {
    let start = view.require(start)?;
    let rows = view.adjacency(direction);
    let n = view.len();
    let mut visited = vec![0u64; n.div_ceil(64)];
    let mut parent: Vec<NodeId> = vec![NodeId::MAX; n];
    let mut depth_of: Vec<u32> = vec![0; n];
    let mark = |visited: &mut Vec<u64>, id: NodeId| {
        let (w, b) = (id as usize / 64, id % 64);
        let seen = visited[w] & (1 << b) != 0;
        visited[w] |= 1 << b;
        seen
    };
    mark(&mut visited, start);
    let mut order: Vec<NodeId> = Vec::new();
    let mut frontier = vec![start];
    let mut depth = 0;
    while !frontier.is_empty() && limits.max_depth.is_none_or(|m| depth < m) {
        depth += 1;
        let mut next = Vec::new();
        for &node in &frontier {
            for (to, kind) in rows.neighbours(node) {
                if let Some(kinds) = &limits.edge_kinds
                    && !kinds.iter().any(|k| k == view.edge_kind_label(kind))
                {
                    continue;
                }
                if !mark(&mut visited, to) {
                    parent[to as usize] = node;
                    depth_of[to as usize] = depth;
                    next.push(to);
                }
            }
        }
        next.sort_unstable();
        order.extend(&next);
        frontier = next;
    }
    Ok(order
        .into_iter()
        .map(|id| {
            let mut path = vec![view.key(id).clone()];
            let mut at = id;
            while at != start {
                at = parent[at as usize];
                path.push(view.key(at).clone());
            }
            path.reverse();
            Reached { key: view.key(id).clone(), depth: depth_of[id as usize], path }
        })
        .collect())
}
