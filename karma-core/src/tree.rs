//! The snapshot's tree as storage objects: for history stores.
//!
//! A snapshot is three hash tries (see `docs/architecture.md`). A store keeps
//! each trie node, component and edge as one object and refers to objects by
//! [`StoreTag`] (where the store put it) plus [`ContentHash`] (what it must
//! hash to). [`Snapshot::persist`] hands a store only the objects it does not
//! hold yet — a commit of k changes to an n-component snapshot writes
//! O(k log n) objects — and [`Snapshot::load`] rebuilds a snapshot from them,
//! checking every object against its hash.
//!
//! Tags are remembered by the in-memory nodes, but only once the store
//! confirms the write is durable ([`Persisted::confirm`]): a failed commit
//! never leaves a node believing it is stored.

use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::component::Component;
use crate::edge::{Edge, EdgeId};
use crate::error::{Error, Result};
use crate::hash::ContentHash;
use crate::key::Key;
use crate::schema::Schema;
use crate::snapshot::{EdgeSet, Snapshot};
use crate::trie::{LoadVisitor, PersistVisitor, Trie};

/// Where a store keeps an object: the store's identity and a location only
/// that store can resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StoreTag {
    /// The store's identity (random, fixed when the store is created).
    pub store: u64,
    /// The object's location in that store.
    pub location: u64,
}

/// Where a store last put an object, remembered by the in-memory object:
/// set when a write is confirmed or the object is loaded, cleared when the
/// object changes. The most recent store wins, so a snapshot written to two
/// stores stays cheap to write to the last one.
#[derive(Default)]
pub(crate) struct TagCell(Mutex<Option<StoreTag>>);

impl TagCell {
    pub(crate) fn get(&self) -> Option<StoreTag> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set(&self, tag: StoreTag) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(tag);
    }
}

impl Clone for TagCell {
    fn clone(&self) -> Self {
        Self(Mutex::new(self.get()))
    }
}

impl std::fmt::Debug for TagCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.get())
    }
}

/// A stored object: where it is and what it must hash to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRef {
    /// Its content hash (a trie node's Merkle hash, a component's or edge's
    /// content hash).
    pub hash: ContentHash,
    /// Where it is.
    pub tag: StoreTag,
}

/// One trie node as stored: a 32-bit occupancy map and, per occupied slot
/// in slot order, where its child or value is. Nodes hold no keys and no
/// hashes: keys come from the values, and hashes are recomputed on loading
/// and checked against the root's, so any damaged byte below a root is
/// caught there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredNode {
    /// Which of the 32 slots are occupied.
    pub bitmap: u32,
    /// One entry per occupied slot, in slot order.
    pub entries: Vec<StoredEntry>,
}

/// An entry of a stored trie node: locations in the node's store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredEntry {
    /// One value.
    Leaf(u64),
    /// Values whose keys' 64-bit trie hashes collide, in key order.
    Collision(Vec<u64>),
    /// A child node.
    Node(u64),
}

/// The kinds of object a snapshot is stored as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ObjectKind {
    /// A component.
    Component,
    /// An edge.
    Edge,
    /// A node of the component trie (keys: component keys).
    ComponentNode,
    /// A node of the outer edge trie (keys: the dependents' keys; values:
    /// roots of their edge tries).
    EdgeSetNode,
    /// A node of one component's edge trie (keys: edge ids).
    EdgeNode,
}

/// An object of a stored snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TreeObject {
    /// A component.
    Component(Arc<Component>),
    /// An edge.
    Edge(Arc<Edge>),
    /// A node of the component trie.
    ComponentNode(StoredNode),
    /// A node of the outer edge trie.
    EdgeSetNode(StoredNode),
    /// A node of one component's edge trie.
    EdgeNode(StoredNode),
}

impl TreeObject {
    /// Appends its stored form to `out`: a tag byte, then for a component
    /// the canonical encoding its content hash covers (so reading it back
    /// hashes those bytes rather than encoding it again), for the others
    /// their bincode form. A component holding a value nested deeper than
    /// 128 lists and maps is an error (it could not be read back).
    pub fn encode_into(&self, out: &mut Vec<u8>) -> crate::Result<()> {
        match self {
            Self::Component(c) => {
                out.push(0);
                c.encode_stored(out)
            }
            Self::Edge(e) => {
                out.push(1);
                crate::codec::append_bincode(e, out)
            }
            Self::ComponentNode(n) | Self::EdgeSetNode(n) | Self::EdgeNode(n) => {
                out.push(match self.kind() {
                    ObjectKind::ComponentNode => 2,
                    ObjectKind::EdgeSetNode => 3,
                    _ => 4,
                });
                crate::codec::append_bincode(n, out)
            }
        }
    }

