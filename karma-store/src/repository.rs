//! The repository: all history logic, once, over any [`Backend`].

use std::collections::VecDeque;
use std::fmt;
use std::ops::Bound;
use std::sync::{Arc, Mutex, PoisonError};

use karma_core::tree::{ObjectKind, StoreTag, TreeObject, TreeSink, TreeSource};
use karma_core::{Clock, ComponentChange, ContentHash, Delta, Key, Snapshot, SystemClock, Timestamp};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Direction, Keyspace, WriteBatch, WriteError, prefix_range};
use crate::error::{Result, StoreError};
use crate::index::{self, IndexEntry};
use crate::pack::{self, Pack, PackWriter};
use crate::record::{
    self, CommitId, CommitRecord, InitialParams, LineageEvent, LineageEventKind, ParamChange, RecordKind, commit_key,
    decode, encode, encode_payload, initial_prefix, key_seq, lineage_prefix, location_key, param_prefix, time_key,
    time_prefix, time_upper,
};
use crate::refs::RefName;

const META_FORMAT: &[u8] = b"format";
const META_STORE_ID: &[u8] = b"store_id";
const CACHE: usize = 8;
/// A commit with at least this many index entries writes them straight into
/// the sorted index (an import); smaller ones write one sequential segment.
const DIRECT_INDEX: usize = 32_768;
/// Pending segment entries that trigger a merge into the sorted index.
const FLUSH_AT: usize = 32_768;
const SEGMENT_PREFIX: &[u8] = b"S";

fn segment_key(seq: u64) -> Vec<u8> {
    let mut k = SEGMENT_PREFIX.to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Who made a commit and why; the time defaults to the repository's clock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitInfo {
    /// Who (a person, a pipeline).
    pub author: String,
    /// Why.
    pub message: String,
    /// When; `None` takes the repository clock's now.
    pub timestamp: Option<Timestamp>,
}

impl CommitInfo {
    /// A commit by `author` saying `message`, stamped by the clock.
    pub fn new(author: impl Into<String>, message: impl Into<String>) -> Self {
        Self { author: author.into(), message: message.into(), timestamp: None }
    }

    /// Stamps the commit at `t` (e.g. when replaying history).
    #[must_use]
    pub fn at(mut self, t: Timestamp) -> Self {
        self.timestamp = Some(t);
        self
    }
}

/// A commit: one recorded state of the graph on a ref.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// Its id (the blake3 hash of its record).
    pub id: CommitId,
    /// The commits it follows (none for the first, two for a merge).
    pub parents: Vec<CommitId>,
    /// When it was made.
    pub timestamp: Timestamp,
    /// Who made it.
    pub author: String,
    /// Why.
    pub message: String,
    /// The ref (environment, branch) it was made on.
    pub reference: String,
    /// The root hash of its snapshot.
    pub root_hash: ContentHash,
    /// Number of components in its snapshot.
    pub component_count: u64,
    /// Its position in the repository's write order.
    pub seq: u64,
}

impl Commit {
    fn from_record(id: CommitId, r: &CommitRecord) -> Self {
        Self {
            id,
            parents: r.parents.clone(),
            timestamp: r.timestamp,
            author: r.author.clone(),
            message: r.message.clone(),
            reference: r.reference.clone(),
            root_hash: r.roots.root_hash(),
            component_count: r.roots.component_count,
            seq: r.seq,
        }
    }
}

/// A way to name a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revision {
    /// This commit.
    Commit(CommitId),
    /// What the ref points to now.
    Head(RefName),
    /// What the ref pointed to at that time.
    AsOf(RefName, Timestamp),
}

/// A component's history: every version, and the commit that removed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lineage {
    /// The component.
    pub key: Key,
    /// Every event, oldest first.
    pub events: Vec<LineageEvent>,
}

impl Lineage {
    /// When it was (first) created.
    pub fn created(&self) -> Option<&LineageEvent> {
        self.events.iter().find(|e| e.kind == LineageEventKind::Created)
    }

    /// The commit that last removed it, if it is gone.
    pub fn removed(&self) -> Option<&LineageEvent> {
        self.events.last().filter(|e| e.kind == LineageEventKind::Removed)
    }
}

/// What [`Repository::verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Stored objects whose framing and checksum were checked.
    pub objects: u64,
    /// Commits whose whole snapshot was loaded and hash-checked.
    pub commits: u64,
    /// Every problem found (empty: the repository is sound).
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether nothing was wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Git-like, content-addressed history of a graph over a [`Backend`].
///
/// ```
/// use karma_core::{Component, Graph};
/// use karma_store::{CommitInfo, MemoryStore, RefName, Repository};
///
/// let repo = Repository::open(MemoryStore::new())?;
/// let prod = RefName::environment("prod")?;
/// let mut graph = Graph::new();
/// graph.insert(Component::new("Database", "orders")?.with_param("port", 5432))?;
/// let first = repo.commit(&prod, &graph, CommitInfo::new("ci", "first deploy"))?;
/// graph.set_param("Database/orders", "port", 6432)?;
/// let second = repo.commit(&prod, &graph, CommitInfo::new("ci", "new port"))?;
///
/// assert_eq!(repo.checkout(first.id)?.root_hash(), first.root_hash);
/// let history = repo.param_history(&"Database/orders".parse()?, "port")?;
/// assert_eq!(history.len(), 2);
/// # Ok::<(), karma_store::StoreError>(())
/// ```
pub struct Repository<B: Backend> {
    backend: B,
    store_id: u64,
    clock: Arc<dyn Clock>,
    cache: Mutex<VecDeque<(CommitId, Snapshot)>>,
    memtable: Mutex<Memtable>,
}

