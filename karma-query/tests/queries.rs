//! Every query against a naive reference implementation on random graphs.

// Costs are sums of small integers, exact in f64: equality is the check.
#![allow(clippy::float_cmp)]

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use karma_core::{Component, EdgeKind, Graph, Key, Name, Snapshot, Value};
use karma_query::{
    CheckKind, CmpOp, Direction, GroupBy, Query, QueryError, QueryResult, Selector, Subgraph, Transform, Traversal,
    View, change_impact, k_shortest_paths, on_paths_between, orphans, parse, plan, shortest_path_directed,
};
use petgraph::visit::{Bfs, Reversed};
use proptest::prelude::*;

const KINDS: [&str; 3] = ["DataSource", "Service", "Api"];

fn key(i: usize) -> Key {
    Key::new(KINDS[i % 3], &format!("n{i:02}")).unwrap()
}

/// A random graph: depends-on edges with a `latency`, custom `net` edges,
/// and reference params `r<j>` reading other components' `out`.
#[derive(Clone, Debug)]
struct Spec {
    n: usize,
    edges: Vec<(usize, usize, u8, u8)>,
    refs: Vec<(usize, usize)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (1usize..14).prop_flat_map(|n| {
        (
            Just(n),
            prop::collection::vec((0..n, 0..n, 0u8..2, 1u8..9), 0..30),
            prop::collection::vec((0..n, 0..n), 0..14),
        )
            .prop_map(|(n, edges, refs)| Spec { n, edges, refs })
    })
}

fn build(spec: &Spec) -> Snapshot {
    let mut g = Graph::new();
    for i in 0..spec.n {
        let mut c = Component::new(KINDS[i % 3], &format!("n{i:02}"))
            .unwrap()
            .with_param("replicas", (i % 5) as i64)
            .with_param("engine", if i % 2 == 0 { "postgres" } else { "redis" })
            .with_output("out", i as i64);
        if i % 4 == 1 {
            c = c.with_label("public", "true");
        }
        g.insert(c).unwrap();
    }
    for &(a, b, kind, latency) in &spec.edges {
        if a != b {
            let kind = if kind == 0 { EdgeKind::DependsOn } else { EdgeKind::custom("net") };
            g.connect(key(a), key(b), kind, [(Name::from("latency"), Value::Int(i64::from(latency)))]).unwrap();
        }
    }
    for (j, &(a, b)) in spec.refs.iter().enumerate() {
        if a != b {
            g.set_param(key(a), format!("r{j}"), Value::reference(key(b), "out")).unwrap();
        }
    }
    g.snapshot()
}

/// Adjacency by key: (to, kind label, latency) per edge, walking `direction`.
fn adjacency(s: &Snapshot, direction: Direction) -> HashMap<Key, Vec<(Key, String, f64)>> {
    let mut adj: HashMap<Key, Vec<(Key, String, f64)>> = HashMap::new();
    for e in s.edges() {
        let w = e.attribute("latency").and_then(Value::as_int).map_or(1.0, |i| i as f64);
        let (a, b) = match direction {
            Direction::Dependencies => (e.from(), e.to()),
            Direction::Dependents => (e.to(), e.from()),
        };
        adj.entry(a.clone()).or_default().push((b.clone(), e.kind().label().to_string(), w));
    }
    adj
}

fn naive_bfs(s: &Snapshot, starts: &[Key], direction: Direction) -> BTreeMap<Key, u32> {
    let adj = adjacency(s, direction);
    let mut dist: BTreeMap<Key, u32> = starts.iter().map(|k| (k.clone(), 0)).collect();
    let mut queue: VecDeque<Key> = starts.iter().cloned().collect();
    while let Some(k) = queue.pop_front() {
        for (m, _, _) in adj.get(&k).into_iter().flatten() {
            if !dist.contains_key(m) {
                dist.insert(m.clone(), dist[&k] + 1);
                queue.push_back(m.clone());
            }
        }
    }
    dist
}

