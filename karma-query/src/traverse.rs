//! Transitive dependents and dependencies: a parallel, direction-optimising
//! breadth-first search over the view's compressed rows, with a witness path
//! for every node it reaches.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use karma_core::Key;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::view::{Csr, NodeId, View};

/// Which way a traversal walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Towards what depends on the start (edges backwards): its dependents.
    Dependents,
    /// Towards what the start depends on (edges forwards): its dependencies.
    Dependencies,
}

impl Direction {
    /// The other way.
    pub fn reversed(self) -> Self {
        match self {
            Self::Dependents => Self::Dependencies,
            Self::Dependencies => Self::Dependents,
        }
    }
}

/// Limits of a traversal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Traversal {
    /// Stop after this many hops (`None`: no limit).
    pub max_depth: Option<u32>,
    /// Follow only edges whose kind label is one of these (`depends-on`,
    /// `reference`, or a custom kind); `None`: every edge.
    pub edge_kinds: Option<Vec<String>>,
}

/// A component a traversal reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reached {
    /// The component.
    pub key: Key,
    /// Hops from the start (shortest).
    pub depth: u32,
    /// One shortest path from the start to it, both ends included: why it is
    /// reached.
    pub path: Vec<Key>,
}

/// Below this many frontier nodes a level runs on one thread.
const PARALLEL_FRONTIER: usize = 2048;
/// Beamer's switching parameters: go bottom-up when the frontier's edges
/// exceed the unexplored edges / ALPHA; back top-down when the frontier
/// holds fewer than n / BETA nodes.
const ALPHA: u64 = 14;
const BETA: u64 = 24;

/// The result of a breadth-first traversal: the nodes it reached, level by
/// level, and for every one the node it was reached from. Compact (about
/// two `u32` per node); paths are rebuilt on demand.
///
/// The search records no per-node depth: a node's depth is its level,
/// which [`Reach::ids`] and [`Reach::to_reached`] read off the level
/// boundaries. [`Reach::depth`] builds a per-node index from them (in
/// parallel, once, on its first call).
#[derive(Clone, Debug)]
pub struct Reach {
    /// Every node reached, the sources first, level by level.
    order: Vec<NodeId>,
    /// Level `d` is `order[levels[d]..levels[d + 1]]`; level 0 the sources.
    levels: Vec<usize>,
    /// One more than the node each reached node was reached from (a
    /// source: itself); zero for the others, so that a fresh, zeroed array
    /// means "nothing reached".
    parent: Vec<NodeId>,
    /// Each node's depth, built on demand.
    depth: OnceLock<Vec<u32>>,
}

impl Reach {
    /// How many nodes were reached, sources excluded.
    pub fn len(&self) -> usize {
        self.order.len() - self.levels[1]
    }

    /// Whether none were.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every node reached and every source, each once.
    pub(crate) fn seen_ids(&self) -> &[NodeId] {
        &self.order
    }

    /// Whether `id` was reached or is a source.
    pub(crate) fn seen(&self, id: NodeId) -> bool {
        self.parent.get(id as usize).is_some_and(|&p| p != 0)
    }

    /// The distance of `id` from the nearest source (`Some(0)` for a
    /// source), or `None` if it was not reached. The first call indexes
    /// every reached node's depth (in parallel); later calls look it up.
    pub fn depth(&self, id: NodeId) -> Option<u32> {
        self.seen(id).then(|| self.depth.get_or_init(|| self.index_depths())[id as usize])
    }

    fn index_depths(&self) -> Vec<u32> {
        const PIECE: usize = 1 << 14;
        let depth: Vec<AtomicU32> = (0..self.parent.len()).into_par_iter().map(|_| AtomicU32::new(0)).collect();
        let pieces: Vec<(u32, &[NodeId])> =
            self.reached_levels().flat_map(|(d, range)| self.order[range].chunks(PIECE).map(move |c| (d, c))).collect();
        pieces.into_par_iter().for_each(|(d, nodes)| {
            for &v in nodes {
                depth[v as usize].store(d, Relaxed);
            }
        });
        depth.into_iter().map(AtomicU32::into_inner).collect()
    }