    /// Reads what [`TreeObject::encode_into`] wrote. Damaged bytes give an
    /// error, never a panic; a component comes back with the hash of the
    /// bytes it was read from, which the caller checks against the Merkle
    /// tree it belongs to.
    pub fn decode(bytes: &[u8]) -> crate::Result<Self> {
        let Some((&tag, body)) = bytes.split_first() else {
            return Err(crate::Error::Codec("a stored object is empty".into()));
        };
        Ok(match tag {
            0 => Self::Component(Arc::new(Component::decode_stored(body)?)),
            1 => Self::Edge(crate::codec::from_bincode(body)?),
            2 => Self::ComponentNode(crate::codec::from_bincode(body)?),
            3 => Self::EdgeSetNode(crate::codec::from_bincode(body)?),
            4 => Self::EdgeNode(crate::codec::from_bincode(body)?),
            _ => return Err(crate::Error::Codec(format!("a stored object has unknown tag {tag}"))),
        })
    }

    /// Its kind.
    pub fn kind(&self) -> ObjectKind {
        match self {
            Self::Component(_) => ObjectKind::Component,
            Self::Edge(_) => ObjectKind::Edge,
            Self::ComponentNode(_) => ObjectKind::ComponentNode,
            Self::EdgeSetNode(_) => ObjectKind::EdgeSetNode,
            Self::EdgeNode(_) => ObjectKind::EdgeNode,
        }
    }
}

/// The roots of a stored snapshot: what a commit records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRoots {
    /// Root of the component trie.
    pub components: StoredRef,
    /// Root of the outer edge trie.
    pub edges: StoredRef,
    /// Number of components.
    pub component_count: u64,
    /// Number of edges.
    pub edge_count: u64,
    /// The registered schemas, by kind order.
    pub schemas: Vec<Schema>,
}

impl SnapshotRoots {
    /// The root hash of the snapshot these roots describe (equal to
    /// [`Snapshot::root_hash`] of the loaded snapshot).
    pub fn root_hash(&self) -> ContentHash {
        crate::snapshot::root_hash_of(&self.components.hash, &self.edges.hash, self.schemas.iter())
    }
}

/// Receives the objects of a snapshot that its store does not hold yet,
/// children before parents.
pub trait TreeSink {
    /// The store's error; corruption found by core arrives as an [`Error`].
    type Error: From<Error>;
    /// The store's identity, as in its tags.
    fn store_id(&self) -> u64;
    /// Stages `object` (whose content hash is `hash`) and says where it will
    /// be once the write is durable.
    fn write(&mut self, hash: &ContentHash, object: &TreeObject) -> Result<StoreTag, Self::Error>;

    /// A sink staging into the same store, for a part of the snapshot
    /// persisted on another thread; its locations must not collide with
    /// this sink's. `None`, the default, persists everything through this
    /// sink, on the calling thread.
    fn fork(&self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }

    /// Takes over what `fork` staged, once its part is persisted.
    fn join(&mut self, fork: Self) -> Result<(), Self::Error>
    where
        Self: Sized,
    {
        let _ = fork;
        Ok(())
    }
}

/// Reads the objects of stored snapshots.
pub trait TreeSource {
    /// The store's error; corruption found by core arrives as an [`Error`].
    type Error: From<Error>;
    /// The store's identity, as in its tags.
    fn store_id(&self) -> u64;
    /// The object at `location`, which should be of kind `kind`. Need not
    /// check content hashes: [`Snapshot::load`] does.
    fn read(&self, location: u64, kind: ObjectKind) -> Result<TreeObject, Self::Error>;
}

/// The result of [`Snapshot::persist`]: the roots to record, and the store
/// locations to remember once the store has made the write durable.
#[must_use = "call `confirm` after the store's write succeeds"]
pub struct Persisted {
    /// The roots of the persisted snapshot.
    pub roots: SnapshotRoots,
    /// How many objects were handed to the sink.
    pub written: usize,
    pending: Vec<Box<dyn FnOnce() + Send>>,
}

