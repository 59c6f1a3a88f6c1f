//! Graph mutations: versions, times, typed errors, removal, transactions.

use std::time::Duration;

use karma_core::{Component, EdgeKind, Error, Graph, Key, ManualClock, Removal, Secret, SecretSalt, Timestamp, Value};

fn k(s: &str) -> Key {
    s.parse().unwrap()
}

fn setup() -> (Graph, ManualClock) {
    let clock = ManualClock::new(Timestamp::from_secs(1_000));
    let mut g = Graph::with_clock(clock.clone());
    g.insert(Component::new("Network", "vpc").unwrap().with_output("id", "vpc-1")).unwrap();
    g.insert(
        Component::new("Database", "orders")
            .unwrap()
            .with_param("port", 5432)
            .with_param("net", Value::reference(k("Network/vpc"), "id"))
            .with_output("endpoint", "db:5432"),
    )
    .unwrap();
    g.insert(
        Component::new("Service", "api")
            .unwrap()
            .with_param("db", Value::reference(k("Database/orders"), "endpoint"))
            .with_param("replicas", 2),
    )
    .unwrap();
    (g, clock)
}

#[test]
fn versions_and_times_follow_changes() {
    let (mut g, clock) = setup();
    let db = g.get(&k("Database/orders")).unwrap();
    assert_eq!(
        (db.version(), db.created(), db.updated()),
        (1, Timestamp::from_secs(1_000), Timestamp::from_secs(1_000))
    );

    clock.advance(Duration::from_secs(10));
    g.set_param("Database/orders", "port", 6432).unwrap();
    clock.advance(Duration::from_secs(10));
    g.set_param("Database/orders", "port", 6432).unwrap(); // same value: no change
    let db = g.get(&k("Database/orders")).unwrap();
    assert_eq!(db.version(), 2);
    assert_eq!(db.updated(), Timestamp::from_secs(1_010));
    assert_eq!(db.param("port").unwrap().changed_at, Timestamp::from_secs(1_010));
    assert_eq!(db.param("net").unwrap().changed_at, Timestamp::from_secs(1_000), "untouched param keeps its time");

    // Runtime observations are stamped but do not bump the version.
    g.observe("Database/orders", "connections", 17).unwrap();
    let db = g.get(&k("Database/orders")).unwrap();
    assert_eq!(db.version(), 2);
    assert_eq!(db.runtime("connections").unwrap().observed_at, Timestamp::from_secs(1_020));
    assert_eq!(db.updated(), Timestamp::from_secs(1_020));

    // Edges are versioned too.
    g.connect("Service/api", "Network/vpc", EdgeKind::custom("network"), [("latency_ms".into(), Value::Int(3))])
        .unwrap();
    clock.advance(Duration::from_secs(1));
    let e = g
        .connect("Service/api", "Network/vpc", EdgeKind::custom("network"), [("latency_ms".into(), Value::Int(5))])
        .unwrap();
    assert_eq!((e.version(), e.created(), e.updated()), (2, Timestamp::from_secs(1_020), Timestamp::from_secs(1_021)));
    assert_eq!(e.attribute("latency_ms"), Some(&Value::Int(5)));
}

#[test]
fn bad_input_is_a_typed_error_and_changes_nothing() {
    let (mut g, _) = setup();
    let before = g.root_hash();
    let cases: Vec<(Error, &str)> = vec![
        (g.insert(Component::new("Network", "vpc").unwrap()).unwrap_err(), "duplicate"),
        (g.set_param("Nope/x", "a", 1).unwrap_err(), "unknown"),
        (
            g.insert(
                Component::new("Service", "b")
                    .unwrap()
                    .with_param("db", Value::reference(k("Database/gone"), "endpoint")),
            )
            .unwrap_err(),
            "dangling",
        ),
        (
            g.insert(
                Component::new("Service", "c")
                    .unwrap()
                    .with_param("db", Value::reference(k("Database/orders"), "nope")),
            )
            .unwrap_err(),
            "output",
        ),
        (g.remove("Database/orders", Removal::Restrict).unwrap_err(), "depended"),
        (g.connect("Service/api", "Service/api", EdgeKind::DependsOn, []).unwrap_err(), "self"),
        (g.connect("Service/api", "Nope/x", EdgeKind::DependsOn, []).unwrap_err(), "unknown"),
        (
            g.connect("Service/api", "Network/vpc", EdgeKind::Reference { param: "x".into(), output: "id".into() }, [])
                .unwrap_err(),
            "reference",
        ),
        (g.disconnect("Service/api", "Network/vpc", &EdgeKind::DependsOn).unwrap_err(), "no edge"),
        (g.set_param("bad\nkey", "a", 1).unwrap_err(), "invalid key"),
        (g.unset_output("Database/orders", "endpoint").unwrap_err(), "output in use"),
    ];
    for (err, what) in &cases {
        let expected = match *what {
            "duplicate" => matches!(err, Error::DuplicateKey { .. }),
            "unknown" => matches!(err, Error::UnknownComponent { .. }),
            "dangling" => matches!(err, Error::DanglingReference { .. }),
            "output" | "output in use" => matches!(err, Error::UnknownOutput { .. }),
            "depended" => {
                matches!(err, Error::StillDependedOn { dependents, .. } if dependents == &[k("Service/api")])
            }
            "self" | "reference" => matches!(err, Error::InvalidEdge { .. }),
            "no edge" => matches!(err, Error::UnknownEdge { .. }),
            "invalid key" => matches!(err, Error::InvalidKey { .. }),
            _ => unreachable!(),
        };
        assert!(expected, "{what}: got {err}");
        assert!(!err.to_string().is_empty());
    }
    assert_eq!(g.root_hash(), before);
}

