//! The embedded persistent backend: one file, ACID, via `redb`.

use std::fmt;
use std::ops::Bound;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::backend::{Backend, BackendError, Direction, Entries, KeyRange, Keyspace, WriteBatch, WriteError};
use crate::error::StoreError;

fn table(space: Keyspace) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(space.name())
}

/// A [`Backend`] in one redb file: every batch is one durable redb write
/// transaction, so a crash never loses an acknowledged commit nor leaves half
/// of one.
///
/// A damaged file gives errors, never a panic: redb may panic on some
/// damaged pages, and every call into it is guarded so that such a panic
/// comes back as a [`BackendError`]. After one, treat the store as unusable.
pub struct RedbStore {
    /// Always `Some` until dropped (see `Drop`).
    db: Option<Database>,
    path: PathBuf,
    next: AtomicU64,
}

impl Drop for RedbStore {
    /// Closing a damaged file can make redb panic; contain it.
    fn drop(&mut self) {
        if let Some(db) = self.db.take() {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(db)));
        }
    }
}

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens the store at `path`, creating the file if it does not exist.
    /// A file that is not a redb database, or is damaged, is an error.
    ///
    /// redb's page cache holds at most [`RedbStore::DEFAULT_CACHE_BYTES`];
    /// see [`RedbStore::open_with_cache`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with_cache(path, Self::DEFAULT_CACHE_BYTES)
    }

    /// The page cache [`RedbStore::open`] gives redb: 1 GiB, redb's own
    /// default. It is filled as pages are read or written and freed with
    /// the store. A smaller one holds the index's and the tries' hot pages
    /// well enough, but buffers less of a large commit: importing 1M
    /// components took 3.9–4.2 s with 128 MiB against 3.7 s with 1 GiB; a
    /// checkout took the same with 128 MiB, 256 MiB or 1 GiB.
    pub const DEFAULT_CACHE_BYTES: usize = 1 << 30;

    /// Like [`RedbStore::open`], with a page cache of at most `cache_bytes`.
    pub fn open_with_cache(path: impl AsRef<Path>, cache_bytes: usize) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        guarded("opening", || Self::open_unguarded(path, cache_bytes)).map_err(StoreError::Backend)
    }

    /// Rewrites the file without its free space, like `git gc`: the pages
    /// that copy-on-write commits freed, and the room redb's growth left
    /// (it doubles a small file when it runs out). Returns whether anything
    /// was reclaimed. Takes `&mut self`, so no read or commit runs meanwhile
    /// (reach it through [`Repository::backend_mut`](crate::Repository::backend_mut)).
    pub fn compact(&mut self) -> Result<bool, StoreError> {
        let db = self.db.as_mut().ok_or_else(|| StoreError::Backend("the store is closed".into()))?;
        guarded("compacting", || db.compact().map_err(|e| BackendError::from(format!("compacting: {e}"))))
            .map_err(StoreError::Backend)
    }

    fn open_unguarded(path: PathBuf, cache_bytes: usize) -> Result<Self, BackendError> {
        if !path.exists() {
            create_atomically(&path)?;
        }
        let db = redb::Builder::new().set_cache_size(cache_bytes).create(&path)?;
        let txn = db.begin_write()?;
        for space in Keyspace::ALL {
            txn.open_table(table(space))?;
        }
        txn.commit()?;
        let next = {
            let txn = db.begin_read()?;
            let objects = txn.open_table(table(Keyspace::Objects))?;
            match objects.last()? {
                Some((k, _)) => location_after(k.value())?,
                None => 0,
            }
        };
        Ok(Self { db: Some(db), path, next: AtomicU64::new(next) })
    }

    fn db(&self) -> &Database {
        self.db.as_ref().expect("the database is present until the store is dropped")
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Creates a new store file so that it appears whole or not at all: the
/// database is made and committed under a temporary name beside `path`,
/// then linked to `path` (which fails, harmlessly, if another process got
/// there first) and the directory synced. A crash while creating leaves at
/// most a stray temporary file, never a half-written store at `path` that
/// could not be opened again.
fn create_atomically(path: &Path) -> Result<(), BackendError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("store");
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let tmp = path.with_file_name(format!(".{name}.creating-{}-{nanos}", std::process::id()));
    {
        let db = Database::create(&tmp)?;
        let txn = db.begin_write()?;
        for space in Keyspace::ALL {
            txn.open_table(table(space))?;
        }
        txn.commit()?;
    }
    let linked = match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        // A file system without hard links: rename (atomic, but it would
        // replace a store another process created at the same instant).
        Err(_) if !path.exists() => std::fs::rename(&tmp, path),
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(|e| BackendError::from(format!("creating {}: {e}", path.display())))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).ok();
    }
    Ok(())
}

/// Runs a redb call, turning a panic inside redb (which it may raise on a
/// damaged file) into an error: a damaged file must give an error, never a
/// crash of the caller.
fn guarded<T, E: From<BackendError>>(what: &str, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(BackendError::from(format!("redb failed while {what}; the file is likely damaged: {detail}")).into())
        }
    }
}

