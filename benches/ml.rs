//! karma-ml targets, each beside an in-run reference:
//! - feature extraction of 1,000,000 components ≤ 1 s (2 cores);
//! - full-graph inference of a 2-layer mean GraphSAGE 64 → 64 → 64 on
//!   100,000 nodes / 1,000,000 edges ≤ 40 ms (PyG's fastest CPU path on this
//!   kind of machine: ≈ 58 ms, `shared/data/anchors.md`; in-run reference:
//!   the dense part alone, four [N, 64]·[64, 64] products through ndarray);
//! - neighbour-sampled inference (fan-outs 25, 10) of all 100,000 nodes
//!   ≤ 0.6 s (hand-written sampler + PyG layers: 1.1–1.3 s, anchors);
//! - one unsupervised training epoch on 100,000 nodes ≤ 30 s;
//! - anomaly scan of 1,000,000 components ≤ 2 s; drift scan (declared vs
//!   observed, and stale references) of 1,000,000 components ≤ 1 s; a recommendation for one
//!   component on a 100,000-component graph ≤ 10 ms once the index is built.
//!
//! - export of a 1,000,000-component graph streams (bounded memory): its
//!   peak memory above the graph is printed beside the size of the feature
//!   matrix it never materialises.
//!
//! Run: `cargo bench --bench ml` (`KARMA_BENCH_N` scales the 100,000-node
//! graph; `KARMA_BENCH_FEATURES` the 1,000,000 components).

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use karma::core::{Component, EdgeKind, Graph, Key, ManualClock, OutputRef, Timestamp, Value};
use karma::ml::{
    Adjacency, AnomalyConfig, Embeddings, FeatureConfig, FeatureExtractor, Flow, Rng, Sage, SageConfig, Splits,
    Tolerance, TrainOptions, Workspace, declared_vs_observed, export, recommend, scan_anomalies, scan_drift,
    stale_references, train_unsupervised,
};
use karma::query::View;
use ndarray::Array2;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The 1,000,000-component platform of the feature bench, every component
/// with runtime observations of two params (one in fifty drifting). With
/// `references`, every component also has an `endpoint` output and reads
/// its parent's, resolved (one in a hundred to an older value: stale).
fn platform(n: usize, references: bool) -> karma::core::Snapshot {
    let kinds = ["Service", "Database", "Queue", "Cache", "Pipeline", "Network", "DataSource", "Gateway"];
    let mut g = Graph::with_clock(ManualClock::new(Timestamp::from_secs(1)));
    for i in 0..n {
        let c = Component::new(kinds[i % kinds.len()], &format!("c{i}"))
            .expect("key")
            .with_param("port", 5000 + (i % 1000) as i64)
            .with_param("replicas", (i % 7) as i64)
            .with_param("memory_mb", 256 * (1 + (i % 16)) as i64)
            .with_param("cpu", 0.25 * (1 + i % 8) as f64)
            .with_param("engine", ["postgres", "mysql", "redis", "kafka"][i % 4])
            .with_param("region", if i.is_multiple_of(2) { "eu-west-1" } else { "us-east-1" })
            .with_param("public", i.is_multiple_of(10))
            .with_param("version", format!("1.{}", i % 30))
            .with_label("env", ["dev", "staging", "prod"][i % 3]);
        let c = if references {
            let c = c.with_output("endpoint", format!("c{i}.internal:5432"));
            if i == 0 {
                c
            } else {
                let parent = Key::new(kinds[(i / 2) % kinds.len()], &format!("c{}", i / 2)).expect("key");
                // One in a hundred took an older value of an older version
                // (stale); one in a hundred took the current value at an
                // older version (compared, not stale); the rest are current.
                let current = Value::from(format!("c{}.internal:5432", i / 2));
                let r = OutputRef::new(parent, "endpoint");
                let r = match i % 100 {
                    5 => r.resolved_to(0, &Value::from("old.internal:5432")),
                    6 => r.resolved_to(0, &current),
                    _ => r.resolved_to(1, &current),
                };
                c.with_param("upstream", r)
            }
        } else {
            c
        };
        g.insert(c).expect("insert");
    }
    for i in 1..n {
        let (a, b) =
            (format!("{}/c{i}", kinds[i % kinds.len()]), format!("{}/c{}", kinds[(i / 2) % kinds.len()], i / 2));
        g.connect(a.as_str(), b.as_str(), EdgeKind::DependsOn, []).expect("edge");
    }
    for i in 0..n {
        let key = format!("{}/c{i}", kinds[i % kinds.len()]);
        let replicas = if i % 50 == 3 { 99 } else { (i % 7) as i64 };
        g.observe(key.as_str(), "replicas", replicas).expect("observe");
        g.observe(key.as_str(), "engine", ["postgres", "mysql", "redis", "kafka"][i % 4]).expect("observe");
    }
    g.snapshot()
}

