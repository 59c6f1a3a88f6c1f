//! Feature extraction against a naive per-column reference on random
//! graphs, plus determinism, serde, history and unseen kinds.

use karma_core::{Component, EdgeKind, Graph, ManualClock, Snapshot, Timestamp, Value};
use karma_ml::{FeatureConfig, FeatureExtractor, History};
use karma_query::View;
use proptest::prelude::*;

const KINDS: [&str; 3] = ["Database", "Service", "Queue"];

fn graph(spec: &[(usize, Option<i64>, Option<bool>, String)], edges: &[(usize, usize, bool)]) -> Snapshot {
    let mut g = Graph::new();
    for (i, (kind, port, public, image)) in spec.iter().enumerate() {
        let mut c = Component::new(KINDS[*kind], &format!("c{i}")).unwrap().with_param("image", image.as_str());
        if let Some(p) = port {
            c = c.with_param("port", *p);
        }
        if let Some(b) = public {
            c = c.with_param("public", *b);
        }
        g.insert(c).unwrap();
    }
    for &(a, b, custom) in edges {
        let (a, b) = (a % spec.len(), b % spec.len());
        if a != b {
            let kind = if custom { EdgeKind::custom("network") } else { EdgeKind::DependsOn };
            g.connect(
                format!("{}/c{a}", KINDS[spec[a].0]).as_str(),
                format!("{}/c{b}", KINDS[spec[b].0]).as_str(),
                kind,
                [],
            )
            .unwrap();
        }
    }
    g.snapshot()
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Int(i) => Some(*i as f64),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn columns_match_a_naive_reference(
        spec in prop::collection::vec((0usize..3, prop::option::of(0i64..100), prop::option::of(any::<bool>()), "[a-c]{1,2}"), 1..12),
        edges in prop::collection::vec((0usize..12, 0usize..12, any::<bool>()), 0..20),
    ) {
        let snap = graph(&spec, &edges);
        let extractor = FeatureExtractor::fit(&snap, FeatureConfig { hash_width: 8, seed: 1, labels: false });
        let view = View::new(&snap);
        let x = extractor.transform(&view, None).unwrap();
        let names = extractor.feature_names();
        prop_assert_eq!(x.ncols(), names.len());
        for id in 0..view.len() as u32 {
            let c = view.component(id);
            for (col, name) in names.iter().enumerate() {
                let got = f64::from(x[[id as usize, col]]);
                let want = if let Some(k) = name.strip_prefix("kind=") {
                    Some(f64::from(u8::from(k == c.kind().as_str())))
                } else if let Some(p) = name.strip_prefix("num:").or_else(|| name.strip_prefix("missing:")) {
                    // Naive: the kind's values of this param, their mean and deviation.
                    let peers: Vec<f64> = snap.components().filter(|o| o.kind() == c.kind()).filter_map(|o| number(o.param_value(p))).collect();
                    if peers.is_empty() {
                        Some(0.0)
                    } else if name.starts_with("missing:") {
                        Some(f64::from(u8::from(number(c.param_value(p)).is_none())))
                    } else {
                        let mean = peers.iter().sum::<f64>() / peers.len() as f64;
                        let var = peers.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / peers.len() as f64;
                        Some(number(c.param_value(p)).map_or(0.0, |v| (v - mean) / var.sqrt().max(1e-6)))
                    }
                } else if let Some(k) = name.strip_prefix("in:") {
                    Some((snap.edges_to(c.key()).filter(|e| e.kind().label() == k).count() as f64).ln_1p())
                } else {
                    // Hashed columns (`None` here) are checked below.
                    name.strip_prefix("out:")
                        .map(|k| (snap.edges_from(c.key()).filter(|e| e.kind().label() == k).count() as f64).ln_1p())
                };
                if let Some(want) = want {
                    prop_assert!((got - want).abs() < 1e-3, "{} of {}: {} vs {}", name, c.key(), got, want);
                }
            }
            // The hashed block holds one ±1 per non-numeric param.
            let hashed: f32 = names.iter().enumerate().filter(|(_, n)| n.starts_with("hash:")).map(|(i, _)| x[[id as usize, i]].abs()).sum();
            prop_assert!((hashed - 1.0).abs() < 1e-6, "image is the one string param: {}", hashed);
        }
    }
}

