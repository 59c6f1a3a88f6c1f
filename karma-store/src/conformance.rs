//! The conformance suite every [`Backend`] must pass.
//!
//! `conformance_tests!(expr)` expands to one `#[test]` per case, each given a
//! fresh backend from `expr`:
//!
//! ```
//! karma_store::conformance_tests!(karma_store::MemoryStore::new());
//! # fn main() {}
//! ```
//!
//! Each case panics (failing its test) when the backend misbehaves.

#![allow(missing_docs, clippy::missing_panics_doc, clippy::needless_pass_by_value)]

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use karma_core::{Component, EdgeKind, Graph, Key, ManualClock, Removal, Timestamp, Value};

use crate::backend::{Backend, Direction, Keyspace, WriteBatch, WriteError, prefix_range};
use crate::error::StoreError;
use crate::record::LineageEventKind;
use crate::refs::RefName;
use crate::repository::{CommitInfo, Repository, Revision};

/// Expands to one test per conformance case for the backend `$make` builds.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@cases $make;
            backend_get_put_scan, backend_compare_and_swap, backend_allocate_is_unique,
            commit_checkout_and_log, racing_writers_conflict, as_of_times, param_history_and_lineage,
            diff_between_revisions, branches_and_tags, commits_write_only_changes, verify_sound_repository,
            concurrent_commits_lose_nothing, history_reads_race_commits, merge_branches, commit_a_delta,
            damaged_index_chunk_is_reported_not_merged_over, unstorable_values_are_refused_whole);
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                $crate::conformance::$case($make);
            }
        )*
    };
}

fn key(s: &str) -> Key {
    s.parse().expect("valid key")
}

fn info(msg: &str, secs: i64) -> CommitInfo {
    CommitInfo::new("conformance", msg).at(Timestamp::from_secs(secs))
}

fn platform(n: usize) -> Graph {
    let mut g = Graph::with_clock(ManualClock::new(Timestamp::from_secs(1)));
    g.insert(Component::new("Database", "db").unwrap().with_param("port", 5432).with_output("url", "db:5432")).unwrap();
    for i in 0..n {
        g.insert(
            Component::new("Service", &format!("s{i}"))
                .unwrap()
                .with_param("replicas", i as i64)
                .with_param("db", Value::reference(key("Database/db"), "url")),
        )
        .unwrap();
    }
    g
}

pub fn backend_get_put_scan(b: impl Backend) {
    let mut batch = WriteBatch::default();
    for i in 0u8..10 {
        batch.put(Keyspace::Index, vec![b'x', i], vec![i]);
    }
    batch.put(Keyspace::Meta, b"x".to_vec(), b"meta".to_vec());
    b.write(batch).unwrap();
    assert_eq!(b.get(Keyspace::Index, &[b'x', 3]).unwrap(), Some(vec![3]));
    assert_eq!(b.get(Keyspace::Refs, &[b'x', 3]).unwrap(), None, "key spaces are separate");
    let many = b.get_many(Keyspace::Index, &[vec![b'x', 7], vec![b'y'], vec![b'x', 1]]).unwrap();
    assert_eq!(many, [Some(vec![7]), None, Some(vec![1])], "answers come in the order asked");
    let fwd = b.scan(Keyspace::Index, prefix_range(b"x"), Direction::Forward, 3).unwrap();
    assert_eq!(fwd.iter().map(|(_, v)| v[0]).collect::<Vec<_>>(), [0, 1, 2]);
    let rev = b.scan(Keyspace::Index, prefix_range(b"x"), Direction::Reverse, 2).unwrap();
    assert_eq!(rev.iter().map(|(_, v)| v[0]).collect::<Vec<_>>(), [9, 8]);
    let mid = b
        .scan(Keyspace::Index, (Bound::Excluded(vec![b'x', 4]), Bound::Included(vec![b'x', 6])), Direction::Forward, 10)
        .unwrap();
    assert_eq!(mid.iter().map(|(_, v)| v[0]).collect::<Vec<_>>(), [5, 6]);
    assert!(b.scan(Keyspace::Index, prefix_range(b"x"), Direction::Forward, 0).unwrap().is_empty());
    let mut del = WriteBatch::default();
    del.delete.push((Keyspace::Index, vec![b'x', 5]));
    b.write(del).unwrap();
    assert_eq!(b.get(Keyspace::Index, &[b'x', 5]).unwrap(), None);
}