    /// Each level past the sources: its depth and its stretch of `order`.
    fn reached_levels(&self) -> impl Iterator<Item = (u32, std::ops::Range<usize>)> + '_ {
        self.levels.windows(2).enumerate().skip(1).map(|(d, w)| (d as u32, w[0]..w[1]))
    }

    /// The node `id` was reached from (itself for a source).
    pub(crate) fn parent(&self, id: NodeId) -> NodeId {
        self.parent[id as usize].wrapping_sub(1)
    }

    /// Whether `id` was reached (sources excluded).
    pub fn contains(&self, id: NodeId) -> bool {
        self.seen(id) && self.parent(id) != id
    }

    /// One shortest path from a source to `id`, both ends included; empty
    /// when `id` was not reached.
    pub fn path(&self, id: NodeId) -> Vec<NodeId> {
        if !self.seen(id) {
            return Vec::new();
        }
        let mut path = vec![id];
        let mut at = id;
        while self.parent(at) != at {
            at = self.parent(at);
            path.push(at);
        }
        path.reverse();
        path
    }

    /// The reached nodes (sources excluded), nearest first, ties by id (key
    /// order).
    pub fn ids(&self) -> Vec<NodeId> {
        let mut out = self.order[self.levels[1]..].to_vec();
        let mut rest = out.as_mut_slice();
        let mut segments = Vec::with_capacity(self.levels.len());
        for (_, range) in self.reached_levels() {
            let (level, tail) = rest.split_at_mut(range.len());
            segments.push(level);
            rest = tail;
        }
        segments.into_par_iter().for_each(ParallelSliceMut::par_sort_unstable);
        out
    }

    /// The reached nodes (sources excluded), nearest first, ties by id,
    /// each with its depth.
    pub(crate) fn ranked(&self) -> Vec<(NodeId, u32)> {
        let ids = self.ids();
        let mut depths = self.reached_levels().flat_map(|(d, range)| std::iter::repeat_n(d, range.len()));
        ids.into_iter().map(|id| (id, depths.next().unwrap_or(0))).collect()
    }

    /// The reached nodes as a membership vector over all ids (sources
    /// excluded).
    pub fn members(&self) -> Vec<bool> {
        (0..self.parent.len() as NodeId).into_par_iter().map(|id| self.contains(id)).collect()
    }

    /// The results with keys and witness paths, nearest first.
    pub fn to_reached(&self, view: &View) -> Vec<Reached> {
        self.ranked()
            .into_iter()
            .map(|(id, depth)| Reached {
                key: view.key(id).clone(),
                depth,
                path: self.path(id).into_iter().map(|n| view.key(n).clone()).collect(),
            })
            .collect()
    }
}

/// A search's per-node state, shared by its levels: the node each node was
/// reached from, plus one (zero: not reached), and the visited bits.
///
/// The parents are the truth: a node is reached exactly when its entry is
/// not zero. The bits are a copy for the levels that scan them 64 nodes at
/// a time or set them from several threads (bottom-up, parallel top-down);
/// the narrow levels ([`top_down_flat`]) mark the parents alone, and their
/// nodes' bits are set before a level that reads the bits
/// ([`Marks::set_bits`]). The result keeps the parents alone.
struct Marks<'a> {
    visited: Vec<AtomicU64>,
    parent: &'a [AtomicU32],
}

