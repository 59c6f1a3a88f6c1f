//! Scale: generates a platform of 1,000,000 components (or the number given)
//! and times the headline operations. Figures from criterion, with their
//! baselines, are in `docs/performance.md`; this is the quick look.
//!
//! `cargo run --release --example scale [-- 200000]`

use std::time::Instant;

use karma::ml::{AnomalyConfig, FeatureConfig, FeatureExtractor, Tolerance, scan_anomalies, scan_drift};
use karma::prelude::*;
use karma::query::{Direction, reachable, shortest_path};
use karma::store::{CommitInfo, RedbStore, RefName, Repository};

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    println!("  {what:<48} {:>10.1?}", start.elapsed());
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map_or(Ok(1_000_000), |a| a.parse())?;
    let kinds = ["Service", "Database", "Queue", "Cache", "Pipeline", "Network", "DataSource", "Gateway"];
    let key = |i: usize| format!("{}/c{i}", kinds[i % kinds.len()]);
    println!("{n} components");

    let mut graph = Graph::with_clock(ManualClock::new(Timestamp::from_secs(1_795_000_000)));
    timed("build (insert, 8 params each, edge to i/2)", || -> Result<(), karma::core::Error> {
        for i in 0..n {
            let c = Component::new(kinds[i % kinds.len()], &format!("c{i}"))?
                .with_param("port", 5000 + (i % 1000) as i64)
                .with_param("replicas", (i % 7) as i64)
                .with_param("memory_mb", 256 * (1 + (i % 16)) as i64)
                .with_param("engine", ["postgres", "mysql", "redis", "kafka"][i % 4])
                .with_param("region", if i % 2 == 0 { "eu-west-1" } else { "us-east-1" })
                .with_label("env", ["dev", "staging", "prod"][i % 3]);
            graph.insert(c)?;
        }
        graph.connect_all(
            (1..n).map(|i| (key(i).parse().unwrap(), key(i / 2).parse().unwrap(), EdgeKind::DependsOn, Vec::new())),
        )?;
        Ok(())
    })?;
    let before = timed("snapshot", || graph.snapshot());
    timed("snapshot root hash (first time: hashes everything)", || before.root_hash());
    for i in (0..n).step_by((n / 100).max(1)).take(100) {
        graph.set_param(key(i), "replicas", 99)?;
    }
    graph.observe(key(3), "replicas", 1)?;
    let after = timed("snapshot after 100 changes", || graph.snapshot());
    let delta = timed("diff of the two (structure shared)", || before.diff(&after));
    println!("    -> {} changed", delta.changed().count());
    let view = timed("read-optimised view (CSR both ways)", || View::new(&after));
    let hub = key(1).parse()?;
    let reached =
        timed("transitive dependents of c1", || reachable(&view, &hub, Direction::Dependents, &Traversal::default()))?;
    println!("    -> {} components", reached.len());
    let path = timed("shortest path from a Network to the last component", || {
        shortest_path(&view, &Selector::kind("Network"), &Selector::key(key(n - 1).parse()?), None)
    })?;
    println!("    -> {} hops", path.map_or(0, |p| p.keys.len().saturating_sub(1)));
    let extractor = timed("fit features", || FeatureExtractor::fit(&after, FeatureConfig::default()));
    let x = timed("feature matrix", || extractor.transform(&view, None))?;
    println!("    -> {} × {}", x.nrows(), x.ncols());
    drop(x);
    let anomalies = timed("anomaly scan", || scan_anomalies(&after, &AnomalyConfig::default()));
    println!("    -> {} findings", anomalies.len());
    let drift = timed("drift scan", || scan_drift(&after, &Tolerance::default()));
    println!("    -> {} drifting values", drift.declared.len());

    let path = std::env::temp_dir().join("karma-scale.redb");
    let _ = std::fs::remove_file(&path);
    let repo = Repository::open(RedbStore::open(&path)?)?;
    let prod = RefName::environment("prod")?;
    timed("commit the whole graph to redb", || repo.commit(&prod, &before, CommitInfo::new("scale", "import")))?;
    timed("commit the 100 changes", || repo.commit(&prod, &after, CommitInfo::new("scale", "100 changes")))?;
    graph.set_param(key(7), "replicas", 3)?;
    timed("commit one change", || repo.commit(&prod, &graph.snapshot(), CommitInfo::new("scale", "one")))?;
    println!("  redb file: {} MiB", std::fs::metadata(&path)?.len() / (1 << 20));
    std::fs::remove_file(&path)?;
    Ok(())
}