fn naive_dijkstra(s: &Snapshot, starts: &[Key], direction: Direction, weighted: bool) -> BTreeMap<Key, f64> {
    let adj = adjacency(s, direction);
    let mut dist: BTreeMap<Key, f64> = starts.iter().map(|k| (k.clone(), 0.0)).collect();
    // Bellman-Ford: relax until nothing changes.
    loop {
        let mut changed = false;
        let snapshot: Vec<(Key, f64)> = dist.iter().map(|(k, d)| (k.clone(), *d)).collect();
        for (k, d) in snapshot {
            for (m, _, w) in adj.get(&k).into_iter().flatten() {
                let nd = d + if weighted { *w } else { 1.0 };
                if dist.get(m).is_none_or(|&old| nd < old) {
                    dist.insert(m.clone(), nd);
                    changed = true;
                }
            }
        }
        if !changed {
            return dist;
        }
    }
}

/// Whether an ordering satisfies `op`.
fn by_op(op: CmpOp, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match op {
        CmpOp::Eq => ord == Equal,
        CmpOp::Ne => ord != Equal,
        CmpOp::Lt => ord == Less,
        CmpOp::Le => ord != Greater,
        CmpOp::Gt => ord == Greater,
        CmpOp::Ge => ord != Less,
    }
}

fn naive_select(s: &Snapshot, sel: &Selector) -> Vec<Key> {
    fn m(c: &Component, s: &Snapshot, sel: &Selector) -> bool {
        match sel {
            Selector::All => true,
            Selector::Key(k) => c.key() == k,
            Selector::Kind(k) => c.kind() == k,
            Selector::Name(g) => g.strip_suffix('*').map_or(c.name() == g, |p| c.name().starts_with(p)),
            Selector::Label { name, value } => c.label(name).is_some_and(|v| value.as_ref().is_none_or(|w| w == v)),
            Selector::Param { name, op, value } => c.param_value(name).is_some_and(|v| match (v, value) {
                (Value::Int(a), Value::Int(b)) => by_op(*op, a.cmp(b)),
                (Value::String(a), Value::String(b)) => by_op(*op, a.cmp(b)),
                _ => *op == CmpOp::Ne,
            }),
            Selector::EdgeKind(k) => {
                s.edges().any(|e| e.kind().label() == k && (e.from() == c.key() || e.to() == c.key()))
            }
            Selector::And(a, b) => m(c, s, a) && m(c, s, b),
            Selector::Or(a, b) => m(c, s, a) || m(c, s, b),
            Selector::Not(a) => !m(c, s, a),
        }
    }
    let mut out: Vec<Key> = s.components().filter(|c| m(c, s, sel)).map(|c| c.key().clone()).collect();
    out.sort();
    out
}

fn atom() -> impl Strategy<Value = Selector> {
    prop_oneof![
        Just(Selector::All),
        (0usize..14).prop_map(|i| Selector::Key(key(i))),
        prop::sample::select(KINDS.to_vec()).prop_map(Selector::kind),
        prop::sample::select(vec!["n0*", "n1*", "n03", "*"]).prop_map(Selector::name),
        Just(Selector::has_label("public")),
        Just(Selector::label("public", "false")),
        (prop::sample::select(vec![CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge]), 0i64..5)
            .prop_map(|(op, v)| Selector::param("replicas", op, v)),
        prop::sample::select(vec!["postgres", "redis", "mysql"]).prop_map(|e| Selector::param("engine", CmpOp::Eq, e)),
        Just(Selector::param("engine", CmpOp::Gt, 3)),
        prop::sample::select(vec!["depends-on", "net", "reference"]).prop_map(Selector::edge_kind),
    ]
}

fn selector() -> impl Strategy<Value = Selector> {
    atom().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.and(b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.or(b)),
            inner.prop_map(Selector::not),
        ]
    })
}

