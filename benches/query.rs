//! karma-query targets on two generated 1,000,000-component / 5,000,000-edge
//! graphs (the families of `../shared/data/anchors.md`): *uniform* (random
//! edges, one giant strongly connected component) and *local* (a DAG whose
//! edges mostly join nearby ids). Baselines in the same run: petgraph's `Bfs`
//! over `Reversed` on a `StableDiGraph` of the same graph, and its
//! `dijkstra`.
//!
//! Run: `cargo bench --bench query` (set `KARMA_BENCH_N` for a smaller
//! graph). Figures go to `docs/performance.md`.

#![allow(missing_docs)]

use std::collections::HashSet;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use karma::core::{Component, EdgeKind, Graph, Key, Name, Value};
use karma::query::{Direction, Selector, Traversal, View, shortest_path};
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::{Bfs, Reversed};

/// splitmix64: a small, seeded generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Family {
    Uniform,
    Local,
}

/// `e` distinct edges `a → b` ("a depends on b") over `n` nodes.
fn edges(family: Family, n: usize, e: usize, seed: u64) -> Vec<(u32, u32)> {
    let mut rng = Rng(seed);
    let mut seen = HashSet::with_capacity(e);
    let mut out = Vec::with_capacity(e);
    while out.len() < e {
        let a = rng.below(n as u64);
        let b = match family {
            Family::Uniform => rng.below(n as u64),
            Family::Local => a + 1 + rng.below(1000),
        };
        if a == b || b >= n as u64 || !seen.insert(a * n as u64 + b) {
            continue;
        }
        out.push((a as u32, b as u32));
    }
    out
}

fn key(i: u32) -> Key {
    Key::new(kind(i), &format!("n{i:07}")).expect("valid key")
}

fn kind(i: u32) -> &'static str {
    if i.is_multiple_of(1000) { "DataSource" } else { "Node" }
}

/// The graph as a snapshot: depends-on edges with a `latency` attribute, or
/// reference edges (`p<j>` of `a` reads `out` of `b`) for param impact.
fn snapshot(n: usize, edges: &[(u32, u32)], references: bool) -> karma::core::Snapshot {
    let mut g = Graph::new();
    for i in 0..n as u32 {
        let mut c = Component::new(kind(i), &format!("n{i:07}"))
            .expect("valid key")
            .with_param("size", i64::from(i % 16))
            .with_output("out", i64::from(i));
        if i % 1000 == 7 {
            c = c.with_label("public", "true");
        }
        g.insert(c).expect("fresh key");
    }
    let latency = Name::new_static("latency");
    let mut param_no = vec![0u32; n];
    for (j, &(a, b)) in edges.iter().enumerate() {
        if references {
            let p = param_no[a as usize];
            param_no[a as usize] += 1;
            g.set_param(key(a), format!("p{p}"), Value::reference(key(b), "out")).expect("valid reference");
        } else {
            let w = Value::Int(1 + (j as i64 * 7919) % 100);
            g.connect(key(a), key(b), EdgeKind::DependsOn, [(latency.clone(), w)]).expect("valid edge");
        }
    }
    g.snapshot()
}

fn petgraph_of(n: usize, edges: &[(u32, u32)]) -> (StableDiGraph<(), u32>, Vec<NodeIndex>) {
    let mut g = StableDiGraph::with_capacity(n, edges.len());
    let nodes: Vec<NodeIndex> = (0..n).map(|_| g.add_node(())).collect();
    for (j, &(a, b)) in edges.iter().enumerate() {
        g.add_edge(nodes[a as usize], nodes[b as usize], 1 + (j as u32 * 7919) % 100);
    }
    (g, nodes)
}

fn size() -> (usize, usize) {
    let n = std::env::var("KARMA_BENCH_N").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    (n, n * 5)
}

