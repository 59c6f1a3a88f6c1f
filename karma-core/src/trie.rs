//! A persistent hash trie with Merkle hashes: the structure under snapshots.
//!
//! A hash array mapped trie (32-way, keyed by a stable 64-bit hash of the key)
//! whose nodes are shared between versions through `Arc`: a clone is O(1) and
//! a change copies only the path from the root to the changed entry, in place
//! when that path is not shared.
//!
//! Its shape depends only on the set of keys, never on insertion order (a
//! subtree holding one key collapses into a leaf, equal full hashes go to a
//! sorted collision bucket), so each node can carry a Merkle hash of its
//! subtree, computed lazily and cached, as git does for trees. Diffing two
//! tries skips every pair of subtrees that are the same node or have equal
//! cached hashes, so it costs O(changes · depth), not O(n).

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rayon::prelude::*;

use crate::error::Error;
use crate::hash::{Canonical, ContentHash};
use crate::tree::{StoreTag, StoredEntry, StoredNode, StoredRef};

const BITS: u32 = 5;
const MASK: u64 = (1 << BITS) - 1;
/// Changed child nodes of the root from which their hashes are computed in
/// parallel.
const PARALLEL_HASH: usize = 4;
/// Unstored child nodes of the root from which they persist in parallel.
const PARALLEL_PERSIST: usize = 4;

/// A key that can live in a [`Trie`].
pub(crate) trait TrieKey: Clone + Ord + Send + Sync {
    /// A stable 64-bit hash: it fixes the trie's shape, so it must never
    /// change between versions or processes.
    fn trie_hash(&self) -> u64;
    /// Writes the key into a canonical encoding.
    fn write_key(&self, c: &mut Canonical);
}

/// A value that can live in a [`Trie`].
pub(crate) trait TrieValue: Clone + PartialEq + Send + Sync {
    /// The hash of the value's content.
    fn merkle(&self) -> ContentHash;
}

pub(crate) struct Trie<K, V> {
    root: Arc<Node<K, V>>,
    len: usize,
}

pub(crate) struct Node<K, V> {
    bitmap: u32,
    entries: Vec<Entry<K, V>>,
    /// The Merkle hash and each entry's part of it, computed lazily.
    merkle: OnceLock<Hashed>,
    /// Where a store persisted this node and each of its entries (see
    /// `crate::tree`); cleared on every change.
    stored: StoredCell,
    /// What an earlier version of this node knew of its entries.
    earlier: Memo,
}

/// A node's Merkle hash, with the hash of each entry's child node or value
/// in slot order (zero for a collision bucket, which is never reused).
struct Hashed {
    hash: ContentHash,
    slots: Arc<[ContentHash]>,
}

/// A location no entry has: a collision bucket's slot in a node's stored
/// locations (buckets are rare and always stored entry by entry).
const NO_LOCATION: u64 = u64::MAX;

/// Where a store put a node and, in slot order, its entries' child nodes
/// or values.
#[derive(Clone)]
struct Stored {
    tag: StoreTag,
    slots: Arc<[u64]>,
}

/// Where a node is stored; set when a write is confirmed or the node is
/// loaded.
#[derive(Default)]
struct StoredCell(Mutex<Option<Stored>>);

impl StoredCell {
    fn get(&self) -> Option<Stored> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn set(&self, stored: Stored) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(stored);
    }

    fn tag(&self) -> Option<StoreTag> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).as_ref().map(|s| s.tag)
    }
}

/// The entry hashes and store locations of an earlier version of a node,
/// slot by slot, kept by its later versions for the slots they have not
/// changed, so that hashing or persisting a changed node reads its
/// unchanged children's hashes and locations from here instead of from
/// each child (a cache miss per sibling of every changed entry).
///
/// Sound because every change to a node's entries goes through
/// `Node::touch` with the slot it changes, and a node's children change
/// only through it (copied on write when shared).
#[derive(Clone, Default)]
struct Memo {
    hashes: Option<SlotMemo<ContentHash>>,
    /// The store the locations belong to, and the locations.
    stored: Option<(u64, SlotMemo<u64>)>,
}

#[derive(Clone)]
struct SlotMemo<T> {
    /// The slots occupied when the values were recorded.
    bitmap: u32,
    /// Slots changed since: their values are stale.
    changed: u32,
    /// One value per occupied slot, in slot order.
    values: Arc<[T]>,
}

impl<T: Copy> SlotMemo<T> {
    fn fresh(bitmap: u32, values: &Arc<[T]>) -> Self {
        Self { bitmap, changed: 0, values: Arc::clone(values) }
    }

    fn get(&self, idx: u32) -> Option<T> {
        let bit = 1u32 << idx;
        (self.bitmap & bit != 0 && self.changed & bit == 0)
            .then(|| self.values[(self.bitmap & (bit - 1)).count_ones() as usize])
    }
}

impl Memo {
    fn mark(&mut self, idx: u32) {
        if let Some(h) = &mut self.hashes {
            h.changed |= 1 << idx;
        }
        if let Some((_, s)) = &mut self.stored {
            s.changed |= 1 << idx;
        }
    }

    /// The hash recorded for the unchanged slot `idx`.
    fn hash(&self, idx: u32) -> Option<ContentHash> {
        self.hashes.as_ref()?.get(idx)
    }

    /// Where the unchanged slot `idx`'s child or value is in `store`.
    fn location(&self, idx: u32, store: u64) -> Option<u64> {
        let (at, slots) = self.stored.as_ref()?;
        slots.get(idx).filter(|&l| *at == store && l != NO_LOCATION)
    }
}

pub(crate) enum Entry<K, V> {
    Leaf {
        hash: u64,
        key: K,
        value: V,
    },
    /// Two or more keys with the same full hash, sorted by key.
    Collision {
        hash: u64,
        items: Arc<Vec<(K, V)>>,
    },
    Node(Arc<Node<K, V>>),
}

impl<K: Clone, V: Clone> Clone for Entry<K, V> {
    fn clone(&self) -> Self {
        match self {
            Self::Leaf { hash, key, value } => Self::Leaf { hash: *hash, key: key.clone(), value: value.clone() },
            Self::Collision { hash, items } => Self::Collision { hash: *hash, items: Arc::clone(items) },
            Self::Node(n) => Self::Node(Arc::clone(n)),
        }
    }
}

impl<K: Clone, V: Clone> Clone for Node<K, V> {
    fn clone(&self) -> Self {
        // Cloned only to be changed (`Arc::make_mut`): neither the hash nor
        // the store location carries over, only what they knew of the
        // entries.
        Self {
            bitmap: self.bitmap,
            entries: self.entries.clone(),
            merkle: OnceLock::new(),
            stored: StoredCell::default(),
            earlier: self.memo(),
        }
    }
}