/// Index segments read into memory (entries of commits not yet merged into
/// the sorted index), and how many entries this handle staged since its last
/// merge.
///
/// Reads, merges and seq allocation take its lock, so a merge never
/// interleaves with a read, and `floor` never passes a commit that may still
/// write its segment.
#[derive(Default)]
struct Memtable {
    /// Payloads by `series ++ seq`.
    entries: std::collections::BTreeMap<Vec<u8>, Vec<u8>>,
    /// Every segment at or below this seq has been read into `entries`.
    floor: Option<u64>,
    /// Seqs of this handle's commits that are allocated but not yet written
    /// (or failed).
    in_flight: std::collections::BTreeSet<u64>,
    staged: usize,
}

/// Takes a commit's seq out of [`Memtable::in_flight`] when it is written
/// or given up.
struct InFlight<'a> {
    memtable: &'a Mutex<Memtable>,
    seq: u64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.memtable.lock().unwrap_or_else(PoisonError::into_inner).in_flight.remove(&self.seq);
    }
}

impl<B: Backend> fmt::Debug for Repository<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Repository")
            .field("backend", &self.backend)
            .field("store_id", &self.store_id)
            .finish_non_exhaustive()
    }
}

fn backend_err(e: crate::backend::BackendError) -> StoreError {
    StoreError::Backend(e)
}

fn new_store_id() -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(&SystemClock.now().as_nanos().to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    let local = 0u8;
    h.update(&(std::ptr::from_ref(&local) as usize).to_le_bytes());
    let bytes = h.finalize();
    u64::from_le_bytes(bytes.as_bytes()[..8].try_into().expect("8 bytes"))
}

/// Gathers a snapshot's new objects into packs.
struct PackSink<'a, B: Backend> {
    backend: &'a B,
    store_id: u64,
    packs: PackWriter,
    /// The packs of joined forks, finished.
    joined: Vec<(u64, Vec<u8>)>,
}

impl<'a, B: Backend> PackSink<'a, B> {
    fn new(backend: &'a B, store_id: u64) -> Self {
        Self { backend, store_id, packs: PackWriter::default(), joined: Vec::new() }
    }

    /// Every pack staged, by id.
    fn finish(self) -> Vec<(u64, Vec<u8>)> {
        let mut packs = self.joined;
        packs.extend(self.packs.finish());
        packs
    }
}

impl<B: Backend> TreeSink for PackSink<'_, B> {
    type Error = StoreError;
    fn store_id(&self) -> u64 {
        self.store_id
    }
    fn write(&mut self, _hash: &ContentHash, object: &TreeObject) -> Result<StoreTag> {
        let backend = self.backend;
        let location = self.packs.add(
            |out| object.encode_into(out).map_err(StoreError::from),
            || backend.allocate(1).map_err(backend_err),
        )?;
        Ok(StoreTag { store: self.store_id, location })
    }
    /// Forks write packs of their own (pack ids come from the backend's
    /// counter, so locations never collide).
    fn fork(&self) -> Option<Self> {
        Some(Self::new(self.backend, self.store_id))
    }
    fn join(&mut self, fork: Self) -> Result<()> {
        self.joined.extend(fork.finish());
        Ok(())
    }
}

/// Bytes of packs kept while a snapshot loads. Consecutive reads of a
/// fresh import hit the same pack; a snapshot built by many commits holds
/// live objects in each of their packs (a 1,000-change commit writes a few
/// packs per subtree its persist forked into), and the load, in key-hash
/// order, comes back to each of them once per subtree. A budget that holds
/// them all reads each pack once: after 500 commits of 1,000 changes onto a
/// 1M import, 36,827 pack reads (369 MB) where 1,024 packs kept made it
/// ~78,000 (705 MB). The packs go when the load ends.
const PACK_CACHE_BYTES: usize = 256 << 20;

/// Reads a stored snapshot's objects; shared by the threads a load runs on.
struct ObjectSource<'a, B: Backend> {
    backend: &'a B,
    store_id: u64,
    packs: Mutex<PackCache>,
}

/// Recently read packs by id, the oldest evicted first once they hold more
/// than [`PACK_CACHE_BYTES`].
#[derive(Default)]
struct PackCache {
    packs: std::collections::HashMap<u64, Arc<Pack>>,
    order: VecDeque<u64>,
    bytes: usize,
}

impl<'a, B: Backend> ObjectSource<'a, B> {
    fn new(backend: &'a B, store_id: u64) -> Self {
        Self { backend, store_id, packs: Mutex::default() }
    }

    fn pack(&self, id: u64) -> Result<Arc<Pack>> {
        if let Some(pack) = self.packs.lock().unwrap_or_else(PoisonError::into_inner).packs.get(&id) {
            return Ok(Arc::clone(pack));
        }
        let bytes = self
            .backend
            .get(Keyspace::Objects, &location_key(id))
            .map_err(backend_err)?
            .ok_or_else(|| StoreError::corrupt(format!("pack {id} is missing")))?;
        let pack = Arc::new(Pack::parse_for_load(bytes)?);
        let mut cache = self.packs.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.packs.insert(id, Arc::clone(&pack)).is_none() {
            cache.order.push_back(id);
            cache.bytes += pack.size();
        }
        while cache.bytes > PACK_CACHE_BYTES {
            let oldest = cache.order.pop_front().expect("packs are held");
            let evicted = cache.packs.remove(&oldest).expect("every listed pack is held");
            cache.bytes -= evicted.size();
        }
        Ok(pack)
    }
}

