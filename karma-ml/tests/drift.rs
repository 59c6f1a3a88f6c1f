//! Planted drift found exactly (no misses, no false alarms); changes a
//! commit made beyond its plan named one by one; transitions learnt from a
//! param's history.

use std::collections::BTreeSet;

use karma_core::{Component, EdgeKind, Graph, Key, Removal, Value};
use karma_ml::{Mutation, Rng, Tolerance, Transitions, declared_vs_observed, stale_references, unintended_mutations};

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
fn planted_stale_references_are_found_exactly() {
    let mut rng = Rng::new(11);
    let mut g = Graph::new();
    let db = |i: usize| Key::new("Database", &format!("d{i}")).unwrap();
    for i in 0..40 {
        g.insert(
            Component::new("Database", &format!("d{i}"))
                .unwrap()
                .with_param("size", 10)
                .with_output("endpoint", format!("d{i}-a:5432"))
                .with_output("port", 5432),
        )
        .unwrap();
    }
    // Each consumer reads one or two producers; most have been deployed
    // (references resolved), some never were.
    let mut uses: Vec<(String, Vec<(usize, &str)>)> = Vec::new();
    for i in 0..300 {
        let a = rng.below(40);
        let b = rng.below(40);
        let mut c =
            Component::new("Service", &format!("s{i}")).unwrap().with_param("db", Value::reference(db(a), "endpoint"));
        let mut used = vec![(a, "db")];
        if i % 3 == 0 {
            c = c.with_param("replica", Value::List(vec![Value::reference(db(b), "port")]));
            used.push((b, "replica"));
        }
        let key = c.key().to_string();
        g.insert(c).unwrap();
        if i % 10 != 9 {
            g.resolve_references(key.as_str()).unwrap();
            uses.push((key, used));
        }
    }
    assert!(stale_references(&g.snapshot()).is_empty(), "everyone took the current values");
    // Producers 0..5 move their endpoint; 5..10 change only a param (not
    // staleness); 10..13 change a port back and forth (same value: not stale).
    for i in 0..5 {
        g.set_output(db(i), "endpoint", format!("d{i}-b:5432")).unwrap();
    }
    for i in 5..10 {
        g.set_param(db(i), "size", 20).unwrap();
    }
    for i in 10..13 {
        g.set_output(db(i), "port", 6432).unwrap();
        g.set_output(db(i), "port", 5432).unwrap();
    }
    // Half the affected consumers are redeployed and take the new value.
    let mut planted = BTreeSet::new();
    for (n, (key, used)) in uses.iter().enumerate() {
        let stale: Vec<_> = used.iter().filter(|(p, param)| *p < 5 && *param == "db").collect();
        if stale.is_empty() {
            continue;
        }
        if n % 2 == 0 {
            g.resolve_references(key.as_str()).unwrap();
        } else {
            planted.insert((key.clone(), "db".to_string()));
        }
    }
    let found = stale_references(&g.snapshot());
    let got: BTreeSet<(String, String)> = found.iter().map(|s| (s.consumer.to_string(), s.param.to_string())).collect();
    assert!(planted.len() > 5);
    assert_eq!(got, planted);
    for s in &found {
        assert!(s.taken_at() < s.producer_version);
        let name = s.reference.component.as_str().trim_start_matches("Database/");
        assert_eq!(s.current.as_ref().and_then(Value::as_str), Some(format!("{name}-b:5432").as_str()));
    }
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

/// The naive reference: every resolved reference's recorded digest against
/// its producer's output now, no shortcuts.
fn naive_stale(snapshot: &karma_core::Snapshot) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for c in snapshot.components_sorted() {
        for (param, r) in c.references() {
            let Some(res) = r.resolved.as_deref() else { continue };
            let producer = snapshot.get(&r.component).expect("references are never dangling");
            if producer.output(&r.output).is_none_or(|v| !res.matches(v)) {
                out.insert((c.key().to_string(), param.to_string(), r.component.to_string()));
            }
        }
    }
    out
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Random deployments: producers change outputs (sometimes back to an
    /// earlier value) or unrelated params; consumers are redeployed at random.
    #[test]
    fn stale_references_match_the_naive_reference(
        ops in proptest::collection::vec((0u8..4, 0usize..6, 0usize..3), 1..60),
    ) {
        let mut g = Graph::new();
        for p in 0..6 {
            g.insert(Component::new("Queue", &format!("q{p}")).unwrap().with_output("url", "v0").with_output("arn", 0))
                .unwrap();
        }
        for c in 0..10usize {
            let q = |i: usize| Key::new("Queue", &format!("q{i}")).unwrap();
            g.insert(
                Component::new("Worker", &format!("w{c}"))
                    .unwrap()
                    .with_param("in", Value::reference(q(c % 6), "url"))
                    .with_param("more", Value::List(vec![Value::reference(q((c + 1) % 6), "arn")])),
            )
            .unwrap();
            if c % 4 != 3 {
                g.resolve_references(format!("Worker/w{c}").as_str()).unwrap();
            }
        }
        for (op, i, v) in ops {
            let q = format!("Queue/q{i}");
            match op {
                0 => g.set_output(q.as_str(), "url", format!("v{v}")).unwrap(),
                1 => g.set_output(q.as_str(), "arn", i64::try_from(v).unwrap()).unwrap(),
                2 => g.set_param(q.as_str(), "size", i64::try_from(v).unwrap()).unwrap(),
                _ => {
                    g.resolve_references(format!("Worker/w{}", i + v).as_str()).unwrap();
                }
            }
        }
        let snap = g.snapshot();
        let got: BTreeSet<(String, String, String)> = stale_references(&snap)
            .into_iter()
            .map(|s| (s.consumer.to_string(), s.param.to_string(), s.reference.component.to_string()))
            .collect();
        proptest::prop_assert_eq!(got, naive_stale(&snap));
    }
}
