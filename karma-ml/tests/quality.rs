//! Quality on a generated platform with planted families, fixed seeds:
//! unsupervised GraphSAGE embeddings separate the families (k-means
//! adjusted Rand index ≥ 0.8) and predict held-out edges (ROC AUC ≥ 0.9);
//! supervised training learns the kinds.

use karma_core::{Component, EdgeKind, Graph, Snapshot, Value};
use karma_ml::{
    Adjacency, Embeddings, FeatureConfig, FeatureExtractor, Rng, Sage, SageConfig, TrainOptions, adjusted_rand_index,
    kmeans, recommend, repeated_subgraphs, roc_auc, train_supervised, train_unsupervised,
};
use karma_query::View;
use ndarray::Array2;

/// A family: the kinds of its members, their edges (by member index), and
/// a param value each member carries.
struct Family {
    name: &'static str,
    members: &'static [(&'static str, &'static str)],
    edges: &'static [(usize, usize)],
}

const FAMILIES: [Family; 4] = [
    Family {
        name: "web",
        members: &[("Service", "nginx"), ("Database", "postgres"), ("Cache", "redis")],
        edges: &[(0, 1), (0, 2)],
    },
    Family {
        name: "batch",
        members: &[("Pipeline", "airflow"), ("Queue", "rabbitmq"), ("DataSource", "s3"), ("Database", "clickhouse")],
        edges: &[(0, 1), (1, 2), (0, 3)],
    },
    Family {
        name: "api",
        members: &[("Gateway", "kong"), ("Service", "grpc"), ("Database", "mysql"), ("Queue", "kafka")],
        edges: &[(0, 1), (1, 2), (1, 3)],
    },
    Family {
        name: "ml",
        members: &[("Trainer", "torch"), ("Bucket", "gcs"), ("Cache", "memcached")],
        edges: &[(0, 1), (0, 2)],
    },
];

/// Eight instances of each family in each of three environments.
fn platform(seed: u64) -> (Snapshot, Vec<(String, String)>) {
    let mut rng = Rng::new(seed);
    let mut g = Graph::new();
    let mut edges = Vec::new();
    for env in ["dev", "staging", "prod"] {
        for family in &FAMILIES {
            for i in 0..8 {
                let keys: Vec<String> =
                    family.members.iter().map(|(kind, _)| format!("{kind}/{env}-{}-{i}", family.name)).collect();
                for ((kind, engine), key) in family.members.iter().zip(&keys) {
                    let name = key.split_once('/').unwrap().1;
                    let c = Component::new(kind, name)
                        .unwrap()
                        .with_param("engine", *engine)
                        .with_param("replicas", 1 + rng.below(3) as i64 + i64::from(env == "prod") * 2)
                        .with_param(
                            "port",
                            1000 * (1 + FAMILIES.iter().position(|f| f.name == family.name).unwrap() as i64)
                                + rng.below(50) as i64,
                        )
                        .with_label("env", env);
                    g.insert(c).unwrap();
                }
                for &(a, b) in family.edges {
                    g.connect(keys[a].as_str(), keys[b].as_str(), EdgeKind::DependsOn, []).unwrap();
                    edges.push((keys[a].clone(), keys[b].clone()));
                }
                // Each instance runs in a network of its own, as apps do.
                let net = format!("Network/{env}-{}-{i}", family.name);
                let name = net.split_once('/').unwrap().1;
                g.insert(Component::new("Network", name).unwrap().with_param("cidr_bits", 24).with_label("env", env))
                    .unwrap();
                for key in &keys {
                    g.connect(key.as_str(), net.as_str(), EdgeKind::custom("network"), []).unwrap();
                }
            }
        }
    }
    (g.snapshot(), edges)
}

/// Features (the family is nowhere in them but in the structure and the
/// values its members carry).
fn features(snap: &Snapshot, view: &View) -> Array2<f32> {
    extractor(snap).transform(view, None).unwrap()
}

fn extractor(snap: &Snapshot) -> FeatureExtractor {
    FeatureExtractor::fit(snap, FeatureConfig { hash_width: 32, seed: 5, labels: false })
}