impl Marks<'_> {
    /// Records that `v` was reached from `u` (its visited bit is the
    /// caller's).
    #[inline]
    fn reach(&self, v: NodeId, u: NodeId) {
        // A view's ids are below `NodeId::MAX - 1` (its hash slots reserve
        // the top two), so `u + 1` does not wrap.
        self.parent[v as usize].store(u + 1, Relaxed);
    }

    /// Sets the visited bits of `nodes`, reached by narrow levels.
    fn set_bits(&self, nodes: &[NodeId]) {
        for &v in nodes {
            let word = &self.visited[v as usize / 64];
            // One thread: a plain load and store, no read-modify-write.
            word.store(word.load(Relaxed) | 1 << (v % 64), Relaxed);
        }
    }
}

/// Which edge kinds a traversal follows: one flag per kind id of the view.
pub(crate) struct EdgeFilter(Option<Vec<bool>>);

impl EdgeFilter {
    /// A filter for `kinds`; none when they include every kind some edge of
    /// the view has, so that such a walk takes the unfiltered paths (no kind
    /// column read per edge) — e.g. param impact's walk over reference edges
    /// in a graph whose only edges are references.
    pub(crate) fn new(view: &View, kinds: Option<&[String]>) -> Self {
        let flags: Option<Vec<bool>> =
            kinds.map(|kinds| view.edge_kind_labels().iter().map(|k| kinds.iter().any(|w| w == k)).collect());
        Self(flags.filter(|flags| flags.iter().zip(view.edge_kinds_present()).any(|(&ok, &present)| present && !ok)))
    }

    #[inline]
    fn allows(&self, rows: &Csr, pos: usize) -> bool {
        self.0.as_ref().is_none_or(|ok| ok[rows.kind_at(pos) as usize])
    }
}

/// Breadth-first search from `sources` in `direction`.
///
/// Direction-optimising (Beamer et al.): while the frontier is small, each
/// frontier node pushes to its unvisited neighbours (top-down); once the
/// frontier's edges outnumber a fraction of the unexplored ones, every
/// unvisited node instead looks for one parent in the frontier and stops at
/// the first (bottom-up), which skips most edges of a dense middle level.
/// Bottom-up levels and large top-down ones run on rayon's pool; a
/// top-down level of fewer than [`PARALLEL_FRONTIER`] nodes runs on one
/// thread, without data-dependent branches ([`top_down_flat`]).
pub(crate) fn bfs(view: &View, sources: &[NodeId], direction: crate::Direction, limits: &Traversal) -> Reach {
    let (out, inn) = view.adjacency(direction);
    let filter = EdgeFilter::new(view, limits.edge_kinds.as_deref());
    let n = view.len();
    let words = n.div_ceil(64);
    // Zeroed by the allocator (fresh pages need no writing), and handed to
    // the result as it is rather than converted from atomics at the end.
    let mut parent: Vec<NodeId> = vec![0; n];
    let marks = Marks { visited: (0..words).map(|_| AtomicU64::new(0)).collect(), parent: as_atomic(&mut parent) };
    // Room for every node: a wide search does not copy its list as it grows
    // (the pages it does not reach are never touched).
    let mut order: Vec<NodeId> = Vec::with_capacity(n);
    for &s in sources {
        if marks.visited[s as usize / 64].fetch_or(1 << (s % 64), Relaxed) & (1 << (s % 64)) == 0 {
            marks.reach(s, s);
            order.push(s);
        }
    }
    let mut levels = vec![0, order.len()];
    let mut frontier = order.clone();
    let total_edges = out.edge_count() as u64;
    let mut explored: u64 = frontier.iter().map(|&s| u64::from(out.degree(s))).sum();
    // Edges out of the frontier (while it is a list).
    let mut frontier_edges = explored;
    // `order[..synced]` have their visited bits set; the nodes after them
    // were reached by narrow levels, which mark parents alone.
    let mut synced = order.len();
    let mut bottom_up: Option<Vec<u64>> = None;
    // A narrow level's edge lists, and the frontier before last, kept from
    // level to level: a long, narrow search (a thousand levels) allocates
    // and zeroes nothing per level.
    let (mut scratch, mut spare) = ((Vec::new(), Vec::new()), Vec::new());
    loop {
        if limits.max_depth.is_some_and(|m| levels.len() - 2 >= m as usize) {
            break;
        }
        if let Some(bits) = bottom_up.take() {
            let (next, count, count_edges) = bottom_up_step(out, inn, &filter, &bits, &marks);
            if count == 0 {
                break;
            }
            let start = order.len();
            append_bits(&next, &mut order);
            synced = order.len();
            levels.push(order.len());
            explored += count_edges;
            if (count as u64) < n as u64 / BETA {
                frontier = order[start..].to_vec();
                frontier_edges = count_edges;
            } else {
                bottom_up = Some(next);
            }
        } else {
            if frontier.is_empty() {
                break;
            }
            let unexplored = total_edges.saturating_sub(explored);
            if frontier.len() >= PARALLEL_FRONTIER {
                marks.set_bits(&order[synced..]);
                synced = order.len();
            }
            if frontier.len() >= PARALLEL_FRONTIER && frontier_edges > unexplored / ALPHA {
                let mut bits = vec![0u64; words];
                for &f in &frontier {
                    bits[f as usize / 64] |= 1 << (f % 64);
                }
                bottom_up = Some(bits);
                continue;
            }
            let edges = usize::try_from(frontier_edges).unwrap_or(usize::MAX);
            let next = if frontier.len() < PARALLEL_FRONTIER {
                let k = top_down_flat(out, &filter, &frontier, edges, &marks, &mut scratch);
                let mut next = std::mem::take(&mut spare);
                next.clear();
                next.extend_from_slice(&scratch.0[..k]);
                next
            } else {
                let next = top_down_step(out, &filter, &frontier, &marks);
                synced += next.len();
                next
            };
            if next.is_empty() {
                break;
            }
            order.extend_from_slice(&next);
            levels.push(order.len());
            frontier_edges = touch_rows(out, &next);
            explored += frontier_edges;
            spare = std::mem::replace(&mut frontier, next);
        }
    }
    drop(marks);
    order.shrink_to_fit();
    Reach { order, levels, parent, depth: OnceLock::new() }
}