impl From<BackendError> for WriteError {
    fn from(e: BackendError) -> Self {
        WriteError::Backend(e)
    }
}

fn location_after(key: &[u8]) -> Result<u64, BackendError> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| format!("object key of {} bytes, expected 8", key.len()))?;
    Ok(u64::from_be_bytes(bytes) + 1)
}

type RedbEntry<'a> = (redb::AccessGuard<'a, &'static [u8]>, redb::AccessGuard<'a, &'static [u8]>);

/// Copies up to `limit` entries out of a redb range.
fn take<'a>(
    iter: impl Iterator<Item = Result<RedbEntry<'a>, redb::StorageError>>,
    limit: usize,
) -> Result<Entries, BackendError> {
    let mut out = Vec::new();
    for item in iter.take(limit) {
        let (k, v) = item?;
        out.push((k.value().to_vec(), v.value().to_vec()));
    }
    Ok(out)
}

fn as_ref_bound(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl Backend for RedbStore {
    fn get(&self, space: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        guarded("reading", || self.get_unguarded(space, key))
    }

    fn get_many(&self, space: Keyspace, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
        guarded("reading", || {
            let txn = self.db().begin_read()?;
            let t = txn.open_table(table(space))?;
            // Visit keys in order (pages once each), answer in the asked order.
            let mut order: Vec<usize> = (0..keys.len()).collect();
            order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
            let mut out = vec![None; keys.len()];
            for i in order {
                out[i] = t.get(keys[i].as_slice())?.map(|v| v.value().to_vec());
            }
            Ok(out)
        })
    }

    fn scan(
        &self,
        space: Keyspace,
        range: KeyRange,
        direction: Direction,
        limit: usize,
    ) -> Result<Entries, BackendError> {
        guarded("scanning", || self.scan_unguarded(space, range, direction, limit))
    }

    fn write(&self, batch: WriteBatch) -> Result<(), WriteError> {
        guarded("writing", || self.write_unguarded(&batch))
    }

    fn allocate(&self, count: u64) -> Result<u64, BackendError> {
        Ok(self.next.fetch_add(count, Ordering::SeqCst))
    }
}

impl RedbStore {
    fn get_unguarded(&self, space: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(table(space))?;
        Ok(t.get(key)?.map(|v| v.value().to_vec()))
    }

    fn scan_unguarded(
        &self,
        space: Keyspace,
        range: KeyRange,
        direction: Direction,
        limit: usize,
    ) -> Result<Entries, BackendError> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(table(space))?;
        let bounds = (as_ref_bound(&range.0), as_ref_bound(&range.1));
        let iter = t.range::<&[u8]>(bounds)?;
        Ok(match direction {
            Direction::Forward => take(iter, limit)?,
            Direction::Reverse => take(iter.rev(), limit)?,
        })
    }

    fn write_unguarded(&self, batch: &WriteBatch) -> Result<(), WriteError> {
        let backend = |e: redb::Error| WriteError::Backend(Box::new(e));
        let txn = self.db().begin_write().map_err(|e| backend(e.into()))?;
        {
            for e in &batch.expect {
                let t = txn.open_table(table(e.space)).map_err(|e| backend(e.into()))?;
                let actual = t.get(e.key.as_slice()).map_err(|e| backend(e.into()))?.map(|v| v.value().to_vec());
                if actual != e.expected {
                    drop(t);
                    txn.abort().map_err(|e| backend(e.into()))?;
                    return Err(WriteError::Conflict { space: e.space, key: e.key.clone(), actual });
                }
            }
            // Inserting in key order keeps redb's B-tree work local: a bulk
            // import touches each page once instead of at random.
            let mut puts: Vec<&(Keyspace, Vec<u8>, Vec<u8>)> = batch.put.iter().collect();
            puts.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            for space in Keyspace::ALL {
                let mut t = txn.open_table(table(space)).map_err(|e| backend(e.into()))?;
                let rows: Vec<(&[u8], &[u8])> =
                    puts.iter().filter(|(s, _, _)| *s == space).map(|(_, k, v)| (k.as_slice(), v.as_slice())).collect();
                insert_sorted(&mut t, &rows).map_err(backend)?;
                for (_, k) in batch.delete.iter().filter(|(s, _)| *s == space) {
                    t.remove(k.as_slice()).map_err(|e| backend(e.into()))?;
                }
            }
        }
        txn.commit().map_err(|e| backend(e.into()))
    }
}

/// Below this many rows a table's puts go in one `insert` each.
const CURSOR_ROWS: usize = 64;
/// A cursor's run shorter than this is followed by as many plain inserts.
const SHORT_RUN: usize = 8;

