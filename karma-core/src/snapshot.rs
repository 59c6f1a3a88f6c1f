//! Snapshots: immutable, cheap, hashed states of a graph.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::component::Component;
use crate::delta::Delta;
use crate::edge::{Edge, EdgeId};
use crate::error::{Error, Result};
use crate::hash::{Canonical, ContentHash};
use crate::key::{Key, Name};
use crate::schema::Schema;
use crate::trie::{NestedShard, Trie, TrieKey, TrieValue};

impl TrieKey for Key {
    fn trie_hash(&self) -> u64 {
        self.stable_hash()
    }
    fn write_key(&self, c: &mut Canonical) {
        c.str(self.as_str());
    }
}

impl TrieKey for EdgeId {
    fn trie_hash(&self) -> u64 {
        self.stable_hash()
    }
    fn write_key(&self, c: &mut Canonical) {
        self.write_canonical(c);
    }
}

impl TrieValue for Arc<Component> {
    fn merkle(&self) -> ContentHash {
        self.content_hash()
    }
}

impl TrieValue for Arc<Edge> {
    fn merkle(&self) -> ContentHash {
        self.content_hash()
    }
}

/// The snapshot root hash from its parts' hashes.
pub(crate) fn root_hash_of<'a>(
    components: &ContentHash,
    edges: &ContentHash,
    schemas: impl ExactSizeIterator<Item = &'a Schema>,
) -> ContentHash {
    let mut c = Canonical::new("karma.snapshot.v1");
    c.hash(components).hash(edges);
    c.u64(schemas.len() as u64);
    for schema in schemas {
        c.hash(&schema.content_hash());
    }
    c.finish()
}

/// Outgoing edges of one component, by id.
pub(crate) type EdgeSet = Trie<EdgeId, Arc<Edge>>;
/// Ids of the edges into one component.
pub(crate) type IncomingSet = Trie<EdgeId, ()>;

/// An immutable state of a graph: its components, edges and schemas.
///
/// Taking one from a [`Graph`](crate::Graph) is O(1) whatever the graph's
/// size: it shares structure with the graph, which copies only the paths it
/// changes afterwards. Its [`root_hash`](Snapshot::root_hash) is a Merkle hash
/// of the whole content, so equal hashes mean equal content, and
/// [`diff`](Snapshot::diff) skips every subtree the two snapshots share.
///
/// ```
/// use karma_core::{Component, Graph};
///
/// let mut graph = Graph::new();
/// graph.insert(Component::new("Database", "orders")?.with_param("port", 5432))?;
/// let before = graph.snapshot();
/// graph.set_param("Database/orders", "port", 6432)?;
/// let after = graph.snapshot();
///
/// let delta = before.diff(&after);
/// assert_eq!(delta.len(), 1);
/// assert_eq!(before.apply(&delta)?.root_hash(), after.root_hash());
/// # Ok::<(), karma_core::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Snapshot {
    pub(crate) components: Trie<Key, Arc<Component>>,
    /// Outgoing edges, by the dependent's key. No empty sets are kept.
    pub(crate) edges: Trie<Key, EdgeSet>,
    /// Incoming edge ids, by the dependency's key. No empty sets are kept.
    pub(crate) incoming: Trie<Key, IncomingSet>,
    pub(crate) edge_count: usize,
    pub(crate) schemas: Arc<BTreeMap<Name, Arc<Schema>>>,
}

impl Snapshot {
    /// The number of components.
    pub fn len(&self) -> usize {
        self.components.len()
    }

    /// Whether there are no components.
    pub fn is_empty(&self) -> bool {
        self.components.len() == 0
    }

    /// The number of edges (reference edges included).
    pub fn edge_count(&self) -> usize {
        self.edge_count
    }

    /// The component under `key`.
    pub fn get(&self, key: &Key) -> Option<&Component> {
        self.components.get(key).map(|c| &**c)
    }

    /// The component under `key`, shared.
    pub fn get_arc(&self, key: &Key) -> Option<&Arc<Component>> {
        self.components.get(key)
    }