#[test]
fn cascade_removes_dependents_transitively() {
    let (mut g, _) = setup();
    let removed = g.remove("Network/vpc", Removal::Cascade).unwrap();
    let mut keys: Vec<_> = removed.iter().map(|c| c.key().to_string()).collect();
    keys.sort();
    assert_eq!(keys, ["Database/orders", "Network/vpc", "Service/api"]);
    assert!(g.is_empty());
    assert_eq!(g.edge_count(), 0);
}

#[test]
fn remove_leaf_drops_its_edges() {
    let (mut g, _) = setup();
    g.remove("Service/api", Removal::Restrict).unwrap();
    assert!(g.dependents(&k("Database/orders")).is_empty());
    assert_eq!(g.edge_count(), 1); // orders -> vpc remains
}

#[test]
fn transaction_is_all_or_nothing() {
    let (mut g, _) = setup();
    let before = g.snapshot();
    let result: Result<(), Error> = g.transaction(|g| {
        g.set_param("Service/api", "replicas", 5)?;
        g.remove("Service/api", Removal::Restrict)?;
        g.set_param("Service/gone", "replicas", 1)?;
        Ok(())
    });
    assert!(matches!(result, Err(Error::UnknownComponent { .. })));
    assert_eq!(g.snapshot(), before);
    assert!(before.diff(&g.snapshot()).is_empty());

    g.transaction(|g| g.set_param("Service/api", "replicas", 5)).unwrap();
    assert_eq!(g.get(&k("Service/api")).unwrap().param_value("replicas"), Some(&Value::Int(5)));
}

#[test]
fn upsert_keeps_identity_and_bumps_only_on_change() {
    let (mut g, clock) = setup();
    clock.advance(Duration::from_secs(5));
    let same = Component::new("Service", "api")
        .unwrap()
        .with_param("db", Value::reference(k("Database/orders"), "endpoint"))
        .with_param("replicas", 2);
    assert_eq!(g.upsert(same.clone()).unwrap().version(), 1);
    let c = g.upsert(same.with_param("replicas", 4)).unwrap();
    assert_eq!(c.version(), 2);
    assert_eq!(c.created(), Timestamp::from_secs(1_000));
    assert_eq!(c.param("db").unwrap().changed_at, Timestamp::from_secs(1_000));
    assert_eq!(c.param("replicas").unwrap().changed_at, Timestamp::from_secs(1_005));
}

#[test]
fn snapshots_are_isolated_from_later_changes() {
    let (mut g, _) = setup();
    let s = g.snapshot();
    let hash = s.root_hash();
    g.set_param("Service/api", "replicas", 9).unwrap();
    g.remove("Service/api", Removal::Restrict).unwrap();
    assert_eq!(s.root_hash(), hash);
    assert_eq!(s.get(&k("Service/api")).unwrap().param_value("replicas"), Some(&Value::Int(2)));
    assert_ne!(g.root_hash(), hash);
}

#[test]
fn secrets_never_appear_in_any_output() {
    const PLAINTEXT: &str = "hunter2-very-secret";
    let salt = SecretSalt::derive(b"test salt");
    let (mut g, clock) = setup();
    let before = g.snapshot();
    g.set_param("Database/orders", "password", Secret::with_salt(&salt, PLAINTEXT)).unwrap();
    g.observe("Database/orders", "last_password", Secret::with_salt(&salt, PLAINTEXT)).unwrap();
    let after = g.snapshot();

    // Re-writing the same secret is no change; a new one is.
    g.set_param("Database/orders", "password", Secret::with_salt(&salt, PLAINTEXT)).unwrap();
    assert!(after.diff(&g.snapshot()).is_empty());
    clock.advance(Duration::from_secs(1));
    g.set_param("Database/orders", "password", Secret::with_salt(&salt, "rotated")).unwrap();
    assert_eq!(after.diff(&g.snapshot()).changed().count(), 1);

    let delta = before.diff(&after);
    let outputs = [
        after.to_json().unwrap(),
        String::from_utf8_lossy(&after.to_bincode().unwrap()).into_owned(),
        serde_json::to_string(&delta).unwrap(),
        String::from_utf8_lossy(&delta.to_bincode().unwrap()).into_owned(),
        format!("{delta}"),
        format!("{delta:?}"),
        format!("{after:?}"),
        format!("{:?}", after.get(&k("Database/orders")).unwrap()),
        format!("{g:?}"),
    ];
    for out in &outputs {
        assert!(!out.contains(PLAINTEXT), "plaintext leaked into: {out}");
        assert!(!out.contains("hunter2"), "part of the plaintext leaked into: {out}");
    }
    let bytes = after.to_bincode().unwrap();
    assert!(!bytes.windows(PLAINTEXT.len()).any(|w| w == PLAINTEXT.as_bytes()));
}

