//! An in-memory backend: for tests, caches and short-lived tools.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::backend::{Backend, BackendError, Direction, Entries, KeyRange, Keyspace, WriteBatch, WriteError};

type Space = BTreeMap<Vec<u8>, Vec<u8>>;

/// A [`Backend`] in memory: one ordered map per key space behind a lock.
/// Nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    spaces: Mutex<BTreeMap<Keyspace, Space>>,
    next: AtomicU64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Keyspace, Space>> {
        // A panic while holding the lock cannot leave a half-applied batch
        // (batches are applied after all checks, without fallible steps).
        self.spaces.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Backend for MemoryStore {
    fn get(&self, space: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self.lock().get(&space).and_then(|s| s.get(key).cloned()))
    }

    fn get_many(&self, space: Keyspace, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
        let spaces = self.lock();
        let s = spaces.get(&space);
        Ok(keys.iter().map(|k| s.and_then(|s| s.get(k).cloned())).collect())
    }

    fn scan(
        &self,
        space: Keyspace,
        range: KeyRange,
        direction: Direction,
        limit: usize,
    ) -> Result<Entries, BackendError> {
        let spaces = self.lock();
        let Some(s) = spaces.get(&space) else {
            return Ok(Vec::new());
        };
        let iter = s.range(range).map(|(k, v)| (k.clone(), v.clone()));
        Ok(match direction {
            Direction::Forward => iter.take(limit).collect(),
            Direction::Reverse => iter.rev().take(limit).collect(),
        })
    }

    fn write(&self, batch: WriteBatch) -> Result<(), WriteError> {
        let mut spaces = self.lock();
        for e in &batch.expect {
            let actual = spaces.get(&e.space).and_then(|s| s.get(&e.key));
            if actual != e.expected.as_ref() {
                return Err(WriteError::Conflict { space: e.space, key: e.key.clone(), actual: actual.cloned() });
            }
        }
        for (space, key, value) in batch.put {
            spaces.entry(space).or_default().insert(key, value);
        }
        for (space, key) in batch.delete {
            if let Some(s) = spaces.get_mut(&space) {
                s.remove(&key);
            }
        }
        Ok(())
    }

    fn allocate(&self, count: u64) -> Result<u64, BackendError> {
        Ok(self.next.fetch_add(count, Ordering::SeqCst))
    }
}
