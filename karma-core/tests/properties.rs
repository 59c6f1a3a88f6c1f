//! Model-based properties of graphs, snapshots and deltas: random sequences
//! of mutations, checked against naive models (a `BTreeMap` of components and
//! a sorted edge list) and against each other.

use std::collections::BTreeMap;
use std::time::Duration;

use karma_core::{
    Component, ComponentChange, Delta, EdgeKind, Graph, Key, ManualClock, OutputRef, Removal, Secret, Snapshot,
    Timestamp, Value,
};
use proptest::prelude::*;

const KINDS: [&str; 3] = ["Database", "Service", "Queue"];
const NAMES: [&str; 4] = ["a", "b", "c", "d"];
const PARAMS: [&str; 4] = ["port", "engine", "replicas", "url"];

/// Eight keys: kinds and names paired so that each index has its own key.
fn key(i: usize) -> Key {
    Key::new(KINDS[i % 3], NAMES[i % 4]).unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    Insert(usize, Vec<(usize, Value)>),
    Upsert(usize, Vec<(usize, Value)>),
    Remove(usize, bool),
    Connect(usize, usize, bool, i64),
    Disconnect(usize, usize),
    SetParam(usize, usize, Value),
    UnsetParam(usize, usize),
    SetOutput(usize, Value),
    Observe(usize, Value),
    Label(usize, String),
    Tick(u64),
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_map(Value::Float),
        "[a-z]{0,30}".prop_map(Value::from),
        "[a-z]{1,8}".prop_map(|s| Value::from(Secret::new(s))),
        (0usize..8).prop_map(|i| Value::reference(key(i), "out")),
        (0usize..8, 1u64..5, any::<i64>())
            .prop_map(|(i, v, x)| Value::from(OutputRef::new(key(i), "out").resolved_to(v, &Value::Int(x)))),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            prop::collection::btree_map("[a-c]", inner, 0..3)
                .prop_map(|m| Value::Map(m.into_iter().map(|(k, v)| (k.into(), v)).collect())),
        ]
    })
}

fn params() -> impl Strategy<Value = Vec<(usize, Value)>> {
    prop::collection::vec((0usize..4, value()), 0..4)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..8, params()).prop_map(|(k, p)| Op::Insert(k, p)),
        1 => (0usize..8, params()).prop_map(|(k, p)| Op::Upsert(k, p)),
        1 => (0usize..8, any::<bool>()).prop_map(|(k, c)| Op::Remove(k, c)),
        4 => (0usize..8, 0usize..8, any::<bool>(), 0i64..3).prop_map(|(a, b, c, w)| Op::Connect(a, b, c, w)),
        1 => (0usize..8, 0usize..8).prop_map(|(a, b)| Op::Disconnect(a, b)),
        3 => (0usize..8, 0usize..4, value()).prop_map(|(k, p, v)| Op::SetParam(k, p, v)),
        2 => (0usize..8, 0usize..8).prop_map(|(k, t)| Op::SetParam(k, 3, Value::reference(key(t), "out"))),
        1 => (0usize..8, 0usize..4).prop_map(|(k, p)| Op::UnsetParam(k, p)),
        1 => (0usize..8, leaf()).prop_map(|(k, v)| Op::SetOutput(k, v)),
        1 => (0usize..8, leaf()).prop_map(|(k, v)| Op::Observe(k, v)),
        1 => (0usize..8, "[xy]{1,2}").prop_map(|(k, l)| Op::Label(k, l)),
        1 => (1u64..1000).prop_map(Op::Tick),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 0..60)
}

fn component(k: usize, params: &[(usize, Value)]) -> Component {
    let key = key(k);
    let (kind, name) = key.as_str().split_once('/').unwrap();
    params.iter().fold(Component::new(kind, name).unwrap().with_output("out", k as i64), |c, (p, v)| {
        c.with_param(PARAMS[*p], v.clone())
    })
}