fn query() -> impl Strategy<Value = Query> {
    let direction = prop::sample::select(vec![Direction::Dependents, Direction::Dependencies]);
    let kinds = prop::option::of(prop::sample::subsequence(vec!["depends-on", "net", "reference"], 1..3))
        .prop_map(|k| k.map(|k| k.into_iter().map(String::from).collect()));
    prop_oneof![
        selector().prop_map(|select| Query::Select { select }),
        (direction.clone(), 0usize..14, prop::option::of(0u32..4), kinds, prop::option::of(selector())).prop_map(
            |(direction, i, max_depth, edge_kinds, filter)| Query::Reach {
                direction,
                of: key(i),
                traversal: Traversal { max_depth, edge_kinds },
                filter
            }
        ),
        (0usize..14, prop::sample::select(vec!["replicas", "engine", "has space", "and"]), prop::option::of(0u32..4))
            .prop_map(|(i, p, max_depth)| Query::Impact { of: key(i), param: p.into(), max_depth }),
        (selector(), selector(), prop::option::of(Just("latency".to_string())), 1u32..4, direction)
            .prop_map(|(from, to, weight, k, direction)| Query::Path { from, to, weight, k, direction }),
        (selector(), selector()).prop_map(|(from, to)| Query::OnPath { from, to }),
        prop::option::of(selector()).prop_map(|scope| Query::Plan { scope }),
        (
            prop::sample::select(vec![CheckKind::All, CheckKind::Orphans, CheckKind::Dangling, CheckKind::Unreachable]),
            prop::option::of(selector())
        )
            .prop_map(|(kind, entries)| Query::Check {
                kind,
                entries: entries.filter(|_| matches!(kind, CheckKind::All | CheckKind::Unreachable))
            }),
    ]
}

/// Whether `path` (keys) walks real edges in `direction`.
fn walks(s: &Snapshot, path: &[Key], direction: Direction) -> bool {
    walks_in(&adjacency(s, direction), path)
}

fn walks_in(adj: &HashMap<Key, Vec<(Key, String, f64)>>, path: &[Key]) -> bool {
    path.windows(2).all(|w| adj.get(&w[0]).is_some_and(|next| next.iter().any(|(m, _, _)| *m == w[1])))
}

fn go(
    adj: &HashMap<Key, Vec<(Key, String, f64)>>,
    path: &mut Vec<Key>,
    cost: f64,
    to: &BTreeSet<Key>,
    weighted: bool,
    costs: &mut Vec<f64>,
) {
    let last = path.last().unwrap().clone();
    if to.contains(&last) {
        costs.push(cost);
        return;
    }
    let mut seen = BTreeSet::new();
    for (m, _, _) in adj.get(&last).into_iter().flatten() {
        if path.contains(m) {
            continue;
        }
        // Parallel edges of several kinds: the cheapest one counts.
        let w = adj[&last].iter().filter(|(x, _, _)| x == m).map(|(_, _, w)| *w).fold(f64::INFINITY, f64::min);
        if !seen.insert(m.clone()) {
            continue;
        }
        path.push(m.clone());
        go(adj, path, cost + if weighted { w } else { 1.0 }, to, weighted, costs);
        path.pop();
    }
}