impl<B: Backend> TreeSource for ObjectSource<'_, B> {
    type Error = StoreError;
    fn store_id(&self) -> u64 {
        self.store_id
    }
    fn read(&self, location: u64, kind: ObjectKind) -> Result<TreeObject> {
        let (pack, index) = pack::split_location(location);
        let object = TreeObject::decode(self.pack(pack)?.object(index)?)
            .map_err(|e| StoreError::corrupt(format!("object {location} does not decode: {e}")))?;
        if object.kind() != kind {
            return Err(StoreError::corrupt(format!(
                "object {location} is a {:?}, expected a {kind:?}",
                object.kind()
            )));
        }
        Ok(object)
    }
}

impl<B: Backend> Repository<B> {
    /// Opens the repository in `backend`, initialising an empty one. Fails
    /// with [`StoreError::UnsupportedFormat`] for a store written in another
    /// format.
    pub fn open(backend: B) -> Result<Self> {
        let format = backend.get(Keyspace::Meta, META_FORMAT).map_err(backend_err)?;
        let store_id = if let Some(bytes) = format {
            {
                let found: u32 = decode(RecordKind::Meta, &bytes)?;
                if found != u32::from(record::FORMAT) {
                    return Err(StoreError::UnsupportedFormat { found, supported: u32::from(record::FORMAT) });
                }
                let id = backend
                    .get(Keyspace::Meta, META_STORE_ID)
                    .map_err(backend_err)?
                    .ok_or_else(|| StoreError::corrupt("the store has a format but no identity"))?;
                decode::<u64>(RecordKind::Meta, &id)?
            }
        } else {
            {
                let id = new_store_id();
                let mut batch = WriteBatch::default();
                batch.expect(Keyspace::Meta, META_FORMAT, None);
                batch.put(Keyspace::Meta, META_FORMAT, encode(RecordKind::Meta, &u32::from(record::FORMAT))?);
                batch.put(Keyspace::Meta, META_STORE_ID, encode(RecordKind::Meta, &id)?);
                match backend.write(batch) {
                    Ok(()) => id,
                    // Someone initialised it concurrently: read theirs.
                    Err(WriteError::Conflict { .. }) => return Self::open(backend),
                    Err(WriteError::Backend(e)) => return Err(backend_err(e)),
                }
            }
        };
        Ok(Self {
            backend,
            store_id,
            clock: Arc::new(SystemClock),
            cache: Mutex::new(VecDeque::new()),
            memtable: Mutex::new(Memtable::default()),
        })
    }

    /// Uses `clock` for commits that carry no time.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The backend, for maintenance that needs it alone (e.g.
    /// [`RedbStore::compact`](crate::RedbStore::compact)).
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    // ---- refs ----

    /// The commit `reference` points to, if it exists.
    pub fn head(&self, reference: &RefName) -> Result<Option<CommitId>> {
        self.backend
            .get(Keyspace::Refs, reference.as_str().as_bytes())
            .map_err(backend_err)?
            .map(|bytes| decode::<CommitId>(RecordKind::CommitId, &bytes))
            .transpose()
    }

    /// Every ref and where it points, sorted by name.
    pub fn refs(&self) -> Result<Vec<(RefName, CommitId)>> {
        let entries = self
            .backend
            .scan(Keyspace::Refs, (Bound::Unbounded, Bound::Unbounded), Direction::Forward, usize::MAX)
            .map_err(backend_err)?;
        entries
            .into_iter()
            .map(|(k, v)| {
                let name = String::from_utf8(k).map_err(|_| StoreError::corrupt("a ref name is not UTF-8"))?;
                Ok((RefName::parse(&name)?, decode(RecordKind::CommitId, &v)?))
            })
            .collect()
    }

    /// Moves `reference` from `expected` to `target` (creates it when
    /// `expected` is `None`) by compare-and-swap: for branches and tags.
    pub fn set_ref(&self, reference: &RefName, expected: Option<CommitId>, target: CommitId) -> Result<()> {
        self.commit_record(&target)?;
        let mut batch = WriteBatch::default();
        expect_ref(&mut batch, reference, expected)?;
        batch.put(Keyspace::Refs, reference.as_str(), encode(RecordKind::CommitId, &target)?);
        self.write_moving(batch, reference, expected)
    }

    fn write_moving(&self, batch: WriteBatch, reference: &RefName, expected: Option<CommitId>) -> Result<()> {
        match self.backend.write(batch) {
            Ok(()) => Ok(()),
            Err(WriteError::Conflict { space: Keyspace::Refs, actual, .. }) => Err(StoreError::Conflict {
                reference: reference.clone(),
                expected,
                actual: actual.map(|b| decode(RecordKind::CommitId, &b)).transpose()?,
            }),
            Err(WriteError::Conflict { space, .. }) => {
                Err(StoreError::corrupt(format!("unexpected compare-and-swap failure in {space:?}")))
            }
            Err(WriteError::Backend(e)) => Err(backend_err(e)),
        }
    }

    // ---- commits ----

    /// Commits `snapshot` on `reference`, on top of where it points now.
    /// If another writer moves the ref in between, fails with
    /// [`StoreError::Conflict`] and nothing is written.
    pub fn commit(&self, reference: &RefName, snapshot: &Snapshot, info: CommitInfo) -> Result<Commit> {
        let head = self.head(reference)?;
        self.commit_onto(reference, head, snapshot, info)
    }

