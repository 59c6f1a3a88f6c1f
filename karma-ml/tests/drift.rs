//! Planted drift found exactly (no misses, no false alarms); changes a
//! commit made beyond its plan named one by one; transitions learnt from a
//! param's history.

use std::collections::BTreeSet;

use karma_core::{Component, EdgeKind, Graph, Removal, Value};
use karma_ml::{Mutation, Rng, Tolerance, Transitions, declared_vs_observed, unintended_mutations};

#[test]
fn planted_drift_is_found_exactly() {
    let mut rng = Rng::new(5);
    let mut g = Graph::new();
    let mut planted: BTreeSet<(String, String)> = BTreeSet::new();
    for i in 0..300 {
        let key = format!("Service/s{i}");
        let memory = 512 * (1 + rng.below(8) as i64);
        g.insert(
            Component::new("Service", &format!("s{i}"))
                .unwrap()
                .with_param("replicas", 3)
                .with_param("image", format!("app:{}", i % 7))
                .with_param("memory_mb", memory),
        )
        .unwrap();
        // Observed as declared, memory within 1% (inside the 2% tolerance).
        let jitter = 1.0 + (f64::from(rng.unit()) - 0.5) * 0.02;
        g.observe(key.as_str(), "replicas", 3).unwrap();
        g.observe(key.as_str(), "image", format!("app:{}", i % 7)).unwrap();
        g.observe(key.as_str(), "memory_mb", memory as f64 * jitter).unwrap();
        g.observe(key.as_str(), "uptime_s", 1234).unwrap(); // no such param: not drift
        if i % 30 == 11 {
            g.observe(key.as_str(), "replicas", 1).unwrap();
            planted.insert((key.clone(), "replicas".into()));
        }
        if i % 45 == 2 {
            g.observe(key.as_str(), "image", "app:hotfix").unwrap();
            planted.insert((key.clone(), "image".into()));
        }
        if i % 60 == 7 {
            g.observe(key.as_str(), "memory_mb", memory as f64 * 1.5).unwrap();
            planted.insert((key, "memory_mb".into()));
        }
    }
    let tolerance = Tolerance { relative: 0.02, ..Tolerance::default() };
    let found: BTreeSet<(String, String)> = declared_vs_observed(&g.snapshot(), &tolerance)
        .into_iter()
        .map(|d| (d.key.to_string(), d.param.to_string()))
        .collect();
    assert!(!planted.is_empty());
    assert_eq!(found, planted);
}

#[test]
fn changes_beyond_the_plan() {
    let mut g = Graph::new();
    for name in ["a", "b", "y"] {
        g.insert(Component::new("Service", name).unwrap().with_param("replicas", 1).with_param("image", "app:1"))
            .unwrap();
    }
    let base = g.snapshot();
    // The plan: a scales to 3; x is added.
    let mut plan = g.clone();
    plan.set_param("Service/a", "replicas", 3).unwrap();
    plan.insert(Component::new("Service", "x").unwrap().with_param("replicas", 1)).unwrap();
    let declared = base.diff(&plan.snapshot());
    // What happened: the plan, plus b's image changed, y removed, an edge, and x with 2 replicas.
    let mut actual = g.clone();
    actual.set_param("Service/a", "replicas", 3).unwrap();
    actual.insert(Component::new("Service", "x").unwrap().with_param("replicas", 2)).unwrap();
    actual.set_param("Service/b", "image", "app:2").unwrap();
    actual.remove("Service/y", Removal::Restrict).unwrap();
    actual.connect("Service/a", "Service/b", EdgeKind::DependsOn, []).unwrap();
    let done = base.diff(&actual.snapshot());
    let mutations = unintended_mutations(&declared, &done);
    let names: Vec<String> = mutations
        .iter()
        .map(|m| match m {
            Mutation::Added(k) => format!("added {k}"),
            Mutation::Removed(k) => format!("removed {k}"),
            Mutation::Field { key, field, name, .. } => format!("{field} {key}.{name}"),
            Mutation::Edge(id) => format!("edge {} -> {}", id.from, id.to),
        })
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(
        names,
        ["edge Service/a -> Service/b", "param Service/b.image", "param Service/x.replicas", "removed Service/y"]
    );
    // Doing exactly the plan is no mutation.
    assert!(unintended_mutations(&declared, &declared).is_empty());
}

#[test]
fn transitions_from_a_param_history() {
    let mut m = Transitions::new();
    let history: Vec<Value> =
        ["1.0", "1.1", "1.2", "1.3", "1.2", "1.3", "1.4"].iter().map(|v| Value::String((*v).into())).collect();
    m.observe(history.iter());
    let (next, p) = m.next(&Value::String("1.2".into())).unwrap();
    assert_eq!(next, Value::String("1.3".into()));
    assert!((p - 1.0).abs() < 1e-12);
    assert!(
        m.improbable(&Value::String("1.3".into()), &Value::String("1.0".into()), 0.1, 2),
        "a rollback to 1.0 was never seen"
    );
}