    /// Whether a component has this key.
    pub fn contains(&self, key: &Key) -> bool {
        self.components.contains(key)
    }

    /// Every component, in no particular order (fast).
    pub fn components(&self) -> impl ExactSizeIterator<Item = &Component> + '_ {
        self.components.iter().map(|(_, c)| &**c)
    }

    /// Every component as its shared `Arc`, in no particular order: for
    /// indexes that keep components without copying them.
    pub fn component_arcs(&self) -> impl ExactSizeIterator<Item = &Arc<Component>> + '_ {
        self.components.iter().map(|(_, c)| c)
    }

    /// Every component, sorted by key.
    pub fn components_sorted(&self) -> Vec<&Component> {
        self.components.sorted().into_iter().map(|(_, c)| &**c).collect()
    }

    /// Every edge, in no particular order.
    pub fn edges(&self) -> impl Iterator<Item = &Edge> + '_ {
        self.edges.iter().flat_map(|(_, set)| set.iter().map(|(_, e)| &**e))
    }

    /// Every component's outgoing edges, grouped by the dependent's key, in
    /// no particular order: one pass over the edges without a lookup per
    /// component (components without edges are skipped).
    pub fn edges_by_source(&self) -> impl Iterator<Item = (&Key, impl Iterator<Item = &Edge> + '_)> + '_ {
        self.edges.iter().map(|(from, set)| (from, set.iter().map(|(_, e)| &**e)))
    }

    /// The ids of every component's outgoing edges, grouped by source and
    /// split into up to 32 disjoint parts, to be walked from several
    /// threads. Ids are stored inline, so this reads no edge records: the
    /// fast way to index the graph's structure.
    pub fn edge_ids_by_source_sharded(
        &self,
    ) -> impl Iterator<Item = impl Iterator<Item = (&Key, impl Iterator<Item = &EdgeId> + '_)> + Send + '_> + '_ {
        self.edges.shards().map(|shard| NestedShard::new(shard).map(|(from, set)| (from, set.map(|(id, _)| id))))
    }

    /// [`component_arcs`](Self::component_arcs) with their keys, split into
    /// up to 32 disjoint parts, to be walked from several threads. The keys
    /// are stored inline in the trie, so reading them reads no component.
    pub fn component_arcs_sharded(
        &self,
    ) -> impl Iterator<Item = impl Iterator<Item = (&Key, &Arc<Component>)> + Send + '_> + '_ {
        self.components.shards()
    }

    /// Every edge, sorted by (from, to, kind).
    pub fn edges_sorted(&self) -> Vec<&Edge> {
        let mut all: Vec<&Edge> = self.edges().collect();
        all.sort_unstable_by(|a, b| a.id().cmp(b.id()));
        all
    }

    /// The edge with this id.
    pub fn edge(&self, id: &EdgeId) -> Option<&Edge> {
        self.edges.get(&id.from)?.get(id).map(|e| &**e)
    }

    /// Edges out of `key` (what it depends on).
    pub fn edges_from(&self, key: &Key) -> impl Iterator<Item = &Edge> + '_ {
        self.edges.get(key).into_iter().flat_map(|set| set.iter().map(|(_, e)| &**e))
    }

    /// Edges into `key` (what depends on it).
    pub fn edges_to<'a>(&'a self, key: &Key) -> impl Iterator<Item = &'a Edge> + 'a {
        self.incoming.get(key).into_iter().flat_map(move |set| set.iter().filter_map(move |(id, ())| self.edge(id)))
    }

    /// The direct dependencies of `key`, sorted, without duplicates.
    pub fn dependencies(&self, key: &Key) -> Vec<&Key> {
        let mut keys: Vec<&Key> = self.edges_from(key).map(Edge::to).collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// The direct dependents of `key`, sorted, without duplicates.
    pub fn dependents(&self, key: &Key) -> Vec<&Key> {
        let mut keys: Vec<&Key> =
            self.incoming.get(key).into_iter().flat_map(|set| set.iter().map(|(id, ())| &id.from)).collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// The registered schema of `kind`.
    pub fn schema(&self, kind: &str) -> Option<&Schema> {
        self.schemas.get(kind).map(|s| &**s)
    }

    /// Every registered schema, by kind.
    pub fn schemas(&self) -> impl Iterator<Item = &Schema> + '_ {
        self.schemas.values().map(|s| &**s)
    }

    /// The Merkle root hash of the whole content (components, edges and
    /// schemas). Computed lazily; parts shared with a snapshot whose hash was
    /// computed before are not hashed again.
    pub fn root_hash(&self) -> ContentHash {
        root_hash_of(&self.components.root_hash(), &self.edges.root_hash(), self.schemas.values().map(|s| &**s))
    }

    /// A snapshot of these components and schemas, without edges.
    pub(crate) fn from_parts(components: Trie<Key, Arc<Component>>, schemas: impl Iterator<Item = Schema>) -> Self {
        Self {
            components,
            schemas: Arc::new(schemas.map(|s| (s.kind.clone(), Arc::new(s))).collect()),
            ..Self::default()
        }
    }

    /// Installs the outgoing edge trie and rebuilds the incoming index.
    pub(crate) fn set_edges(&mut self, edges: Trie<Key, EdgeSet>) {
        let mut incoming: Trie<Key, IncomingSet> = Trie::default();
        let mut count = 0;
        for (_, set) in edges.iter() {
            for (id, _) in set.iter() {
                count += 1;
                if let Some(inc) = incoming.get_mut(&id.to) {
                    inc.insert(id.clone(), ());
                } else {
                    let mut inc = IncomingSet::default();
                    inc.insert(id.clone(), ());
                    incoming.insert(id.to.clone(), inc);
                }
            }
        }
        self.edges = edges;
        self.incoming = incoming;
        self.edge_count = count;
    }

    /// What changed from `self` to `other`. Costs O(changes), not O(size),
    /// when the two share structure or have computed hashes.
    pub fn diff(&self, other: &Self) -> Delta {
        crate::delta::diff(self, other)
    }

    /// The snapshot `delta` leads to from this one, or
    /// [`Error::DeltaConflict`] if its "before" side does not match.
    pub fn apply(&self, delta: &Delta) -> Result<Self> {
        let mut next = self.clone();
        crate::delta::apply(&mut next, delta)?;
        Ok(next)
    }

    /// Encodes with bincode 2 (compact, for storage). The encoding carries
    /// the root hash, checked on decoding.
    pub fn to_bincode(&self) -> Result<Vec<u8>> {
        crate::codec::to_bincode(self)
    }

    /// Decodes what [`Snapshot::to_bincode`] wrote, verifying its root hash.
    pub fn from_bincode(bytes: &[u8]) -> Result<Self> {
        crate::codec::from_bincode(bytes)
    }

    /// Encodes as pretty JSON (for people). Carries the root hash too.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Codec(e.to_string()))
    }

    /// Decodes JSON written by [`Snapshot::to_json`] (the root hash, if
    /// present, must match).
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| Error::Codec(e.to_string()))
    }

    // ---- raw edits shared by the graph and delta application ----

    pub(crate) fn put_edge(&mut self, edge: Arc<Edge>) -> Option<Arc<Edge>> {
        let id = edge.id().clone();
        let old = if let Some(set) = self.edges.get_mut(&id.from) {
            set.insert(id.clone(), edge)
        } else {
            let mut set = EdgeSet::default();
            set.insert(id.clone(), edge);
            self.edges.insert(id.from.clone(), set);
            None
        };
        if old.is_none() {
            if let Some(set) = self.incoming.get_mut(&id.to) {
                set.insert(id, ());
            } else {
                let mut set = IncomingSet::default();
                set.insert(id.clone(), ());
                self.incoming.insert(id.to, set);
            }
            self.edge_count += 1;
        }
        old
    }

    pub(crate) fn take_edge(&mut self, id: &EdgeId) -> Option<Arc<Edge>> {
        let set = self.edges.get_mut(&id.from)?;
        let old = set.remove(id)?;
        if set.len() == 0 {
            self.edges.remove(&id.from);
        }
        if let Some(inc) = self.incoming.get_mut(&id.to) {
            inc.remove(id);
            if inc.len() == 0 {
                self.incoming.remove(&id.to);
            }
        }
        self.edge_count -= 1;
        Some(old)
    }

    /// Ids of every edge touching `key`, out and in.
    pub(crate) fn edge_ids_touching(&self, key: &Key) -> Vec<EdgeId> {
        let mut ids: Vec<EdgeId> = self.edges_from(key).map(|e| e.id().clone()).collect();
        if let Some(set) = self.incoming.get(key) {
            ids.extend(set.iter().map(|(id, ())| id.clone()));
        }
        ids
    }
}