impl std::fmt::Debug for Persisted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persisted").field("roots", &self.roots).field("written", &self.written).finish_non_exhaustive()
    }
}

impl Persisted {
    /// Records in the in-memory nodes where they are stored, so the next
    /// persist of a later snapshot skips them. Call only after the store's
    /// write succeeded; dropping a `Persisted` instead forgets it.
    pub fn confirm(self) {
        for set in self.pending {
            set();
        }
    }
}

fn corrupt(what: impl Into<String>) -> Error {
    Error::Corrupt { what: what.into() }
}

/// Which trie a node being persisted belongs to.
#[derive(Clone, Copy)]
enum Tree {
    Components,
    EdgeSets,
    Edges,
}

struct Sink<'a, S: TreeSink> {
    tree: Tree,
    target: Target<'a, S>,
    store: u64,
    written: usize,
    pending: Vec<Box<dyn FnOnce() + Send>>,
}

/// The caller's sink, or a fork of it.
enum Target<'a, S> {
    Caller(&'a mut S),
    Fork(S),
}

impl<S: TreeSink> Sink<'_, S> {
    fn target(&mut self) -> &mut S {
        match &mut self.target {
            Target::Caller(s) => s,
            Target::Fork(s) => s,
        }
    }

    fn write(&mut self, hash: &ContentHash, object: &TreeObject) -> Result<StoreTag, S::Error> {
        self.written += 1;
        self.target().write(hash, object)
    }

    fn fork(&self) -> Option<Self> {
        let target = match &self.target {
            Target::Caller(s) => s.fork(),
            Target::Fork(s) => s.fork(),
        }?;
        Some(Sink { tree: self.tree, target: Target::Fork(target), store: self.store, written: 0, pending: Vec::new() })
    }

    fn join(&mut self, fork: Self) -> Result<(), S::Error> {
        let Target::Fork(target) = fork.target else { unreachable!("forks own their sinks") };
        self.target().join(target)?;
        self.written += fork.written;
        self.pending.extend(fork.pending);
        Ok(())
    }
}

/// A value stored as one object: a component or an edge.
trait StoredValue: Send + Sync + 'static {
    /// The key it is stored under in its trie.
    type Key;
    /// Its object kind, and the kind of its trie's nodes.
    const KIND: ObjectKind;
    const NODE_KIND: ObjectKind;
    fn key(&self) -> Self::Key;
    fn from_object(object: TreeObject) -> Option<Arc<Self>>;
    fn stored_tag(&self) -> Option<StoreTag>;
    fn remember_tag(&self, tag: StoreTag);
    fn hash(&self) -> ContentHash;
    fn object(this: &Arc<Self>) -> TreeObject;
}

/// `StoredValue` for a persisted value type: its key type and accessor, its
/// object kinds, and the `TreeObject` variant that carries it.
macro_rules! stored_value {
    ($ty:ident, $key:ty, $key_of:ident, $kind:ident, $node_kind:ident) => {
        impl StoredValue for $ty {
            type Key = $key;
            const KIND: ObjectKind = ObjectKind::$kind;
            const NODE_KIND: ObjectKind = ObjectKind::$node_kind;
            fn key(&self) -> $key {
                self.$key_of().clone()
            }
            fn from_object(object: TreeObject) -> Option<Arc<Self>> {
                match object {
                    TreeObject::$ty(value) => Some(value),
                    _ => None,
                }
            }
            fn stored_tag(&self) -> Option<StoreTag> {
                self.store_tag()
            }
            fn remember_tag(&self, tag: StoreTag) {
                self.set_store_tag(tag);
            }
            fn hash(&self) -> ContentHash {
                self.content_hash()
            }
            fn object(this: &Arc<Self>) -> TreeObject {
                TreeObject::$ty(Arc::clone(this))
            }
        }
    };
}

stored_value!(Component, Key, key, Component, ComponentNode);
stored_value!(Edge, EdgeId, id, Edge, EdgeNode);

impl<S: TreeSink> Sink<'_, S> {
    fn node_object(&mut self, node: StoredNode, hash: &ContentHash) -> Result<StoreTag, S::Error> {
        let object = match self.tree {
            Tree::Components => TreeObject::ComponentNode(node),
            Tree::EdgeSets => TreeObject::EdgeSetNode(node),
            Tree::Edges => TreeObject::EdgeNode(node),
        };
        self.write(hash, &object)
    }
}

