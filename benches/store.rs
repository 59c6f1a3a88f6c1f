//! karma-store targets, each beside its baseline in the same run.
//!
//! Run: `cargo bench --bench store` (builds a 1,000,000-component
//! repository first; several minutes). Figures go to `docs/performance.md`.

#![allow(missing_docs)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use karma::core::{Component, Graph, Key, ManualClock, Snapshot, Timestamp};
use karma::store::{CommitId, CommitInfo, RedbStore, RefName, Repository, Revision};
use redb::{Database, TableDefinition};

const BIG: usize = 1_000_000;

fn component(i: usize, generation: i64) -> Component {
    Component::new("Service", &format!("c{i}"))
        .expect("key")
        .with_param("port", 5000 + (i % 1000) as i64)
        .with_param("replicas", generation)
        .with_param("engine", "postgres")
        .with_param("region", if i.is_multiple_of(2) { "eu-west-1" } else { "us-east-1" })
}

fn key(i: usize) -> Key {
    Key::new("Service", &format!("c{i}")).expect("key")
}

fn graph(n: usize) -> Graph {
    let mut g = Graph::with_clock(ManualClock::new(Timestamp::from_secs(1)));
    for i in 0..n {
        g.insert(component(i, 0)).expect("insert");
    }
    g
}

fn open(path: &Path) -> Repository<RedbStore> {
    Repository::open(RedbStore::open(path).expect("open")).expect("repository")
}

fn info(t: i64) -> CommitInfo {
    CommitInfo::new("bench", "change").at(Timestamp::from_secs(t))
}

/// A delta changing `count` components of `base` (spread by `round`).
fn delta(base: &Snapshot, count: usize, n: usize, round: usize) -> karma::core::Delta {
    let mut g = Graph::from_snapshot(base.clone(), ManualClock::new(Timestamp::from_secs(round as i64)));
    for j in 0..count {
        let i = (j * (n / count) + round * 7) % n;
        g.set_param(key(i), "replicas", round as i64 + 1).expect("set");
    }
    base.diff(&g)
}

/// Commits one delta of `count` changes onto `head` (moving it) and returns
/// how long the commit alone took.
fn timed_commit(
    repo: &Repository<RedbStore>,
    prod: &RefName,
    (head, round): (&mut CommitId, &mut usize),
    count: usize,
) -> Duration {
    *round += 1;
    let base = repo.checkout(*head).expect("head");
    let d = delta(&base, count, BIG, *round);
    let start = Instant::now();
    *head = repo.commit_delta(prod, Some(*head), &d, info(1 + *round as i64)).expect("commit").id;
    start.elapsed()
}

/// Commits 64 deltas of `count` changes in a row and prints the distribution
/// of their latencies (`when` says after what).
fn distribution(
    repo: &Repository<RedbStore>,
    prod: &RefName,
    (head, round): (&mut CommitId, &mut usize),
    count: usize,
    when: &str,
) {
    let mut times: Vec<Duration> =
        (0..64).map(|_| timed_commit(repo, prod, (&mut *head, &mut *round), count)).collect();
    times.sort();
    println!(
        "commit of {count} changes onto 1M, 64 commits{when}: p50 {:?}, p90 {:?}, max {:?}",
        times[32], times[57], times[63]
    );
}

#[allow(clippy::too_many_lines)] // one fixture, several groups measured on it
fn commit_and_import(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("big.redb");
    let g = graph(BIG);
    let prod = RefName::environment("prod").expect("ref");

    let mut group = c.benchmark_group("store_import_1m");
    group.sample_size(10).measurement_time(Duration::from_secs(60));
    group.bench_function("karma_commit_into_empty_redb", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for k in 0..iters {
                let p = dir.path().join(format!("import-{k}.redb"));
                let repo = open(&p);
                let start = Instant::now();
                repo.commit(&prod, &g, info(1)).expect("commit");
                total += start.elapsed();
                drop(repo);
                std::fs::remove_file(&p).ok();
            }
            total
        });
    });
    group.finish();

    let repo = open(&path);
    let first = repo.commit(&prod, &g, info(1)).expect("import");
    drop(g);
    let mut head: CommitId = first.id;
    let mut round = 0usize;
    let mut group = c.benchmark_group("store_commit_onto_1m");
    group.sample_size(20).measurement_time(Duration::from_secs(20));
    // Criterion reports means; the targets are medians, and every ~16th
    // 1,000-change commit also merges the index. Print the distribution of
    // 64 consecutive commits of each size, right after its criterion group
    // (the 1-change commits before any large commit), and once more for
    // 1-change commits after the large ones, which can run slower for a
    // while (see docs/performance.md).
    for count in [1usize, 1000] {
        group.bench_function(format!("karma_commit_delta_{count}"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| timed_commit(&repo, &prod, (&mut head, &mut round), count)).sum());
        });
        distribution(&repo, &prod, (&mut head, &mut round), count, "");
    }
    distribution(&repo, &prod, (&mut head, &mut round), 1, " after the 1,000-change ones");
    // Baseline: the same number of ~200-byte objects, keyed by their blake3
    // hash, durably inserted into a redb table already holding 1M such rows.
    let base_path = dir.path().join("baseline.redb");
    let db = Database::create(&base_path).expect("db");
    let table: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("objects");
    let object = |i: u64| {
        let mut v = vec![0u8; 200];
        v[..8].copy_from_slice(&i.to_le_bytes());
        v
    };
    let txn = db.begin_write().expect("txn");
    {
        let mut t = txn.open_table(table).expect("table");
        for i in 0..BIG as u64 {
            let v = object(i);
            t.insert(blake3::hash(&v).as_bytes().as_slice(), v.as_slice()).expect("insert");
        }
    }
    txn.commit().expect("commit");
    let mut next = BIG as u64;
    group.bench_function("baseline_redb_hash_keyed_1000_objects", |b| {
        b.iter(|| {
            let txn = db.begin_write().expect("txn");
            {
                let mut t = txn.open_table(table).expect("table");
                for _ in 0..1000 {
                    let v = object(next);
                    next += 1;
                    t.insert(blake3::hash(&v).as_bytes().as_slice(), v.as_slice()).expect("insert");
                }
            }
            txn.commit().expect("commit");
        });
    });
    group.finish();

    // Reads of the 1M repository.
    let a = head;
    let base = repo.checkout(a).expect("head");
    let d = delta(&base, 100, BIG, 999_999);
    let b_id = repo.commit_delta(&prod, Some(a), &d, info(10_000_000)).expect("commit").id;
    let mut group = c.benchmark_group("store_reads_1m");
    group.sample_size(10).measurement_time(Duration::from_secs(30));
    repo.checkout(a).expect("warm");
    repo.checkout(b_id).expect("warm");
    group.bench_function("diff_100_changes_warm", |bench| {
        bench.iter(|| black_box(repo.diff(&Revision::Commit(a), &Revision::Commit(b_id)).expect("diff")));
    });
    group.bench_function("baseline_in_memory_snapshot_diff", |bench| {
        let (sa, sb) = (repo.checkout(a).expect("a"), repo.checkout(b_id).expect("b"));
        bench.iter(|| black_box(sa.diff(&sb)));
    });
    drop(repo);
    group.bench_function("checkout_cold", |bench| {
        bench.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let repo = open(&path);
                let start = Instant::now();
                black_box(repo.checkout(b_id).expect("checkout"));
                total += start.elapsed();
            }
            total
        });
    });
    group.finish();
}