impl<K, V> Clone for Trie<K, V> {
    fn clone(&self) -> Self {
        Self { root: Arc::clone(&self.root), len: self.len }
    }
}

impl<K, V> Default for Trie<K, V> {
    fn default() -> Self {
        Self { root: Arc::new(Node::empty()), len: 0 }
    }
}

fn index(hash: u64, shift: u32) -> u32 {
    ((hash >> shift) & MASK) as u32
}

impl<K, V> Node<K, V> {
    fn new(bitmap: u32, entries: Vec<Entry<K, V>>) -> Self {
        Self { bitmap, entries, merkle: OnceLock::new(), stored: StoredCell::default(), earlier: Memo::default() }
    }

    fn empty() -> Self {
        Self::new(0, Vec::new())
    }

    /// What this version knows of its entries' hashes and locations: its
    /// own where computed, else what it kept from an earlier version.
    fn memo(&self) -> Memo {
        let hashes = match self.merkle.get() {
            Some(h) => Some(SlotMemo::fresh(self.bitmap, &h.slots)),
            None => self.earlier.hashes.clone(),
        };
        let stored = match self.stored.get() {
            Some(s) => Some((s.tag.store, SlotMemo::fresh(self.bitmap, &s.slots))),
            None => self.earlier.stored.clone(),
        };
        Memo { hashes, stored }
    }

    /// Before the entry in slot `idx` changes: forgets the node's hash and
    /// store location, keeping what they knew of the other slots.
    fn touch(&mut self, idx: u32) {
        if self.merkle.get().is_some() || self.stored.tag().is_some() {
            self.earlier = self.memo();
            self.merkle = OnceLock::new();
            self.stored = StoredCell::default();
        }
        self.earlier.mark(idx);
    }

    fn slot(&self, idx: u32) -> Option<usize> {
        let bit = 1u32 << idx;
        (self.bitmap & bit != 0).then(|| (self.bitmap & (bit - 1)).count_ones() as usize)
    }

    fn entry(&self, idx: u32) -> Option<&Entry<K, V>> {
        self.slot(idx).map(|i| &self.entries[i])
    }
}

impl<K: TrieKey, V: TrieValue> Entry<K, V> {
    fn hash(&self) -> u64 {
        match self {
            Self::Leaf { hash, .. } | Self::Collision { hash, .. } => *hash,
            Self::Node(_) => unreachable!("only leaves and buckets are moved down"),
        }
    }

    /// The canonical subtree holding two entries whose hashes differ.
    fn pair(a: Self, b: Self, shift: u32) -> Node<K, V> {
        let (ia, ib) = (index(a.hash(), shift), index(b.hash(), shift));
        let (bitmap, entries) = match ia.cmp(&ib) {
            std::cmp::Ordering::Less => ((1 << ia) | (1 << ib), vec![a, b]),
            std::cmp::Ordering::Greater => ((1 << ia) | (1 << ib), vec![b, a]),
            std::cmp::Ordering::Equal => (1 << ia, vec![Self::Node(Arc::new(Self::pair(a, b, shift + BITS)))]),
        };
        Node::new(bitmap, entries)
    }

    fn for_each<'a>(&'a self, f: &mut impl FnMut(&'a K, &'a V)) {
        match self {
            Self::Leaf { key, value, .. } => f(key, value),
            Self::Collision { items, .. } => items.iter().for_each(|(k, v)| f(k, v)),
            Self::Node(n) => n.entries.iter().for_each(|e| e.for_each(f)),
        }
    }

    /// Writes the entry into its node's hash; `known` is the hash of its
    /// value or child node when an earlier version of the node recorded it.
    /// Returns that hash (zero for a bucket).
    fn write_merkle(&self, c: &mut Canonical, known: Option<ContentHash>) -> ContentHash {
        match self {
            Self::Leaf { key, value, .. } => {
                let hash = known.unwrap_or_else(|| value.merkle());
                c.tag(0);
                key.write_key(c);
                c.hash(&hash);
                hash
            }
            Self::Collision { items, .. } => {
                c.tag(1).u64(items.len() as u64);
                for (key, value) in items.iter() {
                    key.write_key(c);
                    c.hash(&value.merkle());
                }
                ContentHash::from_bytes([0; 32])
            }
            Self::Node(n) => {
                let hash = known.unwrap_or_else(|| n.merkle());
                c.tag(2).hash(&hash);
                hash
            }
        }
    }
}

impl<K: TrieKey, V: TrieValue> Node<K, V> {
    fn merkle(&self) -> ContentHash {
        self.merkle
            .get_or_init(|| {
                // A leaf writes a tag, a short key and a hash: ~64 bytes.
                let mut c = Canonical::with_capacity("karma.trie.node.v1", 16 + 64 * self.entries.len());
                c.u64(u64::from(self.bitmap));
                let mut bits = self.bitmap;
                let hashes: Arc<[ContentHash]> = self
                    .entries
                    .iter()
                    .map(|e| {
                        let idx = bits.trailing_zeros();
                        bits &= bits - 1;
                        let known = match e {
                            Entry::Collision { .. } => None,
                            _ => self.earlier.hash(idx),
                        };
                        e.write_merkle(&mut c, known)
                    })
                    .collect();
                Hashed { hash: c.finish(), slots: hashes }
            })
            .hash
    }

    fn insert(this: &mut Arc<Self>, hash: u64, key: K, value: V, shift: u32) -> Option<V> {
        let node = Arc::make_mut(this);
        let idx = index(hash, shift);
        node.touch(idx);
        let Some(pos) = node.slot(idx) else {
            let pos = (node.bitmap & ((1u32 << idx) - 1)).count_ones() as usize;
            node.entries.insert(pos, Entry::Leaf { hash, key, value });
            node.bitmap |= 1 << idx;
            return None;
        };
        match &mut node.entries[pos] {
            Entry::Leaf { hash: h, key: k, value: v } if *h == hash => {
                if *k == key {
                    return Some(std::mem::replace(v, value));
                }
                let mut items = vec![(k.clone(), v.clone()), (key, value)];
                items.sort_by(|a, b| a.0.cmp(&b.0));
                node.entries[pos] = Entry::Collision { hash, items: Arc::new(items) };
                None
            }
            Entry::Collision { hash: h, items } if *h == hash => {
                let items = Arc::make_mut(items);
                match items.binary_search_by(|(k, _)| k.cmp(&key)) {
                    Ok(i) => Some(std::mem::replace(&mut items[i].1, value)),
                    Err(i) => {
                        items.insert(i, (key, value));
                        None
                    }
                }
            }
            Entry::Node(child) => Self::insert(child, hash, key, value, shift + BITS),
            entry @ (Entry::Leaf { .. } | Entry::Collision { .. }) => {
                let old = std::mem::replace(entry, Entry::Node(Arc::new(Node::empty())));
                let pair = Entry::pair(old, Entry::Leaf { hash, key, value }, shift + BITS);
                *entry = Entry::Node(Arc::new(pair));
                None
            }
        }
    }

