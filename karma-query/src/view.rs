//! A read-optimised view of a snapshot: dense ids and CSR adjacency.

use std::sync::{Arc, Mutex};

use karma_core::{Component, Edge, EdgeKind, Key, Name, SmolStr, Snapshot, Value};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::error::{QueryError, Result};

/// A dense component id in a [`View`]: `0..view.len()`, in key order.
pub type NodeId = u32;

/// The edge kinds every view knows, with fixed ids.
const DEPENDS_ON: u16 = 0;
const REFERENCE: u16 = 1;

/// Compressed sparse rows: the neighbours of node `n` are
/// `targets[offsets[n]..offsets[n + 1]]`, sorted by (neighbour, edge kind).
/// Edge kinds are stored only when the graph has more than one.
#[derive(Clone, Debug, Default)]
pub(crate) struct Csr {
    pub(crate) offsets: Vec<u32>,
    pub(crate) targets: Vec<NodeId>,
    pub(crate) kinds: Option<Vec<u16>>,
}

impl Csr {
    /// The row of `n`: positions into `targets`.
    #[inline]
    pub(crate) fn range(&self, n: NodeId) -> std::ops::Range<usize> {
        self.offsets[n as usize] as usize..self.offsets[n as usize + 1] as usize
    }

    /// The neighbours of `n`.
    #[inline]
    pub(crate) fn row(&self, n: NodeId) -> &[NodeId] {
        &self.targets[self.range(n)]
    }

    /// The edge kind at position `pos`.
    #[inline]
    pub(crate) fn kind_at(&self, pos: usize) -> u16 {
        self.kinds.as_ref().map_or(DEPENDS_ON, |k| k[pos])
    }

    /// The number of edges.
    pub(crate) fn edge_count(&self) -> usize {
        self.targets.len()
    }

    /// Out-degree of `n`.
    #[inline]
    pub(crate) fn degree(&self, n: NodeId) -> u32 {
        self.offsets[n as usize + 1] - self.offsets[n as usize]
    }

    fn heap_bytes(&self) -> usize {
        self.offsets.capacity() * 4 + self.targets.capacity() * 4 + self.kinds.as_ref().map_or(0, |k| k.capacity() * 2)
    }