/// Inserts `rows` (sorted by key; of rows with one key, the last wins),
/// overwriting existing keys.
///
/// A run of keys that falls in one gap between the table's keys (an import
/// into an empty table is one run; new pack locations are one run at the
/// end) goes in through a cursor on that gap, which redb buffers and splices
/// in whole leaves instead of descending the tree once per key. A key the
/// gap cannot take (it exists, or lies past the gap) goes in by `insert`,
/// and the next run starts a cursor of its own.
fn insert_sorted(
    t: &mut redb::Table<'_, &'static [u8], &'static [u8]>,
    rows: &[(&[u8], &[u8])],
) -> Result<(), redb::Error> {
    if rows.len() < CURSOR_ROWS {
        for (k, v) in rows {
            t.insert(*k, *v)?;
        }
        return Ok(());
    }
    let mut i = 0;
    while i < rows.len() {
        let start = i;
        let mut cursor = t.upper_bound_mut(Bound::Excluded(rows[i].0))?;
        while i < rows.len() {
            match cursor.insert_before(rows[i].0, rows[i].1) {
                Ok(()) => i += 1,
                Err(redb::CursorError::UnorderedKey) => break,
                Err(e) => return Err(e.into()),
            }
        }
        cursor.close()?;
        if let Some((k, v)) = rows.get(i) {
            t.insert(*k, *v)?;
            i += 1;
        }
        if i - start < SHORT_RUN {
            // The keys interleave with the table's (a merge rewriting
            // chunks): plain inserts for a while, not a cursor per key.
            for (k, v) in rows.iter().skip(i).take(SHORT_RUN) {
                t.insert(*k, *v)?;
                i += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Sorted puts through cursors and inserts leave the table as plain
        /// inserts would: runs inside gaps, keys that exist (overwritten),
        /// repeated keys (the last wins), at the ends and in between.
        #[test]
        fn sorted_inserts_match_a_map(
            existing in proptest::collection::btree_map(0u16..600, 0u8..4, 0..200),
            puts in proptest::collection::vec((0u16..600, 4u8..8), 0..300),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let db = Database::create(dir.path().join("t.redb")).unwrap();
            let def = table(Keyspace::Index);
            let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            let txn = db.begin_write().unwrap();
            {
                let mut t = txn.open_table(def).unwrap();
                for (k, v) in &existing {
                    t.insert(k.to_be_bytes().as_slice(), [*v].as_slice()).unwrap();
                    model.insert(k.to_be_bytes().to_vec(), vec![*v]);
                }
            }
            txn.commit().unwrap();
            let mut rows: Vec<(Vec<u8>, Vec<u8>)> = puts.iter().map(|(k, v)| (k.to_be_bytes().to_vec(), vec![*v])).collect();
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, v) in &rows {
                model.insert(k.clone(), v.clone());
            }
            let txn = db.begin_write().unwrap();
            {
                let mut t = txn.open_table(def).unwrap();
                let refs: Vec<(&[u8], &[u8])> = rows.iter().map(|(k, v)| (k.as_slice(), v.as_slice())).collect();
                insert_sorted(&mut t, &refs).unwrap();
            }
            txn.commit().unwrap();
            let txn = db.begin_read().unwrap();
            let t = txn.open_table(def).unwrap();
            let stored: BTreeMap<Vec<u8>, Vec<u8>> = t
                .range::<&[u8]>(..)
                .unwrap()
                .map(|e| {
                    let (k, v) = e.unwrap();
                    (k.value().to_vec(), v.value().to_vec())
                })
                .collect();
            proptest::prop_assert_eq!(stored, model);
        }
    }

    /// A cache far smaller than what is written and read loses nothing:
    /// redb writes pages out early and reads them back.
    #[test]
    fn a_small_cache_reads_back_what_was_written() {
        use karma_core::{Component, Graph};

        use crate::{CommitInfo, RefName, Repository};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small.redb");
        let prod = RefName::environment("prod").unwrap();
        let mut g = Graph::new();
        for i in 0..3000 {
            g.insert(Component::new("Service", &format!("s{i}")).unwrap().with_param("port", i)).unwrap();
        }
        let id = {
            let repo = Repository::open(RedbStore::open_with_cache(&path, 64 << 10).unwrap()).unwrap();
            repo.commit(&prod, &g.snapshot(), CommitInfo::new("t", "import")).unwrap().id
        };
        for cache in [64 << 10, RedbStore::DEFAULT_CACHE_BYTES] {
            let repo = Repository::open(RedbStore::open_with_cache(&path, cache).unwrap()).unwrap();
            assert!(repo.checkout(id).unwrap().diff(&g.snapshot()).is_empty());
            assert!(repo.verify().unwrap().problems.is_empty());
        }
    }

    #[test]
    fn a_new_store_appears_whole_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("karma.redb");
        // A stray temporary file from a creation that was killed is harmless.
        std::fs::write(dir.path().join(".karma.redb.creating-1-2"), b"half a header").unwrap();
        drop(RedbStore::open(&path).unwrap());
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".karma.redb.creating-1-2", "karma.redb"]);
        // It opens again, and a file that is not a store is still refused.
        drop(RedbStore::open(&path).unwrap());
        let other = dir.path().join("notes.txt");
        std::fs::write(&other, b"not a database").unwrap();
        assert!(RedbStore::open(&other).is_err());
    }
}