    /// Removes `key`, which the caller has checked is present.
    fn remove(this: &mut Arc<Self>, hash: u64, key: &K, shift: u32) -> Option<V> {
        let node = Arc::make_mut(this);
        let idx = index(hash, shift);
        node.touch(idx);
        let pos = node.slot(idx)?;
        match &mut node.entries[pos] {
            Entry::Leaf { key: k, .. } if k == key => {
                node.bitmap &= !(1 << idx);
                match node.entries.remove(pos) {
                    Entry::Leaf { value, .. } => Some(value),
                    _ => unreachable!("matched a leaf"),
                }
            }
            Entry::Collision { items, .. } => {
                let items_mut = Arc::make_mut(items);
                let i = items_mut.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
                let (_, value) = items_mut.remove(i);
                if items_mut.len() == 1 {
                    let (key, v) = items_mut.pop().expect("one item left");
                    node.entries[pos] = Entry::Leaf { hash, key, value: v };
                }
                Some(value)
            }
            Entry::Node(child) => {
                let value = Self::remove(child, hash, key, shift + BITS)?;
                if child.entries.len() == 1 && !matches!(child.entries[0], Entry::Node(_)) {
                    let only = child.entries[0].clone();
                    node.entries[pos] = only;
                }
                Some(value)
            }
            Entry::Leaf { .. } => None,
        }
    }

    /// The value under `key`, for in-place change; copies the path if shared.
    fn get_mut<'a>(this: &'a mut Arc<Self>, hash: u64, key: &K, shift: u32) -> Option<&'a mut V> {
        let node = Arc::make_mut(this);
        let idx = index(hash, shift);
        node.touch(idx);
        let pos = node.slot(idx)?;
        match &mut node.entries[pos] {
            Entry::Leaf { key: k, value, .. } => (k == key).then_some(value),
            Entry::Collision { items, .. } => {
                let items = Arc::make_mut(items);
                let i = items.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
                Some(&mut items[i].1)
            }
            Entry::Node(child) => Self::get_mut(child, hash, key, shift + BITS),
        }
    }
}

impl<K: TrieKey, V: TrieValue> Trie<K, V> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        let hash = key.trie_hash();
        let mut node = &*self.root;
        let mut shift = 0;
        loop {
            match node.entry(index(hash, shift))? {
                Entry::Leaf { key: k, value, .. } => return (k == key).then_some(value),
                Entry::Collision { items, .. } => {
                    return items.binary_search_by(|(k, _)| k.cmp(key)).ok().map(|i| &items[i].1);
                }
                Entry::Node(child) => {
                    node = child;
                    shift += BITS;
                }
            }
        }
    }

    pub(crate) fn contains(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        let old = Node::insert(&mut self.root, key.trie_hash(), key, value, 0);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// The value under `key`, mutably (copying the shared part of its path).
    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        if !self.contains(key) {
            return None;
        }
        Node::get_mut(&mut self.root, key.trie_hash(), key, 0)
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        if !self.contains(key) {
            return None;
        }
        let old = Node::remove(&mut self.root, key.trie_hash(), key, 0);
        debug_assert!(old.is_some(), "key was present");
        self.len -= 1;
        old
    }

    /// The Merkle hash of the whole trie (cached per node). When several of
    /// the root's child nodes changed (a large commit), their hashes are
    /// computed on rayon's pool first; a small change stays on this thread.
    pub(crate) fn root_hash(&self) -> ContentHash {
        if self.root.merkle.get().is_none() {
            let dirty: Vec<&Node<K, V>> = self
                .root
                .entries
                .iter()
                .filter_map(|e| match e {
                    Entry::Node(n) if n.merkle.get().is_none() => Some(&**n),
                    _ => None,
                })
                .collect();
            if dirty.len() >= PARALLEL_HASH {
                dirty.par_iter().for_each(|n| {
                    n.merkle();
                });
            }
        }
        self.root.merkle()
    }

    /// Whether the two tries are the same version (no comparison of content).
    pub(crate) fn ptr_eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.root, &other.root)
    }

    pub(crate) fn iter(&self) -> Iter<'_, K, V> {
        Iter::starting(self.root.entries.iter(), self.len)
    }

    /// Iterators over disjoint parts of the trie (one per child of the root)
    /// that together yield every entry once: to walk it from several threads.
    pub(crate) fn shards(&self) -> impl Iterator<Item = Shard<'_, K, V>> + '_ {
        self.root.entries.iter().map(|e| Shard(Iter::starting(std::slice::from_ref(e).iter(), usize::MAX)))
    }

    /// Entries sorted by key.
    pub(crate) fn sorted(&self) -> Vec<(&K, &V)> {
        let mut all: Vec<_> = self.iter().collect();
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        all
    }

    /// Calls `f(key, before, after)` for every key whose value differs
    /// between `self` (before) and `other` (after). Order is unspecified.
    pub(crate) fn diff<'a>(&'a self, other: &'a Self, f: &mut impl FnMut(&'a K, Option<&'a V>, Option<&'a V>)) {
        diff_nodes(&self.root, &other.root, f);
    }
}

/// Receives a trie's unstored parts during [`Trie::persist`].
pub(crate) trait PersistVisitor<V> {
    type Error;
    /// The store whose tags count as "already stored".
    fn store(&self) -> u64;
    /// Stores a value (if needed) and says where it is.
    fn value(&mut self, value: &V) -> Result<StoreTag, Self::Error>;
    /// Stores a node whose children are stored.
    fn node(&mut self, node: StoredNode, hash: &ContentHash) -> Result<StoreTag, Self::Error>;
    /// Keeps an action to run once the write is durable.
    fn pending(&mut self, set: Box<dyn FnOnce() + Send>);
    /// A visitor staging into the same store, for a subtree persisted on
    /// another thread (`None`: persist on this one).
    fn fork(&self) -> Option<Self>
    where
        Self: Sized;
    /// Takes over what a fork staged.
    fn join(&mut self, fork: Self) -> Result<(), Self::Error>
    where
        Self: Sized;
}