fn simple_paths(s: &Snapshot, from: &[Key], to: &BTreeSet<Key>, direction: Direction, weighted: bool) -> Vec<f64> {
    let adj = adjacency(s, direction);
    let mut costs = Vec::new();
    for f in from {
        go(&adj, &mut vec![f.clone()], 0.0, to, weighted, &mut costs);
    }
    costs.sort_by(f64::total_cmp);
    costs
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn selectors_match_naive_filter(spec in spec(), sel in selector()) {
        let s = build(&spec);
        let view = View::new(&s);
        let got: Vec<Key> = sel.select(&view).into_iter().map(|id| view.key(id).clone()).collect();
        prop_assert_eq!(&got, &naive_select(&s, &sel));
        let mask = sel.mask(&view);
        for id in view.ids() {
            prop_assert_eq!(mask[id as usize], sel.matches(&view, id));
        }
    }

    #[test]
    fn multi_source_reach_matches_naive(spec in spec(), starts in prop::collection::vec(0usize..14, 1..4), dependents in any::<bool>()) {
        let s = build(&spec);
        let view = View::new(&s);
        let direction = if dependents { Direction::Dependents } else { Direction::Dependencies };
        let starts: Vec<Key> = starts.into_iter().map(|i| key(i % spec.n)).collect();
        let ids: Vec<u32> = starts.iter().map(|k| view.id(k).unwrap()).collect();
        let reach = view.reach(&ids, direction, &Traversal::default());
        let want = naive_bfs(&s, &starts, direction);
        // The reached nodes, sources excluded: nearest first, ties by id.
        let mut ranked: Vec<(u32, u32)> =
            view.ids().filter_map(|id| want.get(view.key(id)).filter(|&&d| d > 0).map(|&d| (d, id))).collect();
        ranked.sort_unstable();
        prop_assert_eq!(reach.ids(), ranked.iter().map(|&(_, id)| id).collect::<Vec<_>>());
        prop_assert_eq!(reach.len(), ranked.len());
        let members = reach.members();
        for id in view.ids() {
            let reached = want.get(view.key(id)).is_some_and(|&d| d > 0);
            prop_assert_eq!(reach.contains(id), reached);
            prop_assert_eq!(members[id as usize], reached);
        }
        for id in view.ids() {
            prop_assert_eq!(reach.depth(id), want.get(view.key(id)).copied());
            let path: Vec<Key> = reach.path(id).into_iter().map(|n| view.key(n).clone()).collect();
            if let Some(&d) = want.get(view.key(id)) {
                prop_assert_eq!(path.len(), d as usize + 1);
                prop_assert!(walks(&s, &path, direction));
            }
        }
        // petgraph's own BFS on the view agrees on what is reached.
        if !dependents && ids.len() == 1 {
            let mut bfs = Bfs::new(&view, ids[0]);
            let mut seen = BTreeSet::new();
            while let Some(n) = bfs.next(&view) { seen.insert(view.key(n).clone()); }
            prop_assert_eq!(seen, want.keys().cloned().collect::<BTreeSet<_>>());
        } else if ids.len() == 1 {
            let reversed = Reversed(&view);
            let mut bfs = Bfs::new(reversed, ids[0]);
            let mut seen = BTreeSet::new();
            while let Some(n) = bfs.next(reversed) { seen.insert(view.key(n).clone()); }
            prop_assert_eq!(seen, want.keys().cloned().collect::<BTreeSet<_>>());
        }
    }

    #[test]
    fn param_impact_matches_naive_fixpoint(spec in spec(), start in 0usize..14, param in prop::sample::select(vec!["replicas", "engine"])) {
        let s = build(&spec);
        let view = View::new(&s);
        let start = key(start % spec.n);
        // Without schemas every param feeds every output: a param (a, p)
        // is hit when it references a component that is the start or has a
        // hit param; depth by BFS over param pairs.
        let mut depth: BTreeMap<(Key, Name), u32> = BTreeMap::new();
        let mut frontier = vec![start.clone()];
        let mut seen_components = BTreeSet::from([start.clone()]);
        let mut level = 0;
        while !frontier.is_empty() {
            level += 1;
            let mut next = Vec::new();
            for producer in &frontier {
                for e in s.edges() {
                    if let EdgeKind::Reference { param, .. } = e.kind()
                        && e.to() == producer
                        && !depth.contains_key(&(e.from().clone(), param.clone()))
                    {
                        depth.insert((e.from().clone(), param.clone()), level);
                        if seen_components.insert(e.from().clone()) {
                            next.push(e.from().clone());
                        }
                    }
                }
            }
            frontier = next;
        }
        let got = karma_query::param_impact(&view, &start, param, &Traversal::default()).unwrap();
        let got_depths: BTreeMap<(Key, Name), u32> =
            got.iter().map(|p| ((p.target.key.clone(), p.target.param.clone()), p.depth)).collect();
        prop_assert_eq!(got_depths, depth);
        for hit in &got {
            prop_assert_eq!(hit.chain.len(), hit.depth as usize + 1);
            prop_assert_eq!(&hit.chain[0].key, &start);
            // Each link reads an output of the previous link's component.
            for w in hit.chain.windows(2) {
                let reads = s.edges_from(&w[1].key).any(|e| matches!(e.kind(), EdgeKind::Reference { param, .. } if *param == w[1].param) && e.to() == &w[0].key);
                prop_assert!(reads);
            }
        }
    }

    #[test]
    fn paths_match_naive(spec in spec(), from in selector(), to in selector(), weighted in any::<bool>(), dependents in any::<bool>(), k in 1usize..4) {
        let s = build(&spec);
        let view = View::new(&s);
        let direction = if dependents { Direction::Dependents } else { Direction::Dependencies };
        let weights = weighted.then(|| view.edge_weights("latency", Some(1.0)).unwrap());
        let sources = naive_select(&s, &from);
        let targets: BTreeSet<Key> = naive_select(&s, &to).into_iter().collect();
        let dist = naive_dijkstra(&s, &sources, direction, weighted);
        let best = targets.iter().filter_map(|t| dist.get(t)).copied().fold(f64::INFINITY, f64::min);
        let got = shortest_path_directed(&view, &from, &to, direction, weights.as_ref()).unwrap();
        match got {
            None => prop_assert!(best.is_infinite()),
            Some(p) => {
                prop_assert_eq!(p.cost, best);
                prop_assert!(sources.contains(&p.keys[0]));
                prop_assert!(targets.contains(p.keys.last().unwrap()));
                prop_assert!(walks(&s, &p.keys, direction));
            }
        }
        // k shortest simple paths: the k cheapest costs among all simple
        // paths that stop at the first target they meet.
        let all = simple_paths(&s, &sources, &targets, direction, weighted);
        let got = k_shortest_paths(&view, &from, &to, k, direction, weights.as_ref()).unwrap();
        let got_costs: Vec<f64> = got.iter().map(|p| p.cost).collect();
        let want: Vec<f64> = all.iter().take(k).copied().collect();
        prop_assert_eq!(got_costs, want);
        for p in &got {
            prop_assert!(walks(&s, &p.keys, direction));
            prop_assert_eq!(p.keys.iter().collect::<BTreeSet<_>>().len(), p.keys.len());
        }
        // Everything on some path: reachable from a source and reaching a target.
        let forward = naive_bfs(&s, &sources, direction);
        let target_list: Vec<Key> = targets.iter().cloned().collect();
        let backward = naive_bfs(&s, &target_list, direction.reversed());
        let want: Vec<Key> = forward.keys().filter(|k| backward.contains_key(*k)).cloned().collect();
        prop_assert_eq!(on_paths_between(&view, &from, &to, direction).unwrap(), want);
    }

    #[test]
    fn plans_respect_dependencies_and_name_cycles(spec in spec(), scope in prop::option::of(selector())) {
        let s = build(&spec);
        let view = View::new(&s);
        let p = plan(&view, scope.as_ref()).unwrap();
        let in_scope: BTreeSet<Key> = naive_select(&s, scope.as_ref().unwrap_or(&Selector::All)).into_iter().collect();
        let wave_of: BTreeMap<&Key, usize> = p.waves.iter().enumerate().flat_map(|(i, w)| w.iter().map(move |k| (k, i))).collect();
        let deps = adjacency(&s, Direction::Dependencies);
        for (k, &w) in &wave_of {
            let mine: Vec<&Key> = deps.get(*k).into_iter().flatten().map(|(m, _, _)| m).filter(|m| in_scope.contains(*m)).collect();
            for m in &mine {
                prop_assert!(wave_of.get(m).is_some_and(|&mw| mw < w), "{} in wave {} needs {}", k, w, m);
            }
            // As early as possible.
            if w > 0 {
                prop_assert!(mine.iter().any(|m| wave_of[m] == w - 1));
            }
        }
        // On a cycle (within the scope) ⇔ reaches itself; blocked: depends on one.
        let scoped_reach = |k: &Key| {
            let mut seen = BTreeSet::new();
            let mut stack = vec![k.clone()];
            while let Some(x) = stack.pop() {
                for (m, _, _) in deps.get(&x).into_iter().flatten() {
                    if in_scope.contains(m) && seen.insert(m.clone()) {
                        stack.push(m.clone());
                    }
                }
            }
            seen
        };
        let on_cycle: BTreeSet<Key> = in_scope.iter().filter(|k| scoped_reach(k).contains(*k)).cloned().collect();
        let got_cycle: BTreeSet<Key> = p.cycles.iter().flatten().cloned().collect();
        prop_assert_eq!(&got_cycle, &on_cycle);
        let blocked: BTreeSet<Key> = in_scope
            .iter()
            .filter(|k| !on_cycle.contains(*k) && scoped_reach(k).iter().any(|m| on_cycle.contains(m)))
            .cloned()
            .collect();
        prop_assert_eq!(p.blocked.iter().cloned().collect::<BTreeSet<_>>(), blocked);
        prop_assert_eq!(wave_of.len() + got_cycle.len() + p.blocked.len(), in_scope.len());
    }

    #[test]
    fn orphans_and_change_impact_match_naive(spec in spec(), change in 0usize..14, value in 0i64..3) {
        let s = build(&spec);
        let view = View::new(&s);
        let want: Vec<Key> = s.components().map(|c| c.key().clone())
            .filter(|k| !s.edges().any(|e| e.from() == k || e.to() == k))
            .collect::<BTreeSet<_>>().into_iter().collect();
        prop_assert_eq!(orphans(&view), want);

        let mut g = Graph::from_snapshot(s.clone(), karma_core::SystemClock);
        let changed = key(change % spec.n);
        g.set_param(changed.clone(), "replicas", 100 + value).unwrap();
        let after = g.snapshot();
        let radius = change_impact(&s, &View::new(&after), &s.diff(&after)).unwrap();
        let want = naive_bfs(&after, std::slice::from_ref(&changed), Direction::Dependents);
        let got: BTreeMap<Key, u32> = radius.affected.iter().map(|a| (a.key.clone(), a.distance)).collect();
        prop_assert_eq!(&got, &want);
        prop_assert!(radius.affected.windows(2).all(|w| (w[0].distance, &w[0].key) < (w[1].distance, &w[1].key)));
        prop_assert_eq!(radius.by_kind.values().sum::<usize>(), radius.affected.len());
        // The changed param reaches exactly the components its param impact reaches.
        let hit: BTreeSet<Key> = karma_query::param_impact(&View::new(&after), &changed, "replicas", &Traversal::default())
            .unwrap().into_iter().map(|p| p.target.key).collect();
        for a in &radius.affected {
            prop_assert_eq!(!a.via_params.is_empty(), hit.contains(&a.key));
        }
    }

    #[test]
    fn queries_print_and_parse_back(q in query()) {
        let text = q.to_string();
        let back = parse(&text);
        prop_assert_eq!(back.as_ref(), Ok(&q), "{}", text);
    }

    #[test]
    fn malformed_queries_are_errors_with_a_column(text in "[a-z =<>!~()\",.0-9/\"-]{0,40}") {
        match parse(&text) {
            Ok(q) => prop_assert_eq!(parse(&q.to_string()), Ok(q)),
            Err(QueryError::Parse { column, .. }) => prop_assert!(column >= 1 && column <= text.chars().count() + 1),
            Err(other) => prop_assert!(false, "not a parse error: {other:?}"),
        }
    }

    #[test]
    fn queries_run_without_panicking(spec in spec(), q in query()) {
        let s = build(&spec);
        let view = View::new(&s);
        match q.run(&view) {
            Ok(result) => {
                let table = result.to_string();
                prop_assert!(table.ends_with("rows)\n") || table.ends_with("(1 row)\n"));
                let json = serde_json::to_string(&result).unwrap();
                prop_assert_eq!(serde_json::from_str::<QueryResult>(&json).unwrap(), result);
            }
            // Typed errors a query can rightly end in: a start that does not
            // exist, or reference edges that carry no weight attribute.
            Err(QueryError::UnknownParam { .. } | QueryError::UnknownComponent { .. } | QueryError::BadWeight { .. }) => {}
            Err(other) => prop_assert!(false, "{other:?}"),
        }
    }
}