fn features(c: &mut Criterion) {
    let n = env("KARMA_BENCH_FEATURES", 1_000_000);
    let snap = platform(n, false);
    let view = View::new(&snap);
    let extractor = FeatureExtractor::fit(&snap, FeatureConfig::default());
    eprintln!("features: {n} components, {} columns", extractor.width());
    let mut group = c.benchmark_group("features_1m");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("transform", |b| {
        b.iter_with_large_drop(|| extractor.transform(black_box(&view), None).expect("rows"));
    });
    group.finish();

    // Export streams: its peak memory beyond what the graph already holds,
    // against the feature matrix it would otherwise materialise.
    let dir = tempfile::tempdir().expect("temp dir");
    let before = rss_kib("VmRSS");
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let summary = export(dir.path(), &snap, None, &extractor, Splits::default()).expect("export");
    if let (Some(before), Some(peak), true) = (before, rss_kib("VmHWM"), reset) {
        let matrix = summary.nodes * summary.features * 4 / 1024 / 1024;
        eprintln!(
            "export: {} nodes, {} edges; peak memory above the graph {} MiB (the feature matrix alone: {matrix} MiB)",
            summary.nodes,
            summary.edges,
            peak.saturating_sub(before) / 1024
        );
    }
    let mut group = c.benchmark_group("export_1m");
    group.sample_size(10).measurement_time(Duration::from_secs(60));
    group.bench_function("npz_and_jsonl", |b| {
        b.iter(|| export(dir.path(), black_box(&snap), None, &extractor, Splits::default()).expect("export"));
    });
    group.finish();

    let mut group = c.benchmark_group("detect_1m");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    let anomalies = scan_anomalies(&snap, &AnomalyConfig::default());
    eprintln!("detect: {} anomalies", anomalies.len());
    group.bench_function("anomaly_scan", |b| {
        b.iter_with_large_drop(|| scan_anomalies(black_box(&snap), &AnomalyConfig::default()));
    });
    drop(view);
    drop(snap);
    let snap = platform(n, true);
    let report = scan_drift(&snap, &Tolerance::default());
    eprintln!("detect: {} drifting values, {} stale references", report.declared.len(), report.stale.len());
    group.bench_function("drift_scan", |b| {
        b.iter_with_large_drop(|| scan_drift(black_box(&snap), &Tolerance::default()));
    });
    // In-run reference: the two scans run one after the other, each with its
    // own pass over the components.
    group.bench_function("drift_scan_two_passes", |b| {
        b.iter_with_large_drop(|| {
            (declared_vs_observed(black_box(&snap), &Tolerance::default()), stale_references(black_box(&snap)))
        });
    });
    group.bench_function("drift_scan_declared_only", |b| {
        b.iter_with_large_drop(|| declared_vs_observed(black_box(&snap), &Tolerance::default()));
    });
    group.finish();
}