    /// Commits `snapshot` on `reference`, which must point at `parent` (or
    /// not exist, for `None`); otherwise [`StoreError::Conflict`].
    pub fn commit_onto(
        &self,
        reference: &RefName,
        parent: Option<CommitId>,
        snapshot: &Snapshot,
        info: CommitInfo,
    ) -> Result<Commit> {
        let parents: Vec<CommitId> = parent.into_iter().collect();
        self.commit_with_parents(reference, parent, &parents, snapshot, info)
    }

    /// Commits `delta` applied to the commit `reference` points at (which
    /// must be `parent`): the fast path for tools that know what changed,
    /// skipping the diff. Fails with [`StoreError::Core`] (a delta conflict)
    /// if the delta does not apply to the parent.
    pub fn commit_delta(
        &self,
        reference: &RefName,
        parent: Option<CommitId>,
        delta: &Delta,
        info: CommitInfo,
    ) -> Result<Commit> {
        let base = match parent {
            Some(p) => self.checkout(p)?,
            None => Snapshot::default(),
        };
        let to_store = base.apply(delta)?;
        let parents: Vec<CommitId> = parent.into_iter().collect();
        self.write_commit(reference, parent, &parents, delta, to_store, info)
    }

    /// Commits with explicit parents (e.g. a merge), moving `reference` from
    /// `expected`.
    pub fn commit_with_parents(
        &self,
        reference: &RefName,
        expected: Option<CommitId>,
        parents: &[CommitId],
        snapshot: &Snapshot,
        info: CommitInfo,
    ) -> Result<Commit> {
        let base = match parents.first() {
            Some(p) => self.checkout(*p)?,
            None => Snapshot::default(),
        };
        for p in parents.iter().skip(1) {
            self.commit_record(p)?;
        }
        // Hash both sides first (cached per node, so cheap after the first
        // time), letting the diff skip equal subtrees even when `snapshot`
        // shares no nodes with the stored parent. Then rebuild the snapshot on
        // the parent's stored structure, so only what changed is written,
        // however `snapshot` was built.
        base.root_hash();
        snapshot.root_hash();
        let delta = base.diff(snapshot);
        // With nothing stored to share (a first commit), the snapshot itself
        // is what gets written.
        let to_store = if base.is_empty() && base.edge_count() == 0 { snapshot.clone() } else { base.apply(&delta)? };
        self.write_commit(reference, expected, parents, &delta, to_store, info)
    }

    /// Writes one commit: the new objects of `to_store` (which is the first
    /// parent's snapshot with `delta` applied), the record, its index
    /// entries and the ref move, in one atomic batch.
    fn write_commit(
        &self,
        reference: &RefName,
        expected: Option<CommitId>,
        parents: &[CommitId],
        delta: &Delta,
        to_store: Snapshot,
        info: CommitInfo,
    ) -> Result<Commit> {
        let timestamp = info.timestamp.unwrap_or_else(|| self.clock.now());

        // Hashed first: a large commit's changed subtrees hash in parallel.
        to_store.root_hash();
        let mut batch = WriteBatch::default();
        let mut sink = PackSink::new(&self.backend, self.store_id);
        let persisted = to_store.persist(&mut sink)?;
        for (id, pack) in sink.finish() {
            batch.put(Keyspace::Objects, location_key(id), pack);
        }
        let in_flight = self.allocate_commit_seq()?;
        let seq = in_flight.seq;
        let record = CommitRecord {
            parents: parents.to_vec(),
            roots: persisted.roots.clone(),
            timestamp,
            author: info.author,
            message: info.message,
            reference: reference.as_str().to_string(),
            seq,
        };
        let id = record.id()?;
        batch.put(Keyspace::Objects, location_key(seq), encode(RecordKind::Commit, &record)?);
        batch.put(Keyspace::Index, commit_key(&id), encode(RecordKind::Location, &seq)?);
        batch.put(Keyspace::Index, time_key(reference.as_str(), timestamp, seq), encode(RecordKind::CommitId, &id)?);
        let entries = index_delta(delta, &to_store, id, timestamp, seq)?;
        let staged = entries.len();
        if staged >= DIRECT_INDEX {
            // A bulk import: straight into the sorted index.
            for (k, v) in index::chunks(entries) {
                batch.put(Keyspace::Index, k, v);
            }
        } else if staged > 0 {
            // One sequential record; merged into the sorted index later.
            batch.put(Keyspace::Index, segment_key(seq), index::encode_segment(&entries));
        }
        expect_ref(&mut batch, reference, expected)?;
        batch.put(Keyspace::Refs, reference.as_str(), encode(RecordKind::CommitId, &id)?);
        self.write_moving(batch, reference, expected)?;
        drop(in_flight);
        persisted.confirm();
        self.remember(id, to_store);
        if staged < DIRECT_INDEX && self.note_pending(staged) {
            // The commit is durable: a merge that fails leaves the segments
            // pending (still read from the memtable), and the next commit
            // or an explicit `flush_index` tries again and reports why.
            self.flush_index().ok();
        }
        Ok(Commit::from_record(id, &record))
    }

    /// The nearest common ancestor of two commits (breadth-first over
    /// parents), if they share history.
    pub fn merge_base(&self, a: CommitId, b: CommitId) -> Result<Option<CommitId>> {
        let ancestors = |start: CommitId| -> Result<Vec<CommitId>> {
            let mut seen = vec![start];
            let mut queue = VecDeque::from([start]);
            while let Some(id) = queue.pop_front() {
                for p in self.commit_record(&id)?.parents {
                    if !seen.contains(&p) {
                        seen.push(p);
                        queue.push_back(p);
                    }
                }
            }
            Ok(seen)
        };
        let of_a = ancestors(a)?;
        Ok(ancestors(b)?.into_iter().find(|id| of_a.contains(id)))
    }