#[test]
fn large_frontiers_take_the_parallel_and_bottom_up_paths() {
    // Big enough for frontiers past the parallel threshold and the switch
    // to bottom-up levels; checked against the naive search.
    let n = 6000;
    let mut g = Graph::new();
    for i in 0..n {
        g.insert(Component::new("Node", &format!("n{i:05}")).unwrap()).unwrap();
    }
    let mut x: u64 = 7;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let k = |i: u64| Key::new("Node", &format!("n{i:05}")).unwrap();
    for _ in 0..36_000 {
        let (a, b) = (next() % n, next() % n);
        if a != b {
            let _ = g.connect(k(a), k(b), EdgeKind::DependsOn, []);
        }
    }
    let s = g.snapshot();
    let view = View::new(&s);
    for direction in [Direction::Dependents, Direction::Dependencies] {
        let reach = view.reach(&[0], direction, &Traversal::default());
        let want = naive_bfs(&s, &[view.key(0).clone()], direction);
        let adj = adjacency(&s, direction);
        assert!(want.len() > 5000);
        assert_eq!(reach.len() + 1, want.len());
        let ids = reach.ids();
        assert_eq!(ids.len(), reach.len());
        let rank = |id: u32| (reach.depth(id).unwrap(), id);
        assert!(ids.windows(2).all(|w| rank(w[0]) < rank(w[1])), "nearest first, ties by id");
        for id in view.ids() {
            assert_eq!(reach.depth(id), want.get(view.key(id)).copied());
            let path: Vec<Key> = reach.path(id).into_iter().map(|n| view.key(n).clone()).collect();
            if reach.depth(id).is_some() {
                assert!(walks_in(&adj, &path));
            }
        }
        // Weighted with unit weights agrees with hops; petgraph's dijkstra agrees too.
        let weights = view.edge_weights("none", Some(1.0)).unwrap();
        let d = view.dijkstra(&[0], Direction::Dependencies, &weights);
        let pg = petgraph::algo::dijkstra(&view, 0, None, |_| 1.0f64);
        for id in view.ids() {
            assert_eq!(d.distance(id), pg.get(&id).copied());
        }
    }
}