/// The planted family, read from the key (`Service/prod-web-3`).
fn family_of(view: &View, id: u32) -> usize {
    let name = view.key(id).as_str().split('-').nth(1).unwrap();
    FAMILIES.iter().position(|f| f.name == name).unwrap()
}

#[test]
fn unsupervised_embeddings_separate_families_and_predict_links() {
    let (full, _) = platform(11);
    let view_full = View::new(&full);
    let mut all_edges: Vec<(u32, u32)> = Vec::new();
    for a in 0..view_full.len() as u32 {
        for (b, _) in view_full.dependencies_of(a) {
            all_edges.push((a, b));
        }
    }
    // Hold out one edge in ten, keeping every node with an edge to train on.
    let mut rng = Rng::new(99);
    let mut degree = vec![0usize; view_full.len()];
    for &(a, b) in &all_edges {
        degree[a as usize] += 1;
        degree[b as usize] += 1;
    }
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for (a, b) in all_edges {
        if rng.below(10) == 0 && degree[a as usize] > 1 && degree[b as usize] > 1 {
            degree[a as usize] -= 1;
            degree[b as usize] -= 1;
            held.push((a, b));
        } else {
            train.push((a, b));
        }
    }
    assert!(held.len() > 10);
    let adj = Adjacency::undirected(view_full.len(), &train).unwrap();
    let x = features(&full, &view_full);
    // Normalised layers, as the GraphSAGE paper's unsupervised embeddings.
    let config = SageConfig { normalize: true, ..SageConfig::default() };
    let mut model = Sage::new(&[x.ncols(), 64, 32], config, 3).unwrap();
    let options = TrainOptions {
        epochs: 40,
        learning_rate: 0.01,
        seed: 4,
        walks_per_node: 4,
        walk_length: 3,
        negatives: 5,
        batch_size: 4096,
    };
    let mut seen = Vec::new();
    let losses = train_unsupervised(&mut model, x.view(), &adj, &options, |p| seen.push(p)).unwrap();
    // Progress: every batch of every epoch, in order.
    for epoch in 0..options.epochs {
        let batches: Vec<usize> = seen.iter().filter(|p| p.epoch == epoch).map(|p| p.batch).collect();
        assert!(!batches.is_empty() && batches == (0..batches.len()).collect::<Vec<_>>(), "epoch {epoch}: {batches:?}");
    }
    assert!(losses.last().unwrap() < &losses[0], "the loss goes down: {losses:?}");
    let z = model.forward(x.view(), &adj).unwrap();

    // Families: k-means on the embeddings against the planted families.
    let truth: Vec<usize> = (0..view_full.len() as u32).map(|id| family_of(&view_full, id)).collect();
    // On the unit sphere: the objective scores by dot products, so directions carry the meaning.
    let mut unit = z.clone();
    for mut row in unit.rows_mut() {
        let norm = row.dot(&row).sqrt().max(1e-12);
        row /= norm;
    }
    let (clusters, _) = kmeans(unit.view(), FAMILIES.len(), 7, 100, 10).unwrap();
    let ari = adjusted_rand_index(&truth, &clusters);
    println!("adjusted Rand index {ari:.3}");
    assert!(ari >= 0.8, "ARI {ari:.3}");

    // Links: held-out edges against random pairs, scored by cosine.
    let index = Embeddings::new(&view_full, z.clone()).unwrap();
    let cos = |a: u32, b: u32| {
        let (u, v) = (index.vectors().row(a as usize), index.vectors().row(b as usize));
        u.dot(&v) / (u.dot(&u).sqrt() * v.dot(&v).sqrt()).max(1e-12)
    };
    let positives: Vec<f32> = held.iter().map(|&(a, b)| cos(a, b)).collect();
    let n = view_full.len();
    let negatives: Vec<f32> = (0..positives.len() * 10)
        .map(|_| (rng.below(n) as u32, rng.below(n) as u32))
        .filter(|&(a, b)| {
            a != b
                && !view_full.dependencies_of(a).any(|(t, _)| t == b)
                && !view_full.dependencies_of(b).any(|(t, _)| t == a)
        })
        .map(|(a, b)| cos(a, b))
        .collect();
    let auc = roc_auc(&positives, &negatives);
    println!("link prediction ROC AUC {auc:.3}");
    assert!(auc >= 0.9, "AUC {auc:.3}");

    uses_of_embeddings(&full, &view_full, &x, &adj, &model, &z);

    // Similar components: a web service's nearest neighbours are web services or its own members.
    let key = "Service/prod-web-0".parse().unwrap();
    let similar = index.similar(&key, 5).unwrap();
    assert_eq!(similar.len(), 5);
    let web = similar.iter().filter(|(k, _)| k.as_str().contains("-web-")).count();
    assert!(web >= 4, "{similar:?}");
}