/// Runs one op; a failing op must leave the graph exactly as it was.
fn run_op(g: &mut Graph, clock: &ManualClock, op: &Op) {
    let before = g.snapshot();
    let result = match op {
        Op::Insert(k, p) => g.insert(component(*k, p)).map(drop),
        Op::Upsert(k, p) => g.upsert(component(*k, p)).map(drop),
        Op::Remove(k, cascade) => {
            g.remove(key(*k), if *cascade { Removal::Cascade } else { Removal::Restrict }).map(drop)
        }
        Op::Connect(a, b, custom, w) => {
            let kind = if *custom { EdgeKind::custom("network") } else { EdgeKind::DependsOn };
            g.connect(key(*a), key(*b), kind, [("weight".into(), Value::Int(*w))]).map(drop)
        }
        Op::Disconnect(a, b) => g.disconnect(key(*a), key(*b), &EdgeKind::DependsOn).map(drop),
        Op::SetParam(k, p, v) => g.set_param(key(*k), PARAMS[*p], v.clone()),
        Op::UnsetParam(k, p) => g.unset_param(key(*k), PARAMS[*p]).map(drop),
        Op::SetOutput(k, v) => g.set_output(key(*k), "extra", v.clone()),
        Op::Observe(k, v) => g.observe(key(*k), "seen", v.clone()),
        Op::Label(k, l) => g.set_label(key(*k), "tier", l.as_str()),
        Op::Tick(ms) => {
            clock.advance(Duration::from_millis(*ms));
            Ok(())
        }
    };
    if result.is_err() {
        assert_eq!(g.root_hash(), before.root_hash(), "failed {op:?} changed the graph");
    }
    check_invariants(g);
}

/// Every reference param has its edge and every edge joins live components.
fn check_invariants(g: &Graph) {
    let mut want_refs = Vec::new();
    for c in g.components() {
        for (param, r) in c.references() {
            assert!(g.contains(&r.component), "dangling reference {r}");
            want_refs.push((c.key().clone(), r.component.clone(), param.clone(), r.output.clone()));
        }
    }
    let mut got_refs = Vec::new();
    let mut count = 0;
    for e in g.edges() {
        count += 1;
        assert!(g.contains(e.from()) && g.contains(e.to()));
        if let EdgeKind::Reference { param, output } = e.kind() {
            got_refs.push((e.from().clone(), e.to().clone(), param.clone(), output.clone()));
        }
    }
    want_refs.sort();
    want_refs.dedup();
    got_refs.sort();
    assert_eq!(want_refs, got_refs);
    assert_eq!(count, g.edge_count());
}

fn build(ops: &[Op]) -> (Graph, ManualClock) {
    let clock = ManualClock::new(Timestamp::from_secs(1_700_000_000));
    let mut g = Graph::with_clock(clock.clone());
    for op in ops {
        run_op(&mut g, &clock, op);
    }
    (g, clock)
}

/// The naive model: components by key, edges sorted.
fn model(s: &Snapshot) -> (BTreeMap<Key, Component>, Vec<karma_core::Edge>) {
    (s.components().map(|c| (c.key().clone(), c.clone())).collect(), s.edges_sorted().into_iter().cloned().collect())
}