pub fn backend_compare_and_swap(b: impl Backend) {
    let mut first = WriteBatch::default();
    first.expect(Keyspace::Refs, b"r".to_vec(), None);
    first.put(Keyspace::Refs, b"r".to_vec(), b"1".to_vec());
    first.put(Keyspace::Index, b"side".to_vec(), b"a".to_vec());
    b.write(first.clone()).unwrap();
    // The same expectation again fails, and writes nothing of the batch.
    let mut second = first.clone();
    second.put.retain(|(s, _, _)| *s != Keyspace::Index);
    second.put.push((Keyspace::Index, b"side".to_vec(), b"b".to_vec()));
    match b.write(second) {
        Err(WriteError::Conflict { actual, .. }) => assert_eq!(actual, Some(b"1".to_vec())),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(b.get(Keyspace::Index, b"side").unwrap(), Some(b"a".to_vec()));
    let mut third = WriteBatch::default();
    third.expect(Keyspace::Refs, b"r".to_vec(), Some(b"1".to_vec()));
    third.put(Keyspace::Refs, b"r".to_vec(), b"2".to_vec());
    b.write(third).unwrap();
    assert_eq!(b.get(Keyspace::Refs, b"r").unwrap(), Some(b"2".to_vec()));
}

pub fn backend_allocate_is_unique(b: impl Backend) {
    let b = Arc::new(b);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let b = Arc::clone(&b);
            thread::spawn(move || (0..250).map(|_| b.allocate(1).unwrap()).collect::<Vec<_>>())
        })
        .collect();
    let mut all: Vec<u64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 1000);
}

pub fn commit_checkout_and_log(b: impl Backend) {
    let repo = Repository::open(b).unwrap();
    let prod = RefName::environment("prod").unwrap();
    let mut g = platform(5);
    let c1 = repo.commit(&prod, &g, info("one", 10)).unwrap();
    g.set_param("Service/s1", "replicas", 9).unwrap();
    let c2 = repo.commit(&prod, &g, info("two", 20)).unwrap();
    g.remove("Service/s2", Removal::Restrict).unwrap();
    let c3 = repo.commit(&prod, &g, info("three", 30)).unwrap();
    assert_eq!(repo.head(&prod).unwrap(), Some(c3.id));
    assert_eq!(c2.parents, [c1.id]);
    assert_eq!(repo.checkout(c3.id).unwrap().root_hash(), g.root_hash());
    assert_eq!(repo.checkout(c1.id).unwrap().len(), 6);
    let log = repo.log(&prod, 2, None).unwrap();
    assert_eq!(log.iter().map(|c| c.message.as_str()).collect::<Vec<_>>(), ["three", "two"]);
    let rest = repo.log(&prod, 10, Some(log[1].id)).unwrap();
    assert_eq!(rest.iter().map(|c| c.id).collect::<Vec<_>>(), [c1.id]);
    assert_eq!(repo.get_commit(c2.id).unwrap(), c2);
    assert!(matches!(repo.log(&RefName::environment("nope").unwrap(), 1, None), Err(StoreError::UnknownRef(_))));
}