fn bench_family(c: &mut Criterion, family: Family) {
    let (n, e) = size();
    let name = format!("{family:?}").to_lowercase();
    let t = Instant::now();
    let list = edges(family, n, e, 42);
    let snap = snapshot(n, &list, false);
    eprintln!("{name}: generated {n} components / {e} edges in {:.1?}", t.elapsed());
    let mut group = c.benchmark_group(format!("query/{name}"));
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(8));

    group.bench_function("build view", |b| b.iter(|| black_box(View::new(&snap))));
    let view = View::new(&snap);
    eprintln!(
        "{name}: view holds {} bytes = {:.1} B/component + 8 B/edge allowance used {:.1}",
        view.heap_bytes(),
        (view.heap_bytes() as f64 - 8.0 * e as f64) / n as f64,
        8.0
    );

    // The start: for uniform any node; for local the last, whose ancestors are ~99%.
    let start = match family {
        Family::Uniform => 0,
        Family::Local => n as u32 - 1,
    };
    let reach = view.reach(&[start], Direction::Dependents, &Traversal::default());
    eprintln!("{name}: dependents of one node reach {} ({:.1}%)", reach.len(), 100.0 * reach.len() as f64 / n as f64);
    group.bench_function("dependents (karma)", |b| {
        b.iter(|| black_box(view.reach(&[start], Direction::Dependents, &Traversal::default())));
    });
    let sources: Vec<u32> = (0..100).map(|i| start.saturating_sub(i * 97) % n as u32).collect();
    group.bench_function("dependents of 100 sources, one pass (karma)", |b| {
        b.iter(|| black_box(view.reach(&sources, Direction::Dependents, &Traversal::default())));
    });

    let (pg, nodes) = petgraph_of(n, &list);
    group.bench_function("dependents (petgraph Bfs on Reversed StableDiGraph)", |b| {
        b.iter(|| {
            let reversed = Reversed(&pg);
            let mut bfs = Bfs::new(reversed, nodes[start as usize]);
            let mut count = 0usize;
            while bfs.next(reversed).is_some() {
                count += 1;
            }
            black_box(count)
        });
    });

    let from = Selector::Kind("DataSource".into());
    let to = Selector::Label { name: "public".into(), value: Some("true".into()) };
    group.bench_function("shortest path kind = DataSource to label public (karma)", |b| {
        b.iter(|| black_box(shortest_path(&view, &from, &to, None).expect("valid query")));
    });

    if family == Family::Local {
        let weights = view.edge_weights("latency", None).expect("every edge has a latency");
        group.bench_function("dijkstra from one node (karma)", |b| {
            b.iter(|| black_box(view.dijkstra(&[0], Direction::Dependencies, &weights)));
        });
        group.bench_function("dijkstra from one node (petgraph)", |b| {
            b.iter(|| black_box(petgraph::algo::dijkstra(&pg, nodes[0], None, |e| *e.weight())));
        });
    }
    drop((pg, nodes, view, snap));

    let t = Instant::now();
    let refs = snapshot(n, &list, true);
    let view = View::new(&refs);
    let t_index = Instant::now();
    let _ = view.param_impact(&[(key(start), "size".into())], &Traversal { max_depth: Some(0), edge_kinds: None });
    eprintln!("{name}: reference graph in {:.1?}; reference index built in {:.1?}", t.elapsed(), t_index.elapsed());
    let one = [(key(start), Name::new_static("size"))];
    let hit = view.param_impact(&one, &Traversal::default()).expect("known param");
    eprintln!("{name}: param impact reaches {} params of {} components", hit.len(), hit.components().len());
    drop(hit);
    group.bench_function("param impact of one param (karma)", |b| {
        b.iter(|| black_box(view.param_impact(&one, &Traversal::default()).expect("known param").len()));
    });
    let many: Vec<(Key, Name)> = sources.iter().map(|&i| (key(i), Name::new_static("size"))).collect();
    group.bench_function("param impact of 100 params, one pass (karma)", |b| {
        b.iter(|| black_box(view.param_impact(&many, &Traversal::default()).expect("known params").len()));
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_family(c, Family::Uniform);
    bench_family(c, Family::Local);
}

criterion_group!(query, benches);

fn main() {
    query();
    Criterion::default().configure_from_args().final_summary();
}