fn naive_changed_keys(a: &Snapshot, b: &Snapshot) -> Vec<Key> {
    let (ma, _) = model(a);
    let (mb, _) = model(b);
    let mut keys: Vec<Key> = ma.keys().chain(mb.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    keys.retain(|k| ma.get(k) != mb.get(k));
    keys
}

fn assert_same(a: &Snapshot, b: &Snapshot) {
    assert_eq!(model(a), model(b));
    assert_eq!(a.root_hash(), b.root_hash());
    assert_eq!(a, b);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn apply_diff_gives_target_and_invert_undoes(first in ops(), second in ops(), unrelated in ops()) {
        let (mut g, clock) = build(&first);
        let a = g.snapshot();
        for op in &second {
            run_op(&mut g, &clock, op);
        }
        let b = g.snapshot();
        let (other, _) = build(&unrelated);
        let c = other.snapshot();

        for (from, to) in [(&a, &b), (&b, &a), (&a, &c), (&c, &b)] {
            let delta = from.diff(to);
            let keys: Vec<Key> = delta.components.iter().map(|ch| ch.key().clone()).collect();
            prop_assert_eq!(keys, naive_changed_keys(from, to));
            let reached = from.apply(&delta).unwrap();
            assert_same(&reached, to);
            let back = to.apply(&delta.invert()).unwrap();
            assert_same(&back, from);
            prop_assert_eq!(delta.invert().invert(), delta);
        }
        prop_assert!(a.diff(&a).is_empty());
        prop_assert!(b.diff(&b.clone()).is_empty());
    }

    #[test]
    fn hash_equality_is_content_equality(x in ops(), y in ops()) {
        let (gx, _) = build(&x);
        let (gy, _) = build(&y);
        let (a, b) = (gx.snapshot(), gy.snapshot());
        prop_assert_eq!(a.root_hash() == b.root_hash(), model(&a) == model(&b));
        // The same content built another way (from empty, in reverse key
        // order through a delta) has the same hash.
        let mut delta = Snapshot::default().diff(&a);
        delta.components.reverse();
        let rebuilt = Snapshot::default().apply(&delta).unwrap();
        prop_assert_eq!(rebuilt.root_hash(), a.root_hash());
        prop_assert!(rebuilt.diff(&a).is_empty());
    }

    #[test]
    fn serde_round_trips(x in ops(), y in ops()) {
        let (gx, _) = build(&x);
        let (gy, _) = build(&y);
        let (a, b) = (gx.snapshot(), gy.snapshot());

        let json = a.to_json().unwrap();
        assert_same(&Snapshot::from_json(&json).unwrap(), &a);
        let bytes = a.to_bincode().unwrap();
        assert_same(&Snapshot::from_bincode(&bytes).unwrap(), &a);

        let delta = a.diff(&b);
        let json = serde_json::to_string(&delta).unwrap();
        prop_assert_eq!(&serde_json::from_str::<Delta>(&json).unwrap(), &delta);
        prop_assert_eq!(&Delta::from_bincode(&delta.to_bincode().unwrap()).unwrap(), &delta);
    }

    #[test]
    fn values_round_trip(v in value()) {
        let json = serde_json::to_string(&v).unwrap();
        prop_assert_eq!(&serde_json::from_str::<Value>(&json).unwrap(), &v);
        let bytes = bincode::serde::encode_to_vec(&v, bincode::config::standard()).unwrap();
        let (back, _): (Value, usize) = bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
        prop_assert_eq!(back, v);
    }

    /// A component's stored form reads back as the same content, hashed
    /// from the bytes read to what hashing the content afresh gives; every
    /// truncation is refused; a flipped byte is refused or reads as
    /// content whose fresh hash is the hash of the bytes read (the reader
    /// accepts only canonical encodings), never a panic.
    #[test]
    fn stored_components_round_trip(x in ops(), flip in any::<prop::sample::Index>(), bit in 0u8..8) {
        use karma_core::tree::TreeObject;
        let fresh_hash = |c: &Component| {
            serde_json::from_str::<Component>(&serde_json::to_string(c).unwrap()).unwrap().content_hash()
        };
        let (g, _) = build(&x);
        for c in g.snapshot().components() {
            let mut bytes = Vec::new();
            TreeObject::Component(std::sync::Arc::new(c.clone())).encode_into(&mut bytes).unwrap();
            let Ok(TreeObject::Component(d)) = TreeObject::decode(&bytes) else {
                return Err(TestCaseError::fail("a stored component does not read back"));
            };
            prop_assert_eq!(d.content_hash(), c.content_hash());
            prop_assert_eq!(fresh_hash(&d), c.content_hash());
            prop_assert_eq!((d.key(), d.kind(), d.name()), (c.key(), c.kind(), c.name()));
            prop_assert_eq!((d.version(), d.created(), d.updated()), (c.version(), c.created(), c.updated()));
            prop_assert_eq!(d.params(), c.params());
            prop_assert_eq!(d.outputs(), c.outputs());
            prop_assert_eq!(d.runtime_values(), c.runtime_values());
            prop_assert_eq!(d.labels(), c.labels());
            for cut in 0..bytes.len() {
                prop_assert!(TreeObject::decode(&bytes[..cut]).is_err(), "a cut at {} read", cut);
            }
            let i = flip.index(bytes.len());
            bytes[i] ^= 1 << bit;
            if let Ok(TreeObject::Component(d)) = TreeObject::decode(&bytes) {
                prop_assert_ne!(d.content_hash(), c.content_hash());
                prop_assert_eq!(fresh_hash(&d), d.content_hash());
            }
        }
    }

    #[test]
    fn corrupted_bincode_is_rejected(x in ops(), flip in any::<prop::sample::Index>()) {
        let (g, _) = build(&x);
        let snap = g.snapshot();
        let mut bytes = snap.to_bincode().unwrap();
        let i = flip.index(bytes.len());
        bytes[i] ^= 0x20;
        // A flipped bit either fails to decode or decodes to the very same
        // content (e.g. it hit a byte that encodes nothing observable);
        // never to silently different content.
        if let Ok(back) = Snapshot::from_bincode(&bytes) {
            prop_assert_eq!(back.root_hash(), snap.root_hash());
        }
    }
}

#[test]
fn diff_reports_per_param_changes() {
    let (mut g, clock) = build(&[]);
    g.insert(component(0, &[(0, Value::Int(5432))])).unwrap();
    let a = g.snapshot();
    clock.advance(Duration::from_secs(5));
    g.set_param(key(0), "port", 6432).unwrap();
    let delta = a.diff(&g.snapshot());
    let [ComponentChange::Changed(d)] = delta.components.as_slice() else { panic!("{delta:?}") };
    let changes: Vec<_> = d.changed_params().collect();
    assert_eq!(changes, [(&"port".into(), Some(&Value::Int(5432)), Some(&Value::Int(6432)))]);
    assert_eq!((d.version.before, d.version.after), (1, 2));
    assert_eq!(d.updated.after, Timestamp::from_secs(1_700_000_005));
}

#[test]
fn delta_conflicts_are_typed_errors() {
    let (mut g, _) = build(&[]);
    g.insert(component(0, &[(0, Value::Int(1))])).unwrap();
    let a = g.snapshot();
    g.set_param(key(0), "port", 2).unwrap();
    let b = g.snapshot();
    let delta = a.diff(&b);
    // Applying twice: the before side no longer matches.
    let err = b.apply(&delta).unwrap_err();
    assert!(matches!(err, karma_core::Error::DeltaConflict { .. }), "{err}");
    // Adding what exists.
    let add = Snapshot::default().diff(&a);
    assert!(matches!(a.apply(&add), Err(karma_core::Error::DeltaConflict { .. })));
}

#[test]
fn reference_edges_follow_params() {
    let (mut g, _) = build(&[]);
    g.insert(component(0, &[])).unwrap();
    g.insert(component(1, &[])).unwrap();
    g.set_param(key(1), "url", Value::reference(key(0), "out")).unwrap();
    let edges: Vec<_> = g.edges_from(&key(1)).map(|e| e.kind().clone()).collect();
    assert_eq!(edges, [EdgeKind::Reference { param: "url".into(), output: "out".into() }]);
    g.set_param(key(1), "url", "plain").unwrap();
    assert_eq!(g.edges_from(&key(1)).count(), 0);
    let missing = OutputRef::new(key(0), "nope");
    assert!(matches!(g.set_param(key(1), "url", Value::from(missing)), Err(karma_core::Error::UnknownOutput { .. })));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Merging with an untouched side gives the other side, exactly; and
    /// both sides equal merge to themselves.
    #[test]
    fn merge_with_an_untouched_side(first in ops(), second in ops()) {
        let (mut g, clock) = build(&first);
        let base = g.snapshot();
        for op in &second {
            run_op(&mut g, &clock, op);
        }
        let changed = g.snapshot();
        let m = karma_core::merge(&base, &base, &changed, ManualClock::default()).unwrap();
        prop_assert_eq!(m.root_hash(), changed.root_hash());
        let m = karma_core::merge(&base, &changed, &base, ManualClock::default()).unwrap();
        prop_assert_eq!(m.root_hash(), changed.root_hash());
        let m = karma_core::merge(&base, &changed, &changed, ManualClock::default()).unwrap();
        prop_assert_eq!(m.root_hash(), changed.root_hash());
    }

    /// Changes to different params merge without conflict and keep both;
    /// different values for one param are a conflict naming it.
    #[test]
    fn merge_param_granularity(first in ops(), a in any::<i64>(), b in any::<i64>()) {
        let (g, _) = build(&first);
        let base = g.snapshot();
        let keys: Vec<Key> = base.components_sorted().iter().map(|c| c.key().clone()).collect();
        prop_assume!(!keys.is_empty());
        let mut ours = Graph::from_snapshot(base.clone(), ManualClock::default());
        let mut theirs = Graph::from_snapshot(base.clone(), ManualClock::default());
        for k in &keys {
            ours.set_label(k, "ours", "x").unwrap();
            theirs.set_label(k, "theirs", "y").unwrap();
        }
        let m = karma_core::merge(&base, &ours, &theirs, ManualClock::default()).unwrap();
        for k in &keys {
            let c = m.get(k).unwrap();
            prop_assert_eq!(c.label("ours"), Some("x"));
            prop_assert_eq!(c.label("theirs"), Some("y"));
        }
        // One label, two values.
        prop_assume!(a != b);
        ours.set_label(&keys[0], "v", a.to_string().as_str()).unwrap();
        theirs.set_label(&keys[0], "v", b.to_string().as_str()).unwrap();
        let conflicts = karma_core::merge(&base, &ours, &theirs, ManualClock::default()).unwrap_err();
        prop_assert_eq!(conflicts.len(), 1);
        prop_assert_eq!(&conflicts[0].at, keys[0].as_str());
        prop_assert_eq!(conflicts[0].field.as_deref(), Some("v"));
    }
}

#[test]
fn merge_conflicts_on_params_removals_and_dangling_references() {
    let (mut g, _) = build(&[]);
    g.insert(component(0, &[(0, Value::Int(1))])).unwrap();
    g.insert(component(1, &[(0, Value::Int(1))])).unwrap();
    let base = g.snapshot();

    let mut ours = Graph::from_snapshot(base.clone(), ManualClock::default());
    let mut theirs = Graph::from_snapshot(base.clone(), ManualClock::default());
    ours.set_param(key(0), "port", 2).unwrap();
    theirs.set_param(key(0), "port", 3).unwrap();
    let c = karma_core::merge(&base, &ours, &theirs, ManualClock::default()).unwrap_err();
    assert_eq!(c[0].to_string(), format!("{}.port: param changed on both sides: ours 2, theirs 3", key(0)));

    let mut ours = Graph::from_snapshot(base.clone(), ManualClock::default());
    let mut theirs = Graph::from_snapshot(base.clone(), ManualClock::default());
    ours.set_param(key(0), "port", 2).unwrap();
    theirs.remove(key(0), Removal::Restrict).unwrap();
    let c = karma_core::merge(&base, &ours, &theirs, ManualClock::default()).unwrap_err();
    assert!(c[0].reason.contains("removed on theirs"), "{c:?}");

    // Ours makes 1 reference 0; theirs removes 0: the reference would dangle.
    let mut ours = Graph::from_snapshot(base.clone(), ManualClock::default());
    let mut theirs = Graph::from_snapshot(base.clone(), ManualClock::default());
    ours.set_param(key(1), "url", Value::reference(key(0), "out")).unwrap();
    theirs.remove(key(0), Removal::Restrict).unwrap();
    let c = karma_core::merge(&base, &ours, &theirs, ManualClock::default()).unwrap_err();
    assert!(c.iter().any(|c| c.field.as_deref() == Some("url")), "{c:?}");
}

/// An edge to make: from, to, kind, attributes.
type NewEdge = (Key, Key, EdgeKind, Vec<(karma_core::Name, Value)>);

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// `connect_all` leaves exactly the graph that `connect` one edge at a
    /// time leaves (same edges, attributes, versions, hashes); and when one
    /// edge is refused, it changes nothing at all.
    #[test]
    fn connect_all_is_connect_in_bulk(
        first in ops(),
        batch in proptest::collection::vec((0usize..8, 0usize..8, any::<bool>(), 0i64..3), 0..24),
        clean in any::<bool>(),
    ) {
        let (mut one, clock) = build(&first);
        if clean {
            // Every end exists and no edge loops: the batch must succeed.
            for k in 0..8 {
                if !one.contains(&key(k)) {
                    one.insert(component(k, &[])).unwrap();
                }
            }
        }
        let mut bulk = one.clone();
        clock.advance(Duration::from_secs(1));
        let edges: Vec<NewEdge> = batch
            .iter()
            .filter(|&&(f, t, _, _)| !clean || f != t)
            .map(|&(f, t, custom, w)| {
                let kind = if custom { EdgeKind::custom("network") } else { EdgeKind::DependsOn };
                (key(f), key(t), kind, vec![("weight".into(), Value::Int(w))])
            })
            .collect();
        let before = one.snapshot();
        let mut singly = Ok(0usize);
        for (f, t, kind, attributes) in edges.clone() {
            let existed = one.edge(&karma_core::EdgeId::new(f.clone(), t.clone(), kind.clone())).is_some();
            match one.connect(f, t, kind, attributes) {
                Ok(_) => { if let Ok(n) = &mut singly { *n += usize::from(!existed); } }
                Err(e) => { singly = Err(e); break; }
            }
        }
        match (bulk.connect_all(edges), singly) {
            (Ok(n), Ok(m)) => {
                prop_assert_eq!(n, m);
                prop_assert_eq!(bulk.snapshot().root_hash(), one.snapshot().root_hash());
                prop_assert_eq!(bulk.edge_count(), one.edge_count());
                prop_assert_eq!(bulk.edges_sorted(), one.edges_sorted());
                for k in (0..8).map(key) {
                    prop_assert_eq!(bulk.dependents(&k), one.dependents(&k));
                }
            }
            (Err(_), Err(_)) => {
                prop_assert!(!clean, "a clean batch was refused");
                // All or nothing: the bulk graph is untouched.
                prop_assert_eq!(bulk.snapshot().root_hash(), before.root_hash());
                prop_assert_eq!(bulk.edge_count(), before.edge_count());
            }
            (bulk_result, singly) => prop_assert!(false, "bulk {:?} vs one by one {:?}", bulk_result, singly),
        }
    }
}