    /// The reverse of `self` over `n` nodes: a counting sort, so each row
    /// comes out sorted by source.
    fn transpose(&self, n: usize) -> Self {
        let mut offsets = vec![0u32; n + 1];
        for &t in &self.targets {
            offsets[t as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut fill: Vec<u32> = offsets[..n].to_vec();
        let mut targets = vec![0; self.targets.len()];
        let mut kinds = self.kinds.as_ref().map(|_| vec![0u16; self.targets.len()]);
        for from in 0..n as NodeId {
            for pos in self.range(from) {
                let to = self.targets[pos] as usize;
                let at = fill[to] as usize;
                fill[to] += 1;
                targets[at] = from;
                if let Some(k) = kinds.as_mut() {
                    k[at] = self.kind_at(pos);
                }
            }
        }
        Self { offsets, targets, kinds }
    }
}

/// A read-optimised, immutable view of a [`Snapshot`]: components as dense
/// `u32` ids in key order, forward (what each depends on) and reverse (what
/// depends on it) adjacency as compressed sparse rows, and kind and label
/// columns. Built in parallel; cheap to share (`Arc` components, the
/// snapshot itself is a persistent structure).
///
/// The view implements petgraph's visit traits (edges point from dependent
/// to dependency), so petgraph's algorithms run on it directly.
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
    snapshot: Snapshot,
    components: Vec<Arc<Component>>,
    kind_of: Vec<u32>,
    kind_names: Vec<Name>,
    labels_of: Vec<u32>,
    label_sets: Vec<Vec<(Name, SmolStr)>>,
    edge_kind_names: Vec<Name>,
    pub(crate) forward: Csr,
    pub(crate) reverse: Csr,
    /// Reference edges by producer, for param-level impact; built on first use.
    pub(crate) refs: std::sync::OnceLock<crate::impact::RefIndex>,
}

impl View {
    /// Builds the view of `snapshot`, in parallel on rayon's pool.
    pub fn new(snapshot: &Snapshot) -> Self {
        // Components in key order, read from every shard of the trie in
        // parallel with what the columns need; keys are compared inline.
        let mut entries = component_entries(snapshot);
        entries.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let n = entries.len();
        let index = KeyIndex::new(entries.iter().map(|(k, h, _)| (k, *h)));
        let mut components: Vec<Arc<Component>> = entries.into_iter().map(|(_, _, c)| c).collect();
        components.shrink_to_fit();
        // The two columns at once, one per core.
        let ((kind_of, kind_names), (labels_of, label_sets)) = rayon::join(
            || intern(read_ahead(&components).map(|c| c.kind().clone())),
            || {
                intern(
                    read_ahead(&components)
                        .map(|c| c.labels().iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>()),
                )
            },
        );

        // Edges, from every shard of the edge trie in parallel: each source's
        // row is sorted by (target, kind) where it is read, then rows are
        // placed by source id. A row entry packs `target << 16 | kind`.
        let custom_kinds: Mutex<Vec<Name>> =
            Mutex::new(vec![Name::new_static("depends-on"), Name::new_static("reference")]);
        let kind_id = |kind: &EdgeKind| match kind {
            EdgeKind::DependsOn => DEPENDS_ON,
            EdgeKind::Reference { .. } => REFERENCE,
            other => {
                let mut names = custom_kinds.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let id = edge_kind_id(&names, other);
                if id != DEPENDS_ON || other.label() == "depends-on" {
                    id
                } else {
                    names.push(Name::from(other.label()));
                    (names.len() - 1) as u16
                }
            }
        };
        let shards: Vec<_> = snapshot.edge_ids_by_source_sharded().collect();
        let parts: Vec<ShardRows> = shards
            .into_par_iter()
            .map(|shard| shard_rows(shard, &index, &kind_id, snapshot.edge_count() / 24))
            .collect();
        drop(index);
        let mut degree = vec![0u32; n + 1];
        for (groups, _) in &parts {
            for &(from, _, len) in groups {
                degree[from as usize + 1] = len;
            }
        }
        for i in 0..n {
            degree[i + 1] += degree[i];
        }
        let offsets = degree;
        let total = offsets[n] as usize;
        let mut packed = vec![0u64; total];
        for (groups, items) in &parts {
            for &(from, start, len) in groups {
                let at = offsets[from as usize] as usize;
                packed[at..at + len as usize].copy_from_slice(&items[start as usize..(start + len) as usize]);
            }
        }
        drop(parts);
        let edge_kind_names = custom_kinds.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        let targets: Vec<NodeId> = packed.par_iter().map(|&p| (p >> 16) as NodeId).collect();
        let mixed = packed.par_iter().any(|&p| p & 0xffff != u64::from(DEPENDS_ON));
        let kinds = mixed.then(|| packed.par_iter().map(|&p| (p & 0xffff) as u16).collect());
        drop(packed);
        let forward = Csr { offsets, targets, kinds };
        let reverse = forward.transpose(n);
        Self {
            snapshot: snapshot.clone(),
            components,
            kind_of,
            kind_names,
            labels_of,
            label_sets,
            edge_kind_names,
            forward,
            reverse,
            refs: std::sync::OnceLock::new(),
        }
    }

    /// The snapshot this is a view of.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The number of components.
    pub fn len(&self) -> usize {
        self.components.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.components.is_empty()
    }

    /// The number of edges (distinct `(from, to, kind)`).
    pub fn edge_count(&self) -> usize {
        self.forward.edge_count()
    }

    /// Every id, `0..len`.
    pub fn ids(&self) -> std::ops::Range<NodeId> {
        0..self.len() as NodeId
    }

    /// The id of `key` (a binary search: ids are in key order).
    pub fn id(&self, key: &Key) -> Option<NodeId> {
        self.components.binary_search_by(|c| c.key().cmp(key)).ok().map(|i| i as NodeId)
    }

    /// The id of `key`, or [`QueryError::UnknownComponent`].
    pub fn require(&self, key: &Key) -> Result<NodeId> {
        self.id(key).ok_or_else(|| QueryError::UnknownComponent { key: key.clone() })
    }