#[test]
fn schema_declared_outputs_narrow_param_impact() {
    use karma_core::{OutputSpec, ParamSpec, Schema, ValueType};
    let mut g = Graph::new();
    g.register_schema(
        Schema::new("Database")
            .param(ParamSpec::new("port", ValueType::Int))
            .param(ParamSpec::new("engine", ValueType::String))
            .output(OutputSpec::new("url", ValueType::String).derives_from(["port"]))
            .output(OutputSpec::new("flavour", ValueType::String).derives_from(["engine"])),
    )
    .unwrap();
    g.insert(
        Component::new("Database", "orders")
            .unwrap()
            .with_param("port", 5432)
            .with_param("engine", "postgres")
            .with_output("url", "pg://")
            .with_output("flavour", "pg"),
    )
    .unwrap();
    let orders = Key::new("Database", "orders").unwrap();
    g.insert(Component::new("Service", "api").unwrap().with_param("db", Value::reference(orders.clone(), "url")))
        .unwrap();
    g.insert(
        Component::new("Service", "report").unwrap().with_param("dialect", Value::reference(orders.clone(), "flavour")),
    )
    .unwrap();
    let view = View::new(&g.snapshot());
    let by_port = karma_query::param_impact(&view, &orders, "port", &Traversal::default()).unwrap();
    assert_eq!(by_port.iter().map(|p| p.target.to_string()).collect::<Vec<_>>(), ["Service/api.db"]);
    let by_engine = karma_query::param_impact(&view, &orders, "engine", &Traversal::default()).unwrap();
    assert_eq!(by_engine.iter().map(|p| p.target.to_string()).collect::<Vec<_>>(), ["Service/report.dialect"]);
    assert!(matches!(
        karma_query::param_impact(&view, &orders, "nope", &Traversal::default()),
        Err(QueryError::UnknownParam { .. })
    ));
}