/// Save/load, semantic search and reuse groups on the trained model.
fn uses_of_embeddings(
    full: &Snapshot,
    view_full: &View,
    x: &Array2<f32>,
    adj: &Adjacency,
    model: &Sage,
    z: &Array2<f32>,
) {
    let index = Embeddings::new(view_full, z.clone()).unwrap();
    // A model saved and loaded gives the same embeddings.
    let saved = serde_json::to_string(&model).unwrap();
    let loaded: Sage = serde_json::from_str(&saved).unwrap();
    assert_eq!(&loaded.forward(x.view(), adj).unwrap(), z);

    // Semantic search: a service that does not exist yet, described by its
    // params and the database and cache it will use, is nearest to web parts.
    let described =
        Component::new("Service", "new-web").unwrap().with_param("engine", "nginx").with_param("replicas", 2);
    let row = extractor(full).row(&described);
    let neighbours: Vec<u32> = ["Database/prod-web-5", "Cache/prod-web-5"]
        .iter()
        .map(|k| view_full.id(&k.parse().unwrap()).unwrap())
        .collect();
    let vector = model.embed_new(x.view(), adj, &row, &neighbours).unwrap();
    let found = Embeddings::new(view_full, z.clone()).unwrap().search(vector.view(), 5).unwrap();
    let web = found.iter().filter(|(k, _)| k.as_str().contains("-web-")).count();
    assert!(web >= 4, "{found:?}");

    // Recommendation, held out: every prod component loses its `engine`;
    // embedded anew from its other params and its neighbours, its engine is
    // suggested from the components most like it.
    let ex = extractor(full);
    let (mut right, mut total) = (0u32, 0u32);
    let mut engines: std::collections::BTreeMap<(String, String), u32> = std::collections::BTreeMap::new();
    for c in full.components() {
        if let Some(e) = c.param_value("engine").and_then(Value::as_str) {
            *engines.entry((c.kind().to_string(), e.to_string())).or_default() += 1;
        }
    }
    let mut majority_right = 0u32;
    for id in 0..view_full.len() as u32 {
        let c = view_full.component(id);
        if c.label("env") != Some("prod") || c.kind() == "Network" {
            continue;
        }
        let truth = c.param_value("engine").unwrap().clone();
        let mut partial = Component::with_key(c.key().clone(), c.kind().as_str(), c.name().as_str());
        for (name, p) in c.params().iter().filter(|(n, _)| *n != "engine") {
            partial = partial.with_param(name.as_str(), p.value.clone());
        }
        let vector = model.embed_new(x.view(), adj, &ex.row(&partial), adj.incoming(id as usize)).unwrap();
        let suggestions = recommend(&index, full, &partial, vector.view(), 10, &[c.key().clone()]);
        let engine = suggestions.iter().find(|s| s.param == "engine").expect("an engine suggestion");
        assert!(engine.confidence > 0.0 && engine.confidence <= 1.0 && !engine.sources.is_empty());
        right += u32::from(engine.value == truth);
        total += 1;
        let majority =
            engines.iter().filter(|((k, _), _)| k == c.kind().as_str()).max_by_key(|(_, n)| **n).unwrap().0.1.clone();
        majority_right += u32::from(truth.as_str() == Some(majority.as_str()));
    }
    let accuracy = f64::from(right) / f64::from(total);
    let baseline = f64::from(majority_right) / f64::from(total);
    println!("held-out engine recommendation accuracy {accuracy:.3} (majority baseline {baseline:.3})");
    assert!(accuracy > baseline, "{accuracy} vs {baseline}");
    assert!(accuracy >= 0.8, "{accuracy}");

    // Reuse: the same part of the same family, across environments.
    let groups = index.near_duplicates(full, "env", 0.9, 0.3);
    assert!(!groups.is_empty());
    for group in &groups {
        let kinds: std::collections::BTreeSet<&str> =
            group.iter().map(|k| k.as_str().split('/').next().unwrap()).collect();
        let envs: std::collections::BTreeSet<&str> =
            group.iter().map(|k| k.as_str().split('/').nth(1).unwrap().split('-').next().unwrap()).collect();
        assert_eq!(kinds.len(), 1, "{group:?}");
        assert!(envs.len() >= 2, "{group:?}");
    }
    // Whole pieces repeated across environments: each piece one instance of
    // one family in one environment, each repetition in several environments.
    let repeated = repeated_subgraphs(full, "env", &groups);
    assert!(!repeated.is_empty());
    for pieces in &repeated {
        let envs: std::collections::BTreeSet<&str> =
            pieces.iter().map(|p| p[0].as_str().split('/').nth(1).unwrap().split('-').next().unwrap()).collect();
        assert!(envs.len() >= 2, "{pieces:?}");
        for piece in pieces {
            let instance: std::collections::BTreeSet<&str> =
                piece.iter().map(|k| k.as_str().split_once('-').unwrap().1).collect();
            assert_eq!(instance.len(), 1, "one instance per piece: {piece:?}");
            assert!(piece.len() >= 2);
        }
    }
}