    /// The component `id`.
    pub fn component(&self, id: NodeId) -> &Component {
        &self.components[id as usize]
    }

    /// The key of `id`.
    pub fn key(&self, id: NodeId) -> &Key {
        self.components[id as usize].key()
    }

    /// The kind of `id`.
    pub fn kind(&self, id: NodeId) -> &Name {
        &self.kind_names[self.kind_of[id as usize] as usize]
    }

    /// The value of label `name` on `id`.
    pub fn label(&self, id: NodeId, name: &str) -> Option<&str> {
        self.label_sets[self.labels_of[id as usize] as usize].iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// What `id` depends on directly (edge targets), with edge-kind labels.
    pub fn dependencies_of(&self, id: NodeId) -> impl Iterator<Item = (NodeId, &str)> + '_ {
        self.forward.range(id).map(|p| (self.forward.targets[p], self.edge_kind_label(self.forward.kind_at(p))))
    }

    /// What depends on `id` directly (edge sources), with edge-kind labels.
    pub fn dependents_of(&self, id: NodeId) -> impl Iterator<Item = (NodeId, &str)> + '_ {
        self.reverse.range(id).map(|p| (self.reverse.targets[p], self.edge_kind_label(self.reverse.kind_at(p))))
    }

    /// Heap bytes the view itself holds (the components and the snapshot
    /// are shared, not counted).
    pub fn heap_bytes(&self) -> usize {
        self.components.capacity() * size_of::<Arc<Component>>()
            + self.kind_of.capacity() * 4
            + self.labels_of.capacity() * 4
            + self.forward.heap_bytes()
            + self.reverse.heap_bytes()
    }

    /// Edge weights read from the numeric edge attribute `attribute`, one per
    /// forward edge position, for weighted paths. Edges without it weigh
    /// `default`, or it is an error when there is none; negative or
    /// non-finite weights are errors.
    pub fn edge_weights(&self, attribute: &str, default: Option<f64>) -> Result<EdgeWeights> {
        let index = self.key_index();
        let groups: Vec<_> = self.snapshot.edges_by_source().collect();
        let rows: Vec<Result<(NodeId, Vec<f64>)>> = groups
            .into_par_iter()
            .filter_map(|(from, edges)| {
                let from = index.get(from)?;
                let mut row: Vec<(NodeId, u16, f64)> = Vec::with_capacity(self.forward.degree(from) as usize);
                for e in edges {
                    let Some(to) = index.get(e.to()) else { continue };
                    match edge_weight(e, attribute, default) {
                        Ok(w) => row.push((to, self.edge_kind_id(e.kind()), w)),
                        Err(err) => return Some(Err(err)),
                    }
                }
                row.sort_unstable_by_key(|&(t, k, _)| (t, k));
                Some(Ok((from, row.into_iter().map(|(_, _, w)| w).collect())))
            })
            .collect();
        let mut weights = vec![0.0; self.edge_count()];
        for row in rows {
            let (from, row) = row?;
            weights[self.forward.range(from)].copy_from_slice(&row);
        }
        Ok(EdgeWeights { attribute: attribute.into(), weights })
    }

    /// A hash index from key to id, for bulk lookups.
    pub(crate) fn key_index(&self) -> KeyIndex {
        KeyIndex::new(self.components.iter().map(|c| (c.key(), c.key().stable_hash())))
    }

    pub(crate) fn adjacency(&self, direction: crate::Direction) -> (&Csr, &Csr) {
        match direction {
            crate::Direction::Dependents => (&self.reverse, &self.forward),
            crate::Direction::Dependencies => (&self.forward, &self.reverse),
        }
    }

    /// The name of edge kind id `k`.
    pub(crate) fn edge_kind_label(&self, k: u16) -> &str {
        &self.edge_kind_names[k as usize]
    }

    /// Every edge-kind label this view knows.
    pub(crate) fn edge_kind_labels(&self) -> &[Name] {
        &self.edge_kind_names
    }

    pub(crate) fn edge_kind_id(&self, kind: &EdgeKind) -> u16 {
        edge_kind_id(&self.edge_kind_names, kind)
    }