/// `values` as atomics, for the levels that store into them from several
/// threads.
#[allow(unsafe_code)]
fn as_atomic(values: &mut [u32]) -> &[AtomicU32] {
    const { assert!(size_of::<AtomicU32>() == size_of::<u32>() && align_of::<AtomicU32>() == align_of::<u32>()) };
    // SAFETY: `AtomicU32` has the same bit validity as `u32` (its
    // documentation), and the assertion above proves their sizes and
    // alignments equal on this target, so each `u32` of the slice is a
    // valid, aligned `AtomicU32`. The exclusive borrow of `values` lasts as
    // long as the returned slice, so no access other than through the
    // atomics overlaps.
    unsafe { std::slice::from_raw_parts(values.as_mut_ptr().cast::<AtomicU32>(), values.len()) }
}

fn top_down_step(out: &Csr, filter: &EdgeFilter, frontier: &[NodeId], marks: &Marks<'_>) -> Vec<NodeId> {
    frontier
        .par_chunks(256)
        .map(|chunk| {
            let mut next = Vec::new();
            for &u in chunk {
                for pos in out.range(u) {
                    let v = out.targets[pos];
                    let (w, bit) = (v as usize / 64, 1u64 << (v % 64));
                    if marks.visited[w].load(Relaxed) & bit != 0 || !filter.allows(out, pos) {
                        continue;
                    }
                    if marks.visited[w].fetch_or(bit, Relaxed) & bit == 0 {
                        marks.reach(v, u);
                        next.push(v);
                    }
                }
            }
            next
        })
        .flatten_iter()
        .collect()
}