impl<S: TreeSink, T: StoredValue> PersistVisitor<Arc<T>> for Sink<'_, S> {
    type Error = S::Error;
    fn fork(&self) -> Option<Self> {
        Sink::fork(self)
    }
    fn join(&mut self, fork: Self) -> Result<(), S::Error> {
        Sink::join(self, fork)
    }
    fn store(&self) -> u64 {
        self.store
    }
    fn value(&mut self, v: &Arc<T>) -> Result<StoreTag, S::Error> {
        if let Some(tag) = v.stored_tag().filter(|t| t.store == self.store) {
            return Ok(tag);
        }
        let tag = self.write(&v.hash(), &T::object(v))?;
        let v = Arc::clone(v);
        self.pending.push(Box::new(move || v.remember_tag(tag)));
        Ok(tag)
    }
    fn node(&mut self, node: StoredNode, hash: &ContentHash) -> Result<StoreTag, S::Error> {
        self.node_object(node, hash)
    }
    fn pending(&mut self, set: Box<dyn FnOnce() + Send>) {
        self.pending.push(set);
    }
}

impl<S> PersistVisitor<EdgeSet> for Sink<'_, S>
where
    S: TreeSink + Send,
    S::Error: Send,
{
    type Error = S::Error;
    fn fork(&self) -> Option<Self> {
        Sink::fork(self)
    }
    fn join(&mut self, fork: Self) -> Result<(), S::Error> {
        Sink::join(self, fork)
    }
    fn store(&self) -> u64 {
        self.store
    }
    fn value(&mut self, set: &EdgeSet) -> Result<StoreTag, S::Error> {
        self.tree = Tree::Edges;
        let stored = set.persist(self);
        self.tree = Tree::EdgeSets;
        Ok(stored?.tag)
    }
    fn node(&mut self, node: StoredNode, hash: &ContentHash) -> Result<StoreTag, S::Error> {
        self.node_object(node, hash)
    }
    fn pending(&mut self, set: Box<dyn FnOnce() + Send>) {
        self.pending.push(set);
    }
}

/// Reads a stored snapshot's objects for the trie loader.
struct Source<'a, S: TreeSource> {
    reader: &'a S,
}

impl<'a, S: TreeSource> Source<'a, S> {
    fn new(source: &'a S) -> Self {
        Self { reader: source }
    }

    fn node(&mut self, location: u64, kind: ObjectKind) -> Result<StoredNode, S::Error> {
        match self.reader.read(location, kind)? {
            TreeObject::ComponentNode(n) if kind == ObjectKind::ComponentNode => Ok(n),
            TreeObject::EdgeSetNode(n) if kind == ObjectKind::EdgeSetNode => Ok(n),
            TreeObject::EdgeNode(n) if kind == ObjectKind::EdgeNode => Ok(n),
            other => Err(corrupt(format!("object {location}: expected {kind:?}, found {:?}", other.kind())).into()),
        }
    }
}

impl<S: TreeSource, T: StoredValue> LoadVisitor<T::Key, Arc<T>> for Source<'_, S> {
    type Error = S::Error;
    fn store(&self) -> u64 {
        self.reader.store_id()
    }
    fn fork(&self) -> Self {
        Self { reader: self.reader }
    }
    fn node(&mut self, location: u64) -> Result<StoredNode, S::Error> {
        Source::node(self, location, T::NODE_KIND)
    }
    fn value(&mut self, location: u64) -> Result<(T::Key, Arc<T>), S::Error> {
        let Some(v) = T::from_object(self.reader.read(location, T::KIND)?) else {
            return Err(corrupt(format!("object {location}: expected {:?}", T::KIND)).into());
        };
        v.remember_tag(StoreTag { store: self.reader.store_id(), location });
        Ok((v.key(), v))
    }
}

impl<S: TreeSource> LoadVisitor<Key, EdgeSet> for Source<'_, S> {
    type Error = S::Error;
    fn store(&self) -> u64 {
        self.reader.store_id()
    }
    fn fork(&self) -> Self {
        Self { reader: self.reader }
    }
    fn node(&mut self, location: u64) -> Result<StoredNode, S::Error> {
        Source::node(self, location, ObjectKind::EdgeSetNode)
    }
    fn value(&mut self, location: u64) -> Result<(Key, EdgeSet), S::Error> {
        // The inner trie's hash is checked as part of the outer root's.
        let (root, len) = crate::trie::load_subtree::<EdgeId, Arc<Edge>, Self>(location, self)?;
        let set = EdgeSet::from_root(root, len);
        let from = set.iter().next().map(|(id, _)| id.from.clone());
        match from {
            Some(from) if set.iter().all(|(id, _)| id.from == from) => Ok((from, set)),
            _ => Err(corrupt(format!("object {location}: a stored edge set is empty or mixes sources")).into()),
        }
    }
}