#[test]
fn labels_outputs_and_rename() {
    let (mut g, _) = setup();
    g.set_label("Service/api", "tier", "web").unwrap();
    g.set_output("Service/api", "url", "https://api").unwrap();
    g.rename("Service/api", "public-api").unwrap();
    let c = g.get(&k("Service/api")).unwrap();
    assert_eq!(c.label("tier"), Some("web"));
    assert_eq!(c.output("url"), Some(&Value::from("https://api")));
    assert_eq!(c.name(), "public-api");
    assert_eq!(c.version(), 4);
    assert_eq!(g.unset_label("Service/api", "tier").unwrap().as_deref(), Some("web"));
    assert_eq!(g.unset_output("Service/api", "url").unwrap(), Some(Value::from("https://api")));
}

#[test]
fn sharded_walks_yield_every_component_and_edge_once() {
    let mut g = Graph::new();
    for i in 0..500 {
        g.insert(Component::new("Node", &format!("n{i}")).unwrap()).unwrap();
    }
    for i in 0..500usize {
        for j in [1usize, 7, 31] {
            let to = (i + j) % 500;
            g.connect(format!("Node/n{i}").as_str(), format!("Node/n{to}").as_str(), EdgeKind::DependsOn, []).unwrap();
        }
    }
    let s = g.snapshot();
    let mut components: Vec<String> = s
        .component_arcs_sharded()
        .flatten()
        .map(|(k, c)| {
            assert_eq!(k, c.key());
            c.key().to_string()
        })
        .collect();
    assert!(s.component_arcs_sharded().count() > 1);
    components.sort();
    let mut want: Vec<String> = s.components().map(|c| c.key().to_string()).collect();
    want.sort();
    assert_eq!(components, want);
    let mut ids: Vec<String> = s
        .edge_ids_by_source_sharded()
        .flatten()
        .flat_map(|(from, ids)| {
            ids.map(move |id| {
                assert_eq!(&id.from, from);
                id.to_string()
            })
        })
        .collect();
    ids.sort();
    let mut want: Vec<String> = s.edges().map(|e| e.id().to_string()).collect();
    want.sort();
    assert_eq!(ids.len(), 1500);
    assert_eq!(ids, want);
}

#[test]
fn resolved_references_record_the_value_taken_and_notice_staleness() {
    let (mut g, clock) = setup();
    let api = k("Service/api");
    let r = |g: &Graph| g.get(&api).unwrap().param_value("db").unwrap().as_ref().unwrap().clone();
    assert_eq!(r(&g).resolved, None);
    let v1 = g.get(&api).unwrap().version();
    assert_eq!(g.resolve_references("Service/api").unwrap(), 1);
    let taken = r(&g).resolved.unwrap();
    let db = g.get(&k("Database/orders")).unwrap();
    assert_eq!(taken.version, db.version());
    assert!(taken.matches(db.output("endpoint").unwrap()));
    assert_eq!(g.get(&api).unwrap().version(), v1 + 1, "re-resolving is a change of the consumer");
    assert_eq!(r(&g).to_string(), format!("Database/orders.endpoint@v{}", db.version()));

    // An unrelated change of the producer leaves the value the same: nothing to take.
    clock.advance(Duration::from_secs(1));
    g.set_param("Database/orders", "engine", "postgres-17").unwrap();
    assert_eq!(g.resolve_references("Service/api").unwrap(), 1, "the version moved on");
    clock.advance(Duration::from_secs(1));
    g.set_output("Database/orders", "endpoint", "db-2:5432").unwrap();
    let stale = r(&g).resolved.unwrap();
    assert!(!stale.matches(g.get(&k("Database/orders")).unwrap().output("endpoint").unwrap()));
    assert_eq!(g.resolve_references("Service/api").unwrap(), 1);
    assert!(r(&g).resolved.unwrap().matches(&Value::from("db-2:5432")));
    assert_eq!(g.resolve_references("Service/api").unwrap(), 0);
    // The reference edge is the same edge, resolved or not.
    assert_eq!(g.edges_from(&api).count(), 1);
}
