//! Meta-configuration on a generated platform with planted stacks (fixed
//! seeds): the planted shape is mined with its typical params and exact
//! support, an intent becomes a wired partial graph, and a proposed change
//! is previewed on a branch without touching the environment's history.

use std::collections::BTreeSet;

use karma_core::{Component, EdgeKind, Graph, Key, ManualClock, Snapshot, Timestamp, Value};
use karma_ml::{
    AnomalyConfig, Blueprint, FeatureConfig, FeatureExtractor, Intent, Logistic, PatternConfig, Rng, Suggestion,
    mine_patterns, preview,
};
use karma_store::{CommitInfo, MemoryStore, RefName, Repository};

const STACKS: usize = 12;

/// Twelve planted stacks — a service reading a postgres database's and a
/// redis cache's endpoints and depending on a queue — plus 30 noise
/// services each depending on one random part.
fn platform(seed: u64) -> Graph {
    let mut rng = Rng::new(seed);
    let mut g = Graph::with_clock(ManualClock::new(Timestamp::from_secs(1_000)));
    for i in 0..STACKS {
        let env = ["dev", "staging", "prod"][i % 3];
        let db = Component::new("Database", &format!("db{i}"))
            .unwrap()
            .with_param("engine", "postgres")
            .with_param("port", 5432)
            .with_param("storage_gb", 100 + 10 * rng.below(5) as i64)
            .with_output("endpoint", format!("db{i}:5432"))
            .with_label("env", env);
        let cache = Component::new("Cache", &format!("cache{i}"))
            .unwrap()
            .with_param("engine", "redis")
            .with_param("memory_mb", 512)
            .with_output("endpoint", format!("cache{i}:6379"))
            .with_label("env", env);
        let queue =
            Component::new("Queue", &format!("q{i}")).unwrap().with_param("engine", "rabbitmq").with_label("env", env);
        let (dbk, cachek, qk) = (db.key().clone(), cache.key().clone(), queue.key().clone());
        g.insert(db).unwrap();
        g.insert(cache).unwrap();
        g.insert(queue).unwrap();
        g.insert(
            Component::new("Service", &format!("svc{i}"))
                .unwrap()
                .with_param("replicas", 3)
                .with_param("image", format!("svc:{}", i % 4))
                .with_param("public", i % 2 == 0)
                .with_param("db", Value::reference(dbk, "endpoint"))
                .with_param("cache", Value::reference(cachek, "endpoint"))
                .with_label("env", env),
        )
        .unwrap();
        g.connect(format!("Service/svc{i}").as_str(), qk, EdgeKind::DependsOn, []).unwrap();
    }
    for i in 0..30 {
        let target = match rng.below(3) {
            0 => format!("Database/db{}", rng.below(STACKS)),
            1 => format!("Queue/q{}", rng.below(STACKS)),
            _ => format!("Cache/cache{}", rng.below(STACKS)),
        };
        g.insert(Component::new("Service", &format!("noise{i}")).unwrap().with_param("replicas", 1)).unwrap();
        g.connect(format!("Service/noise{i}").as_str(), target.as_str(), EdgeKind::DependsOn, []).unwrap();
    }
    g
}

/// The naive reference: how many components of `anchor` reach, for every
/// part, some component of its kind through an edge of its kind.
fn support(snap: &Snapshot, anchor: &str, parts: &[karma_ml::Part]) -> usize {
    snap.components()
        .filter(|c| c.kind() == anchor)
        .filter(|c| {
            parts.iter().all(|p| {
                snap.edges_from(c.key())
                    .any(|e| *e.kind() == p.via && snap.get(e.to()).is_some_and(|t| t.kind() == &p.kind))
            })
        })
        .count()
}

#[test]
fn the_planted_stack_is_mined_with_exact_support_and_typical_params() {
    let snap = platform(1).snapshot();
    let patterns = mine_patterns(&snap, &PatternConfig { min_support: 5, max_parts: 4 });
    assert!(!patterns.is_empty());
    for p in &patterns {
        assert_eq!(p.support, support(&snap, &p.anchor, &p.parts), "{p:?}");
        assert!(p.support >= 5);
        assert_eq!(p.typical.len(), p.parts.len() + 1);
        assert!(p.examples.iter().all(|e| e.len() == p.parts.len() + 1));
    }
    // Closed: no reported pattern is inside a larger one with the same support.
    for a in &patterns {
        assert!(!patterns.iter().any(|b| b.anchor == a.anchor
            && b.parts.len() > a.parts.len()
            && b.support == a.support
            && a.parts.iter().all(|p| b.parts.contains(p))));
    }
    let top = &patterns[0];
    let kinds: BTreeSet<&str> = top.parts.iter().map(|p| p.kind.as_str()).collect();
    assert_eq!(top.anchor, "Service");
    assert_eq!(kinds, BTreeSet::from(["Cache", "Database", "Queue"]));
    assert_eq!(top.support, STACKS, "only the planted stacks have all three");
    let db_role = 1 + top.parts.iter().position(|p| p.kind == "Database").unwrap();
    let typical = |role: usize, param: &str| top.typical[role].iter().find(|t| t.param == param).map(|t| &t.value);
    assert_eq!(typical(db_role, "engine"), Some(&Value::from("postgres")));
    assert_eq!(typical(db_role, "port"), Some(&Value::Int(5432)));
    assert_eq!(typical(0, "replicas"), Some(&Value::Int(3)));
    let via: BTreeSet<String> = top.parts.iter().map(|p| p.via.to_string()).collect();
    assert!(via.contains("reference(db <- endpoint)") && via.contains("depends-on"), "{via:?}");
}