    /// Merges `other` into `target` (three-way, param by param, against their
    /// merge base) and commits the result with both as parents. Conflicts
    /// come back as [`StoreError::Merge`], each naming component and param;
    /// nothing is committed then.
    pub fn merge(&self, target: &RefName, other: &Revision, info: CommitInfo) -> Result<Commit> {
        let ours = self.head(target)?.ok_or_else(|| StoreError::UnknownRef(target.clone()))?;
        let theirs = match (self.resolve(other)?, other) {
            (Some(id), _) => id,
            (None, Revision::Head(r) | Revision::AsOf(r, _)) => {
                return Err(StoreError::UnknownRef(r.clone()));
            }
            (None, Revision::Commit(id)) => return Err(StoreError::UnknownCommit(*id)),
        };
        let base = match self.merge_base(ours, theirs)? {
            Some(id) => self.checkout(id)?,
            None => Snapshot::default(),
        };
        let clock = karma_core::ManualClock::new(info.timestamp.unwrap_or_else(|| self.clock.now()));
        let merged = karma_core::merge(&base, &self.checkout(ours)?, &self.checkout(theirs)?, clock)
            .map_err(|conflicts| StoreError::Merge { conflicts })?;
        self.commit_with_parents(target, Some(ours), &[ours, theirs], &merged, info)
    }

    fn commit_record(&self, id: &CommitId) -> Result<CommitRecord> {
        let location = self
            .backend
            .get(Keyspace::Index, &commit_key(id))
            .map_err(backend_err)?
            .ok_or(StoreError::UnknownCommit(*id))?;
        self.commit_record_at(id, decode(RecordKind::Location, &location)?)
    }

    /// The record of commit `id`, stored at `location` (its write sequence
    /// number), checked against `id`.
    fn commit_record_at(&self, id: &CommitId, location: u64) -> Result<CommitRecord> {
        let bytes = self
            .backend
            .get(Keyspace::Objects, &location_key(location))
            .map_err(backend_err)?
            .ok_or_else(|| StoreError::corrupt(format!("commit {id} is indexed but missing")))?;
        let record: CommitRecord = decode(RecordKind::Commit, &bytes)?;
        if record.id()? != *id {
            return Err(StoreError::corrupt(format!("commit {id} does not match its id")));
        }
        Ok(record)
    }

    /// The commit `id`.
    pub fn get_commit(&self, id: CommitId) -> Result<Commit> {
        Ok(Commit::from_record(id, &self.commit_record(&id)?))
    }

    /// The commit a revision names, if any (`AsOf` before the first commit
    /// names none).
    pub fn resolve(&self, revision: &Revision) -> Result<Option<CommitId>> {
        match revision {
            Revision::Commit(id) => {
                self.commit_record(id)?;
                Ok(Some(*id))
            }
            Revision::Head(r) => self.head(r),
            Revision::AsOf(r, t) => Ok(self.as_of(r, *t)?.map(|c| c.id)),
        }
    }

    /// The snapshot committed as `id`, every object checked against its hash.
    pub fn checkout(&self, id: CommitId) -> Result<Snapshot> {
        if let Some(s) = self.cached(&id) {
            return Ok(s);
        }
        let record = self.commit_record(&id)?;
        let snapshot = Snapshot::load(&record.roots, &ObjectSource::new(&self.backend, self.store_id))?;
        self.remember(id, snapshot.clone());
        Ok(snapshot)
    }

    /// The snapshot a revision names; the empty snapshot for an `AsOf`
    /// before the first commit.
    pub fn checkout_revision(&self, revision: &Revision) -> Result<Snapshot> {
        match self.resolve(revision)? {
            Some(id) => self.checkout(id),
            None => match revision {
                Revision::Head(r) => Err(StoreError::UnknownRef(r.clone())),
                _ => Ok(Snapshot::default()),
            },
        }
    }

    /// What changed from `a` to `b` ("what changed between these two
    /// deployments?").
    pub fn diff(&self, a: &Revision, b: &Revision) -> Result<Delta> {
        Ok(self.checkout_revision(a)?.diff(&self.checkout_revision(b)?))
    }

    /// The commits of `reference`, newest first, following first parents:
    /// up to `limit` of them, starting after `before` when given (the last
    /// commit of the previous page).
    pub fn log(&self, reference: &RefName, limit: usize, before: Option<CommitId>) -> Result<Vec<Commit>> {
        let mut next = match before {
            Some(id) => self.commit_record(&id)?.parents.first().copied(),
            None => Some(self.head(reference)?.ok_or_else(|| StoreError::UnknownRef(reference.clone()))?),
        };
        let mut out = Vec::new();
        while let Some(id) = next {
            if out.len() >= limit {
                break;
            }
            let record = self.commit_record(&id)?;
            next = record.parents.first().copied();
            out.push(Commit::from_record(id, &record));
        }
        Ok(out)
    }

    /// The commit `reference` pointed to at time `t` (the last one committed
    /// on it at or before `t`), or `None` before its first.
    pub fn as_of(&self, reference: &RefName, t: Timestamp) -> Result<Option<Commit>> {
        let range =
            (Bound::Included(time_prefix(reference.as_str())), Bound::Included(time_upper(reference.as_str(), t)));
        let hit = self.backend.scan(Keyspace::Index, range, Direction::Reverse, 1).map_err(backend_err)?;
        match hit.first() {
            Some((k, v)) => {
                let id: CommitId = decode(RecordKind::CommitId, v)?;
                // The time key ends with the commit's sequence number, which
                // is where its record is: no lookup of the id needed.
                let seq = key_seq(k).ok_or_else(|| StoreError::corrupt("a time index key is too short"))?;
                let record = self.commit_record_at(&id, seq)?;
                if record.seq != seq {
                    return Err(StoreError::corrupt(format!("commit {id} is indexed at the wrong time entry")));
                }
                Ok(Some(Commit::from_record(id, &record)))
            }
            None => Ok(None),
        }
    }

