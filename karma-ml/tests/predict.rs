//! Which components change next: logistic regression on features plus
//! history, trained on an earlier window and scored on a later one, beats
//! the change-frequency baseline.

use karma_core::{Component, Delta, Graph, ManualClock, Snapshot, Timestamp};
use karma_ml::{FeatureConfig, FeatureExtractor, History, Logistic, Rng, Scores};
use karma_query::View;

const N: usize = 400;
const DAY: i64 = 86_400;

fn key(i: usize) -> String {
    format!("Service/s{i}")
}

/// One day: pending rollouts mostly land (and are marked done), autoscaled
/// services churn, a little noise; then new rollouts are scheduled.
fn day(g: &mut Graph, rng: &mut Rng) {
    for i in 0..N {
        let c = g.get(&key(i).parse().unwrap()).unwrap();
        let pending = c.param_value("rollout").and_then(karma_core::Value::as_str) == Some("pending");
        let autoscale = c.param_value("autoscale").and_then(karma_core::Value::as_bool) == Some(true);
        let replicas = c.param_value("replicas").and_then(karma_core::Value::as_int).unwrap();
        let p = if pending {
            0.9
        } else if autoscale {
            0.3
        } else {
            0.03
        };
        if rng.unit() < p {
            g.set_param(key(i).as_str(), "replicas", replicas % 9 + 1).unwrap();
        }
        if pending {
            g.set_param(key(i).as_str(), "rollout", "done").unwrap();
        }
    }
    for i in 0..N {
        if rng.unit() < 0.1 {
            g.set_param(key(i).as_str(), "rollout", "pending").unwrap();
        }
    }
}

/// Components whose params changed in `delta` (the rollout marker aside).
fn changed(snapshot: &Snapshot, delta: &Delta) -> Vec<bool> {
    let view = View::new(snapshot);
    let keys: std::collections::BTreeSet<String> =
        delta.changed().filter(|d| d.params.iter().any(|p| p.name == "replicas")).map(|d| d.key.to_string()).collect();
    (0..view.len() as u32).map(|i| keys.contains(view.key(i).as_str())).collect()
}

#[test]
fn the_predictor_beats_change_frequency() {
    let mut rng = Rng::new(12);
    let clock = ManualClock::new(Timestamp::EPOCH);
    let mut g = Graph::with_clock(clock.clone());
    for i in 0..N {
        g.insert(
            Component::new("Service", &format!("s{i}"))
                .unwrap()
                .with_param("replicas", 1 + (i % 5) as i64)
                .with_param("autoscale", i % 4 == 0)
                .with_param("rollout", "done"),
        )
        .unwrap();
    }
    let mut snapshots = vec![g.snapshot()];
    let mut deltas: Vec<(Timestamp, Delta)> = Vec::new();
    for d in 1..=20 {
        clock.set(Timestamp::from_secs(d * DAY));
        day(&mut g, &mut rng);
        let snap = g.snapshot();
        deltas.push((Timestamp::from_secs(d * DAY), snapshots.last().unwrap().diff(&snap)));
        snapshots.push(snap);
    }
    let extractor =
        FeatureExtractor::fit(&snapshots[10], FeatureConfig { hash_width: 16, seed: 3, labels: false }).with_history();
    // Features at day t (history up to t), labels: changed on day t + 1.
    let window = |t: usize| {
        let snap = &snapshots[t];
        let h = History::from_deltas(Timestamp::from_secs(t as i64 * DAY), deltas[..t].iter().map(|(ts, d)| (*ts, d)));
        let x = extractor.transform(&View::new(snap), Some(&h)).unwrap();
        let y = changed(snap, &deltas[t].1);
        // Baseline: changed at least twice in the last five days.
        let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
        for (_, d) in &deltas[t.saturating_sub(5)..t] {
            for c in d.changed().filter(|c| c.params.iter().any(|p| p.name == "replicas")) {
                *counts.entry(c.key.to_string()).or_default() += 1;
            }
        }
        let view = View::new(snap);
        let recent: Vec<usize> =
            (0..view.len() as u32).map(|i| counts.get(view.key(i).as_str()).copied().unwrap_or(0)).collect();
        (x, y, recent)
    };
    let mut train_x = Vec::new();
    let mut train_y = Vec::new();
    for t in 6..=12 {
        let (x, y, _) = window(t);
        train_x.push(x);
        train_y.extend(y);
    }
    let views: Vec<_> = train_x.iter().map(|x| x.view()).collect();
    let train = ndarray::concatenate(ndarray::Axis(0), &views).unwrap();
    let model = Logistic::fit(train.view(), &train_y, 400, 0.5, 1e-3).unwrap();
    // Held-out later window.
    let (mut model_hits, mut base_hits, mut truth) = (Vec::new(), Vec::new(), Vec::new());
    for t in 15..=18 {
        let (x, y, recent) = window(t);
        model_hits.extend(model.probabilities(x.view()).iter().map(|&p| p > 0.5));
        base_hits.extend(recent.iter().map(|&c| c >= 2));
        truth.extend(y);
    }
    let ours = Scores::of(&model_hits, &truth);
    let baseline = Scores::of(&base_hits, &truth);
    println!("held-out window: predictor {ours:?}, change-frequency baseline {baseline:?}");
    assert!(ours.f1 > baseline.f1, "{ours:?} vs {baseline:?}");
    assert!(ours.recall >= 0.7 && ours.precision >= 0.4, "{ours:?}");
}
