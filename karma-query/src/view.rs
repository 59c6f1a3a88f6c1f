//! A read-optimised view of a snapshot: dense ids and CSR adjacency.

use std::ptr::NonNull;
use std::sync::Mutex;

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

    /// The reverse of `self` over `n` nodes, rows sorted by source.
    fn transpose(&self, n: usize) -> Self {
        self.transpose_blocked(n, TRANSPOSE_BLOCK_BITS)
    }

    /// [`Csr::transpose`] as a two-pass, cache-blocked counting sort on
    /// rayon's pool. A plain counting sort scatters every edge to a random
    /// place in the whole output, so at a million nodes each write misses
    /// the cache and the TLB. Here the sources are first cut into one
    /// contiguous range per task, and each task appends its edges to one
    /// bucket per block of `1 << block_bits` targets (a few hundred write
    /// heads that stay in cache). Then every block is sorted on its own,
    /// in parallel, by counting over bucket contents that fit in L2; taking
    /// the buckets in source-range order keeps each row sorted by source.
    fn transpose_blocked(&self, n: usize, block_bits: u32) -> Self {
        let blocks = n.div_ceil(1 << block_bits).max(1);
        let edges = self.targets.len();
        // Pass 1: per source range, edges (`from << 32 | to`, and the kind
        // when kinds are stored) bucketed by target block.
        let ranges = rayon::current_num_threads().clamp(1, 64);
        let step = n.div_ceil(ranges).max(1);
        let buckets: Vec<Bucketed> = (0..n)
            .step_by(step)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|lo| self.bucket_by_target(lo..(lo + step).min(n), blocks, block_bits))
            .collect();
        // Each block's place in the output.
        let mut block_start = vec![0usize; blocks + 1];
        for b in 0..blocks {
            block_start[b + 1] = block_start[b] + buckets.iter().map(|part| part.len(b)).sum::<usize>();
        }
        debug_assert_eq!(block_start[blocks], edges);
        // Pass 2: every block on its own.
        let mut offsets = vec![0u32; n + 1];
        offsets[n] = edges as u32;
        let mut targets = vec![0 as NodeId; edges];
        let mut kinds = self.kinds.as_ref().map(|_| vec![0u16; edges]);
        let target_blocks = split_at_bounds(&mut targets, &block_start);
        let mut kind_blocks = kinds.as_deref_mut().map(|k| split_at_bounds(k, &block_start)).map(Vec::into_iter);
        let jobs: Vec<_> = offsets[..n]
            .chunks_mut(1 << block_bits)
            .zip(target_blocks)
            .enumerate()
            .map(|(b, (offsets, targets))| (b, offsets, targets, kind_blocks.as_mut().and_then(Iterator::next)))
            .collect();
        jobs.into_par_iter().for_each(|(b, offsets, targets, kinds)| {
            let base = (b << block_bits) as NodeId;
            // Degrees, then each node's first slot.
            let mut fill = vec![0u32; offsets.len()];
            for part in &buckets {
                for &item in part.items(b) {
                    fill[(item as NodeId - base) as usize] += 1;
                }
            }
            let mut at = block_start[b] as u32;
            for (offset, fill) in offsets.iter_mut().zip(&mut fill) {
                *offset = at;
                at += *fill;
                *fill = *offset - block_start[b] as u32;
            }
            let mut kinds = kinds;
            for part in &buckets {
                let part_kinds = part.kinds(b);
                for (i, &item) in part.items(b).iter().enumerate() {
                    let slot = &mut fill[(item as NodeId - base) as usize];
                    targets[*slot as usize] = (item >> 32) as NodeId;
                    if let (Some(kinds), Some(part_kinds)) = (kinds.as_deref_mut(), part_kinds) {
                        kinds[*slot as usize] = part_kinds[i];
                    }
                    *slot += 1;
                }
            }
        });
        Self { offsets, targets, kinds }
    }

    /// The edges of sources `range`, bucketed by target block, each bucket
    /// in source order.
    fn bucket_by_target(&self, range: std::ops::Range<usize>, blocks: usize, block_bits: u32) -> Bucketed {
        let (lo, hi) = (self.offsets[range.start] as usize, self.offsets[range.end] as usize);
        let mut starts = vec![0usize; blocks + 1];
        for &t in &self.targets[lo..hi] {
            starts[(t >> block_bits) as usize + 1] += 1;
        }
        for b in 0..blocks {
            starts[b + 1] += starts[b];
        }
        let mut fill = starts[..blocks].to_vec();
        let mut items = vec![0u64; hi - lo];
        let mut kinds = self.kinds.as_ref().map(|_| vec![0u16; hi - lo]);
        for from in range {
            for pos in self.range(from as NodeId) {
                let to = self.targets[pos];
                let slot = &mut fill[(to >> block_bits) as usize];
                items[*slot] = (from as u64) << 32 | u64::from(to);
                if let Some(kinds) = kinds.as_mut() {
                    kinds[*slot] = self.kind_at(pos);
                }
                *slot += 1;
            }
        }
        Bucketed { starts, items, kinds }
    }
}