    /// Every value param `param` of component `key` took, oldest first, with
    /// the commit and time; read from an index written with each commit.
    pub fn param_history(&self, key: &Key, param: &str) -> Result<Vec<ParamChange>> {
        let mut out = SeqOrdered::default();
        self.read_series(&initial_prefix(key), &mut out, |entry| {
            let initial = initial_params(entry)?;
            let (commit, timestamp) = (initial.event.commit, initial.event.timestamp);
            let found = initial.params.into_iter().find(|(n, _)| n == param);
            Ok(found.map(|(_, value)| ParamChange { commit, timestamp, value: Some(value) }))
        })?;
        self.read_series(&param_prefix(key, param), &mut out, |entry| index::decode_param_change(entry).map(Some))?;
        Ok(out.into_ordered())
    }

    /// Every version of component `key`: when it was created, each change
    /// with its reference chain, and the commit that removed it.
    pub fn lineage(&self, key: &Key) -> Result<Lineage> {
        let mut events = SeqOrdered::default();
        self.read_series(&initial_prefix(key), &mut events, |entry| Ok(Some(initial_params(entry)?.event)))?;
        self.read_series(&lineage_prefix(key), &mut events, |entry| {
            record::decode_payload(RecordKind::LineageEntry, entry).map(Some)
        })?;
        Ok(Lineage { key: key.clone(), events: events.into_ordered() })
    }

