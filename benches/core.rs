//! karma-core targets: snapshot cost, diff cost (against a full comparison of
//! two `BTreeMap`s in the same run), bulk insert, and memory per component.
//!
//! Run: `cargo bench --bench core`. Figures go to `docs/performance.md`.

#![allow(missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group};
use karma::core::{Component, Graph, Key, ManualClock, Timestamp};

/// Counts live heap bytes, to report memory per component.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator, which upholds
// `GlobalAlloc`'s contract; the counter is only arithmetic on the side.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout as given to us, per the caller's contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds realloc's contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const KINDS: [&str; 8] = ["Database", "Service", "Queue", "Cache", "Pipeline", "Network", "Gateway", "Bucket"];
const ENGINES: [&str; 4] = ["postgres", "mysql", "redis", "kafka"];

/// Component `i`: 8 params of mixed types, as a typical platform has.
fn component(i: usize) -> Component {
    let kind = KINDS[i % KINDS.len()];
    Component::new(kind, &format!("c{i}"))
        .expect("valid key")
        .with_param("port", (5000 + i % 1000) as i64)
        .with_param("replicas", (i % 7) as i64)
        .with_param("cpu_millis", (250 * (1 + i % 8)) as i64)
        .with_param("memory_mib", (512 * (1 + i % 16)) as i64)
        .with_param("engine", ENGINES[i % 4])
        .with_param("region", if i.is_multiple_of(3) { "eu-west-1" } else { "us-east-1" })
        .with_param("public", i.is_multiple_of(10))
        .with_param("cost", (i % 100) as f64 * 0.25)
}

fn graph(n: usize) -> Graph {
    let mut g = Graph::with_clock(ManualClock::new(Timestamp::from_secs(1_700_000_000)));
    for i in 0..n {
        g.insert(component(i)).expect("unique keys");
    }
    g
}

fn key(i: usize) -> Key {
    Key::new(KINDS[i % KINDS.len()], &format!("c{i}")).expect("valid key")
}

/// The 100 components that change, spread over the graph.
fn changed(n: usize) -> impl Iterator<Item = usize> {
    (0..100).map(move |j| j * (n / 100) + 17)
}

fn memory_report() {
    for n in [100_000usize, 1_000_000] {
        let before = LIVE.load(Ordering::Relaxed);
        let g = graph(n);
        let after = LIVE.load(Ordering::Relaxed);
        let per = (after - before) as f64 / n as f64;
        println!("memory: {n} components with 8 params: {per:.0} bytes per component (live heap)");
        drop(black_box(g));
    }
}

fn snapshot(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot");
    for n in [10_000usize, 100_000, 1_000_000] {
        let g = graph(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &g, |b, g| {
            b.iter(|| black_box(g.snapshot()));
        });
    }
    group.finish();
}

fn diff(c: &mut Criterion) {
    let n = 1_000_000;
    let mut g = graph(n);
    let a = g.snapshot();
    for i in changed(n) {
        g.set_param(key(i), "replicas", 100).expect("present");
    }
    let b = g.snapshot();
    assert_eq!(a.diff(&b).len(), 100);

    // The same content rebuilt independently (no shared nodes), hashes
    // computed once, as for snapshots loaded from a store.
    let a_indep = graph(n).snapshot();
    let b_indep = a_indep.apply(&a.diff(&b)).expect("applies");
    a_indep.root_hash();
    b_indep.root_hash();
    assert_eq!(a_indep.diff(&b_indep).len(), 100);

    // Baseline: the same components in two BTreeMaps, compared in full.
    let ma: BTreeMap<Key, Component> = a.components().map(|c| (c.key().clone(), c.clone())).collect();
    let mb: BTreeMap<Key, Component> = b.components().map(|c| (c.key().clone(), c.clone())).collect();

    let mut group = c.benchmark_group("diff_1m_100_changes");
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    group.bench_function("karma_shared", |bench| bench.iter(|| black_box(a.diff(&b))));
    group.bench_function("karma_independent_hashed", |bench| {
        bench.iter(|| black_box(a_indep.diff(&b_indep)));
    });
    group.bench_function("btreemap_full_compare", |bench| {
        bench.iter(|| {
            let changed: Vec<&Key> =
                ma.iter().zip(mb.iter()).filter(|((_, x), (_, y))| x != y).map(|((k, _), _)| k).collect();
            black_box(changed)
        });
    });
    group.finish();
}

fn insert(c: &mut Criterion) {
    let mut group = c.benchmark_group("insert_1m_8_params");
    group.sample_size(10).measurement_time(Duration::from_secs(30));
    group.bench_function("insert_prebuilt", |bench| {
        bench.iter_batched(
            || (0..1_000_000).map(component).collect::<Vec<_>>(),
            |components| {
                let mut g = Graph::with_clock(ManualClock::new(Timestamp::EPOCH));
                for c in components {
                    g.insert(c).expect("unique");
                }
                g
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_function("build_and_insert", |bench| {
        bench.iter_with_large_drop(|| graph(1_000_000));
    });
    group.bench_function("baseline_btreemap_insert_prebuilt", |bench| {
        bench.iter_batched(
            || (0..1_000_000).map(component).collect::<Vec<_>>(),
            |components| components.into_iter().map(|c| (c.key().clone(), c)).collect::<BTreeMap<_, _>>(),
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, snapshot, diff, insert);

fn main() {
    memory_report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
