//! The backend conformance suite, run against every backend.

mod memory {
    karma_store::conformance_tests!(karma_store::MemoryStore::new());
}

mod redb {

    use karma_store::{
        Backend, BackendError, Direction, Entries, KeyRange, Keyspace, RedbStore, WriteBatch, WriteError,
    };

    /// A `RedbStore` in a temporary directory removed when the store drops.
    #[derive(Debug)]
    pub(crate) struct TempRedb {
        store: RedbStore,
        _dir: tempfile::TempDir,
    }

    pub(crate) fn fresh() -> TempRedb {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = RedbStore::open(dir.path().join("karma.redb")).expect("open");
        TempRedb { store, _dir: dir }
    }

    impl Backend for TempRedb {
        fn get(&self, space: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
            self.store.get(space, key)
        }
        fn scan(
            &self,
            space: Keyspace,
            range: KeyRange,
            direction: Direction,
            limit: usize,
        ) -> Result<Entries, BackendError> {
            self.store.scan(space, range, direction, limit)
        }
        fn write(&self, batch: WriteBatch) -> Result<(), WriteError> {
            self.store.write(batch)
        }
        fn allocate(&self, count: u64) -> Result<u64, BackendError> {
            self.store.allocate(count)
        }
    }

    karma_store::conformance_tests!(fresh());
}