/// How many targets a block of [`Csr::transpose_blocked`] spans (as a power
/// of two): 4,096 nodes, whose counters and a typical block's edges fit in
/// L2.
const TRANSPOSE_BLOCK_BITS: u32 = 12;

/// One source range's edges bucketed by target block: bucket `b` is
/// `items[starts[b]..starts[b + 1]]`, each item `from << 32 | to`.
struct Bucketed {
    starts: Vec<usize>,
    items: Vec<u64>,
    kinds: Option<Vec<u16>>,
}

impl Bucketed {
    fn len(&self, b: usize) -> usize {
        self.starts[b + 1] - self.starts[b]
    }

    fn items(&self, b: usize) -> &[u64] {
        &self.items[self.starts[b]..self.starts[b + 1]]
    }

    fn kinds(&self, b: usize) -> Option<&[u16]> {
        self.kinds.as_ref().map(|k| &k[self.starts[b]..self.starts[b + 1]])
    }
}

/// A read-optimised, immutable view of a [`Snapshot`]: components as dense
/// `u32` ids in key order, forward (what each depends on) and reverse (what
/// depends on it) adjacency as compressed sparse rows, and kind and label
/// columns. Built in parallel; cheap to share (the components are the
/// snapshot's own, and the snapshot is a persistent structure).
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
    /// By id; the snapshot above keeps them alive (see [`Held`]).
    components: Vec<Held>,
    kind_of: Vec<u32>,
    kind_names: Vec<Name>,
    labels_of: Vec<u32>,
    label_sets: Vec<Vec<(Name, SmolStr)>>,
    edge_kind_names: Vec<Name>,
    pub(crate) forward: Csr,
    pub(crate) reverse: Csr,
    /// Reference edges by producer, for param-level impact; built on first use.
    pub(crate) refs: std::sync::OnceLock<crate::impact::RefIndex>,
    /// Which edge kinds occur; found on first use.
    kinds_present: std::sync::OnceLock<Vec<bool>>,
}