    /// Checks the whole repository: every object's framing and checksum,
    /// every commit's record and snapshot (all hashes), every ref. Reports
    /// each problem rather than stopping at the first.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        let objects = self
            .backend
            .scan(Keyspace::Objects, (Bound::Unbounded, Bound::Unbounded), Direction::Forward, usize::MAX)
            .map_err(backend_err)?;
        for (k, v) in objects {
            let checked = if v.get(2) == Some(&(RecordKind::Commit as u8)) {
                record::unframe(RecordKind::Commit, &v).map(|_| 1)
            } else {
                Pack::parse(v).map(|pack| pack.len() as u64)
            };
            match checked {
                Ok(n) => report.objects += n,
                Err(e) => report.problems.push(format!("object row {k:?}: {e}")),
            }
        }
        let commits = self
            .backend
            .scan(Keyspace::Index, prefix_range(b"C"), Direction::Forward, usize::MAX)
            .map_err(backend_err)?;
        for (k, _) in &commits {
            let Some(id) = k.get(1..).and_then(|b| <[u8; 32]>::try_from(b).ok()) else {
                report.problems.push(format!("malformed commit index key {k:?}"));
                continue;
            };
            let id = CommitId(ContentHash::from_bytes(id));
            let loaded = self.commit_record(&id).and_then(|r| {
                Snapshot::load(&r.roots, &ObjectSource::new(&self.backend, self.store_id)).and_then(|s| {
                    if s.root_hash() == r.roots.root_hash() {
                        Ok(())
                    } else {
                        Err(StoreError::corrupt("root hash mismatch"))
                    }
                })
            });
            report.commits += 1;
            if let Err(e) = loaded {
                report.problems.push(format!("commit {id}: {e}"));
            }
        }
        let segments = self
            .backend
            .scan(Keyspace::Index, prefix_range(SEGMENT_PREFIX), Direction::Forward, usize::MAX)
            .map_err(backend_err)?;
        for (k, v) in &segments {
            if let Err(e) = index::decode_segment(v) {
                report.problems.push(format!("index segment {k:?}: {e}"));
            }
        }
        for prefix in [&b"P"[..], b"L", b"I"] {
            let chunks = self
                .backend
                .scan(Keyspace::Index, prefix_range(prefix), Direction::Forward, usize::MAX)
                .map_err(backend_err)?;
            for (k, v) in &chunks {
                let checked = index::chunk_series(k).and_then(|series| {
                    index::read_chunk(series, k, record::unframe(RecordKind::Chunk, v)?, |_, _| Ok(()))
                });
                if let Err(e) = checked {
                    report.problems.push(format!("index chunk {k:?}: {e}"));
                }
            }
        }
        match self.refs() {
            Ok(refs) => {
                for (name, id) in refs {
                    if let Err(e) = self.commit_record(&id) {
                        report.problems.push(format!("ref {name}: {e}"));
                    }
                }
            }
            Err(e) => report.problems.push(format!("refs: {e}")),
        }
        Ok(report)
    }

    /// Reserves the seq of a commit about to be written, noting it in flight
    /// (under the memtable's lock, so no read passes it by).
    fn allocate_commit_seq(&self) -> Result<InFlight<'_>> {
        let mut memtable = self.memtable.lock().unwrap_or_else(PoisonError::into_inner);
        let seq = self.backend.allocate(1).map_err(backend_err)?;
        memtable.in_flight.insert(seq);
        Ok(InFlight { memtable: &self.memtable, seq })
    }

    /// Reads into the memtable the segments written since it last looked.
    fn load_segments(&self, memtable: &mut Memtable) -> Result<()> {
        let from = match memtable.floor {
            Some(seq) => Bound::Excluded(segment_key(seq)),
            None => Bound::Included(SEGMENT_PREFIX.to_vec()),
        };
        let (_, end) = prefix_range(SEGMENT_PREFIX);
        let mut last = memtable.floor;
        for (k, v) in
            self.backend.scan(Keyspace::Index, (from, end), Direction::Forward, usize::MAX).map_err(backend_err)?
        {
            last = Some(key_seq(&k).ok_or_else(|| StoreError::corrupt("a segment key is too short"))?);
            for e in index::decode_segment(&v)? {
                memtable.entries.insert(index::entry_key(&e.series, e.seq), e.payload);
            }
        }
        // A commit still in flight may yet write a segment below `last`:
        // the next read looks again from just below it.
        memtable.floor = match memtable.in_flight.first() {
            None => last,
            Some(&pending) => last.and_then(|l| pending.checked_sub(1).map(|p| p.min(l))),
        };
        Ok(())
    }

    /// Adds to `out` the entries of one index series that `decode` keeps:
    /// the sorted index's chunks plus the segments not merged yet.
    fn read_series<T>(
        &self,
        series: &[u8],
        out: &mut SeqOrdered<T>,
        mut decode: impl FnMut(&[u8]) -> Result<Option<T>>,
    ) -> Result<()> {
        let (rows, pending) = {
            let mut memtable = self.memtable.lock().unwrap_or_else(PoisonError::into_inner);
            self.load_segments(&mut memtable)?;
            let rows = self
                .backend
                .scan(Keyspace::Index, prefix_range(series), Direction::Forward, usize::MAX)
                .map_err(backend_err)?;
            let pending: Vec<(Vec<u8>, Vec<u8>)> =
                memtable.entries.range(prefix_range(series)).map(|(k, v)| (k.clone(), v.clone())).collect();
            (rows, pending)
        };
        // Entries take at least 12 bytes in a chunk; a param's take ~60.
        out.reserve(rows.iter().map(|(_, v)| v.len() / 64).sum::<usize>() + pending.len());
        for (k, v) in &rows {
            // Each chunk decoded right after its checksum, while in cache.
            index::read_chunk(series, k, record::unframe(RecordKind::Chunk, v)?, |seq, entry| {
                if let Some(item) = decode(entry)? {
                    out.push(seq, item);
                }
                Ok(())
            })?;
        }
        for (k, entry) in &pending {
            let seq = key_seq(k).ok_or_else(|| StoreError::corrupt("an index key is too short"))?;
            if let Some(item) = decode(entry)? {
                out.push(seq, item);
            }
        }
        Ok(())
    }

    /// Counts newly staged index entries; true when it is time to merge.
    fn note_pending(&self, staged: usize) -> bool {
        let mut memtable = self.memtable.lock().unwrap_or_else(PoisonError::into_inner);
        memtable.staged += staged;
        memtable.staged >= FLUSH_AT
    }

    /// Merges every pending index segment into the sorted index, in one
    /// atomic batch (entries written, segments deleted). Commits call it when
    /// enough entries are pending; safe to call at any time.
    ///
    /// A series' new entries join its last chunk while that has room, so a
    /// param changed once in each of many merges still ends up in few rows.
    pub fn flush_index(&self) -> Result<()> {
        let mut memtable = self.memtable.lock().unwrap_or_else(PoisonError::into_inner);
        let segments = self
            .backend
            .scan(Keyspace::Index, prefix_range(SEGMENT_PREFIX), Direction::Forward, usize::MAX)
            .map_err(backend_err)?;
        let mut batch = WriteBatch::default();
        let mut entries = Vec::new();
        for (k, v) in segments {
            entries.extend(index::decode_segment(&v)?);
            batch.delete.push((Keyspace::Index, k));
        }
        let mut series: Vec<&[u8]> = entries.iter().map(|e| e.series.as_slice()).collect();
        series.sort_unstable();
        series.dedup();
        let mut reopened = Vec::new();
        let mut replaced = std::collections::BTreeSet::new();
        for s in series {
            let last =
                self.backend.scan(Keyspace::Index, prefix_range(s), Direction::Reverse, 1).map_err(backend_err)?;
            let Some((key, value)) = last.into_iter().next() else { continue };
            let mut held = Vec::new();
            let read = record::unframe(RecordKind::Chunk, &value).and_then(|payload| {
                index::read_chunk(s, &key, payload, |seq, payload| {
                    held.push(IndexEntry { series: s.to_vec(), seq, payload: payload.to_vec() });
                    Ok(())
                })
            });
            // A damaged chunk is left as it is (reads of its series and
            // `verify` report it); the new entries start a chunk of their own.
            if read.is_ok() && held.len() < index::CHUNK {
                reopened.extend(held);
                replaced.insert(key);
            }
        }
        entries.extend(reopened);
        for (k, v) in index::chunks(entries) {
            // Puts apply before deletes: a rewritten chunk keeps its key.
            replaced.remove(&k);
            batch.put(Keyspace::Index, k, v);
        }
        batch.delete.extend(replaced.into_iter().map(|k| (Keyspace::Index, k)));
        match self.backend.write(batch) {
            Ok(()) => {}
            Err(WriteError::Backend(e)) => return Err(backend_err(e)),
            Err(WriteError::Conflict { .. }) => return Err(StoreError::corrupt("an index merge met an expectation")),
        }
        // Every segment read into the memtable was written before this
        // merge's scan (both under the lock), so all of it is merged now.
        memtable.entries.clear();
        memtable.staged = 0;
        Ok(())
    }

    fn cached(&self, id: &CommitId) -> Option<Snapshot> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.iter().find(|(c, _)| c == id).map(|(_, s)| s.clone())
    }

    /// Caches `snapshot` as commit `id`'s, evicting the oldest beyond
    /// [`CACHE`].
    ///
    /// An evicted snapshot is dropped on rayon's pool, not by the caller:
    /// the nodes only it held are the path copies of an earlier commit, and
    /// freeing them releases a reference to every sibling they shared (a
    /// cache miss each) — 12–15 ms after a 1,000-change commit on a 1M
    /// graph, which would otherwise land on whichever commit evicts it.
    fn remember(&self, id: CommitId, snapshot: Snapshot) {
        let evicted = {
            let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            let same = cache.iter().position(|(c, _)| *c == id).and_then(|i| cache.remove(i));
            cache.push_front((id, snapshot));
            let len = cache.len();
            (same, cache.split_off(len.min(CACHE)))
        };
        if evicted.0.is_some() || !evicted.1.is_empty() {
            rayon::spawn(move || drop(evicted));
        }
    }
}