#[test]
fn an_intent_becomes_a_wired_partial_graph() {
    let mut g = platform(2);
    let snap = g.snapshot();
    let patterns = mine_patterns(&snap, &PatternConfig::default());
    let intent =
        Intent::parse("A public service backed by Postgres, a cache and queues in staging, fast please", &snap);
    let kinds: BTreeSet<&str> = intent.kinds.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, BTreeSet::from(["Cache", "Database", "Queue", "Service"]));
    assert_eq!(intent.labels, [("env".into(), "staging".to_string())]);
    assert_eq!(intent.unmatched, ["fast", "please"]);

    // The recommender's part: a closure (here a fixed suggestion, recorded).
    let mut asked = Vec::new();
    let blueprint = Blueprint::draft(&intent, &patterns, "checkout", |c| {
        asked.push(c.key().to_string());
        (c.kind() == "Service")
            .then(|| Suggestion {
                param: "cpu".into(),
                value: Value::Float(0.5),
                confidence: 0.9,
                sources: vec![(Key::new("Service", "svc0").unwrap(), 1.0)],
            })
            .into_iter()
            .collect()
    })
    .unwrap();
    assert_eq!(asked.len(), 4);
    assert_eq!(blueprint.pattern.as_ref().unwrap().anchor, "Service");
    let get = |k: &str| blueprint.components.iter().find(|c| c.key().as_str() == k).unwrap();
    let service = get("Service/checkout-service");
    let db = get("Database/checkout-database");
    assert_eq!(db.param_value("engine"), Some(&Value::from("postgres")));
    assert_eq!(db.param_value("port"), Some(&Value::Int(5432)), "typical of the pattern");
    assert_eq!(service.param_value("public"), Some(&Value::Bool(true)), "from the intent");
    assert_eq!(service.param_value("cpu"), Some(&Value::Float(0.5)), "recommended");
    assert_eq!(service.param_value("db").and_then(Value::as_ref).unwrap().component, *db.key());
    assert!(blueprint.components.iter().all(|c| c.label("env") == Some("staging")));
    let sources: BTreeSet<&str> = blueprint.sources.iter().map(|s| s.2).collect();
    assert_eq!(sources, BTreeSet::from(["intent", "pattern", "recommended"]));

    blueprint.apply(&mut g).unwrap();
    let after = g.snapshot();
    assert!(after.edges_from(service.key()).any(|e| e.to().as_str() == "Queue/checkout-queue"));
    assert!(after.edges_from(service.key()).any(|e| e.to() == db.key()));
    // Applying twice fails whole, leaving the graph as it was.
    assert!(blueprint.apply(&mut g).is_err());
    assert_eq!(g.snapshot().root_hash(), after.root_hash());
    // An intent with no known kind is a typed error.
    let nothing = Intent::parse("a flux capacitor", &snap);
    assert!(Blueprint::draft(&nothing, &patterns, "x", |_| Vec::new()).is_err());
}