/// Supplies a stored trie's parts during [`Trie::load`].
pub(crate) trait LoadVisitor<K, V> {
    type Error: From<Error>;
    fn node(&mut self, location: u64) -> Result<StoredNode, Self::Error>;
    /// The value stored at `location`, and its key.
    fn value(&mut self, location: u64) -> Result<(K, V), Self::Error>;
    /// The store the locations belong to.
    fn store(&self) -> u64;
    /// Another visitor reading the same store, for a subtree loaded on
    /// another thread.
    fn fork(&self) -> Self
    where
        Self: Sized;
}

fn corrupt(what: String) -> Error {
    Error::Corrupt { what }
}

impl<K, V> Trie<K, V>
where
    K: TrieKey + Send + Sync + 'static,
    V: TrieValue + Send + Sync + 'static,
{
    /// Persists every node not yet stored in the visitor's store, children
    /// first, and returns the root's hash and location.
    ///
    /// When the root has several unstored subtrees and the visitor forks,
    /// they persist (encoding is most of the work) on rayon's pool, each
    /// through a fork joined back in the root's order.
    pub(crate) fn persist<P>(&self, visitor: &mut P) -> Result<StoredRef, P::Error>
    where
        P: PersistVisitor<V> + Send,
        P::Error: Send,
    {
        let hash = self.root.merkle();
        let tag = persist_root_in_parallel(&self.root, visitor)?;
        Ok(StoredRef { hash, tag })
    }

    /// Rebuilds a trie from its stored root, checking each node's shape and,
    /// through the Merkle hashes computed on the way up, every byte against
    /// `root.hash`.
    ///
    /// The root's subtrees load (and hash) on rayon's pool, each through a
    /// fork of `visitor`: decoding and hashing are most of a load's work.
    pub(crate) fn load<L>(root: &StoredRef, visitor: &mut L) -> Result<Self, L::Error>
    where
        L: LoadVisitor<K, V> + Send,
        L::Error: Send,
    {
        if root.tag.store != visitor.store() {
            return Err(corrupt(format!(
                "a trie root of store {:x} read from store {:x}",
                root.tag.store,
                visitor.store()
            ))
            .into());
        }
        let (node, len) = load_root_in_parallel(root.tag.location, visitor)?;
        if node.merkle() != root.hash {
            return Err(corrupt(format!("the stored trie does not match its root hash {}", root.hash)).into());
        }
        Ok(Self { root: node, len })
    }
}

fn persist_node<K, V, P>(node: &Arc<Node<K, V>>, visitor: &mut P) -> Result<StoreTag, P::Error>
where
    K: TrieKey + Send + Sync + 'static,
    V: TrieValue + Send + Sync + 'static,
    P: PersistVisitor<V>,
{
    if let Some(tag) = stored_in(node, visitor.store()) {
        return Ok(tag);
    }
    store_node(node, visitor, &mut |child, visitor| persist_node(child, visitor))
}

/// Where `node` is stored in `store`, if it is.
fn stored_in<K, V>(node: &Node<K, V>, store: u64) -> Option<StoreTag> {
    node.stored.tag().filter(|t| t.store == store)
}

/// Where the child node in slot `idx` of `node` is stored in `store`, if
/// it is: from what the node recorded of it, else from the child itself.
fn child_location<K, V>(node: &Node<K, V>, idx: u32, child: &Node<K, V>, store: u64) -> Option<u64> {
    node.earlier.location(idx, store).or_else(|| stored_in(child, store).map(|t| t.location))
}

/// Where each entry of a stored node is, in slot order ([`NO_LOCATION`] for
/// a bucket).
fn locations(entries: &[StoredEntry]) -> Arc<[u64]> {
    entries
        .iter()
        .map(|e| match e {
            StoredEntry::Leaf(at) | StoredEntry::Node(at) => *at,
            StoredEntry::Collision(_) => NO_LOCATION,
        })
        .collect()
}

/// The slot of each of `node`'s entries, in entry order.
fn slots<K, V>(node: &Node<K, V>) -> impl Iterator<Item = u32> + use<K, V> {
    let mut bits = node.bitmap;
    std::iter::from_fn(move || {
        (bits != 0).then(|| {
            let idx = bits.trailing_zeros();
            bits &= bits - 1;
            idx
        })
    })
}

/// Persists the root: its unstored subtrees on rayon's pool when there are
/// [`PARALLEL_PERSIST`] of them or more and the visitor forks.
fn persist_root_in_parallel<K, V, P>(root: &Arc<Node<K, V>>, visitor: &mut P) -> Result<StoreTag, P::Error>
where
    K: TrieKey + Send + Sync + 'static,
    V: TrieValue + Send + Sync + 'static,
    P: PersistVisitor<V> + Send,
    P::Error: Send,
{
    let store = visitor.store();
    let unstored = |(idx, e): (u32, &'_ Entry<K, V>)| match e {
        Entry::Node(child) if child_location(root, idx, child, store).is_none() => Some(Arc::clone(child)),
        _ => None,
    };
    let children: Vec<Arc<Node<K, V>>> = slots(root).zip(&root.entries).filter_map(unstored).collect();
    if stored_in(root, store).is_some() || children.len() < PARALLEL_PERSIST {
        return persist_node(root, visitor);
    }
    let Some(forks) = children.iter().map(|_| visitor.fork()).collect::<Option<Vec<P>>>() else {
        return persist_node(root, visitor);
    };
    let done: Vec<(StoreTag, P)> = children
        .par_iter()
        .zip(forks)
        .map(|(child, mut fork)| persist_node(child, &mut fork).map(|tag| (tag, fork)))
        .collect::<Result<_, _>>()?;
    let mut tags = Vec::with_capacity(done.len());
    for (tag, fork) in done {
        visitor.join(fork)?;
        tags.push(tag);
    }
    // `store_node` asks for exactly the unstored children, in order.
    let mut tags = tags.into_iter();
    store_node(root, visitor, &mut |_, _| Ok(tags.next().expect("a tag per unstored child")))
}