impl PartialEq for Snapshot {
    /// Equal content: same components, edges and schemas.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.edge_count == other.edge_count
            && self.schemas == other.schemas
            && self.diff(other).is_empty()
    }
}

impl Eq for Snapshot {}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("components", &self.len())
            .field("edges", &self.edge_count)
            .field("schemas", &self.schemas.len())
            .finish_non_exhaustive()
    }
}

/// The serialized form: sorted lists, plus the root hash for verification.
#[derive(Serialize, Deserialize)]
struct SnapshotRepr<'a> {
    format: u32,
    #[serde(default)]
    root_hash: Option<ContentHash>,
    #[serde(default)]
    schemas: Vec<std::borrow::Cow<'a, Schema>>,
    #[serde(default)]
    components: Vec<std::borrow::Cow<'a, Component>>,
    #[serde(default)]
    edges: Vec<std::borrow::Cow<'a, Edge>>,
}

const FORMAT: u32 = 1;

impl Serialize for Snapshot {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SnapshotRepr {
            format: FORMAT,
            root_hash: Some(self.root_hash()),
            schemas: self.schemas.values().map(|s| std::borrow::Cow::Borrowed(&**s)).collect(),
            components: self.components_sorted().into_iter().map(std::borrow::Cow::Borrowed).collect(),
            edges: self.edges_sorted().into_iter().map(std::borrow::Cow::Borrowed).collect(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Snapshot {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let repr = SnapshotRepr::deserialize(deserializer)?;
        Snapshot::from_repr(repr).map_err(serde::de::Error::custom)
    }
}

impl Snapshot {
    fn from_repr(repr: SnapshotRepr<'_>) -> Result<Self> {
        if repr.format != FORMAT {
            return Err(Error::Codec(format!("unsupported snapshot format {}", repr.format)));
        }
        let mut snap = Self::default();
        let mut schemas = BTreeMap::new();
        for schema in repr.schemas {
            let schema = schema.into_owned();
            if schemas.insert(schema.kind.clone(), Arc::new(schema)).is_some() {
                return Err(Error::Codec("two schemas for one kind".into()));
            }
        }
        snap.schemas = Arc::new(schemas);
        for c in repr.components {
            let c = c.into_owned();
            let key = c.key().clone();
            if snap.components.insert(key.clone(), Arc::new(c)).is_some() {
                return Err(Error::Codec(format!("component {key} appears twice")));
            }
        }
        for e in repr.edges {
            let e = e.into_owned();
            if !snap.contains(e.from()) || !snap.contains(e.to()) {
                return Err(Error::Codec(format!("edge {} joins a missing component", e.id())));
            }
            let id = e.id().clone();
            if snap.put_edge(Arc::new(e)).is_some() {
                return Err(Error::Codec(format!("edge {id} appears twice")));
            }
        }
        if let Some(expected) = repr.root_hash {
            let actual = snap.root_hash();
            if actual != expected {
                return Err(Error::Codec(format!(
                    "snapshot is corrupt: root hash {actual} does not match the recorded {expected}"
                )));
            }
        }
        Ok(snap)
    }
}
