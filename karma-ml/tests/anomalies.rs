//! Planted parameter anomalies are found with at least 90% recall at 90%
//! precision, each finding saying what the peers have.

use std::collections::BTreeSet;

use karma_core::{Component, Graph, Key, Value};
use karma_ml::{AnomalyConfig, AnomalyKind, Peers, Rng, scan_anomalies};

#[test]
fn planted_anomalies_are_found() {
    let mut rng = Rng::new(21);
    let mut g = Graph::new();
    let mut planted: BTreeSet<Key> = BTreeSet::new();
    for kind in ["Database", "Service", "Queue", "Cache"] {
        for i in 0..500 {
            let web = rng.below(2) == 0;
            let engine = [
                "postgres", "postgres", "postgres", "postgres", "postgres", "postgres", "mysql", "mysql", "mysql",
                "mariadb",
            ][rng.below(10)];
            let mut c = Component::new(kind, &format!("c{i}"))
                .unwrap()
                .with_param("port", 5000 + rng.below(100) as i64)
                .with_param("replicas", 2 + rng.below(4) as i64)
                .with_param("engine", engine)
                .with_param("tier", if web { "web" } else { "worker" })
                // Web runs in eu, workers in us: every combination but two is common.
                .with_param("region", if web { "eu" } else { "us" });
            // Plant: every 50th component gets one anomaly, of three sorts in turn.
            if i % 50 == 7 {
                c = match (i / 50) % 3 {
                    0 => c.with_param("port", 65_000),
                    1 => c.with_param("engine", format!("legacy-{kind}-{i}")),
                    _ => c.with_param("tier", "web").with_param("region", "us"),
                };
                planted.insert(c.key().clone());
            }
            g.insert(c).unwrap();
        }
    }
    let snap = g.snapshot();
    let findings = scan_anomalies(&snap, &AnomalyConfig::default());
    let flagged: BTreeSet<Key> = findings.iter().map(|f| f.key.clone()).collect();
    let hits = flagged.intersection(&planted).count();
    let recall = hits as f64 / planted.len() as f64;
    let precision = hits as f64 / flagged.len().max(1) as f64;
    println!("{} planted, {} flagged, recall {recall:.2}, precision {precision:.2}", planted.len(), flagged.len());
    assert!(recall >= 0.9, "recall {recall}");
    assert!(precision >= 0.9, "precision {precision}");
    // Each sort is explained.
    let port = findings.iter().find(|f| f.param == "port").unwrap();
    assert_eq!(port.kind, AnomalyKind::Outlier);
    assert_eq!(port.value, Value::Int(65_000));
    let Peers::Range { low, high, .. } = port.peers else { panic!("{port}") };
    assert!(low >= 5000.0 && high < 5100.0, "{port}");
    let rare = findings.iter().find(|f| f.param == "engine").unwrap();
    assert_eq!(rare.kind, AnomalyKind::RareValue);
    let Peers::Common(common) = &rare.peers else { panic!("{rare}") };
    assert_eq!(common[0].0, "postgres");
    let combo = findings.iter().find(|f| matches!(f.kind, AnomalyKind::RareCombination(_))).unwrap();
    assert_eq!(combo.param, "region");
    assert_eq!(combo.kind, AnomalyKind::RareCombination("tier".into()));
    assert!(combo.to_string().contains("region"), "{combo}");
}