/// Stores `node` once its children are: each child node's location comes
/// from what the node recorded of it, or from the child's own tag, or else
/// from `child`, which stores it.
fn store_node<K, V, P>(
    node: &Arc<Node<K, V>>,
    visitor: &mut P,
    child: &mut impl FnMut(&Arc<Node<K, V>>, &mut P) -> Result<StoreTag, P::Error>,
) -> Result<StoreTag, P::Error>
where
    K: TrieKey + Send + Sync + 'static,
    V: TrieValue + Send + Sync + 'static,
    P: PersistVisitor<V>,
{
    let store = visitor.store();
    let mut entries = Vec::with_capacity(node.entries.len());
    for (idx, e) in slots(node).zip(&node.entries) {
        entries.push(match e {
            Entry::Leaf { value, .. } => StoredEntry::Leaf(match node.earlier.location(idx, store) {
                Some(at) => at,
                None => visitor.value(value)?.location,
            }),
            Entry::Collision { items, .. } => {
                let mut stored = Vec::with_capacity(items.len());
                for (_, v) in items.iter() {
                    stored.push(visitor.value(v)?.location);
                }
                StoredEntry::Collision(stored)
            }
            Entry::Node(c) => StoredEntry::Node(match child_location(node, idx, c, store) {
                Some(at) => at,
                None => child(c, visitor)?.location,
            }),
        });
    }
    let slots = locations(&entries);
    let tag = visitor.node(StoredNode { bitmap: node.bitmap, entries }, &node.merkle())?;
    let node = Arc::clone(node);
    let stored = Stored { tag, slots };
    visitor.pending(Box::new(move || {
        node.stored.set(stored);
    }));
    Ok(tag)
}

/// A loaded subtree and its number of keys.
pub(crate) type Loaded<K, V> = (Arc<Node<K, V>>, usize);

/// Loads a whole stored trie rooted at `location` without checking its
/// hash (the caller checks it as part of a larger Merkle tree).
pub(crate) fn load_subtree<K: TrieKey, V: TrieValue, L: LoadVisitor<K, V>>(
    location: u64,
    visitor: &mut L,
) -> Result<Loaded<K, V>, L::Error> {
    load_node(location, 0, visitor)
}

impl<K, V> Trie<K, V> {
    pub(crate) fn from_root(root: Arc<Node<K, V>>, len: usize) -> Self {
        Self { root, len }
    }
}

fn load_node<K, V, L>(location: u64, shift: u32, visitor: &mut L) -> Result<Loaded<K, V>, L::Error>
where
    K: TrieKey,
    V: TrieValue,
    L: LoadVisitor<K, V>,
{
    let stored = read_node(location, shift, visitor)?;
    assemble(location, shift, stored, visitor, &mut |at, v: &mut L| load_node(at, shift + BITS, v))
}

/// Loads the trie under `location` with its root's child nodes loaded (and
/// hashed, as `assemble` hashes every node) on rayon's pool, each through
/// its own fork of `visitor`.
fn load_root_in_parallel<K, V, L>(location: u64, visitor: &mut L) -> Result<Loaded<K, V>, L::Error>
where
    K: TrieKey,
    V: TrieValue,
    L: LoadVisitor<K, V> + Send,
    L::Error: Send,
{
    let stored = read_node(location, 0, visitor)?;
    let children: Vec<(u64, L)> = stored
        .entries
        .iter()
        .filter_map(|e| match e {
            StoredEntry::Node(at) => Some((*at, visitor.fork())),
            _ => None,
        })
        .collect();
    let loaded: Vec<Result<Loaded<K, V>, L::Error>> =
        children.into_par_iter().map(|(at, mut fork)| load_node(at, BITS, &mut fork)).collect();
    let mut loaded = loaded.into_iter();
    assemble(location, 0, stored, visitor, &mut |_, _| loaded.next().expect("one result per child node"))
}

/// Reads the stored node at `location`, `shift` bits down, and checks that
/// its entries fill its bitmap.
fn read_node<K, V, L: LoadVisitor<K, V>>(location: u64, shift: u32, visitor: &mut L) -> Result<StoredNode, L::Error> {
    if shift >= 64 {
        return Err(corrupt(format!("trie node {location} lies deeper than any key hash reaches")).into());
    }
    let stored = visitor.node(location)?;
    if stored.entries.len() != stored.bitmap.count_ones() as usize {
        return Err(corrupt(format!(
            "trie node {location} has {} entries for {} slots",
            stored.entries.len(),
            stored.bitmap.count_ones()
        ))
        .into());
    }
    Ok(stored)
}

/// Loads a child node of the node being assembled.
type LoadChild<'a, K, V, L> = dyn FnMut(u64, &mut L) -> Result<Loaded<K, V>, <L as LoadVisitor<K, V>>::Error> + 'a;

/// Builds the node `stored` describes: its values read through `visitor`,
/// its child nodes from `child` (in entry order), every key checked to sit
/// in its slot.
fn assemble<K, V, L>(
    location: u64,
    shift: u32,
    stored: StoredNode,
    visitor: &mut L,
    child: &mut LoadChild<'_, K, V, L>,
) -> Result<Loaded<K, V>, L::Error>
where
    K: TrieKey,
    V: TrieValue,
    L: LoadVisitor<K, V>,
{
    let mut entries = Vec::with_capacity(stored.entries.len());
    let slots = locations(&stored.entries);
    let mut len = 0;
    let mut bits = stored.bitmap;
    let misplaced = || corrupt(format!("trie node {location} holds a key in the wrong slot"));
    for e in stored.entries {
        let idx = bits.trailing_zeros();
        bits &= bits - 1;
        entries.push(match e {
            StoredEntry::Leaf(at) => {
                let (key, value) = visitor.value(at)?;
                let hash = key.trie_hash();
                if index(hash, shift) != idx {
                    return Err(misplaced().into());
                }
                len += 1;
                Entry::Leaf { hash, key, value }
            }
            StoredEntry::Collision(locations) => {
                let mut items = Vec::with_capacity(locations.len());
                for at in locations {
                    items.push(visitor.value(at)?);
                }
                let hash = items.first().map(|(k, _)| k.trie_hash()).ok_or_else(misplaced)?;
                let sorted = items.windows(2).all(|w| w[0].0 < w[1].0);
                if items.len() < 2
                    || !sorted
                    || items.iter().any(|(k, _)| k.trie_hash() != hash)
                    || index(hash, shift) != idx
                {
                    return Err(corrupt(format!("trie node {location} has a malformed collision bucket")).into());
                }
                len += items.len();
                Entry::Collision { hash, items: Arc::new(items) }
            }
            StoredEntry::Node(at) => {
                let (node, n) = child(at, visitor)?;
                if n < 2 {
                    return Err(corrupt(format!("trie node {at} holds fewer than two keys")).into());
                }
                len += n;
                Entry::Node(node)
            }
        });
    }
    let node = Node::new(stored.bitmap, entries);
    node.stored.set(Stored { tag: StoreTag { store: visitor.store(), location }, slots });
    // Hashed now, while its values and keys are in cache (the load checks
    // the root's hash, which needs every node's anyway).
    node.merkle();
    Ok((Arc::new(node), len))
}