#[test]
fn transforms_preview_deltas_that_apply() {
    let s = build(&Spec { n: 6, edges: vec![(1, 0, 0, 3), (2, 1, 1, 2), (5, 4, 0, 1)], refs: vec![(2, 0), (3, 2)] });
    let view = View::new(&s);
    let mut g = Graph::from_snapshot(s.clone(), karma_core::SystemClock);

    // Set a param on every match.
    let t = Transform::SetParam { select: Selector::kind("Service"), name: "replicas".into(), value: Value::Int(9) };
    let delta = t.preview(&view).unwrap();
    assert_eq!(delta.len(), naive_select(&s, &Selector::kind("Service")).len());
    g.apply(&delta).unwrap();
    assert!(
        g.snapshot()
            .components()
            .filter(|c| c.kind() == "Service")
            .all(|c| c.param_value("replicas") == Some(&Value::Int(9)))
    );

    // Relabel and rename keep keys.
    let t = Transform::Rename { key: key(0), name: "primary".into() };
    let after = t.apply_to(&view).unwrap();
    assert_eq!(after.get(&key(0)).unwrap().name(), "primary");

    // Extract keeps only the matches, and drops the references out of them.
    let keep = Selector::Key(key(2)).or(Selector::Key(key(3)));
    let after = Transform::Extract { select: keep }.apply_to(&view).unwrap();
    assert_eq!(after.len(), 2);
    assert!(after.get(&key(2)).unwrap().param("r0").is_none());
    assert!(after.get(&key(3)).unwrap().param("r1").is_some());

    // Clone into another environment, rewiring references among the copies.
    let t = Transform::Clone {
        select: Selector::Key(key(2)).or(Selector::Key(key(3))),
        mapping: karma_query::KeyMapping { replace: String::new(), with: "prod-".into() },
        labels: BTreeMap::from([(Name::from("env"), "prod".into())]),
        overrides: BTreeMap::from([(
            Key::new("DataSource", "prod-n03").unwrap(),
            BTreeMap::from([(Name::from("replicas"), Value::Int(7))]),
        )]),
    };
    let after = t.apply_to(&view).unwrap();
    let copy = after.get(&Key::new("DataSource", "prod-n03").unwrap()).unwrap();
    assert_eq!(copy.label("env"), Some("prod"));
    assert_eq!(copy.param_value("replicas"), Some(&Value::Int(7)));
    let r = copy.param_value("r1").unwrap().as_ref().unwrap();
    assert_eq!(r.component, Key::new("Api", "prod-n02").unwrap());
    // The copy of n02 still reads n00's output (n00 was not cloned), and its net edge to n01 is copied.
    let n02 = after.get(&Key::new("Api", "prod-n02").unwrap()).unwrap();
    assert_eq!(n02.param_value("r0").unwrap().as_ref().unwrap().component, key(0));
    assert!(after.edges_from(n02.key()).any(|e| e.to() == &key(1) && e.kind().label() == "net"));
    // Cloning onto an existing key is refused.
    let clash = Transform::Clone {
        select: Selector::Key(key(2)),
        mapping: karma_query::KeyMapping { replace: "n02".into(), with: "n05".into() },
        labels: BTreeMap::new(),
        overrides: BTreeMap::new(),
    };
    assert!(clash.apply_to(&view).is_err() || view.id(&Key::new("Api", "n05").unwrap()).is_none());
}