/// A memory figure of this process from `/proc/self/status`, in KiB.
fn rss_kib(field: &str) -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn recommendation(c: &mut Criterion) {
    let n = env("KARMA_BENCH_N", 100_000);
    let snap = platform(n, false);
    let view = View::new(&snap);
    let extractor = FeatureExtractor::fit(&snap, FeatureConfig::default());
    let x = extractor.transform(&view, None).expect("rows");
    let index = Embeddings::new(&view, x).expect("index");
    let partial =
        Component::new("Database", "new").expect("key").with_param("port", 5100).with_param("engine", "postgres");
    let vector = ndarray::Array1::from(extractor.row(&partial));
    let mut group = c.benchmark_group("recommend_100k");
    group.sample_size(50);
    group.bench_function("one_component", |b| {
        b.iter(|| recommend(&index, &snap, black_box(&partial), vector.view(), 10, &[]));
    });
    group.finish();
}

/// 100,000 nodes, 1,000,000 uniformly random edges, 64 features.
fn graph() -> (Adjacency, Array2<f32>) {
    let n = env("KARMA_BENCH_N", 100_000);
    let mut rng = Rng::new(42);
    let edges: Vec<(u32, u32)> = (0..n * 10).map(|_| (rng.below(n) as u32, rng.below(n) as u32)).collect();
    let adj = Adjacency::from_edges(n, &edges, Flow::SourceToTarget).expect("edges");
    let x = Array2::from_shape_simple_fn((n, 64), || rng.symmetric(1.0));
    (adj, x)
}

fn inference(c: &mut Criterion) {
    let (adj, x) = graph();
    let model = Sage::new(&[64, 64, 64], SageConfig::default(), 1).expect("model");
    let w = model.layers[0].lin_l.weight.clone();
    let mut group = c.benchmark_group("sage_inference_100k");
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    group.bench_function("karma_full_graph", |b| {
        b.iter_with_large_drop(|| model.forward(black_box(x.view()), &adj).expect("forward"));
    });
    // Inference again and again, as a tool re-embedding every deployment
    // does: the hidden layer's buffers kept in a workspace (the output
    // still a fresh matrix each time, dropped inside the timing), then the
    // output written into a kept matrix too.
    let mut workspace = Workspace::default();
    group.bench_function("karma_full_graph_workspace", |b| {
        b.iter(|| model.forward_with(black_box(x.view()), &adj, &mut workspace).expect("forward"));
    });
    let mut out = Array2::zeros((adj.len(), model.outputs()));
    group.bench_function("karma_full_graph_into", |b| {
        b.iter(|| model.forward_into(black_box(x.view()), &adj, &mut workspace, out.view_mut()).expect("forward"));
    });
    group.bench_function("reference_dense_part_only", |b| {
        b.iter_with_large_drop(|| {
            let h = x.dot(&w.t()) + x.dot(&w.t());
            h.dot(&w.t()) + h.dot(&w.t())
        });
    });
    group.finish();
    let mut group = c.benchmark_group("sage_sampled_100k");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("karma_fanouts_25_10", |b| {
        b.iter_with_large_drop(|| {
            model.forward_sampled(black_box(x.view()), &adj, &[25, 10], 1024, 7).expect("forward")
        });
    });
    group.finish();
}

fn training(c: &mut Criterion) {
    let (adj, x) = graph();
    let undirected = {
        let edges: Vec<(u32, u32)> =
            (0..adj.len() as u32).flat_map(|t| adj.incoming(t as usize).iter().map(move |&s| (s, t))).collect();
        Adjacency::undirected(adj.len(), &edges).expect("edges")
    };
    let options = TrainOptions { epochs: 1, batch_size: 65_536, ..TrainOptions::default() };
    let mut group = c.benchmark_group("sage_unsupervised_epoch_100k");
    group.sample_size(10).measurement_time(Duration::from_secs(60));
    group.bench_function("karma_one_epoch", |b| {
        b.iter_with_large_drop(|| {
            let mut model =
                Sage::new(&[64, 64, 64], SageConfig { normalize: true, ..SageConfig::default() }, 1).expect("model");
            train_unsupervised(&mut model, black_box(x.view()), &undirected, &options, |_| {}).expect("trains")
        });
    });
    group.finish();
}

criterion_group!(benches, features, recommendation, inference, training);
criterion_main!(benches);