pub fn racing_writers_conflict(b: impl Backend) {
    let repo = Repository::open(b).unwrap();
    let prod = RefName::environment("prod").unwrap();
    let mut g = platform(2);
    let base = repo.commit(&prod, &g, info("base", 1)).unwrap();
    g.set_param("Service/s0", "replicas", 1).unwrap();
    let ours = repo.commit_onto(&prod, Some(base.id), &g, info("ours", 2)).unwrap();
    g.set_param("Service/s1", "replicas", 7).unwrap();
    let err = repo.commit_onto(&prod, Some(base.id), &g, info("theirs", 3)).unwrap_err();
    match err {
        StoreError::Conflict { expected, actual, .. } => {
            assert_eq!((expected, actual), (Some(base.id), Some(ours.id)));
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert_eq!(repo.head(&prod).unwrap(), Some(ours.id));
    // Rebase and retry: nothing lost.
    let retried = repo.commit_onto(&prod, Some(ours.id), &g, info("theirs", 3)).unwrap();
    assert_eq!(repo.checkout(retried.id).unwrap().root_hash(), g.root_hash());
}

pub fn as_of_times(b: impl Backend) {
    let repo = Repository::open(b).unwrap();
    let prod = RefName::environment("prod").unwrap();
    let mut g = platform(1);
    let mut ids = Vec::new();
    for i in 0..5 {
        g.set_param("Service/s0", "replicas", i).unwrap();
        ids.push(repo.commit(&prod, &g, info("step", 100 * (i + 1))).unwrap().id);
    }
    assert_eq!(repo.as_of(&prod, Timestamp::from_secs(99)).unwrap(), None);
    assert_eq!(repo.as_of(&prod, Timestamp::from_secs(100)).unwrap().unwrap().id, ids[0]);
    assert_eq!(repo.as_of(&prod, Timestamp::from_secs(350)).unwrap().unwrap().id, ids[2]);
    assert_eq!(repo.as_of(&prod, Timestamp::from_secs(10_000)).unwrap().unwrap().id, ids[4]);
    let staging = RefName::environment("staging").unwrap();
    assert_eq!(repo.as_of(&staging, Timestamp::from_secs(10_000)).unwrap(), None);
}

pub fn param_history_and_lineage(b: impl Backend) {
    let repo = Repository::open(b).unwrap();
    let prod = RefName::environment("prod").unwrap();
    let mut g = platform(2);
    let c1 = repo.commit(&prod, &g, info("one", 1)).unwrap();
    g.set_param("Service/s0", "replicas", 5).unwrap();
    g.set_param("Service/s1", "replicas", 6).unwrap();
    let c2 = repo.commit(&prod, &g, info("two", 2)).unwrap();
    let _c3 = repo.commit(&prod, &g, info("no change", 3)).unwrap();
    g.remove("Service/s0", Removal::Restrict).unwrap();
    let c4 = repo.commit(&prod, &g, info("remove", 4)).unwrap();
    let history = repo.param_history(&key("Service/s0"), "replicas").unwrap();
    let values: Vec<_> = history.iter().map(|h| (h.commit, h.value.clone())).collect();
    assert_eq!(values, [(c1.id, Some(Value::Int(0))), (c2.id, Some(Value::Int(5))), (c4.id, None)]);
    assert_eq!(history[1].timestamp, Timestamp::from_secs(2));
    assert!(repo.param_history(&key("Service/s0"), "nope").unwrap().is_empty());

    let lineage = repo.lineage(&key("Service/s0")).unwrap();
    let kinds: Vec<_> = lineage.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [LineageEventKind::Created, LineageEventKind::Changed, LineageEventKind::Removed]);
    assert_eq!(lineage.created().unwrap().commit, c1.id);
    assert_eq!(lineage.removed().unwrap().commit, c4.id);
    let chain = &lineage.events[1].references;
    assert_eq!(chain.len(), 1);
    assert_eq!(chain[0].1.component, key("Database/db"));
}

pub fn diff_between_revisions(b: impl Backend) {
    let repo = Repository::open(b).unwrap();
    let prod = RefName::environment("prod").unwrap();
    let mut g = platform(3);
    let c1 = repo.commit(&prod, &g, info("one", 100)).unwrap();
    g.set_param("Database/db", "port", 6432).unwrap();
    g.connect("Service/s0", "Service/s1", EdgeKind::DependsOn, []).unwrap();
    let c2 = repo.commit(&prod, &g, info("two", 200)).unwrap();
    let by_id = repo.diff(&Revision::Commit(c1.id), &Revision::Commit(c2.id)).unwrap();
    assert_eq!(by_id.changed().count(), 1);
    assert_eq!(by_id.edges.len(), 1);
    let by_time =
        repo.diff(&Revision::AsOf(prod.clone(), Timestamp::from_secs(150)), &Revision::Head(prod.clone())).unwrap();
    assert_eq!(by_time, by_id);
    let from_nothing =
        repo.diff(&Revision::AsOf(prod.clone(), Timestamp::from_secs(1)), &Revision::Head(prod)).unwrap();
    assert_eq!(from_nothing.added().count(), 4);
}

pub fn branches_and_tags(b: impl Backend) {
    let repo = Repository::open(b).unwrap();
    let prod = RefName::environment("prod").unwrap();
    let mut g = platform(1);
    let c1 = repo.commit(&prod, &g, info("one", 1)).unwrap();
    let tag = RefName::tag("deploy-1").unwrap();
    repo.set_ref(&tag, None, c1.id).unwrap();
    assert!(matches!(repo.set_ref(&tag, None, c1.id), Err(StoreError::Conflict { .. })));
    let branch = RefName::branch("what-if").unwrap();
    repo.set_ref(&branch, None, c1.id).unwrap();
    g.set_param("Service/s0", "replicas", 50).unwrap();
    let w = repo.commit(&branch, &g, info("what if", 2)).unwrap();
    assert_eq!(repo.head(&prod).unwrap(), Some(c1.id), "a branch commit leaves prod alone");
    assert_eq!(w.parents, [c1.id]);
    let names: Vec<String> = repo.refs().unwrap().into_iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(names, ["branch/what-if", "env/prod", "tag/deploy-1"]);
}

/// Bytes stored in the object space (objects are packed, so rows say little).
fn object_bytes(b: &impl Backend) -> usize {
    let rows = b.scan(Keyspace::Objects, (Bound::Unbounded, Bound::Unbounded), Direction::Forward, usize::MAX).unwrap();
    rows.iter().map(|(_, v)| v.len()).sum()
}

pub fn commits_write_only_changes(b: impl Backend) {
    let repo = Repository::open(b).unwrap();
    let prod = RefName::environment("prod").unwrap();
    let mut g = platform(2000);
    repo.commit(&prod, &g, info("all", 1)).unwrap();
    let all = object_bytes(repo.backend());
    g.set_param("Service/s77", "replicas", -1).unwrap();
    repo.commit(&prod, &g, info("one", 2)).unwrap();
    let one_change = object_bytes(repo.backend()) - all;
    // A component and the trie nodes on its path (three levels at 2,000),
    // plus the commit record: O(log n), not O(n).
    assert!(one_change * 40 < all, "one change wrote {one_change} bytes; the whole graph took {all}");
    // A graph rebuilt from scratch with the same single change writes the same.
    let mut rebuilt = platform(2000);
    rebuilt.set_param("Service/s78", "replicas", -1).unwrap();
    rebuilt.set_param("Service/s77", "replicas", -1).unwrap();
    let before = object_bytes(repo.backend());
    let c = repo.commit(&prod, &rebuilt, info("rebuilt", 3)).unwrap();
    let written = object_bytes(repo.backend()) - before;
    assert!(written < one_change * 2, "a rebuilt graph with one change wrote {written} bytes, a change {one_change}");
    assert_eq!(repo.checkout(c.id).unwrap().root_hash(), rebuilt.root_hash());
}

/// A value nested deeper than a stored component may hold (128 lists) is
/// refused by the commit with an error, and nothing of it is written; one
/// at the limit is stored and read back.
pub fn unstorable_values_are_refused_whole(b: impl Backend) {
    let nested = |depth: usize| (0..depth).fold(Value::Int(1), |v, _| Value::List(vec![v]));
    let repo = Repository::open(b).unwrap();
    let prod = RefName::environment("prod").unwrap();
    let mut g = platform(20);
    g.set_param("Service/s3", "deep", nested(128)).unwrap();
    let first = repo.commit(&prod, &g, info("at the limit", 1)).unwrap();
    assert_eq!(repo.checkout(first.id).unwrap().root_hash(), g.root_hash());
    let before = object_bytes(repo.backend());
    g.set_param("Service/s4", "deep", nested(129)).unwrap();
    let refused = repo.commit(&prod, &g, info("too deep", 2));
    assert!(matches!(refused, Err(StoreError::Core(_))), "{refused:?}");
    assert_eq!(repo.head(&prod).unwrap(), Some(first.id));
    assert_eq!(object_bytes(repo.backend()), before);
    assert!(repo.verify().unwrap().problems.is_empty());
}

pub fn verify_sound_repository(b: impl Backend) {
    let repo = Repository::open(b).unwrap();
    let prod = RefName::environment("prod").unwrap();
    let mut g = platform(20);
    for i in 0..5 {
        g.set_param("Service/s3", "replicas", 100 + i).unwrap();
        repo.commit(&prod, &g, info("step", i)).unwrap();
    }
    let report = repo.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.commits, 5);
    assert!(report.objects > 20);
}