#[test]
fn subgraphs_export_to_dot_and_mermaid() {
    let s = build(&Spec { n: 4, edges: vec![(1, 0, 0, 3), (2, 1, 0, 2)], refs: vec![] });
    let view = View::new(&s);
    let path =
        shortest_path_directed(&view, &Selector::Key(key(0)), &Selector::Key(key(2)), Direction::Dependents, None)
            .unwrap()
            .unwrap();
    let sub = Subgraph::of_path(&view, &path, &GroupBy::Kind);
    let dot = sub.to_dot();
    assert!(dot.starts_with("digraph karma {"));
    assert_eq!(dot.matches("subgraph cluster_").count(), 3);
    assert_eq!(dot.matches(" -> ").count(), 2);
    assert_eq!(dot.matches("filled").count(), 2);
    let mermaid = sub.to_mermaid();
    assert!(mermaid.starts_with("flowchart LR"));
    assert_eq!(mermaid.matches("-->").count(), 2);
    assert!(mermaid.contains("class n0,n2 changed") || mermaid.contains("changed"));
    let result = Query::Path {
        from: Selector::Key(key(0)),
        to: Selector::Key(key(2)),
        weight: None,
        k: 1,
        direction: Direction::Dependents,
    }
    .run(&view)
    .unwrap();
    assert!(result.to_string().contains("DataSource/n00 → Service/n01 → Api/n02"));
}

#[test]
fn cloning_components_that_reference_each_other() {
    let s = build(&Spec { n: 2, edges: vec![], refs: vec![(0, 1), (1, 0)] });
    let view = View::new(&s);
    let t = Transform::Clone {
        select: Selector::All,
        mapping: karma_query::KeyMapping { replace: "n".into(), with: "qa-n".into() },
        labels: BTreeMap::new(),
        overrides: BTreeMap::new(),
    };
    let delta = t.preview(&view).unwrap();
    assert_eq!(delta.added().count(), 2);
    let after = t.apply_to(&view).unwrap();
    let a = after.get(&Key::new("DataSource", "qa-n00").unwrap()).unwrap();
    assert_eq!(a.param_value("r0").unwrap().as_ref().unwrap().component, Key::new("Service", "qa-n01").unwrap());
    let b = after.get(&Key::new("Service", "qa-n01").unwrap()).unwrap();
    assert_eq!(b.param_value("r1").unwrap().as_ref().unwrap().component, Key::new("DataSource", "qa-n00").unwrap());
}