fn diff_nodes<'a, K: TrieKey, V: TrieValue>(
    a: &'a Node<K, V>,
    b: &'a Node<K, V>,
    f: &mut impl FnMut(&'a K, Option<&'a V>, Option<&'a V>),
) {
    if std::ptr::eq(a, b) {
        return;
    }
    if let (Some(x), Some(y)) = (a.merkle.get(), b.merkle.get())
        && x.hash == y.hash
    {
        return;
    }
    let mut bits = a.bitmap | b.bitmap;
    while bits != 0 {
        let idx = bits.trailing_zeros();
        bits &= bits - 1;
        match (a.entry(idx), b.entry(idx)) {
            (Some(x), None) => x.for_each(&mut |k, v| f(k, Some(v), None)),
            (None, Some(y)) => y.for_each(&mut |k, v| f(k, None, Some(v))),
            (Some(Entry::Node(x)), Some(Entry::Node(y))) => diff_nodes(x, y, f),
            (Some(x), Some(y)) => diff_small(x, y, f),
            (None, None) => unreachable!("bit set in one of the bitmaps"),
        }
    }
}

/// Diffs two entries at least one of which is a leaf or bucket: few keys on
/// that side, so collect both and merge.
fn diff_small<'a, K: TrieKey, V: TrieValue>(
    a: &'a Entry<K, V>,
    b: &'a Entry<K, V>,
    f: &mut impl FnMut(&'a K, Option<&'a V>, Option<&'a V>),
) {
    let mut xs = Vec::new();
    a.for_each(&mut |k, v| xs.push((k, v)));
    let mut ys = Vec::new();
    b.for_each(&mut |k, v| ys.push((k, v)));
    xs.sort_unstable_by(|p, q| p.0.cmp(q.0));
    ys.sort_unstable_by(|p, q| p.0.cmp(q.0));
    let (mut i, mut j) = (0, 0);
    while i < xs.len() || j < ys.len() {
        match (xs.get(i), ys.get(j)) {
            (Some(&(kx, vx)), Some(&(ky, vy))) => match kx.cmp(ky) {
                std::cmp::Ordering::Less => {
                    f(kx, Some(vx), None);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    f(ky, None, Some(vy));
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    if vx != vy {
                        f(kx, Some(vx), Some(vy));
                    }
                    i += 1;
                    j += 1;
                }
            },
            (Some(&(kx, vx)), None) => {
                f(kx, Some(vx), None);
                i += 1;
            }
            (None, Some(&(ky, vy))) => {
                f(ky, None, Some(vy));
                j += 1;
            }
            (None, None) => unreachable!("loop condition"),
        }
    }
}

/// The deepest a trie goes: a level per `BITS` bits of a 64-bit hash (keys
/// whose hashes agree beyond that share a collision bucket), plus one.
const MAX_DEPTH: usize = 64usize.div_ceil(BITS as usize) + 1;

pub(crate) struct Iter<'a, K, V> {
    /// The entries left at each level, `stack[..depth]` in use: an array,
    /// not a `Vec`, so that starting a walk allocates nothing (views start
    /// one per component's edge set).
    stack: [std::slice::Iter<'a, Entry<K, V>>; MAX_DEPTH],
    depth: usize,
    bucket: std::slice::Iter<'a, (K, V)>,
    /// Entries left; `usize::MAX` for a shard, whose size is not known.
    remaining: usize,
}

impl<'a, K, V> Iter<'a, K, V> {
    fn starting(top: std::slice::Iter<'a, Entry<K, V>>, remaining: usize) -> Self {
        let mut stack: [std::slice::Iter<'a, Entry<K, V>>; MAX_DEPTH] = std::array::from_fn(|_| [].iter());
        stack[0] = top;
        Self { stack, depth: 1, bucket: [].iter(), remaining }
    }
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((k, v)) = self.bucket.next() {
                self.remaining -= 1;
                return Some((k, v));
            }
            let top = self.stack[..self.depth].last_mut()?;
            match top.next() {
                None => {
                    self.depth -= 1;
                }
                Some(Entry::Leaf { key, value, .. }) => {
                    self.remaining -= 1;
                    return Some((key, value));
                }
                Some(Entry::Collision { items, .. }) => self.bucket = items.iter(),
                Some(Entry::Node(n)) => {
                    // Nodes sit at most MAX_DEPTH - 1 levels deep: inserts
                    // stop splitting at the 64th bit, and loading refuses
                    // deeper ones.
                    self.stack[self.depth] = n.entries.iter();
                    self.depth += 1;
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.remaining > usize::MAX / 2 { (0, None) } else { (self.remaining, Some(self.remaining)) }
    }
}

impl<K, V> ExactSizeIterator for Iter<'_, K, V> {}

/// A shard of a trie whose values are tries (a snapshot's edge sets by
/// source), yielding each inner trie's entries. Walking a million small
/// inner tries is bound by memory latency: each is two dependent cache
/// misses (its root node, then the root's entries) somewhere in the heap.
/// So the walk runs ahead of what it yields: an inner trie's root node is
/// fetched [`FETCH_AHEAD`] tries before it is yielded, and its entries half
/// as far ahead, letting those misses overlap with the consumer's work
/// instead of queueing behind it. (Measured on a million edge sets, the
/// entries' fetch is what pays; the roots cost as much read early as not,
/// seemingly bound by address translation: see docs/performance.md.)
pub(crate) struct NestedShard<'a, K, K2, V2> {
    outer: Shard<'a, K, Trie<K2, V2>>,
    ahead: std::collections::VecDeque<(&'a K, &'a Trie<K2, V2>)>,
}

/// How many inner tries [`NestedShard`] reads ahead of the one it yields.
const FETCH_AHEAD: usize = 16;

/// The most bytes of an inner trie's root entries [`NestedShard`] fetches
/// ahead (the hardware's own prefetcher follows the rest).
const FETCH_ENTRIES: usize = 512;

impl<'a, K, K2, V2> NestedShard<'a, K, K2, V2> {
    pub(crate) fn new(outer: Shard<'a, K, Trie<K2, V2>>) -> Self {
        Self { outer, ahead: std::collections::VecDeque::with_capacity(FETCH_AHEAD) }
    }
}

impl<'a, K, K2, V2> Iterator for NestedShard<'a, K, K2, V2> {
    type Item = (&'a K, Iter<'a, K2, V2>);

