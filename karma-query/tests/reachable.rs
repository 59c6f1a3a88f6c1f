//! Traversals against a naive breadth-first search over the snapshot's edges.

use std::collections::{BTreeMap, VecDeque};

use karma_core::{Component, EdgeKind, Graph, Key, Snapshot};
use karma_query::{Direction, QueryError, Traversal, View, reachable};
use proptest::prelude::*;

fn key(i: usize) -> Key {
    Key::new("Node", &format!("n{i:02}")).unwrap()
}

fn graph(n: usize, edges: &[(usize, usize, bool)]) -> Snapshot {
    let mut g = Graph::new();
    for i in 0..n {
        g.insert(Component::new("Node", &format!("n{i:02}")).unwrap()).unwrap();
    }
    for &(a, b, custom) in edges {
        let (a, b) = (a % n, b % n);
        if a != b {
            let kind = if custom { EdgeKind::custom("net") } else { EdgeKind::DependsOn };
            g.connect(key(a), key(b), kind, []).unwrap();
        }
    }
    g.snapshot()
}

/// Distances by naive BFS, following edges (from, to) or (to, from).
fn naive(s: &Snapshot, start: &Key, direction: Direction, limits: &Traversal) -> BTreeMap<Key, u32> {
    let allowed = |label: &str| limits.edge_kinds.as_ref().is_none_or(|ks| ks.iter().any(|k| k == label));
    let mut dist = BTreeMap::from([(start.clone(), 0u32)]);
    let mut queue = VecDeque::from([start.clone()]);
    while let Some(k) = queue.pop_front() {
        let d = dist[&k];
        if limits.max_depth.is_some_and(|m| d >= m) {
            continue;
        }
        let next: Vec<Key> = s
            .edges()
            .filter(|e| allowed(e.kind().label()))
            .filter_map(|e| match direction {
                Direction::Dependents if e.to() == &k => Some(e.from().clone()),
                Direction::Dependencies if e.from() == &k => Some(e.to().clone()),
                _ => None,
            })
            .collect();
        for m in next {
            if !dist.contains_key(&m) {
                dist.insert(m.clone(), d + 1);
                queue.push_back(m);
            }
        }
    }
    dist.remove(start);
    dist
}

proptest! {
    #[test]
    fn matches_naive_bfs(
        n in 1usize..25,
        edges in prop::collection::vec((0usize..25, 0usize..25, any::<bool>()), 0..60),
        start in 0usize..25,
        dependents in any::<bool>(),
        max_depth in prop::option::of(0u32..5),
        only in prop::option::of(prop_oneof![Just("depends-on"), Just("net")]),
    ) {
        let s = graph(n, &edges);
        let view = View::new(&s);
        let start = key(start % n);
        let direction = if dependents { Direction::Dependents } else { Direction::Dependencies };
        let limits = Traversal { max_depth, edge_kinds: only.map(|k| vec![k.to_string()]) };
        let got = reachable(&view, &start, direction, &limits).unwrap();
        let want = naive(&s, &start, direction, &limits);
        let got_dist: BTreeMap<Key, u32> = got.iter().map(|r| (r.key.clone(), r.depth)).collect();
        prop_assert_eq!(&got_dist, &want);
        // Nearest first, ties in key order.
        prop_assert!(got.windows(2).all(|w| (w[0].depth, &w[0].key) < (w[1].depth, &w[1].key)));
        // Every witness path is a real shortest path through allowed edges.
        for r in &got {
            prop_assert_eq!(r.path.len() as u32, r.depth + 1);
            prop_assert_eq!(&r.path[0], &start);
            prop_assert_eq!(r.path.last().unwrap(), &r.key);
            for hop in r.path.windows(2) {
                let (a, b) = match direction {
                    Direction::Dependents => (&hop[1], &hop[0]),
                    Direction::Dependencies => (&hop[0], &hop[1]),
                };
                let ok = s.edges_from(a).any(|e| e.to() == b
                    && limits.edge_kinds.as_ref().is_none_or(|ks| ks.iter().any(|k| k == e.kind().label())));
                prop_assert!(ok, "no allowed edge {} -> {}", a, b);
            }
        }
    }
}

#[test]
fn unknown_start_is_a_typed_error() {
    let s = graph(2, &[(0, 1, false)]);
    let err = reachable(&View::new(&s), &key(7), Direction::Dependents, &Traversal::default()).unwrap_err();
    assert_eq!(err, QueryError::UnknownComponent { key: key(7) });
}

/// A filter that allows every kind the graph has walks like no filter; one
/// that allows none of them walks nowhere, whichever kinds are absent.
#[test]
fn filters_over_the_kinds_a_graph_has() {
    let walk = |edges: &[(usize, usize, bool)], only: &[&str]| {
        let s = graph(4, edges);
        let limits = Traversal { max_depth: None, edge_kinds: Some(only.iter().map(|k| (*k).to_string()).collect()) };
        let got = reachable(&View::new(&s), &key(0), Direction::Dependencies, &limits).unwrap();
        assert_eq!(
            got.iter().map(|r| (r.key.clone(), r.depth)).collect::<BTreeMap<_, _>>(),
            naive(&s, &key(0), Direction::Dependencies, &limits)
        );
        got.len()
    };
    let net_only = [(0, 1, true), (1, 2, true), (2, 3, true)];
    let depends_only = [(0, 1, false), (1, 2, false), (2, 3, false)];
    assert_eq!(walk(&net_only, &["net"]), 3);
    assert_eq!(walk(&net_only, &["depends-on"]), 0);
    assert_eq!(walk(&net_only, &["net", "depends-on"]), 3);
    assert_eq!(walk(&depends_only, &["depends-on"]), 3);
    assert_eq!(walk(&depends_only, &["net"]), 0);
    assert_eq!(walk(&depends_only, &["reference"]), 0);
    assert_eq!(walk(&[(0, 1, true), (1, 2, false), (2, 3, true)], &["net"]), 1);
}