pub fn concurrent_commits_lose_nothing(b: impl Backend) {
    let repo = Arc::new(Repository::open(b).unwrap());
    let shared = RefName::environment("shared").unwrap();
    repo.commit(&shared, &platform(4), info("base", 0)).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let repo = Arc::clone(&repo);
            let shared = shared.clone();
            thread::spawn(move || {
                let own = RefName::environment(&format!("own-{t}")).unwrap();
                for i in 0..5 {
                    // Own ref: never conflicts.
                    let mut g = platform(4);
                    g.set_param(format!("Service/s{t}"), "replicas", i).unwrap();
                    repo.commit(&own, &g, info("own", i)).unwrap();
                    // Shared ref: read, change, commit onto what was read; retry on conflict.
                    loop {
                        let head = repo.head(&shared).unwrap().unwrap();
                        let mut g = Graph::from_snapshot(repo.checkout(head).unwrap(), ManualClock::default());
                        g.observe(format!("Service/s{t}"), format!("tick-{i}"), i).unwrap();
                        match repo.commit_onto(&shared, Some(head), &g, info("shared", i)) {
                            Ok(_) => break,
                            Err(StoreError::Conflict { .. }) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let head = repo.head(&shared).unwrap().unwrap();
    let snap = repo.checkout(head).unwrap();
    for t in 0..4 {
        let c = snap.get(&key(&format!("Service/s{t}"))).unwrap();
        for i in 0..5 {
            assert!(c.runtime(&format!("tick-{i}")).is_some(), "lost update {t}/{i}");
        }
    }
    assert_eq!(repo.log(&shared, 100, None).unwrap().len(), 21);
}

/// Param histories read (and index merges run) while other threads commit:
/// every acknowledged change shows up afterwards, in order.
pub fn history_reads_race_commits(b: impl Backend) {
    let repo = Arc::new(Repository::open(b).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (repo, done) = (Arc::clone(&repo), Arc::clone(&done));
        thread::spawn(move || {
            let mut round = 0;
            while !done.load(Ordering::Relaxed) {
                for t in 0..4 {
                    repo.param_history(&key(&format!("Service/s{t}")), "replicas").unwrap();
                }
                round += 1;
                if round % 7 == 0 {
                    repo.flush_index().unwrap();
                }
            }
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let repo = Arc::clone(&repo);
            thread::spawn(move || {
                let own = RefName::environment(&format!("own-{t}")).unwrap();
                let mut g = platform(4);
                for i in 0..25 {
                    g.set_param(format!("Service/s{t}"), "replicas", 1000 + i).unwrap();
                    repo.commit(&own, &g, info("own", i)).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    for t in 0..4 {
        let values: Vec<i64> = repo
            .param_history(&key(&format!("Service/s{t}")), "replicas")
            .unwrap()
            .into_iter()
            .filter_map(|h| match h.value {
                Some(Value::Int(v)) if v >= 1000 => Some(v),
                _ => None,
            })
            .collect();
        assert_eq!(values, (1000..1025).collect::<Vec<_>>(), "history of s{t}");
    }
}

pub fn merge_branches(b: impl Backend) {
    let repo = Repository::open(b).unwrap();
    let prod = RefName::environment("prod").unwrap();
    let mut g = platform(3);
    let base = repo.commit(&prod, &g, info("base", 1)).unwrap();
    let branch = RefName::branch("what-if").unwrap();
    repo.set_ref(&branch, None, base.id).unwrap();

    let mut what_if = Graph::from_snapshot(repo.checkout(base.id).unwrap(), ManualClock::default());
    what_if.set_param("Service/s1", "replicas", 10).unwrap();
    repo.commit(&branch, &what_if, info("scale s1", 2)).unwrap();
    g.set_param("Service/s2", "replicas", 20).unwrap();
    repo.commit(&prod, &g, info("scale s2", 3)).unwrap();

    let merged = repo.merge(&prod, &Revision::Head(branch.clone()), info("merge", 4)).unwrap();
    assert_eq!(merged.parents.len(), 2);
    let snap = repo.checkout(merged.id).unwrap();
    let replicas = |k: &str| snap.get(&key(k)).unwrap().param_value("replicas").cloned();
    assert_eq!(replicas("Service/s1"), Some(Value::Int(10)));
    assert_eq!(replicas("Service/s2"), Some(Value::Int(20)));

    // Now both change s0 differently: a conflict naming component and param.
    what_if.set_param("Service/s0", "replicas", 1).unwrap();
    repo.commit(&branch, &what_if, info("s0 = 1", 5)).unwrap();
    let mut g = Graph::from_snapshot(snap, ManualClock::default());
    g.set_param("Service/s0", "replicas", 2).unwrap();
    let head = repo.commit(&prod, &g, info("s0 = 2", 6)).unwrap();
    match repo.merge(&prod, &Revision::Head(branch), info("merge 2", 7)) {
        Err(StoreError::Merge { conflicts }) => {
            assert_eq!(conflicts.len(), 1);
            assert_eq!((conflicts[0].at.as_str(), conflicts[0].field.as_deref()), ("Service/s0", Some("replicas")));
        }
        other => panic!("expected a merge conflict, got {other:?}"),
    }
    assert_eq!(repo.head(&prod).unwrap(), Some(head.id), "a failed merge commits nothing");
}

/// A damaged index chunk fails the reads of its series and `verify`, but
/// merges go on around it and other series stay readable.
pub fn damaged_index_chunk_is_reported_not_merged_over(b: impl Backend) {
    let repo = Repository::open(b).unwrap();
    let prod = RefName::environment("prod").unwrap();
    let mut g = platform(3);
    for i in 0..4 {
        g.set_param("Service/s1", "replicas", 10 + i).unwrap();
        g.set_param("Service/s2", "replicas", 20 + i).unwrap();
        repo.commit(&prod, &g, info("step", i)).unwrap();
    }
    repo.flush_index().unwrap();
    let chunks = repo.backend().scan(Keyspace::Index, prefix_range(b"P"), Direction::Forward, usize::MAX).unwrap();
    let (chunk, mut value) = chunks.into_iter().find(|(k, _)| k.windows(2).any(|w| w == b"s1")).unwrap();
    *value.last_mut().unwrap() ^= 0x40;
    let mut batch = WriteBatch::default();
    batch.put(Keyspace::Index, chunk, value);
    repo.backend().write(batch).unwrap();

    g.set_param("Service/s1", "replicas", 99).unwrap();
    g.set_param("Service/s2", "replicas", 99).unwrap();
    repo.commit(&prod, &g, info("after", 9)).unwrap();
    repo.flush_index().unwrap();
    let err = repo.param_history(&key("Service/s1"), "replicas").unwrap_err();
    assert!(err.is_corruption(), "{err}");
    let s2: Vec<_> = repo.param_history(&key("Service/s2"), "replicas").unwrap().into_iter().map(|h| h.value).collect();
    // Created at 20, changed three times, then once after the damage.
    let int = |v| Some(Value::Int(v));
    assert_eq!(s2, [int(20), int(21), int(22), int(23), int(99)]);
    let report = repo.verify().unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].contains("index chunk"), "{:?}", report.problems);
}

pub fn commit_a_delta(b: impl Backend) {
    let repo = Repository::open(b).unwrap();
    let prod = RefName::environment("prod").unwrap();
    let g = platform(3);
    let c1 = repo.commit(&prod, &g, info("one", 1)).unwrap();
    let mut next = Graph::from_snapshot(g.snapshot(), ManualClock::default());
    next.set_param("Service/s0", "replicas", 42).unwrap();
    let delta = g.diff(&next);
    let c2 = repo.commit_delta(&prod, Some(c1.id), &delta, info("delta", 2)).unwrap();
    assert_eq!(repo.checkout(c2.id).unwrap().root_hash(), next.root_hash());
    assert_eq!(repo.param_history(&key("Service/s0"), "replicas").unwrap().len(), 2);
    // The same delta again does not apply: a typed error, nothing written.
    let err = repo.commit_delta(&prod, Some(c2.id), &delta, info("again", 3)).unwrap_err();
    assert!(matches!(err, StoreError::Core(karma_core::Error::DeltaConflict { .. })), "{err}");
    assert_eq!(repo.head(&prod).unwrap(), Some(c2.id));
}