/// Makes `batch` apply only while `reference` points at `expected`.
fn expect_ref(batch: &mut WriteBatch, reference: &RefName, expected: Option<CommitId>) -> Result<()> {
    let bytes = expected.map(|id| encode(RecordKind::CommitId, &id)).transpose()?;
    batch.expect(Keyspace::Refs, reference.as_str(), bytes);
    Ok(())
}

/// Index entries gathered from several series (and from chunks and
/// segments), each with its commit's seq, to be put in commit order.
struct SeqOrdered<T> {
    seqs: Vec<u64>,
    items: Vec<T>,
}

impl<T> Default for SeqOrdered<T> {
    fn default() -> Self {
        Self { seqs: Vec::new(), items: Vec::new() }
    }
}

impl<T> SeqOrdered<T> {
    fn reserve(&mut self, n: usize) {
        self.seqs.reserve(n);
        self.items.reserve(n);
    }

    fn push(&mut self, seq: u64, item: T) {
        self.seqs.push(seq);
        self.items.push(item);
    }

    /// The items by seq, one per seq (a series holds at most one entry per
    /// commit). Gathered in order already — the common case — they are
    /// returned as they are.
    fn into_ordered(self) -> Vec<T> {
        if self.seqs.is_sorted_by(|a, b| a < b) {
            return self.items;
        }
        let mut pairs: Vec<(u64, T)> = self.seqs.into_iter().zip(self.items).collect();
        pairs.sort_by_key(|(seq, _)| *seq);
        pairs.dedup_by_key(|(seq, _)| *seq);
        pairs.into_iter().map(|(_, item)| item).collect()
    }
}

fn initial_params(payload: &[u8]) -> Result<InitialParams> {
    record::decode_payload(RecordKind::InitialParams, payload)
}

/// Changes indexed by one task: enough to amortise the task, few enough to
/// share an import's million among both cores.
const INDEX_TASK: usize = 4096;

/// The param-history and lineage entries of `delta`, in the delta's order;
/// a large delta (an import) is encoded on rayon's pool.
fn index_delta(
    delta: &Delta,
    after: &Snapshot,
    commit: CommitId,
    timestamp: Timestamp,
    seq: u64,
) -> Result<Vec<IndexEntry>> {
    let encode = |changes: &[ComponentChange]| -> Result<Vec<IndexEntry>> {
        let mut entries = Vec::with_capacity(changes.len());
        for change in changes {
            index_change(change, after, commit, timestamp, seq, &mut entries)?;
        }
        Ok(entries)
    };
    if delta.components.len() <= INDEX_TASK {
        return encode(&delta.components);
    }
    let parts: Vec<Vec<IndexEntry>> = delta.components.par_chunks(INDEX_TASK).map(encode).collect::<Result<_>>()?;
    Ok(parts.concat())
}

/// Appends the entries of one component's change to `entries`.
fn index_change(
    change: &ComponentChange,
    after: &Snapshot,
    commit: CommitId,
    timestamp: Timestamp,
    seq: u64,
    entries: &mut Vec<IndexEntry>,
) -> Result<()> {
    let refs = |c: &karma_core::Component| c.references().into_iter().map(|(n, r)| (n.clone(), r.clone())).collect();
    let key = change.key();
    let (kind, version, references) = match change {
        ComponentChange::Added(c) => {
            // One record: the creation event and the initial params.
            let params = c.params().iter().map(|(n, p)| (n.clone(), p.value.clone())).collect();
            let event = LineageEvent {
                commit,
                timestamp,
                kind: LineageEventKind::Created,
                version: c.version(),
                references: refs(c),
            };
            let initial = InitialParams { event, params };
            entries.push(IndexEntry { series: initial_prefix(key), seq, payload: encode_payload(&initial)? });
            return Ok(());
        }
        ComponentChange::Removed(c) => {
            for (name, _) in c.params() {
                let entry = ParamChange { commit, timestamp, value: None };
                entries.push(IndexEntry {
                    series: param_prefix(key, name),
                    seq,
                    payload: index::encode_param_change(&entry)?,
                });
            }
            (LineageEventKind::Removed, c.version(), Vec::new())
        }
        ComponentChange::Changed(d) => {
            for (name, _, after) in d.changed_params() {
                let entry = ParamChange { commit, timestamp, value: after.cloned() };
                entries.push(IndexEntry {
                    series: param_prefix(key, name),
                    seq,
                    payload: index::encode_param_change(&entry)?,
                });
            }
            let references = after.get(key).map(refs).unwrap_or_default();
            (LineageEventKind::Changed, d.version.after, references)
        }
    };
    let event = LineageEvent { commit, timestamp, kind, version, references };
    entries.push(IndexEntry { series: lineage_prefix(key), seq, payload: encode_payload(&event)? });
    Ok(())
}