impl Snapshot {
    /// Hands `sink` every object of this snapshot that the sink's store does
    /// not hold yet (children first), and returns the roots to record.
    /// Call [`Persisted::confirm`] once the store's write is durable.
    ///
    /// A sink that [forks](TreeSink::fork) receives the tries' larger
    /// subtrees through forks on rayon's pool.
    pub fn persist<S>(&self, sink: &mut S) -> Result<Persisted, S::Error>
    where
        S: TreeSink + Send,
        S::Error: Send,
    {
        let store = sink.store_id();
        let mut visitor =
            Sink { tree: Tree::Components, target: Target::Caller(sink), store, written: 0, pending: Vec::new() };
        let components = self.components.persist(&mut visitor)?;
        visitor.tree = Tree::EdgeSets;
        let edges = self.edges.persist(&mut visitor)?;
        Ok(Persisted {
            roots: SnapshotRoots {
                components,
                edges,
                component_count: self.len() as u64,
                edge_count: self.edge_count as u64,
                schemas: self.schemas().cloned().collect(),
            },
            written: visitor.written,
            pending: visitor.pending,
        })
    }

    /// Rebuilds the snapshot `roots` describe from `source`, checking every
    /// object against its hash and every node's shape; a mismatch is an
    /// [`Error::Corrupt`].
    ///
    /// The tries' subtrees load on rayon's pool, so `source` is shared by
    /// threads.
    pub fn load<S>(roots: &SnapshotRoots, source: &S) -> Result<Snapshot, S::Error>
    where
        S: TreeSource + Sync,
        S::Error: Send,
    {
        let mut visitor = Source::new(source);
        let components = Trie::<Key, Arc<Component>>::load::<Source<'_, S>>(&roots.components, &mut visitor)?;
        let edges = Trie::<Key, EdgeSet>::load::<Source<'_, S>>(&roots.edges, &mut visitor)?;
        let mut snap = Snapshot::from_parts(components, roots.schemas.iter().cloned());
        if snap.len() as u64 != roots.component_count {
            return Err(corrupt(format!(
                "{} components stored, the commit records {}",
                snap.len(),
                roots.component_count
            ))
            .into());
        }
        for (_, set) in edges.iter() {
            for (id, _) in set.iter() {
                if !snap.contains(&id.from) || !snap.contains(&id.to) {
                    return Err(corrupt(format!("stored edge {id} joins a missing component")).into());
                }
            }
        }
        snap.set_edges(edges);
        if snap.edge_count() as u64 != roots.edge_count {
            return Err(corrupt(format!(
                "{} edges stored, the commit records {}",
                snap.edge_count(),
                roots.edge_count
            ))
            .into());
        }
        Ok(snap)
    }
}