impl View {
    /// Builds the view of `snapshot`, in parallel on rayon's pool.
    pub fn new(snapshot: &Snapshot) -> Self {
        // Components in key order, read from every shard of the trie in
        // parallel; keys are compared inline.
        let mut entries = component_entries(snapshot);
        // By the keys' first sixteen bytes as two big-endian numbers (which
        // order like the bytes), the keys themselves only on a tie.
        entries.par_sort_unstable_by(|a, b| a.3.cmp(&b.3).then_with(|| a.0.cmp(b.0)));
        let n = entries.len();
        let components: Vec<Held> = entries.iter().map(|(_, _, c, _)| c.clone()).collect();
        // The key index (one core) while the two columns are interned (one
        // each): three passes of about the same length.
        let (index, ((kind_of, kind_names), (labels_of, label_sets))) = rayon::join(
            || KeyIndex::new(entries.iter().map(|&(k, h, _, _)| (k, h))),
            || {
                rayon::join(
                    || intern(read_ahead(&components).map(|c| c.kind().clone())),
                    || {
                        intern(
                            read_ahead(&components)
                                .map(|c| c.labels().iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>()),
                        )
                    },
                )
            },
        );
        drop(entries);
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
        let forward = place_rows(n, &parts);
        drop(parts);
        let edge_kind_names = custom_kinds.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
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
            kinds_present: std::sync::OnceLock::new(),
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
        self.components.binary_search_by(|c| c.get().key().cmp(key)).ok().map(|i| i as NodeId)
    }

    /// The id of `key`, or [`QueryError::UnknownComponent`].
    pub fn require(&self, key: &Key) -> Result<NodeId> {
        self.id(key).ok_or_else(|| QueryError::UnknownComponent { key: key.clone() })
    }

    /// The component `id`.
    pub fn component(&self, id: NodeId) -> &Component {
        self.components[id as usize].get()
    }