#[test]
fn deterministic_serialisable_and_applied_to_other_graphs() {
    let spec: Vec<(usize, Option<i64>, Option<bool>, String)> =
        (0..9).map(|i| (i % 3, Some(i as i64 * 10), Some(i % 2 == 0), format!("img{}", i % 4))).collect();
    let snap = graph(&spec, &[(0, 1, false), (2, 1, true)]);
    let config = FeatureConfig { hash_width: 16, seed: 7, labels: true };
    let a = FeatureExtractor::fit(&snap, config.clone());
    let view = View::new(&snap);
    assert_eq!(
        a.transform(&view, None).unwrap(),
        FeatureExtractor::fit(&snap, config.clone()).transform(&view, None).unwrap()
    );
    let other_seed = FeatureExtractor::fit(&snap, FeatureConfig { seed: 8, ..config });
    assert_ne!(a.transform(&view, None).unwrap(), other_seed.transform(&view, None).unwrap());
    let json = serde_json::to_string(&a).unwrap();
    let b: FeatureExtractor = serde_json::from_str(&json).unwrap();
    assert_eq!(a, b);
    // Another graph: an unseen kind goes to the unknown slot; widths agree.
    let mut g = Graph::new();
    g.insert(Component::new("Lambda", "f").unwrap().with_param("port", 1)).unwrap();
    let other = g.snapshot();
    let x = b.transform(&View::new(&other), None).unwrap();
    assert_eq!(x.ncols(), a.width());
    let unknown = a.feature_names().iter().position(|n| n == "kind=<unknown>").unwrap();
    assert!((x[[0, unknown]] - 1.0).abs() < f32::EPSILON);
}

#[test]
fn history_columns() {
    let clock = ManualClock::new(Timestamp::from_secs(0));
    let mut g = Graph::with_clock(clock.clone());
    g.insert(Component::new("Service", "api").unwrap().with_param("replicas", 1)).unwrap();
    g.insert(Component::new("Service", "web").unwrap().with_param("replicas", 1)).unwrap();
    let mut deltas = vec![(Timestamp::EPOCH, Snapshot::default().diff(&g.snapshot()))];
    for day in 1..=4 {
        let before = g.snapshot();
        clock.set(Timestamp::from_secs(day * 86_400));
        g.set_param("Service/api", "replicas", day + 1).unwrap();
        deltas.push((Timestamp::from_secs(day * 86_400), before.diff(&g.snapshot())));
    }
    let snap = g.snapshot();
    let extractor = FeatureExtractor::fit(&snap, FeatureConfig::default()).with_history();
    let view = View::new(&snap);
    assert!(extractor.transform(&view, None).is_err(), "history columns need a history");
    let now = Timestamp::from_secs(10 * 86_400);
    let h = History::from_deltas(now, deltas.iter().map(|(t, d)| (*t, d)));
    let x = extractor.transform(&view, Some(&h)).unwrap();
    let col = |n: &str| extractor.feature_names().iter().position(|c| c == n).unwrap();
    let api = view.id(&"Service/api".parse().unwrap()).unwrap() as usize;
    let web = view.id(&"Service/web".parse().unwrap()).unwrap() as usize;
    assert!((x[[api, col("versions")]] - 5f32.ln_1p()).abs() < 1e-6);
    assert!((x[[web, col("versions")]] - 1f32.ln_1p()).abs() < 1e-6);
    assert!((x[[api, col("since_change")]] - 6f32.ln_1p()).abs() < 1e-5);
    assert!((x[[web, col("age")]] - 10f32.ln_1p()).abs() < 1e-5);
    assert!(x[[api, col("change_rate")]] > x[[web, col("change_rate")]]);
    // From the components' own stamps.
    let s = extractor.transform(&view, Some(&History::from_stamps(now))).unwrap();
    assert!((s[[api, col("versions")]] - 5f32.ln_1p()).abs() < 1e-6, "version 5 after four changes");
}
