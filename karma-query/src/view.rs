//! A read-optimised view of a snapshot: dense ids and CSR adjacency.

use std::collections::HashMap;

use karma_core::{Key, Name, Snapshot};

use crate::error::{QueryError, Result};

/// A dense component id in a [`View`]: `0..view.len()`, in key order.
pub type NodeId = u32;

/// Compressed sparse rows: the neighbours of node `n` are
/// `targets[offsets[n]..offsets[n + 1]]`, sorted, each with its edge kind.
#[derive(Clone, Debug, Default)]
pub(crate) struct Csr {
    offsets: Vec<u32>,
    targets: Vec<NodeId>,
    kinds: Vec<u16>,
}

impl Csr {
    /// Builds from `(from, to, kind)` triples over `n` nodes.
    fn build(n: usize, mut edges: Vec<(NodeId, NodeId, u16)>) -> Self {
        edges.sort_unstable();
        let mut offsets = vec![0u32; n + 1];
        for &(from, _, _) in &edges {
            offsets[from as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let targets = edges.iter().map(|&(_, to, _)| to).collect();
        let kinds = edges.iter().map(|&(_, _, k)| k).collect();
        Self { offsets, targets, kinds }
    }

    pub(crate) fn neighbours(&self, n: NodeId) -> impl Iterator<Item = (NodeId, u16)> + '_ {
        let (a, b) = (self.offsets[n as usize] as usize, self.offsets[n as usize + 1] as usize);
        self.targets[a..b].iter().copied().zip(self.kinds[a..b].iter().copied())
    }
}

/// A read-optimised, immutable view of a [`Snapshot`]: components as dense
/// `u32` ids in key order, forward (what each depends on) and reverse (what
/// depends on it) adjacency as compressed sparse rows, and a kind column.
///
/// ```
/// use karma_core::{Component, EdgeKind, Graph};
/// use karma_query::View;
///
/// let mut g = Graph::new();
/// g.insert(Component::new("Database", "orders")?)?;
/// g.insert(Component::new("Service", "api")?)?;
/// g.connect("Service/api", "Database/orders", EdgeKind::DependsOn, [])?;
/// let view = View::new(&g);
/// let db = view.id(&"Database/orders".parse()?).unwrap();
/// assert_eq!(view.dependents_of(db).count(), 1);
/// # Ok::<(), karma_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct View {
    keys: Vec<Key>,
    index: HashMap<Key, NodeId>,
    kind_of: Vec<u16>,
    kind_names: Vec<Name>,
    edge_kind_names: Vec<String>,
    forward: Csr,
    reverse: Csr,
}

impl View {
    /// Builds the view of `snapshot`.
    pub fn new(snapshot: &Snapshot) -> Self {
        let mut keys: Vec<Key> = snapshot.components().map(|c| c.key().clone()).collect();
        keys.sort_unstable();
        let index: HashMap<Key, NodeId> = keys.iter().enumerate().map(|(i, k)| (k.clone(), i as NodeId)).collect();
        let mut kind_names: Vec<Name> = Vec::new();
        let mut kind_ids: HashMap<Name, u16> = HashMap::new();
        let kind_of = keys
            .iter()
            .map(|k| {
                let kind = snapshot.get(k).map(|c| c.kind().clone()).unwrap_or_default();
                *kind_ids.entry(kind.clone()).or_insert_with(|| {
                    kind_names.push(kind);
                    (kind_names.len() - 1) as u16
                })
            })
            .collect();
        let mut edge_kind_names: Vec<String> = Vec::new();
        let mut edge_kind_ids: HashMap<String, u16> = HashMap::new();
        let mut forward = Vec::with_capacity(snapshot.edge_count());
        for e in snapshot.edges() {
            let (Some(&from), Some(&to)) = (index.get(e.from()), index.get(e.to())) else { continue };
            let label = e.kind().label().to_string();
            let kind = *edge_kind_ids.entry(label.clone()).or_insert_with(|| {
                edge_kind_names.push(label);
                (edge_kind_names.len() - 1) as u16
            });
            forward.push((from, to, kind));
        }
        let reverse_edges = forward.iter().map(|&(f, t, k)| (t, f, k)).collect();
        let n = keys.len();
        Self {
            keys,
            index,
            kind_of,
            kind_names,
            edge_kind_names,
            forward: Csr::build(n, forward),
            reverse: Csr::build(n, reverse_edges),
        }
    }

    /// The number of components.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The id of `key`.
    pub fn id(&self, key: &Key) -> Option<NodeId> {
        self.index.get(key).copied()
    }

    /// The id of `key`, or [`QueryError::UnknownComponent`].
    pub fn require(&self, key: &Key) -> Result<NodeId> {
        self.id(key).ok_or_else(|| QueryError::UnknownComponent { key: key.clone() })
    }

    /// The key of `id`.
    pub fn key(&self, id: NodeId) -> &Key {
        &self.keys[id as usize]
    }

    /// The kind of `id`.
    pub fn kind(&self, id: NodeId) -> &Name {
        &self.kind_names[self.kind_of[id as usize] as usize]
    }

    /// What `id` depends on directly (edge targets), with edge-kind labels.
    pub fn dependencies_of(&self, id: NodeId) -> impl Iterator<Item = (NodeId, &str)> + '_ {
        self.forward.neighbours(id).map(|(n, k)| (n, self.edge_kind_names[k as usize].as_str()))
    }

    /// What depends on `id` directly (edge sources), with edge-kind labels.
    pub fn dependents_of(&self, id: NodeId) -> impl Iterator<Item = (NodeId, &str)> + '_ {
        self.reverse.neighbours(id).map(|(n, k)| (n, self.edge_kind_names[k as usize].as_str()))
    }

    pub(crate) fn adjacency(&self, direction: crate::Direction) -> &Csr {
        match direction {
            crate::Direction::Dependents => &self.reverse,
            crate::Direction::Dependencies => &self.forward,
        }
    }

    pub(crate) fn edge_kind_label(&self, k: u16) -> &str {
        &self.edge_kind_names[k as usize]
    }
}
