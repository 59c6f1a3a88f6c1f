//! Connection proposals on a generated platform with planted truth (fixed
//! seeds): services whose database reference was held out get their own
//! stack's database proposed, far above chance, with the sibling service
//! that uses it as a precedent.

use karma_core::{Component, Graph, Key, Snapshot, Value};
use karma_ml::{
    Adjacency, Connections, Embeddings, FeatureConfig, FeatureExtractor, ProposeOptions, Sage, SageConfig,
    TrainOptions, train_unsupervised,
};
use karma_query::View;

const STACKS: usize = 20;
const ENVS: [&str; 3] = ["dev", "staging", "prod"];

fn key(kind: &str, name: &str) -> Key {
    Key::new(kind, name).unwrap()
}

/// Each stack in each environment: a network, a database, a queue, and two
/// services (api, worker) using all three. The prod api services' database
/// references are held out (not in the graph).
fn platform() -> Snapshot {
    let mut g = Graph::new();
    for env in ENVS {
        for i in 0..STACKS {
            let owner = format!("team-{i}");
            let net = key("Network", &format!("{env}-n{i}"));
            g.insert(
                Component::new("Network", &format!("{env}-n{i}"))
                    .unwrap()
                    .with_param("owner", owner.as_str())
                    .with_output("id", format!("vpc-{env}-{i}"))
                    .with_label("env", env),
            )
            .unwrap();
            for (kind, name, output) in [("Database", "d", "endpoint"), ("Queue", "q", "url")] {
                g.insert(
                    Component::new(kind, &format!("{env}-{name}{i}"))
                        .unwrap()
                        .with_param("owner", owner.as_str())
                        .with_param("net", Value::reference(net.clone(), "id"))
                        .with_output(output, format!("{env}-{name}{i}.internal"))
                        .with_label("env", env),
                )
                .unwrap();
            }
            for role in ["api", "worker"] {
                let mut c = Component::new("Service", &format!("{env}-{role}{i}"))
                    .unwrap()
                    .with_param("owner", owner.as_str())
                    .with_param("role", role)
                    .with_param("net", Value::reference(net.clone(), "id"))
                    .with_param("queue", Value::reference(key("Queue", &format!("{env}-q{i}")), "url"))
                    .with_label("env", env);
                if !(env == "prod" && role == "api") {
                    c = c.with_param("db", Value::reference(key("Database", &format!("{env}-d{i}")), "endpoint"));
                }
                g.insert(c).unwrap();
            }
        }
    }
    g.snapshot()
}

#[test]
fn held_out_references_are_proposed_from_the_right_stack() {
    let snap = platform();
    let view = View::new(&snap);
    let extractor = FeatureExtractor::fit(&snap, FeatureConfig { hash_width: 64, seed: 3, labels: true });
    let x = extractor.transform(&view, None).unwrap();
    let adj = Adjacency::undirected_from_view(&view);
    let config = SageConfig { normalize: true, ..SageConfig::default() };
    let mut model = Sage::new(&[x.ncols(), 64, 32], config, 7).unwrap();
    let options = TrainOptions {
        epochs: 40,
        learning_rate: 0.01,
        seed: 2,
        walks_per_node: 4,
        walk_length: 3,
        negatives: 5,
        batch_size: 4096,
    };
    train_unsupervised(&mut model, x.view(), &adj, &options, |_| {}).unwrap();
    let z = model.forward(x.view(), &adj).unwrap();
    let embeddings = Embeddings::new(&view, z).unwrap();
    let connections = Connections::learn(&snap);

    // What the graph says a service's `db` takes.
    let accepted = connections.accepted("Service", "db");
    assert_eq!(accepted.len(), 1);
    assert_eq!((accepted[0].kind.as_str(), accepted[0].output.as_str()), ("Database", "endpoint"));
    assert_eq!(accepted[0].seen, 5 * STACKS);
    assert_eq!(connections.candidates("Service", "db").count(), 3 * STACKS);
    assert!(connections.params_of("Service").iter().any(|p| *p == "queue"));

    let (mut hits, mut reciprocal, mut with_precedent) = (0usize, 0.0f64, 0usize);
    for i in 0..STACKS {
        let service = snap.get(&key("Service", &format!("prod-api{i}"))).unwrap();
        let row = embeddings.row(service.key()).unwrap();
        let vector = embeddings.vectors().row(row as usize).to_owned();
        let proposals = connections.propose(
            &embeddings,
            &snap,
            service,
            vector.view(),
            &ProposeOptions { per_param: 3 * STACKS, neighbours: 10 },
        );
        let db: Vec<_> = proposals.iter().filter(|p| p.param == "db").collect();
        assert_eq!(db.len(), 3 * STACKS, "every database endpoint is a candidate");
        assert!(db.windows(2).all(|w| w[0].score >= w[1].score), "best first");
        assert!(db.iter().all(|p| p.score > 0.0 && p.score < 1.0 && p.compatible.kind == "Database"));
        // Its current queue is not proposed again.
        let own_queue = key("Queue", &format!("prod-q{i}"));
        assert!(proposals.iter().filter(|p| p.param == "queue").all(|p| p.target.component != own_queue));

        let truth = key("Database", &format!("prod-d{i}"));
        let rank = db.iter().position(|p| p.target.component == truth).unwrap();
        hits += usize::from(rank == 0);
        reciprocal += 1.0 / (rank + 1) as f64;
        let worker = key("Service", &format!("prod-worker{i}"));
        with_precedent += usize::from(db[rank].precedents.contains(&worker));
    }
    let n = STACKS as f64;
    let (hit_rate, mrr) = (hits as f64 / n, reciprocal / n);
    // Chance: the mean reciprocal rank of a uniformly random order of 60.
    let candidates = 3 * STACKS;
    let chance = (1..=candidates).map(|r| 1.0 / r as f64).sum::<f64>() / candidates as f64;
    println!(
        "held-out db proposals: hit@1 {hit_rate:.2}, MRR {mrr:.3} (chance {chance:.3}), precedents {with_precedent}"
    );
    assert!(hit_rate >= 0.7, "hit@1 {hit_rate}");
    assert!(mrr >= 5.0 * chance, "MRR {mrr} vs chance {chance}");
    assert!(with_precedent as f64 >= 0.7 * n, "the sibling worker explains the proposal: {with_precedent}");
}