#[test]
fn supervised_training_learns_the_kinds() {
    let (snap, _) = platform(2);
    let view = View::new(&snap);
    // Features without the kind one-hot: the kind must be learnt from params and neighbours.
    let x = features(&snap, &view);
    let extractor = FeatureExtractor::fit(&snap, FeatureConfig { hash_width: 32, seed: 5, labels: true });
    let kinds: Vec<String> = extractor.feature_names().into_iter().filter(|n| n.starts_with("kind=")).collect();
    let kind_cols: Vec<usize> = (0..kinds.len()).collect();
    let mut x = x;
    for &c in &kind_cols {
        x.column_mut(c).fill(0.0);
    }
    let classes: Vec<String> = kinds.iter().filter(|k| *k != "kind=<unknown>").cloned().collect();
    let label = |id: u32| classes.iter().position(|c| c == &format!("kind={}", view.kind(id)));
    // Train on two environments in three, test on the third.
    let labels: Vec<Option<usize>> =
        (0..view.len() as u32).map(|id| if view.label(id, "env") == Some("prod") { None } else { label(id) }).collect();
    let adj = Adjacency::undirected_from_view(&view);
    let mut model = Sage::new(&[x.ncols(), 32, classes.len()], SageConfig::default(), 1).unwrap();
    let options = TrainOptions { epochs: 150, learning_rate: 0.02, ..TrainOptions::default() };
    let losses = train_supervised(&mut model, x.view(), &adj, &labels, &options, |_| {}).unwrap();
    assert!(losses.last().unwrap() < &(losses[0] / 4.0), "{:?}", (losses[0], losses.last()));
    let logits = model.forward(x.view(), &adj).unwrap();
    let (mut right, mut total) = (0u32, 0u32);
    for id in 0..view.len() as u32 {
        if view.label(id, "env") != Some("prod") {
            continue;
        }
        let row = logits.row(id as usize);
        let guess = (0..row.len()).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        right += u32::from(Some(guess) == label(id));
        total += 1;
    }
    let accuracy = f64::from(right) / f64::from(total);
    println!("held-out environment accuracy {accuracy:.3}");
    assert!(accuracy >= 0.9, "accuracy {accuracy:.3}");
}