/// One single-threaded top-down level, free of data-dependent branches: the
/// frontier's small levels (a long, narrow DAG walks a thousand of them)
/// would otherwise mispredict about once per row where the row ends, and on
/// about every other edge on whether its target was seen, a coin toss.
///
/// The frontier's edges are first laid out flat ([`gather`]). Then each
/// edge's target is written back at slot `k` of the same list, and `k`
/// advances only when the target was unseen, so a seen target is
/// overwritten by the next edge. The mark is the target's parent entry
/// itself (stored unless already set: the first edge to reach a node
/// wins), not its visited bit: consecutive edges mostly reach nearby ids,
/// whose bits share a word, so each bit's load waited for the store the
/// edge before had made to that word (perf put most of the local search's
/// time on that load). The lists are the
/// caller's, kept between levels; the new nodes are the first `k`
/// (returned) of the first. Their bits are left to [`Marks::set_bits`].
fn top_down_flat(
    out: &Csr,
    filter: &EdgeFilter,
    frontier: &[NodeId],
    frontier_edges: usize,
    marks: &Marks<'_>,
    (next, from): &mut (Vec<NodeId>, Vec<NodeId>),
) -> usize {
    let edges = gather(out, filter, frontier, frontier_edges, (next, from));
    let mut k = 0usize;
    for i in 0..edges {
        let (v, u) = (next[i], from[i]);
        let entry = &marks.parent[v as usize];
        // Single-threaded: a plain load and store, no read-modify-write.
        let was = entry.load(Relaxed);
        entry.store(if was == 0 { u + 1 } else { was }, Relaxed);
        // `k <= i`: the slot written was read already.
        next[k] = v;
        k += usize::from(was == 0);
    }
    k
}

/// The edges out of `nodes`, a level's new nodes. Reading them also brings
/// the next level's rows into cache here, in loops that do nothing else,
/// so that their misses overlap rather than stall the next level's
/// [`gather`] one row at a time.
///
/// When nearly all the nodes lie in a narrow range of ids ([`Band`]), the
/// rows of that range are one stretch of the offsets and one of the
/// targets, read once per cache line: every read is independent of the
/// others, so as many are in flight as the core allows. Otherwise (and for
/// the few nodes outside the band) each node's row offsets and first target
/// are read, each read waiting on the one before it.
fn touch_rows(out: &Csr, nodes: &[NodeId]) -> u64 {
    const LINE: usize = 64 / size_of::<NodeId>();
    // No band: an empty range, so every node is read one by one below.
    let (lo, hi) = match Band::of(nodes) {
        Some(Band { lo, hi }) => (lo as usize, hi as usize),
        None => (usize::MAX, 0),
    };
    let mut touched = 0u32;
    if lo <= hi {
        for &o in out.offsets[lo..=hi + 1].iter().step_by(LINE) {
            touched ^= o;
        }
    }
    let (mut edges, mut inside) = (0u64, 0u64);
    for &u in nodes {
        let (start, end) = (out.offsets[u as usize], out.offsets[u as usize + 1]);
        let degree = u64::from(end - start);
        edges += degree;
        if (lo..=hi).contains(&(u as usize)) {
            inside += degree;
        } else {
            touched ^= out.targets.get(start as usize).copied().unwrap_or(0);
        }
    }
    if lo <= hi {
        let rows = out.offsets[lo] as usize..out.offsets[hi + 1] as usize;
        // Unless the band's rows are mostly other nodes'.
        if (rows.len() as u64) < 4 * inside + LINE as u64 {
            for &t in out.targets[rows].iter().step_by(LINE) {
                touched ^= t;
            }
        }
    }
    // Keeps the reads: the compiler may not drop a value it cannot see into.
    std::hint::black_box(touched);
    edges
}

/// The narrow range of ids that nearly all of a level's new nodes lie in,
/// if there is one: at most 64 ids per node wide, holding all but up to one
/// node in sixteen (a graph's few far-off nodes, such as another kind's,
/// whose ids sort apart), and as tight as those nodes allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Band {
    lo: NodeId,
    hi: NodeId,
}