/// Tells whether `result` is a store error or corruption core found; for
/// stores whose error wraps core's.
pub fn is_corruption(error: &Error) -> bool {
    matches!(error, Error::Corrupt { .. })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::{EdgeKind, Graph, ManualClock, Timestamp, Value};

    /// A store in a map: location = the number of objects staged before.
    /// It forks (forks share the counter), so persists run in parallel.
    #[derive(Default)]
    struct MapStore {
        id: u64,
        objects: Arc<Mutex<HashMap<u64, TreeObject>>>,
        next: Arc<AtomicU64>,
        staged: Vec<(u64, TreeObject)>,
        forks: usize,
    }

    impl TreeSink for MapStore {
        type Error = Error;
        fn store_id(&self) -> u64 {
            self.id
        }
        fn write(&mut self, _: &ContentHash, object: &TreeObject) -> Result<StoreTag> {
            let location = self.next.fetch_add(1, Ordering::Relaxed);
            self.staged.push((location, object.clone()));
            Ok(StoreTag { store: self.id, location })
        }
        fn fork(&self) -> Option<Self> {
            let (objects, next) = (Arc::clone(&self.objects), Arc::clone(&self.next));
            Some(Self { id: self.id, objects, next, staged: Vec::new(), forks: 0 })
        }
        fn join(&mut self, fork: Self) -> Result<()> {
            self.staged.extend(fork.staged);
            self.forks += 1 + fork.forks;
            Ok(())
        }
    }

    impl MapStore {
        fn flush(&mut self) {
            self.objects.lock().unwrap().extend(self.staged.drain(..));
        }
    }

    impl TreeSource for MapStore {
        type Error = Error;
        fn store_id(&self) -> u64 {
            self.id
        }
        fn read(&self, location: u64, _: ObjectKind) -> Result<TreeObject> {
            self.objects.lock().unwrap().get(&location).cloned().ok_or(Error::Corrupt { what: "missing".into() })
        }
    }

    fn graph(n: usize) -> Graph {
        let mut g = Graph::with_clock(ManualClock::new(Timestamp::from_secs(1)));
        for i in 0..n {
            g.insert(
                Component::new("Service", &format!("s{i}")).unwrap().with_param("i", i as i64).with_output("o", 1),
            )
            .unwrap();
            if i > 0 {
                g.connect(format!("Service/s{i}"), format!("Service/s{}", i / 2), EdgeKind::DependsOn, []).unwrap();
            }
        }
        g
    }

    #[test]
    fn persist_load_round_trip_and_incremental_writes() {
        let mut store = MapStore::default();
        let mut g = graph(500);
        let first = g.persist(&mut store).unwrap();
        let total = first.written;
        // The root's subtrees went through forks, and all came back.
        assert!(store.forks >= 4, "{} forks", store.forks);
        assert_eq!(store.staged.len(), total);
        store.flush();
        let roots = first.roots.clone();
        first.confirm();
        let loaded = Snapshot::load(&roots, &store).unwrap();
        assert_eq!(loaded.root_hash(), g.root_hash());
        assert_eq!(roots.root_hash(), g.root_hash());
        assert!(loaded.diff(&g).is_empty());
        assert_eq!(loaded.dependents(&"Service/s1".parse().unwrap()).len(), 2);

        // Nothing new: nothing written.
        let again = g.persist(&mut store).unwrap();
        assert_eq!(again.written, 0);
        again.confirm();

        // One change: a path's worth of objects, not the graph.
        g.set_param("Service/s7", "i", Value::Int(-1)).unwrap();
        let third = g.persist(&mut store).unwrap();
        assert!(third.written >= 2 && third.written <= 8, "wrote {} of {total}", third.written);
        store.flush();
        let loaded = Snapshot::load(&third.roots, &store).unwrap();
        assert_eq!(loaded.root_hash(), g.root_hash());
    }

    #[test]
    fn the_last_store_written_stays_cheap() {
        let (mut a, mut b) = (MapStore { id: 1, ..MapStore::default() }, MapStore { id: 2, ..MapStore::default() });
        let mut g = graph(300);
        g.persist(&mut a).unwrap().confirm();
        let full = g.persist(&mut b).unwrap();
        assert!(full.written > 300, "another store's tags do not count");
        full.confirm();
        g.set_param("Service/s9", "i", Value::Int(-9)).unwrap();
        let one = g.persist(&mut b).unwrap();
        assert!(one.written <= 8, "wrote {}", one.written);
    }

    #[test]
    fn unconfirmed_writes_are_written_again() {
        let mut store = MapStore::default();
        let g = graph(50);
        let first = g.persist(&mut store).unwrap();
        drop(first); // the store's commit failed
        store.staged.clear();
        let second = g.persist(&mut store).unwrap();
        assert!(second.written > 50);
    }

    #[test]
    fn corrupted_objects_are_detected() {
        let mut store = MapStore::default();
        let g = graph(100);
        let p = g.persist(&mut store).unwrap();
        store.flush();
        let roots = p.roots.clone();
        // Swap one component for another: the hash check catches it.
        let mut objects = store.objects.lock().unwrap();
        let (a, b) = {
            let comps: Vec<u64> = objects
                .iter()
                .filter(|(_, o)| matches!(o, TreeObject::Component(_)))
                .map(|(k, _)| *k)
                .take(2)
                .collect();
            (comps[0], comps[1])
        };
        let oa = objects[&a].clone();
        let ob = objects[&b].clone();
        objects.insert(a, ob);
        objects.insert(b, oa);
        drop(objects);
        let err = Snapshot::load(&roots, &store).unwrap_err();
        assert!(is_corruption(&err), "{err}");
    }
}
