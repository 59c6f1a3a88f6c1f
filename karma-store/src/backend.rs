//! The backend trait: the only thing a new storage backend implements.

use std::fmt::Debug;
use std::ops::Bound;

/// Key-value pairs returned by a scan, in scan order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// A range of keys to scan: lower and upper bounds.
pub type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// A backend's own failure, boxed.
pub type BackendError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The ordered key spaces a repository uses. A backend keeps each apart
/// (a table, a column family, a key prefix).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Keyspace {
    /// Store identity and format version.
    Meta,
    /// Objects (trie nodes, components, edges, commits) under sequential
    /// 8-byte big-endian locations.
    Objects,
    /// Refs: name → commit id. Moved only by compare-and-swap.
    Refs,
    /// Indexes (commit locations, as-of times, param history, lineage).
    Index,
}

impl Keyspace {
    /// Every key space.
    pub const ALL: [Keyspace; 4] = [Self::Meta, Self::Objects, Self::Refs, Self::Index];

    /// A stable name (e.g. for a table).
    pub fn name(self) -> &'static str {
        match self {
            Self::Meta => "meta",
            Self::Objects => "objects",
            Self::Refs => "refs",
            Self::Index => "index",
        }
    }
}

/// A compare-and-swap condition: `key` in `space` must currently hold
/// `expected` (`None`: be absent) for the batch to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// Key space.
    pub space: Keyspace,
    /// Key.
    pub key: Vec<u8>,
    /// The value it must hold now.
    pub expected: Option<Vec<u8>>,
}

/// Writes that apply atomically and durably, all or none: first every
/// expectation is checked, then every put and delete is applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// Conditions checked before anything is written.
    pub expect: Vec<Expectation>,
    /// Keys to set.
    pub put: Vec<(Keyspace, Vec<u8>, Vec<u8>)>,
    /// Keys to remove.
    pub delete: Vec<(Keyspace, Vec<u8>)>,
}

impl WriteBatch {
    /// Adds a put.
    pub fn put(&mut self, space: Keyspace, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.put.push((space, key.into(), value.into()));
    }

    /// Adds a compare-and-swap condition.
    pub fn expect(&mut self, space: Keyspace, key: impl Into<Vec<u8>>, expected: Option<Vec<u8>>) {
        self.expect.push(Expectation { space, key: key.into(), expected });
    }
}

/// Why a batch did not apply.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// An expectation failed; nothing was written.
    #[error("compare-and-swap failed on {:?} key {:?}", space, String::from_utf8_lossy(key))]
    Conflict {
        /// Key space.
        space: Keyspace,
        /// Key.
        key: Vec<u8>,
        /// What it actually holds.
        actual: Option<Vec<u8>>,
    },
    /// The backend failed; nothing was written.
    #[error("backend failure: {0}")]
    Backend(BackendError),
}

/// Which way a scan goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Ascending keys.
    Forward,
    /// Descending keys.
    Reverse,
}

/// A storage backend: ordered byte keys and values in a few key spaces,
/// atomic batches with compare-and-swap, range scans, and a sequence for
/// object locations. Everything above it is written once, in
/// [`Repository`](crate::Repository).
pub trait Backend: Send + Sync + Debug + 'static {
    /// The value under `key`.
    fn get(&self, space: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError>;

    /// The values under `keys`, in the same order. The default calls `get`
    /// for each; backends override it to read in one transaction.
    fn get_many(&self, space: Keyspace, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
        keys.iter().map(|k| self.get(space, k)).collect()
    }

    /// Up to `limit` entries with keys in `range`, in `direction` order.
    fn scan(
        &self,
        space: Keyspace,
        range: KeyRange,
        direction: Direction,
        limit: usize,
    ) -> Result<Entries, BackendError>;

    /// Applies `batch` atomically and durably (see [`WriteBatch`]).
    fn write(&self, batch: WriteBatch) -> Result<(), WriteError>;

    /// Reserves `count` consecutive, never-reused locations for objects and
    /// returns the first. Locations of a batch that fails are skipped.
    fn allocate(&self, count: u64) -> Result<u64, BackendError>;
}

/// The key range of every key starting with `prefix`.
pub fn prefix_range(prefix: &[u8]) -> KeyRange {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return (Bound::Included(prefix.to_vec()), Bound::Excluded(end));
        }
    }
    (Bound::Included(prefix.to_vec()), Bound::Unbounded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_range_bounds() {
        assert_eq!(prefix_range(b"ab"), (Bound::Included(b"ab".to_vec()), Bound::Excluded(b"ac".to_vec())));
        assert_eq!(prefix_range(&[1, 255]), (Bound::Included(vec![1, 255]), Bound::Excluded(vec![2])));
        assert_eq!(prefix_range(&[255]), (Bound::Included(vec![255]), Bound::Unbounded));
    }
}
