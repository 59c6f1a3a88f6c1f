//! Machine learning on a graph: features, GraphSAGE training, similar
//! components, anomalies and drift.
//!
//! `cargo run --release --example ml`

use karma::ml::{
    Adjacency, AnomalyConfig, Embeddings, FeatureConfig, FeatureExtractor, Sage, SageConfig, Tolerance, TrainOptions,
    scan_anomalies, scan_drift, train_unsupervised,
};
use karma::prelude::*;

/// Forty small stacks: a service reading a database and a cache.
fn platform() -> Result<Graph, karma::core::Error> {
    let mut g = Graph::new();
    for i in 0..40 {
        let env = ["dev", "staging", "prod"][i % 3];
        let (db, cache) = (format!("db{i}"), format!("cache{i}"));
        g.insert(
            Component::new("Database", &db)?
                .with_param("engine", "postgres")
                .with_param("port", 5432)
                .with_output("endpoint", format!("{db}:5432"))
                .with_label("env", env),
        )?;
        g.insert(
            Component::new("Cache", &cache)?
                .with_param("size_mib", 512)
                .with_output("endpoint", format!("{cache}:6379"))
                .with_label("env", env),
        )?;
        let replicas = if i == 17 { 64 } else { 2 + (i % 3) as i64 }; // one typo
        g.insert(
            Component::new("Service", &format!("svc{i}"))?
                .with_param("replicas", replicas)
                .with_param("db", Value::reference(Key::new("Database", &db)?, "endpoint"))
                .with_param("cache", Value::reference(Key::new("Cache", &cache)?, "endpoint"))
                .with_label("env", env),
        )?;
        g.resolve_references(format!("Service/svc{i}"))?; // deployed
        g.observe(format!("Service/svc{i}"), "replicas", if i == 5 { 1 } else { replicas })?; // one replica set degraded
    }
    g.set_output("Database/db9", "endpoint", "db9-failover:5432")?; // svc9 not redeployed since
    Ok(g)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let snapshot = platform()?.snapshot();
    let view = View::new(&snapshot);

    // Features: one row per component, named columns.
    let extractor = FeatureExtractor::fit(&snapshot, FeatureConfig::default());
    let x = extractor.transform(&view, None)?;
    println!("{} components × {} features, e.g. {:?}", x.nrows(), x.ncols(), &extractor.feature_names()[..4]);

    // GraphSAGE, trained without labels: neighbours on short walks embed close.
    let adj = Adjacency::undirected_from_view(&view);
    let mut model = Sage::new(&[x.ncols(), 32, 16], SageConfig { normalize: true, ..SageConfig::default() }, 1)?;
    let options = TrainOptions { epochs: 30, walks_per_node: 4, walk_length: 3, ..TrainOptions::default() };
    let losses = train_unsupervised(&mut model, x.view(), &adj, &options, |_| {})?;
    println!("loss {:.3} -> {:.3}", losses[0], losses[losses.len() - 1]);
    let embeddings = Embeddings::new(&view, model.forward(x.view(), &adj)?)?;
    for (key, score) in embeddings.similar(&"Service/svc0".parse()?, 3)? {
        println!("  like Service/svc0: {key} ({score:.2})");
    }

    for a in scan_anomalies(&snapshot, &AnomalyConfig { min_peers: 10, ..AnomalyConfig::default() }) {
        println!("anomaly: {a}");
    }
    let drift = scan_drift(&snapshot, &Tolerance::default());
    for d in &drift.declared {
        println!("drift: {}.{} declared {}, observed {}", d.key, d.param, d.declared, d.observed);
    }
    for s in &drift.stale {
        println!(
            "stale: {}.{} took {} at v{}, producer now v{}",
            s.consumer,
            s.param,
            s.reference.component,
            s.taken_at(),
            s.producer_version
        );
    }
    Ok(())
}