impl Band {
    fn of(nodes: &[NodeId]) -> Option<Band> {
        let (min, max) = nodes.iter().fold((NodeId::MAX, 0), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        if nodes.is_empty() {
            return None;
        }
        let width = NodeId::try_from(64 * nodes.len()).unwrap_or(NodeId::MAX);
        if max - min < width {
            return Some(Band { lo: min, hi: max });
        }
        // Anchored at either end: whichever holds more of the nodes.
        let low = nodes.iter().filter(|&&v| v - min < width).count();
        let high = nodes.iter().filter(|&&v| max - v < width).count();
        let (first, last) = if low >= high { (min, min + (width - 1)) } else { (max - (width - 1), max) };
        if low.max(high) < nodes.len() - nodes.len() / 16 {
            return None;
        }
        let inside = nodes.iter().copied().filter(|&v| (first..=last).contains(&v));
        let (lo, hi) = inside.fold((last, first), |(lo, hi), v| (lo.min(v), hi.max(v)));
        Some(Band { lo, hi })
    }
}

/// Rows up to this long are copied by [`gather`] as one block.
const GATHER: usize = 8;

/// The edges out of `frontier` (`frontier_edges` of them) that `filter`
/// allows, laid out flat: on return `targets[i]` and `sources[i]`, for `i`
/// below the returned count, are their ends, row by row.
///
/// With every kind allowed, rows of up to [`GATHER`] edges are copied as one
/// fixed-size block (its tail is overwritten by the next row), so the copy
/// has no branch on a row's length, which in a short-rowed graph
/// mispredicts about once per row. A filter writes each edge and advances
/// past it only if its kind is allowed.
fn gather(
    out: &Csr,
    filter: &EdgeFilter,
    frontier: &[NodeId],
    frontier_edges: usize,
    (targets, sources): (&mut Vec<NodeId>, &mut Vec<NodeId>),
) -> usize {
    // Buffers kept from level to level: grown, never shrunk (nor refilled).
    let room = frontier_edges + GATHER;
    if targets.len() < room {
        targets.resize(room, 0);
        sources.resize(room, 0);
    }
    let mut p = 0;
    if filter.0.is_some() {
        for &u in frontier {
            for pos in out.range(u) {
                targets[p] = out.targets[pos];
                sources[p] = u;
                p += usize::from(filter.allows(out, pos));
            }
        }
        return p;
    }
    for &u in frontier {
        let range = out.range(u);
        let len = range.len();
        // `p + len <= frontier_edges`, so a block at `p` fits.
        match out.targets.get(range.start..range.start + GATHER) {
            Some(block) if len <= GATHER => {
                targets[p..p + GATHER].copy_from_slice(block);
                sources[p..p + GATHER].fill(u);
            }
            _ => {
                targets[p..p + len].copy_from_slice(&out.targets[range]);
                sources[p..p + len].fill(u);
            }
        }
        p += len;
    }
    p
}

/// One bottom-up level: every unvisited node looks for a parent in the
/// frontier. Each 64-node word is owned by one task, so the visited words
/// are updated without read-modify-write races.
fn bottom_up_step(
    out: &Csr,
    inn: &Csr,
    filter: &EdgeFilter,
    frontier: &[u64],
    marks: &Marks<'_>,
) -> (Vec<u64>, usize, u64) {
    let n = marks.parent.len();
    let mut next = vec![0u64; frontier.len()];
    let (count, edges) = next
        .par_iter_mut()
        .enumerate()
        .with_min_len(64)
        .map(|(w, next_word)| {
            let seen = marks.visited[w].load(Relaxed);
            let valid = if (w + 1) * 64 <= n { u64::MAX } else { (1u64 << (n - w * 64)) - 1 };
            let mut todo = !seen & valid;
            let (mut count, mut edges) = (0usize, 0u64);
            while todo != 0 {
                let b = todo.trailing_zeros();
                todo &= todo - 1;
                let v = (w * 64) as NodeId + b;
                for pos in inn.range(v) {
                    let u = inn.targets[pos];
                    if frontier[u as usize / 64] & (1 << (u % 64)) != 0 && filter.allows(inn, pos) {
                        marks.reach(v, u);
                        *next_word |= 1 << b;
                        count += 1;
                        edges += u64::from(out.degree(v));
                        break;
                    }
                }
            }
            marks.visited[w].store(seen | *next_word, Relaxed);
            (count, edges)
        })
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    (next, count, edges)
}

/// Appends the ids whose bits are set to `list`, in order, on rayon's
/// pool: each task counts its words' bits, then writes its ids into its own
/// stretch of the list.
fn append_bits(bits: &[u64], list: &mut Vec<NodeId>) {
    const WORDS: usize = 1024;
    let counts: Vec<usize> =
        bits.par_chunks(WORDS).map(|chunk| chunk.iter().map(|w| w.count_ones() as usize).sum()).collect();
    let start = list.len();
    list.resize(start + counts.iter().sum::<usize>(), 0);
    let mut rest = &mut list[start..];
    let mut stretches = Vec::with_capacity(counts.len());
    for &count in &counts {
        let (stretch, tail) = rest.split_at_mut(count);
        stretches.push(stretch);
        rest = tail;
    }
    bits.par_chunks(WORDS).zip(stretches).enumerate().for_each(|(c, (chunk, stretch))| {
        let mut at = 0;
        for (w, &word) in chunk.iter().enumerate() {
            let base = ((c * WORDS + w) * 64) as NodeId;
            let mut word = word;
            while word != 0 {
                stretch[at] = base + word.trailing_zeros();
                at += 1;
                word &= word - 1;
            }
        }
    });
}

impl View {
    /// Breadth-first search from every id in `sources` at once (a
    /// multi-source pass: each node is reported once, at its distance from
    /// the nearest source).
    ///
    /// ```
    /// use karma_core::{Component, EdgeKind, Graph};
    /// use karma_query::{Direction, Traversal, View};
    ///
    /// let mut g = Graph::new();
    /// for name in ["db", "api", "gateway"] {
    ///     g.insert(Component::new("Node", name)?)?;
    /// }
    /// g.connect("Node/api", "Node/db", EdgeKind::DependsOn, [])?;
    /// g.connect("Node/gateway", "Node/api", EdgeKind::DependsOn, [])?;
    /// let view = View::new(&g);
    /// let db = view.id(&"Node/db".parse()?).unwrap();
    /// let reach = view.reach(&[db], Direction::Dependents, &Traversal::default());
    /// assert_eq!(reach.len(), 2);
    /// let gateway = view.id(&"Node/gateway".parse()?).unwrap();
    /// assert_eq!(reach.depth(gateway), Some(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reach(&self, sources: &[NodeId], direction: crate::Direction, limits: &Traversal) -> Reach {
        bfs(self, sources, direction, limits)
    }
}