    /// The kind id of `name`, if any component has it.
    pub(crate) fn kind_id(&self, name: &str) -> Option<u32> {
        self.kind_names.iter().position(|k| k == name).map(|i| i as u32)
    }

    pub(crate) fn kind_names(&self) -> &[Name] {
        &self.kind_names
    }

    pub(crate) fn kind_of(&self, id: NodeId) -> u32 {
        self.kind_of[id as usize]
    }

    /// The label-set ids whose set has `name` (and, if given, `value`).
    pub(crate) fn label_sets_matching(&self, name: &str, value: Option<&str>) -> Vec<bool> {
        self.label_sets
            .iter()
            .map(|set| set.iter().any(|(k, v)| k == name && value.is_none_or(|want| v == want)))
            .collect()
    }

    pub(crate) fn labels_of(&self, id: NodeId) -> u32 {
        self.labels_of[id as usize]
    }
}

/// One edge shard read while a view is built: (source, start, length) of
/// each row, and the rows packed as `target << 16 | kind`.
type ShardRows = (Vec<(NodeId, u32, u32)>, Vec<u64>);

/// Every component with its key and the key's stable hash, read from every
/// shard of the trie in parallel, a few components at a time: each is read
/// once before any is copied, so their cache misses overlap rather than
/// queue (the build is bound by memory latency, not work).
fn component_entries(snapshot: &Snapshot) -> Vec<(Key, u64, Arc<Component>)> {
    let shards: Vec<_> = snapshot.component_arcs_sharded().collect();
    shards
        .into_par_iter()
        .flat_map_iter(|shard| {
            let mut shard = shard.peekable();
            let (mut out, mut batch) = (Vec::new(), Vec::with_capacity(AHEAD));
            while shard.peek().is_some() {
                batch.clear();
                batch.extend(shard.by_ref().take(AHEAD));
                std::hint::black_box(batch.iter().fold(0usize, |acc, c| acc ^ c.key().as_str().len()));
                out.extend(batch.iter().map(|c| (c.key().clone(), c.key().stable_hash(), Arc::clone(c))));
            }
            out
        })
        .collect()
}