proptest! {
    /// A diff lists its changes in key order, keys sharing their first 16
    /// bytes or more (where the sort compares whole keys) included.
    #[test]
    fn diff_lists_changes_in_key_order(
        names in proptest::collection::btree_set((0usize..3, "[a-c]{0,4}"), 0..40),
        removed in proptest::collection::vec(any::<bool>(), 40),
    ) {
        let heads = ["", "shared-prefix-", "a-much-longer-shared-prefix-of-names-"];
        let keys: Vec<String> = names.iter().map(|(h, tail)| format!("{}{tail}x", heads[*h])).collect();
        let mut g = Graph::new();
        for name in &keys {
            g.insert(Component::new("Service", name).unwrap()).unwrap();
        }
        let full = g.snapshot();
        let listed: Vec<String> =
            Snapshot::default().diff(&full).components.iter().map(|c| c.key().as_str().to_string()).collect();
        let mut expected: Vec<String> = keys.iter().map(|n| format!("Service/{n}")).collect();
        expected.sort();
        prop_assert_eq!(&listed, &expected);
        for (name, gone) in keys.iter().zip(&removed) {
            if *gone {
                g.remove(Key::new("Service", name).unwrap(), Removal::Restrict).unwrap();
            }
        }
        let listed: Vec<String> =
            full.diff(&g.snapshot()).components.iter().map(|c| c.key().as_str().to_string()).collect();
        let mut expected: Vec<String> =
            keys.iter().zip(&removed).filter(|(_, gone)| **gone).map(|(n, _)| format!("Service/{n}")).collect();
        expected.sort();
        prop_assert_eq!(listed, expected);
    }
}