/// Every component reachable from `start` in `direction`, nearest first (ties
/// in key order), each with its distance and one shortest witness path.
/// The start itself is not reported.
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
    Ok(bfs(view, &[start], direction, limits).to_reached(view))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Every edge out of the frontier the filter allows, row by row, with
        /// its source: short rows copied as blocks, long rows and rows near
        /// the end of the targets one by one.
        #[test]
        fn gather_lists_the_frontiers_edges(
            rows in prop::collection::vec(prop::collection::vec((0u32..1000, 0u16..3), 0..20), 1..30),
            picks in prop::collection::vec(0usize..30, 0..40),
            allowed in prop::option::of(prop::collection::vec(any::<bool>(), 3)),
        ) {
            let mut csr = Csr { offsets: vec![0], targets: Vec::new(), kinds: Some(Vec::new()) };
            for row in &rows {
                for &(t, kind) in row {
                    csr.targets.push(t);
                    csr.kinds.as_mut().unwrap().push(kind);
                }
                csr.offsets.push(csr.targets.len() as u32);
            }
            let frontier: Vec<NodeId> = picks.iter().map(|&p| (p % rows.len()) as NodeId).collect();
            let filter = EdgeFilter(allowed.clone());
            let want: Vec<(NodeId, NodeId)> = frontier
                .iter()
                .flat_map(|&u| rows[u as usize].iter().map(move |&(t, kind)| (t, u, kind)))
                .filter(|&(_, _, kind)| allowed.as_ref().is_none_or(|ok| ok[kind as usize]))
                .map(|(t, u, _)| (t, u))
                .collect();
            let edges: usize = frontier.iter().map(|&u| csr.degree(u) as usize).sum();
            let (mut targets, mut sources) = (vec![7; 3], Vec::new());
            let listed = gather(&csr, &filter, &frontier, edges, (&mut targets, &mut sources));
            let got: Vec<(NodeId, NodeId)> = targets[..listed].iter().copied().zip(sources[..listed].iter().copied()).collect();
            prop_assert_eq!(got, want);
        }

        /// A band is at most 64 ids per node wide, holds all but one node in
        /// sixteen, and is tight; there is none only when neither end's
        /// window holds that many.
        #[test]
        fn band_holds_nearly_all_nodes(
            near in prop::collection::btree_set(0u32..3000, 1..200),
            far in prop::collection::btree_set(0u32..1_000_000, 0..12),
            base in 0u32..1_000_000,
        ) {
            let nodes: BTreeSet<NodeId> = near.iter().map(|&v| v + base).chain(far.iter().copied()).collect();
            let nodes: Vec<NodeId> = nodes.into_iter().collect();
            let len = nodes.len();
            let width = 64 * len as u64;
            let held = |lo: NodeId, hi: NodeId| nodes.iter().filter(|&&v| v >= lo && v <= hi).count();
            if let Some(Band { lo, hi }) = Band::of(&nodes) {
                prop_assert!(u64::from(hi - lo) < width);
                prop_assert!(held(lo, hi) >= len - len / 16);
                prop_assert!(nodes.contains(&lo) && nodes.contains(&hi));
            } else {
                let (min, max) = (nodes[0], nodes[len - 1]);
                let low = nodes.iter().filter(|&&v| u64::from(v - min) < width).count();
                let high = nodes.iter().filter(|&&v| u64::from(max - v) < width).count();
                prop_assert!(low.max(high) < len - len / 16);
            }
        }

        /// The sum of the nodes' degrees, whether they form a band, a band
        /// with far-off nodes, or neither.
        #[test]
        fn touch_rows_counts_the_edges(
            degrees in prop::collection::vec(0u32..12, 1..3000),
            picks in prop::collection::btree_set(0usize..3000, 0..100),
            band in 0usize..2900,
        ) {
            let mut csr = Csr { offsets: vec![0], targets: Vec::new(), kinds: None };
            for (i, &d) in degrees.iter().enumerate() {
                csr.targets.extend((0..d).map(|j| (i as u32).wrapping_mul(31).wrapping_add(j)));
                csr.offsets.push(csr.targets.len() as u32);
            }
            let n = degrees.len();
            // Mostly near `band`, some anywhere.
            let nodes: Vec<NodeId> = picks
                .iter()
                .map(|&p| if p % 10 == 0 { p % n } else { (band + p % 50) % n })
                .collect::<BTreeSet<_>>()
                .into_iter()
                .map(|v| v as NodeId)
                .collect();
            let want: u64 = nodes.iter().map(|&v| u64::from(degrees[v as usize])).sum();
            prop_assert_eq!(touch_rows(&csr, &nodes), want);
        }
    }
}