fn history(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("dir");
    let prod = RefName::environment("prod").expect("ref");

    // 10,000 commits, each changing one param of a 100-component graph.
    let repo = open(&dir.path().join("history.redb"));
    let mut head = repo.commit(&prod, &graph(100), info(0)).expect("first").id;
    for round in 1..10_000usize {
        let base = repo.checkout(head).expect("head");
        let mut g = Graph::from_snapshot(base.clone(), ManualClock::new(Timestamp::from_secs(round as i64)));
        g.set_param(key(7), "replicas", round as i64).expect("set");
        head = repo.commit_delta(&prod, Some(head), &base.diff(&g), info(round as i64)).expect("commit").id;
    }
    // 100,000 commits on one ref for as-of (a 10-component graph).
    let env = RefName::environment("timeline").expect("ref");
    let mut t_head = repo.commit(&env, &graph(10), info(0)).expect("first").id;
    for round in 1..100_000usize {
        let base = repo.checkout(t_head).expect("head");
        let mut g = Graph::from_snapshot(base.clone(), ManualClock::new(Timestamp::from_secs(round as i64)));
        // `port`, so the param history measured below stays 10,000 commits.
        g.set_param(key(round % 10), "port", round as i64).expect("set");
        t_head = repo.commit_delta(&env, Some(t_head), &base.diff(&g), info(round as i64 * 10)).expect("commit").id;
    }

    let mut group = c.benchmark_group("store_history");
    group.bench_function("param_history_10k_commits", |b| {
        b.iter(|| black_box(repo.param_history(&key(7), "replicas").expect("history")));
    });
    let mut probe = 0i64;
    group.bench_function("as_of_among_100k_commits", |b| {
        b.iter(|| {
            probe = (probe + 7919) % 1_000_000;
            black_box(repo.as_of(&env, Timestamp::from_secs(probe)).expect("as_of"))
        });
    });
    group.finish();
}

fn size_on_disk() {
    let dir = tempfile::tempdir().expect("dir");
    let prod = RefName::environment("prod").expect("ref");
    let one = dir.path().join("one.redb");
    let g = graph(10_000);
    open(&one).commit(&prod, &g, info(0)).expect("commit");
    let many = dir.path().join("many.redb");
    let repo = open(&many);
    let mut head = repo.commit(&prod, &g, info(0)).expect("first").id;
    for round in 1..10_000usize {
        let base = repo.checkout(head).expect("head");
        let d = delta(&base, 10, 10_000, round);
        head = repo.commit_delta(&prod, Some(head), &d, info(round as i64)).expect("commit").id;
    }
    drop(repo);
    let size = |p: &Path| std::fs::metadata(p).expect("size").len() as f64;
    let (a, b) = (size(&one), size(&many));
    let mut store = RedbStore::open(&many).expect("reopen");
    store.compact().expect("compact");
    drop(store);
    let c = size(&many);
    println!(
        "size on disk: one 10,000-component snapshot {:.1} MB; 10,000 commits of 10 changes {:.1} MB ({:.1}x), \
         compacted {:.1} MB ({:.1}x)",
        a / 1e6,
        b / 1e6,
        b / a,
        c / 1e6,
        c / a
    );
}

criterion_group!(benches, commit_and_import, history);

fn main() {
    size_on_disk();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