    /// The key of `id`.
    pub fn key(&self, id: NodeId) -> &Key {
        self.components[id as usize].get().key()
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
        self.components.capacity() * size_of::<Held>()
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
        KeyIndex::new(self.components.iter().map(|c| (c.get().key(), key_hash(c.get().key()))))
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

    /// Per edge kind id: whether some edge of the view has it (found by one
    /// parallel pass over the kind column on first use, then kept).
    pub(crate) fn edge_kinds_present(&self) -> &[bool] {
        self.kinds_present.get_or_init(|| {
            let kinds = self.edge_kind_names.len();
            match &self.forward.kinds {
                None => (0..kinds).map(|k| k == DEPENDS_ON as usize && self.forward.edge_count() > 0).collect(),
                Some(column) => column
                    .par_chunks(1 << 16)
                    .map(|chunk| {
                        let mut seen = vec![false; kinds];
                        for &k in chunk {
                            seen[k as usize] = true;
                        }
                        seen
                    })
                    .reduce(
                        || vec![false; kinds],
                        |mut a, b| {
                            for (x, y) in a.iter_mut().zip(b) {
                                *x |= y;
                            }
                            a
                        },
                    ),
            }
        })
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

/// Every component with its key, the key's hash ([`key_hash`]) and its sort
/// prefix ([`sort_prefix`]), read from every shard of the trie in parallel.
fn component_entries(snapshot: &Snapshot) -> Vec<(&Key, u64, Held, [u64; 2])> {
    let shards: Vec<_> = snapshot.component_arcs_sharded().collect();
    // The keys are the trie's own (inline in its nodes): no component is
    // read here, nor its reference count touched.
    shards
        .into_par_iter()
        .flat_map_iter(|shard| {
            shard.map(|(key, c)| (key, key_hash(key), Held(NonNull::from(&**c)), sort_prefix(key.as_str())))
        })
        .collect()
}

/// A component of a view's own snapshot, held by address: a view of a
/// million components would otherwise add and drop a million counted
/// references, each a cache miss and an atomic operation, when it is built
/// and dropped.
///
/// Sound because a `Held` only ever lives in [`View::components`] (it is
/// private, neither `Copy` nor handed out), beside [`View::snapshot`], the
/// clone of the snapshot it was taken from: that clone keeps every node of
/// its tries, so every `Arc<Component>` in them, alive and unchanged for as
/// long as the view lives (a snapshot is persistent: a node shared with
/// another version is copied before it is changed, never changed in place,
/// and the view never changes its own). Cloning a view clones both. While
/// a view is being built, the snapshot it is built from, borrowed for the
/// whole build, keeps them alive the same way.
#[derive(Clone)]
struct Held(NonNull<Component>);

// SAFETY: a `Held` is only dereferenced to a shared `&Component` (in
// `Held::get`), so sending or sharing it across threads is sending or
// sharing a `&Component`, which is allowed when `Component: Sync`, asserted
// at compile time below.
#[allow(unsafe_code)]
unsafe impl Send for Held {}
// SAFETY: as for `Send` above.
#[allow(unsafe_code)]
unsafe impl Sync for Held {}

const _: () = {
    const fn shared_between_threads<T: Sync + Send>() {}
    shared_between_threads::<Component>();
};

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

impl Held {
    /// The component, borrowed for as long as the `Held` (so for no longer
    /// than the view holding it).
    #[allow(unsafe_code)]
    fn get(&self) -> &Component {
        // SAFETY: the pointer came from an `Arc<Component>` that the view's
        // snapshot keeps alive and unchanged while the view, and so this
        // borrow of one of its `Held`s, lives (see the type's documentation).
        unsafe { self.0.as_ref() }
    }
}

/// The forward rows from the shards' rows: offsets by source id, then every
/// run of [`PLACE_CHUNK`] sources copied into its own part of the targets
/// (and kinds, when the graph has more than one) on rayon's pool.
fn place_rows(n: usize, parts: &[ShardRows]) -> Csr {
    let mut offsets = vec![0u32; n + 1];
    // Where each source's row is: (part, start).
    let mut source = vec![(0u32, 0u32); n];
    for (p, (groups, _)) in parts.iter().enumerate() {
        for &(from, start, len) in groups {
            offsets[from as usize + 1] = len;
            source[from as usize] = (p as u32, start);
        }
    }
    for i in 0..n {
        offsets[i + 1] += offsets[i];
    }
    let total = offsets[n] as usize;
    let mixed = parts.par_iter().any(|(_, items)| items.iter().any(|&p| p & 0xffff != u64::from(DEPENDS_ON)));
    let mut targets = vec![0 as NodeId; total];
    let mut kinds = mixed.then(|| vec![0u16; total]);
    let bounds: Vec<usize> = (0..n).step_by(PLACE_CHUNK).chain([n]).map(|i| offsets[i] as usize).collect();
    let target_chunks = split_at_bounds(&mut targets, &bounds);
    let mut kind_chunks = kinds.as_deref_mut().map(|k| split_at_bounds(k, &bounds)).map(Vec::into_iter);
    let jobs: Vec<_> = target_chunks
        .into_iter()
        .enumerate()
        .map(|(c, t)| (c, t, kind_chunks.as_mut().and_then(Iterator::next)))
        .collect();
    jobs.into_par_iter().for_each(|(c, targets, mut kinds)| {
        let lo = c * PLACE_CHUNK;
        let mut at = 0;
        for i in lo..(lo + PLACE_CHUNK).min(n) {
            let len = (offsets[i + 1] - offsets[i]) as usize;
            let (p, start) = source[i];
            // A source without edges has no part (and there may be none).
            let Some(items) = parts.get(p as usize).map(|part| &part.1[start as usize..start as usize + len]) else {
                continue;
            };
            for (slot, &item) in targets[at..at + len].iter_mut().zip(items) {
                *slot = (item >> 16) as NodeId;
            }
            if let Some(kinds) = kinds.as_deref_mut() {
                for (slot, &item) in kinds[at..at + len].iter_mut().zip(items) {
                    *slot = (item & 0xffff) as u16;
                }
            }
            at += len;
        }
    });
    Csr { offsets, targets, kinds }
}

/// How many sources [`place_rows`] copies per task.
const PLACE_CHUNK: usize = 4096;

/// `data` cut at the ascending positions `bounds` (the first 0, the last
/// `data.len()`): one slice per consecutive pair.
fn split_at_bounds<'a, T>(data: &'a mut [T], bounds: &[usize]) -> Vec<&'a mut [T]> {
    let mut rest = data;
    bounds
        .windows(2)
        .map(|w| {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(w[1] - w[0]);
            rest = tail;
            head
        })
        .collect()
}

/// The first sixteen bytes of `key` (zero-padded) as two big-endian
/// numbers: keys with different prefixes compare as these pairs do, so a
/// sort compares whole keys only when two share all sixteen. (Two `u64`s
/// rather than a `u128`, which would align each sorted entry to 16 bytes.)
fn sort_prefix(key: &str) -> [u64; 2] {
    let mut bytes = [0u8; 16];
    let len = key.len().min(16);
    bytes[..len].copy_from_slice(&key.as_bytes()[..len]);
    let (high, low) = bytes.split_at(8);
    [
        u64::from_be_bytes(high.try_into().expect("eight bytes")),
        u64::from_be_bytes(low.try_into().expect("eight bytes")),
    ]
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
    // Sources a few at a time (the snapshot's walk already fetches their
    // edge sets ahead): the batch's keys are hashed and their index slots
    // read before any is looked up, so the cache misses overlap rather than
    // queue (the build is bound by memory latency).
    let mut shard = shard.peekable();
    let mut batch = Vec::with_capacity(AHEAD);
    let (mut targets, mut hashes, mut counts) = (Vec::new(), Vec::new(), Vec::new());
    while shard.peek().is_some() {
        batch.clear();
        batch.extend(shard.by_ref().take(AHEAD));
        targets.clear();
        hashes.clear();
        for (from, edges) in &mut batch {
            hashes.push(key_hash(from));
            let first = targets.len();
            targets.extend(edges.map(|e| (&e.to, &e.kind, key_hash(&e.to))));
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
fn read_ahead(components: &[Held]) -> impl Iterator<Item = &Component> {
    components.chunks(AHEAD).flat_map(|chunk| {
        let sink = chunk
            .iter()
            .map(Held::get)
            .fold(0usize, |acc, c| acc ^ c.kind().len() ^ c.labels().iter().next().map_or(0, |(name, _)| name.len()));
        std::hint::black_box(sink);
        chunk.iter().map(Held::get)
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
        self.get_hashed(key, key_hash(key))
    }

    #[inline]
    fn get_hashed(&self, key: &Key, hash: u64) -> Option<NodeId> {
        match self.by_hash.get(hash) {
            Some(NodeId::MAX) => self.shared.get(key).copied(),
            other => other,
        }
    }
}

/// A key's hash for the view's transient key index, eight bytes at a time.
/// (`Key::stable_hash`, which the store persists, goes a byte at a time;
/// this index is never stored, so any good 64-bit hash serves.)
#[inline]
fn key_hash(key: &Key) -> u64 {
    const MUL: u64 = 0xff51_afd7_ed55_8ccd;
    let bytes = key.as_str().as_bytes();
    let mut h = (bytes.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        h = (h ^ u64::from_le_bytes(chunk.try_into().expect("eight bytes"))).wrapping_mul(MUL).rotate_left(29);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(last)).wrapping_mul(MUL).rotate_left(29);
    }
    // The finaliser of MurmurHash3, so the low bits (the table's slot) mix
    // all of the key.
    h ^= h >> 33;
    h = h.wrapping_mul(MUL);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
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

    /// The view reads its components through addresses ([`Held`]): they
    /// must stay the snapshot's as it was, whatever happens to the graph and
    /// to every other handle on that snapshot, on any thread.
    #[test]
    fn held_components_outlive_the_graph_and_cross_threads() {
        use karma_core::Graph;
        let mut g = Graph::new();
        for i in 0..200 {
            g.insert(Component::new("Service", &format!("s{i:03}")).unwrap().with_param("replicas", i64::from(i)))
                .unwrap();
        }
        let snapshot = g.snapshot();
        let view = View::new(&snapshot);
        // Change, remove and replace every component, then drop every
        // other handle on the snapshot the view was built from.
        for i in 0..200 {
            let key: Key = format!("Service/s{i:03}").parse().unwrap();
            g.remove(&key, karma_core::Removal::Restrict).unwrap();
            g.insert(Component::new("Database", &format!("s{i:03}")).unwrap()).unwrap();
        }
        drop(snapshot);
        drop(g);
        let copy = view.clone();
        drop(view);
        let seen = std::thread::spawn(move || {
            (0..copy.len() as NodeId)
                .map(|id| {
                    let c = copy.component(id);
                    assert_eq!(copy.id(c.key()), Some(id));
                    (c.key().to_string(), c.kind().to_string(), c.param("replicas").map(|p| p.value.clone()))
                })
                .collect::<Vec<_>>()
        })
        .join()
        .unwrap();
        let expected: Vec<_> = (0..200)
            .map(|i| (format!("Service/s{i:03}"), "Service".to_owned(), Some(Value::Int(i64::from(i)))))
            .collect();
        assert_eq!(seen, expected);
    }

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

    /// A CSR over `n` nodes from `(from, to, kind)` edges, rows sorted by
    /// (target, kind), kinds kept only when `with_kinds`.
    fn csr_of(n: usize, edges: &[(u32, u32, u16)], with_kinds: bool) -> Csr {
        let mut sorted = edges.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut offsets = vec![0u32; n + 1];
        for &(from, _, _) in &sorted {
            offsets[from as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let targets = sorted.iter().map(|e| e.1).collect();
        let kinds = with_kinds.then(|| sorted.iter().map(|e| e.2).collect());
        Csr { offsets, targets, kinds }
    }

    proptest::proptest! {
        /// Every indexed key is found with its id, however its hash
        /// collides with others' (whole hashes, home slots, probe paths).
        #[test]
        fn key_index_finds_every_key(
            hashes in proptest::collection::vec(0u64..96, 0..200),
            spread in 0u32..60,
        ) {
            let keys: Vec<Key> = (0..hashes.len()).map(|i| format!("K/k{i}").parse().unwrap()).collect();
            // Small hashes collide often, and share home slots when not
            // shifted up.
            let hashes: Vec<u64> = hashes.iter().map(|h| h << spread).collect();
            let index = KeyIndex::new(keys.iter().zip(hashes.iter().copied()));
            for (i, (k, &h)) in keys.iter().zip(&hashes).enumerate() {
                proptest::prop_assert_eq!(index.get_hashed(k, h), Some(i as NodeId));
            }
        }

        /// The blocked transpose, with blocks as small as one node, equals
        /// the transpose taken from the sorted, reversed edge list.
        #[test]
        fn blocked_transpose_matches_reversed_edge_list(
            n in 1usize..70,
            raw in proptest::collection::vec((0u32..70, 0u32..70, 0u16..3), 0..300),
            block_bits in 0u32..7,
            with_kinds: bool,
        ) {
            let edges: Vec<(u32, u32, u16)> = raw
                .into_iter()
                .map(|(a, b, k)| (a % n as u32, b % n as u32, if with_kinds { k } else { 0 }))
                .collect();
            let forward = csr_of(n, &edges, with_kinds);
            let reversed: Vec<(u32, u32, u16)> = edges.iter().map(|&(a, b, k)| (b, a, k)).collect();
            let want = csr_of(n, &reversed, with_kinds);
            let got = forward.transpose_blocked(n, block_bits);
            proptest::prop_assert_eq!(&got.offsets, &want.offsets);
            proptest::prop_assert_eq!(&got.targets, &want.targets);
            proptest::prop_assert_eq!(&got.kinds, &want.kinds);
            // And the default block size (one block at this size) agrees.
            let default = forward.transpose(n);
            proptest::prop_assert_eq!(&default.targets, &want.targets);
        }
    }
}