/// One shard's edge rows: for each source, its targets' ids packed with
/// the edge kind (`target << 16 | kind`), sorted.
fn shard_rows<'a, E: Iterator<Item = &'a karma_core::EdgeId>>(
    shard: impl Iterator<Item = (&'a Key, E)>,
    index: &KeyIndex,
    kind_id: &impl Fn(&EdgeKind) -> u16,
    capacity: usize,
) -> ShardRows {
    let (mut groups, mut items) = (Vec::new(), Vec::with_capacity(capacity));
    // Sources a few at a time: their edge sets are opened and their first
    // ids read before any is worked on, so the cache misses overlap rather
    // than queue (the build is bound by memory latency).
    let mut shard = shard.map(|(from, edges)| (from, edges.peekable())).peekable();
    let mut batch = Vec::with_capacity(AHEAD);
    let (mut targets, mut hashes, mut counts) = (Vec::new(), Vec::new(), Vec::new());
    while shard.peek().is_some() {
        batch.clear();
        batch.extend(shard.by_ref().take(AHEAD));
        let mut sink = 0usize;
        for (_, edges) in &mut batch {
            sink ^= edges.peek().map_or(0, |e| e.to.as_str().len());
        }
        std::hint::black_box(sink);
        // Then the batch's keys are hashed and their index slots read before
        // any is looked up, for the same reason.
        targets.clear();
        hashes.clear();
        for (from, edges) in &mut batch {
            hashes.push(from.stable_hash());
            let first = targets.len();
            targets.extend(edges.map(|e| (&e.to, &e.kind, e.to.stable_hash())));
            counts.push(targets.len() - first);
        }
        hashes.extend(targets.iter().map(|t| t.2));
        index.by_hash.touch(&hashes);
        let mut next = 0;
        for ((from, _), (count, &from_hash)) in batch.iter().zip(counts.drain(..).zip(&hashes)) {
            let row = &targets[next..next + count];
            next += count;
            let Some(from) = index.get_hashed(from, from_hash) else { continue };
            let start = items.len();
            for &(to, kind, hash) in row {
                if let Some(to) = index.get_hashed(to, hash) {
                    items.push(u64::from(to) << 16 | u64::from(kind_id(kind)));
                }
            }
            items[start..].sort_unstable();
            groups.push((from, start as u32, (items.len() - start) as u32));
        }
    }
    (groups, items)
}

/// `components` in order, each run of [`AHEAD`] first read a little (kind,
/// first label) so their cache misses overlap.
fn read_ahead(components: &[Arc<Component>]) -> impl Iterator<Item = &Arc<Component>> {
    components.chunks(AHEAD).flat_map(|chunk| {
        let sink = chunk
            .iter()
            .fold(0usize, |acc, c| acc ^ c.kind().len() ^ c.labels().iter().next().map_or(0, |(name, _)| name.len()));
        std::hint::black_box(sink);
        chunk.iter()
    })
}

/// How many components or sources [`View::new`] reads ahead of working on
/// them.
const AHEAD: usize = 16;

/// A transient index from key to id for bulk lookups while a view is built:
/// by the keys' stable 64-bit hash (small entries, no key comparisons), with
/// the rare keys that share a hash kept by full key.
pub(crate) struct KeyIndex {
    by_hash: HashSlots,
    shared: FxHashMap<Key, NodeId>,
}

/// An open-addressing table from a key's stable hash to an id: linear
/// probing in a power-of-two array at most half full. Written by hand rather
/// than taken from a hash map so that a slot's place is known before it is
/// read: [`HashSlots::touch`] reads a batch's slots first, letting their
/// cache misses overlap.
struct HashSlots {
    slots: Vec<(u64, NodeId)>,
    mask: usize,
}

/// An empty slot's id.
const EMPTY: NodeId = NodeId::MAX - 1;

impl HashSlots {
    fn with_capacity(n: usize) -> Self {
        let size = (2 * n).next_power_of_two().max(16);
        Self { slots: vec![(0, EMPTY); size], mask: size - 1 }
    }

    /// Sets `hash` to `id`, returning the id it had.
    fn insert(&mut self, hash: u64, id: NodeId) -> Option<NodeId> {
        let mut i = hash as usize & self.mask;
        loop {
            let slot = &mut self.slots[i];
            if slot.1 == EMPTY {
                *slot = (hash, id);
                return None;
            }
            if slot.0 == hash {
                return Some(std::mem::replace(&mut slot.1, id));
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline]
    fn get(&self, hash: u64) -> Option<NodeId> {
        let mut i = hash as usize & self.mask;
        loop {
            let slot = self.slots[i];
            if slot.1 == EMPTY {
                return None;
            }
            if slot.0 == hash {
                return Some(slot.1);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Reads the first slot each of `hashes` probes (and nothing else).
    #[inline]
    fn touch(&self, hashes: &[u64]) {
        let sink = hashes.iter().fold(0u64, |acc, &h| acc ^ self.slots[h as usize & self.mask].0);
        std::hint::black_box(sink);
    }
}

impl KeyIndex {
    /// Indexes `keys` (with their stable hashes), numbered in order.
    fn new<'a>(keys: impl ExactSizeIterator<Item = (&'a Key, u64)>) -> Self {
        assert!(keys.len() < EMPTY as usize, "a view holds fewer than 2^32 - 2 components");
        let mut by_hash = HashSlots::with_capacity(keys.len());
        let mut shared = FxHashMap::default();
        let mut all = Vec::new();
        for (i, (key, hash)) in keys.enumerate() {
            if let Some(previous) = by_hash.insert(hash, i as NodeId) {
                // Two keys share this hash: both go to the by-key map.
                if previous != NodeId::MAX {
                    shared.insert(all[previous as usize], previous);
                }
                by_hash.insert(hash, NodeId::MAX);
                shared.insert(key, i as NodeId);
            }
            all.push(key);
        }
        let shared = shared.into_iter().map(|(k, v): (&Key, NodeId)| (k.clone(), v)).collect();
        Self { by_hash, shared }
    }

    /// The id of `key`, if indexed. Keys that are not indexed but share a
    /// hash with one that is would be mistaken for it, so this is only for
    /// keys known to be in the view (edge endpoints of its snapshot).
    #[inline]
    pub(crate) fn get(&self, key: &Key) -> Option<NodeId> {
        self.get_hashed(key, key.stable_hash())
    }

    #[inline]
    fn get_hashed(&self, key: &Key, hash: u64) -> Option<NodeId> {
        match self.by_hash.get(hash) {
            Some(NodeId::MAX) => self.shared.get(key).copied(),
            other => other,
        }
    }
}

fn edge_kind_id(names: &[Name], kind: &EdgeKind) -> u16 {
    match kind {
        EdgeKind::DependsOn => DEPENDS_ON,
        EdgeKind::Reference { .. } => REFERENCE,
        other => names.iter().skip(2).position(|k| k == other.label()).map_or(0, |i| i as u16 + 2),
    }
}

fn edge_weight(e: &Edge, attribute: &str, default: Option<f64>) -> Result<f64> {
    let value = match e.attribute(attribute) {
        Some(Value::Int(i)) => *i as f64,
        Some(Value::Float(f)) => *f,
        Some(other) => {
            return Err(QueryError::BadWeight {
                edge: e.id().to_string(),
                attribute: attribute.into(),
                reason: format!("is a {}, not a number", other.type_name()),
            });
        }
        None => default.ok_or_else(|| QueryError::BadWeight {
            edge: e.id().to_string(),
            attribute: attribute.into(),
            reason: "is missing and no default was given".into(),
        })?,
    };
    if !value.is_finite() || value < 0.0 {
        return Err(QueryError::BadWeight {
            edge: e.id().to_string(),
            attribute: attribute.into(),
            reason: format!("is {value}; weights must be finite and not negative"),
        });
    }
    Ok(value)
}

/// A weight per edge of a [`View`], from an edge attribute: see
/// [`View::edge_weights`].
#[derive(Clone, Debug)]
pub struct EdgeWeights {
    pub(crate) attribute: Name,
    pub(crate) weights: Vec<f64>,
}

impl EdgeWeights {
    /// The attribute the weights were read from.
    pub fn attribute(&self) -> &str {
        &self.attribute
    }
}

/// Interns values into a dense id column and the table of distinct values.
fn intern<T: std::hash::Hash + Eq + Clone>(values: impl Iterator<Item = T>) -> (Vec<u32>, Vec<T>) {
    let mut table: Vec<T> = Vec::new();
    let mut ids: FxHashMap<T, u32> = FxHashMap::default();
    let column = values
        .map(|v| {
            *ids.entry(v).or_insert_with_key(|v| {
                table.push(v.clone());
                (table.len() - 1) as u32
            })
        })
        .collect();
    (column, table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_slots_probe_past_taken_slots_and_wrap_around() {
        let mut slots = HashSlots::with_capacity(8);
        assert_eq!(slots.slots.len(), 16);
        // All start at the last slot, so each probes on and wraps to the front.
        let hashes: Vec<u64> = (0..8).map(|i| 15 + 16 * i).collect();
        for (i, &h) in hashes.iter().enumerate() {
            assert_eq!(slots.insert(h, i as NodeId), None);
        }
        for (i, &h) in hashes.iter().enumerate() {
            assert_eq!(slots.get(h), Some(i as NodeId));
        }
        assert_eq!(slots.get(15 + 16 * 8), None);
        assert_eq!(slots.get(3), None);
        assert_eq!(slots.insert(hashes[2], 99), Some(2));
        assert_eq!(slots.get(hashes[2]), Some(99));
        slots.touch(&hashes);
    }

    #[test]
    fn keys_sharing_a_hash_are_told_apart() {
        let keys: Vec<Key> = ["A/a", "A/b", "A/c", "A/d"].iter().map(|k| k.parse().unwrap()).collect();
        // a, b and d share a hash; c has its own.
        let hashes = [7u64, 7, 9, 7];
        let index = KeyIndex::new(keys.iter().zip(hashes));
        for (i, (k, h)) in keys.iter().zip(hashes).enumerate() {
            assert_eq!(index.get_hashed(k, h), Some(i as NodeId));
        }
        assert_eq!(index.shared.len(), 3);
        let unseen: Key = "A/e".parse().unwrap();
        assert_eq!(index.get_hashed(&unseen, 7), None);
    }
}