#[test]
fn a_change_is_previewed_on_a_branch_without_touching_the_environment() {
    let g = platform(3);
    let repo = Repository::open(MemoryStore::new()).unwrap();
    let prod = RefName::environment("prod").unwrap();
    let base = repo.commit(&prod, &g.snapshot(), CommitInfo::new("ci", "deploy")).unwrap();

    // A drift model: on this platform, services with few replicas drift.
    let before = repo.checkout(base.id).unwrap();
    let extractor = FeatureExtractor::fit(&before, FeatureConfig::default());
    let rows: Vec<Vec<f32>> = before.components().map(|c| extractor.row(c)).collect();
    let y: Vec<bool> = before.components().map(|c| c.param_value("replicas") == Some(&Value::Int(1))).collect();
    let x = ndarray::Array2::from_shape_fn((rows.len(), extractor.width()), |(i, j)| rows[i][j]);
    let model = Logistic::fit(x.view(), &y, 300, 0.1, 1e-3).unwrap();

    // The proposal, on a branch: db3 changes port (a value no peer has), svc5 scales down.
    let branch = RefName::branch("what-if").unwrap();
    repo.set_ref(&branch, None, base.id).unwrap();
    let mut proposal = Graph::from_snapshot(before.clone(), ManualClock::new(Timestamp::from_secs(2_000)));
    proposal.set_param("Database/db3", "port", 6543).unwrap();
    proposal.set_param("Service/svc5", "replicas", 1).unwrap();
    let proposed = repo.commit(&branch, &proposal.snapshot(), CommitInfo::new("me", "what if")).unwrap();

    let p = preview(
        &repo.checkout(base.id).unwrap(),
        &repo.checkout(proposed.id).unwrap(),
        &AnomalyConfig { min_peers: 10, ..AnomalyConfig::default() },
        Some((&extractor, &model)),
    )
    .unwrap();
    assert_eq!(repo.head(&prod).unwrap(), Some(base.id), "the environment did not move");
    assert_eq!(p.blast_radius.changed.iter().map(Key::as_str).collect::<Vec<_>>(), ["Database/db3", "Service/svc5"]);
    // svc3 reads db3's endpoint: affected at distance 1.
    assert!(p.blast_radius.affected.iter().any(|a| a.key.as_str() == "Service/svc3" && a.distance == 1));
    let flagged: BTreeSet<(&str, &str)> = p.anomalies.iter().map(|a| (a.key.as_str(), a.param.as_str())).collect();
    assert!(flagged.contains(&("Database/db3", "port")), "{flagged:?}");
    assert!(p.anomalies.iter().all(|a| p.blast_radius.changed.contains(&a.key)));
    // The scaled-down service is the likeliest to drift.
    assert_eq!(p.drift_risk[0].0.as_str(), "Service/svc5", "{:?}", p.drift_risk);
    assert_eq!(p.drift_risk.len(), p.blast_radius.affected.len());
    // A model of the wrong width is a typed error.
    let narrow = Logistic::fit(x.slice(ndarray::s![.., ..3]), &y, 10, 0.1, 0.0).unwrap();
    assert!(preview(&before, &proposal.snapshot(), &AnomalyConfig::default(), Some((&extractor, &narrow))).is_err());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Mined patterns are exactly the closed frequent part sets a brute
    /// force over every possible part set finds.
    #[test]
    fn mined_patterns_match_brute_force(
        edges in proptest::collection::vec((0usize..12, 0usize..12, 0u8..2), 0..40),
        min_support in 1usize..4,
    ) {
        let kinds = ["A", "B", "C"];
        let mut g = Graph::new();
        for i in 0..12 {
            g.insert(Component::new(kinds[i % 3], &format!("n{i}")).unwrap()).unwrap();
        }
        let key = |i: usize| format!("{}/n{i}", kinds[i % 3]);
        for (a, b, k) in edges {
            if a != b {
                let kind = if k == 0 { EdgeKind::DependsOn } else { EdgeKind::custom("net") };
                let _ = g.connect(key(a).as_str(), key(b).as_str(), kind, []);
            }
        }
        let snap = g.snapshot();
        let config = PatternConfig { min_support, max_parts: 3 };
        let mined: BTreeSet<(String, Vec<karma_ml::Part>, usize)> = mine_patterns(&snap, &config)
            .into_iter()
            .map(|p| (p.anchor.to_string(), p.parts, p.support))
            .collect();
        // Every possible part: 2 edge kinds × 3 target kinds.
        let all: Vec<karma_ml::Part> = [EdgeKind::DependsOn, EdgeKind::custom("net")]
            .into_iter()
            .flat_map(|via| kinds.iter().map(move |k| karma_ml::Part { via: via.clone(), kind: (*k).into() }))
            .collect();
        let mut frequent = Vec::new();
        for anchor in kinds {
            for mask in 1u32..(1 << all.len()) {
                if mask.count_ones() as usize > config.max_parts {
                    continue;
                }
                let mut parts: Vec<karma_ml::Part> =
                    (0..all.len()).filter(|i| mask & (1 << i) != 0).map(|i| all[i].clone()).collect();
                parts.sort();
                let s = support(&snap, anchor, &parts);
                if s >= min_support {
                    frequent.push((anchor.to_string(), parts, s));
                }
            }
        }
        let closed: BTreeSet<(String, Vec<karma_ml::Part>, usize)> = frequent
            .iter()
            .filter(|(a, ps, s)| {
                !frequent.iter().any(|(b, qs, t)| {
                    a == b && qs.len() > ps.len() && s == t && ps.iter().all(|p| qs.contains(p))
                })
            })
            .cloned()
            .collect();
        proptest::prop_assert_eq!(mined, closed);
    }
}
