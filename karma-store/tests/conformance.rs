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

/// Compaction shrinks a redb file full of small commits and keeps every
/// commit, param history and the repository's soundness.
#[test]
fn redb_compaction_keeps_everything() {
    use karma_store::core::{Component, Graph, ManualClock, Timestamp};
    use karma_store::{CommitInfo, RedbStore, RefName, Repository};

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("karma.redb");
    let prod = RefName::environment("prod").unwrap();
    let mut repo = Repository::open(RedbStore::open(&path).unwrap()).unwrap();
    let mut g = Graph::with_clock(ManualClock::new(Timestamp::from_secs(1)));
    for i in 0..50 {
        g.insert(Component::new("Service", &format!("s{i}")).unwrap().with_param("replicas", 0)).unwrap();
    }
    let mut commits = Vec::new();
    for round in 0..120_i64 {
        g.set_param(format!("Service/s{}", round % 50), "replicas", round).unwrap();
        let info = CommitInfo::new("t", "step").at(Timestamp::from_secs(round));
        commits.push((repo.commit(&prod, &g, info).unwrap().id, g.root_hash()));
    }
    repo.flush_index().unwrap();
    let before = std::fs::metadata(&path).unwrap().len();
    assert!(repo.backend_mut().compact().unwrap(), "120 commits leave space to reclaim");
    drop(repo);
    assert!(std::fs::metadata(&path).unwrap().len() < before);

    let repo = Repository::open(RedbStore::open(&path).unwrap()).unwrap();
    assert!(repo.verify().unwrap().is_ok());
    for (id, root) in commits.iter().step_by(17) {
        assert_eq!(repo.checkout(*id).unwrap().root_hash(), *root);
    }
    let history = repo.param_history(&"Service/s7".parse().unwrap(), "replicas").unwrap();
    let values: Vec<_> = history.into_iter().map(|h| h.value).collect();
    let int = |v| Some(karma_store::core::Value::Int(v));
    assert_eq!(values, [int(0), int(7), int(57), int(107)]);
}