    fn next(&mut self) -> Option<Self::Item> {
        while self.ahead.len() < FETCH_AHEAD {
            let Some((key, inner)) = self.outer.next() else { break };
            // The address of the root's entry list, computed from the
            // pointer already in hand (nothing is read).
            prefetch(std::ptr::from_ref(&inner.root.entries));
            self.ahead.push_back((key, inner));
        }
        // Each inner trie passes this point once, half way along.
        if let Some((_, inner)) = self.ahead.get(FETCH_AHEAD / 2) {
            let entries = inner.root.entries.as_slice();
            let bytes = std::mem::size_of_val(entries).min(FETCH_ENTRIES);
            let start = entries.as_ptr().cast::<u8>();
            for offset in (0..bytes).step_by(64) {
                prefetch(start.wrapping_add(offset));
            }
        }
        let (key, inner) = self.ahead.pop_front()?;
        Some((key, Iter::starting(inner.root.entries.iter(), inner.len)))
    }
}

/// Asks the processor to bring the cache line holding `address` closer; a
/// hint that never reads, so any address will do (and on processors other
/// than x86-64, nothing).
#[inline]
fn prefetch<T>(address: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetch` only hints the cache; it never dereferences the
    // address (an invalid one is ignored, never faults), and SSE, which the
    // intrinsic requires, is part of x86-64's baseline.
    #[allow(unsafe_code)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// One of a trie's shards: the entries under one child of the root.
pub(crate) struct Shard<'a, K, V>(Iter<'a, K, V>);

impl<'a, K, V> Iterator for Shard<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }
}

impl<K: TrieKey, V: TrieValue> PartialEq for Trie<K, V> {
    /// Same version, or same length and Merkle hash.
    fn eq(&self, other: &Self) -> bool {
        self.ptr_eq(other) || (self.len == other.len && self.root_hash() == other.root_hash())
    }
}

impl<K: TrieKey, V: TrieValue> TrieValue for Trie<K, V> {
    fn merkle(&self) -> ContentHash {
        self.root_hash()
    }
}

impl TrieValue for () {
    fn merkle(&self) -> ContentHash {
        ContentHash::from_bytes([0; 32])
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// A key whose trie hash the test chooses, to force deep paths and
    /// collisions.
    #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
    struct K(u64, u8);

    impl TrieKey for K {
        fn trie_hash(&self) -> u64 {
            self.0
        }
        fn write_key(&self, c: &mut Canonical) {
            c.u64(self.0).tag(self.1);
        }
    }

    impl TrieValue for u32 {
        fn merkle(&self) -> ContentHash {
            Canonical::new("u32").u64(u64::from(*self)).finish()
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(K, u32),
        Remove(K),
        Bump(K),
    }

    fn key() -> impl Strategy<Value = K> {
        // Few distinct hashes and sub-keys: many shared prefixes and collisions.
        (prop_oneof![0u64..8, Just(u64::MAX), Just(1 << 60), Just((1 << 60) | 1), any::<u64>()], 0u8..3)
            .prop_map(|(h, s)| K(h, s))
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        prop::collection::vec(
            prop_oneof![
                (key(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
                key().prop_map(Op::Remove),
                key().prop_map(Op::Bump)
            ],
            0..120,
        )
    }

    fn run(ops: &[Op]) -> (Trie<K, u32>, BTreeMap<K, u32>) {
        let mut t = Trie::default();
        let mut m = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert(k, v) => assert_eq!(t.insert(k.clone(), *v), m.insert(k.clone(), *v)),
                Op::Remove(k) => assert_eq!(t.remove(k), m.remove(k)),
                Op::Bump(k) => {
                    let want = m.get_mut(k).map(|v| {
                        *v = v.wrapping_add(1);
                        *v
                    });
                    let got = t.get_mut(k).map(|v| {
                        *v = v.wrapping_add(1);
                        *v
                    });
                    assert_eq!(got, want);
                }
            }
            assert_eq!(t.len(), m.len());
        }
        (t, m)
    }

    proptest! {
        #[test]
        fn behaves_like_btreemap(ops in ops()) {
            let (t, m) = run(&ops);
            let got: Vec<_> = t.sorted().into_iter().map(|(k, v)| (k.clone(), *v)).collect();
            let want: Vec<_> = m.iter().map(|(k, v)| (k.clone(), *v)).collect();
            prop_assert_eq!(got, want);
            for (k, v) in &m {
                prop_assert_eq!(t.get(k), Some(v));
            }
        }

        /// A trie of tries walked shard by shard with the inner tries
        /// fetched ahead yields every outer key once, each with exactly its
        /// inner trie's entries: outer tries from empty to more keys than
        /// the walk reads ahead in one shard, inner ones from one entry to
        /// more than it fetches of a root (and nested, colliding ones).
        #[test]
        fn nested_shards_yield_every_inner_entry_once(
            inner in prop::collection::vec(ops(), 0..60),
            spread in any::<bool>(),
        ) {
            let mut outer: Trie<K, Trie<K, u32>> = Trie::default();
            let mut want: BTreeMap<K, BTreeMap<K, u32>> = BTreeMap::new();
            for (i, ops) in inner.iter().enumerate() {
                let (t, m) = run(ops);
                if m.is_empty() {
                    continue;
                }
                // Either all in one shard (same low bits) or spread.
                let hash = if spread { (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) } else { (i as u64) << BITS };
                outer.insert(K(hash, 0), t);
                want.insert(K(hash, 0), m);
            }
            let mut got: BTreeMap<K, BTreeMap<K, u32>> = BTreeMap::new();
            for shard in outer.shards() {
                for (key, entries) in NestedShard::new(shard) {
                    let entries: BTreeMap<K, u32> = entries.map(|(k, v)| (k.clone(), *v)).collect();
                    prop_assert!(got.insert(key.clone(), entries).is_none(), "an outer key came twice");
                }
            }
            prop_assert_eq!(got, want);
        }

        #[test]
        fn shape_and_hash_ignore_history(a in ops(), b in ops()) {
            let (ta, ma) = run(&a);
            let (mut tb, mb) = run(&b);
            // Rebuild b's content from scratch in reverse order: same hash.
            let mut fresh = Trie::default();
            for (k, v) in mb.iter().rev() {
                fresh.insert(k.clone(), *v);
            }
            prop_assert_eq!(tb.root_hash(), fresh.root_hash());
            prop_assert_eq!(ta.root_hash() == tb.root_hash(), ma == mb);
            // Make b equal to a by edits: hashes converge.
            for k in mb.keys() {
                if !ma.contains_key(k) {
                    tb.remove(k);
                }
            }
            for (k, v) in &ma {
                tb.insert(k.clone(), *v);
            }
            prop_assert_eq!(tb.root_hash(), ta.root_hash());
        }

        #[test]
        fn diff_matches_naive(a in ops(), b in ops(), hash_first in any::<bool>()) {
            let (ta, ma) = run(&a);
            // b starts from a's trie, sharing structure.
            let mut tb = ta.clone();
            let mut mb = ma.clone();
            for op in &b {
                match op {
                    Op::Insert(k, v) => { tb.insert(k.clone(), *v); mb.insert(k.clone(), *v); }
                    Op::Remove(k) => { tb.remove(k); mb.remove(k); }
                    Op::Bump(k) => {
                        if let Some(v) = tb.get_mut(k) { *v = v.wrapping_add(1); }
                        if let Some(v) = mb.get_mut(k) { *v = v.wrapping_add(1); }
                    }
                }
            }
            if hash_first {
                ta.root_hash();
                tb.root_hash();
            }
            let mut got = Vec::new();
            ta.diff(&tb, &mut |k, x, y| got.push((k.clone(), x.copied(), y.copied())));
            got.sort();
            let mut want = Vec::new();
            let keys: std::collections::BTreeSet<_> = ma.keys().chain(mb.keys()).collect();
            for k in keys {
                let (x, y) = (ma.get(k).copied(), mb.get(k).copied());
                if x != y {
                    want.push((k.clone(), x, y));
                }
            }
            prop_assert_eq!(got, want);
        }
    }

    /// Objects in maps, for persisting and loading tries of the tests' keys.
    #[derive(Default)]
    struct Maps {
        nodes: std::collections::HashMap<u64, StoredNode>,
        values: std::collections::HashMap<u64, (K, u32)>,
        next: u64,
        pending: Mutex<Vec<Box<dyn FnOnce() + Send>>>,
    }

    /// A value paired with its key, so the map store can keep both.
    #[derive(Clone, PartialEq)]
    struct Keyed(K, u32);

    impl TrieValue for Keyed {
        fn merkle(&self) -> ContentHash {
            self.1.merkle()
        }
    }

    impl PersistVisitor<Keyed> for Maps {
        type Error = Error;
        fn store(&self) -> u64 {
            1
        }
        fn value(&mut self, value: &Keyed) -> Result<StoreTag, Error> {
            self.next += 1;
            self.values.insert(self.next, (value.0.clone(), value.1));
            Ok(StoreTag { store: 1, location: self.next })
        }
        fn node(&mut self, node: StoredNode, _: &ContentHash) -> Result<StoreTag, Error> {
            self.next += 1;
            self.nodes.insert(self.next, node);
            Ok(StoreTag { store: 1, location: self.next })
        }
        fn pending(&mut self, set: Box<dyn FnOnce() + Send>) {
            self.pending.get_mut().unwrap().push(set);
        }
        fn fork(&self) -> Option<Self> {
            None
        }
        fn join(&mut self, _: Self) -> Result<(), Error> {
            Ok(())
        }
    }

    impl LoadVisitor<K, Keyed> for &Maps {
        type Error = Error;
        fn node(&mut self, location: u64) -> Result<StoredNode, Error> {
            self.nodes.get(&location).cloned().ok_or_else(|| corrupt(format!("no node {location}")))
        }
        fn value(&mut self, location: u64) -> Result<(K, Keyed), Error> {
            let (k, v) = self.values.get(&location).cloned().ok_or_else(|| corrupt(format!("no value {location}")))?;
            Ok((k.clone(), Keyed(k, v)))
        }
        fn store(&self) -> u64 {
            1
        }
        fn fork(&self) -> Self {
            self
        }
    }

    #[derive(Debug, Clone)]
    enum Step {
        Edit(Op),
        /// Hash the current version (nodes record their entries' hashes).
        Hash,
        /// Keep a clone, so later edits copy shared nodes.
        Keep,
        /// Persist the current version (nodes record their entries'
        /// locations) and confirm.
        Persist,
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        let op = prop_oneof![
            (key(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            key().prop_map(Op::Remove),
            key().prop_map(Op::Bump)
        ];
        prop::collection::vec(
            prop_oneof![6 => op.prop_map(Step::Edit), 1 => Just(Step::Hash), 1 => Just(Step::Keep), 1 => Just(Step::Persist)],
            0..160,
        )
    }

    proptest! {
        /// Hashes and locations recorded by earlier versions of nodes are
        /// reused only where still right: after any mix of edits, hashing,
        /// sharing and persisting, every version hashes like a trie built
        /// from scratch with its content, and every persisted version loads
        /// back to exactly its content.
        #[test]
        fn recorded_hashes_and_locations_stay_right(steps in steps()) {
            let mut t: Trie<K, Keyed> = Trie::default();
            let mut m: BTreeMap<K, u32> = BTreeMap::new();
            let mut kept = Vec::new();
            let mut store = Maps::default();
            let check_hash = |t: &Trie<K, Keyed>, m: &BTreeMap<K, u32>| {
                let mut fresh: Trie<K, Keyed> = Trie::default();
                for (k, v) in m {
                    fresh.insert(k.clone(), Keyed(k.clone(), *v));
                }
                t.root_hash() == fresh.root_hash()
            };
            for step in &steps {
                match step {
                    Step::Edit(Op::Insert(k, v)) => {
                        t.insert(k.clone(), Keyed(k.clone(), *v));
                        m.insert(k.clone(), *v);
                    }
                    Step::Edit(Op::Remove(k)) => {
                        t.remove(k);
                        m.remove(k);
                    }
                    Step::Edit(Op::Bump(k)) => {
                        if let Some(v) = t.get_mut(k) { v.1 = v.1.wrapping_add(1); }
                        if let Some(v) = m.get_mut(k) { *v = v.wrapping_add(1); }
                    }
                    Step::Hash => prop_assert!(check_hash(&t, &m)),
                    Step::Keep => kept.push((t.clone(), m.clone())),
                    Step::Persist => {
                        let root = t.persist(&mut store)?;
                        for set in store.pending.get_mut().unwrap().drain(..) {
                            set();
                        }
                        let loaded = Trie::<K, Keyed>::load(&root, &mut &store)?;
                        let got: Vec<_> = loaded.sorted().into_iter().map(|(k, v)| (k.clone(), v.1)).collect();
                        let want: Vec<_> = m.iter().map(|(k, v)| (k.clone(), *v)).collect();
                        prop_assert_eq!(got, want);
                    }
                }
            }
            prop_assert!(check_hash(&t, &m));
            for (t, m) in &kept {
                prop_assert!(check_hash(t, m));
            }
        }
    }

    #[test]
    fn clone_shares_and_diverges() {
        let mut a: Trie<K, u32> = Trie::default();
        for i in 0..1000u64 {
            a.insert(K(i.wrapping_mul(0x9e37_79b9_7f4a_7c15), 0), i as u32);
        }
        let b = a.clone();
        assert!(a.ptr_eq(&b));
        a.insert(K(1, 0), 7);
        assert!(!a.ptr_eq(&b));
        assert_eq!(b.len(), 1000);
        assert_eq!(a.len(), 1001);
        assert_eq!(b.get(&K(1, 0)), None);
    }
}
