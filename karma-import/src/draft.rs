//! The shared second half of every importer: components, edges and
//! references gathered from a document, checked, then built into a graph.

use std::collections::BTreeMap;

use rustc_hash::{FxHashMap as HashMap, FxHashSet};
use std::sync::Arc;

use karma_core::{Component, EdgeKind, Graph, Key, ManualClock, Name, Snapshot, Timestamp, Value};

use crate::error::{ImportError, Location, Warning, WarningKind};
use crate::{Format, Import, ImportReport};

/// An edge waiting for both ends to exist.
pub(crate) struct DraftEdge {
    pub(crate) from: Key,
    pub(crate) to: Key,
    pub(crate) kind: EdgeKind,
    pub(crate) attributes: Vec<(Name, Value)>,
    pub(crate) relation: &'static str,
    /// Shared: one object's many edges have one location.
    pub(crate) location: Arc<Location>,
}

/// A param whose value holds references, set once every producer exists.
pub(crate) struct DraftRef {
    pub(crate) consumer: Key,
    pub(crate) param: Name,
    pub(crate) value: Value,
}

#[derive(Default)]
pub(crate) struct Draft {
    components: Vec<(Component, Location)>,
    index: HashMap<Key, usize>,
    edges: Vec<DraftEdge>,
    refs: Vec<DraftRef>,
    outputs: BTreeMap<Key, BTreeMap<Name, Value>>,
    pub(crate) warnings: Vec<Warning>,
    pub(crate) secrets: usize,
}

impl Draft {
    /// Adds a component; a second one with the same key is an error naming
    /// both places.
    pub(crate) fn add(&mut self, component: Component, location: Location) -> Result<(), ImportError> {
        let key = component.key().clone();
        if let Some(&i) = self.index.get(&key) {
            return Err(ImportError::Duplicate {
                key: key.to_string(),
                first: Box::new(self.components[i].1.clone()),
                second: location,
            });
        }
        self.index.insert(key, self.components.len());
        self.components.push((component, location));
        Ok(())
    }

    pub(crate) fn contains(&self, key: &Key) -> bool {
        self.index.contains_key(key)
    }

    /// An edge `from` → `to` (*from depends on to*); a missing `to` becomes
    /// a warning when the graph is built.
    pub(crate) fn edge(&mut self, edge: DraftEdge) {
        self.edges.push(edge);
    }

    /// Sets `param` of `consumer` to a value holding references, and makes
    /// sure each producer has the output it reads (with the value it had).
    pub(crate) fn reference(&mut self, consumer: Key, param: Name, value: Value, outputs: Vec<(Key, Name, Value)>) {
        for (producer, output, v) in outputs {
            self.outputs.entry(producer).or_default().insert(output, v);
        }
        self.refs.push(DraftRef { consumer, param, value });
    }

    pub(crate) fn warn(&mut self, location: Location, kind: WarningKind) {
        self.warnings.push(Warning { location, kind });
    }

    /// Fails if the edges of `kind` form a cycle, naming its members.
    pub(crate) fn check_acyclic(&self, kind: &EdgeKind) -> Result<(), ImportError> {
        let mut next: HashMap<&Key, Vec<&Key>> = HashMap::default();
        for e in self.edges.iter().filter(|e| &e.kind == kind && self.contains(&e.to)) {
            next.entry(&e.from).or_default().push(&e.to);
        }
        // Iterative three-colour DFS; `on_stack` keeps the current path.
        let mut state: HashMap<&Key, u8> = HashMap::default();
        for (start, _) in &self.components {
            let start = start.key();
            if state.contains_key(start) {
                continue;
            }
            let mut stack: Vec<(&Key, usize)> = vec![(start, 0)];
            state.insert(start, 1);
            while let Some((node, i)) = stack.pop() {
                let succ = next.get(node).map_or(&[][..], Vec::as_slice);
                if let Some(&to) = succ.get(i) {
                    stack.push((node, i + 1));
                    match state.get(to) {
                        None => {
                            state.insert(to, 1);
                            stack.push((to, 0));
                        }
                        Some(1) => {
                            let from = stack.iter().position(|(k, _)| *k == to).unwrap_or(0);
                            let mut members: Vec<String> = stack[from..].iter().map(|(k, _)| k.to_string()).collect();
                            members.push(to.to_string());
                            let location = self.components[self.index[to]].1.clone();
                            return Err(ImportError::Cycle { members, location });
                        }
                        Some(_) => {}
                    }
                } else {
                    state.insert(node, 2);
                }
            }
        }
        Ok(())
    }

    /// Builds the graph: components, then edges, then reference params.
    pub(crate) fn finish(self, format: Format, time: Timestamp) -> Result<Import, ImportError> {
        let mut graph = Graph::with_clock(ManualClock::new(time));
        let Self { components, index, edges, refs, mut outputs, mut warnings, secrets } = self;
        let mut locations: HashMap<Key, Location> = HashMap::default();
        let n = components.len();
        for (mut component, location) in components {
            if let Some(outs) = outputs.remove(component.key()) {
                for (name, value) in outs {
                    component = component.with_output(name, value);
                }
            }
            let key = component.key().clone();
            graph.insert(component).map_err(|source| ImportError::model(location.clone(), source))?;
            locations.insert(key, location);
        }
        let mut batch = Vec::with_capacity(edges.len());
        let mut batch_locations = Vec::with_capacity(edges.len());
        for e in merge_parallel(edges) {
            if !index.contains_key(&e.to) {
                warnings.push(Warning {
                    location: Arc::unwrap_or_clone(e.location),
                    kind: WarningKind::UnresolvedTarget { target: e.to.to_string(), relation: e.relation.into() },
                });
                continue;
            }
            if e.from == e.to {
                warnings.push(Warning {
                    location: Arc::unwrap_or_clone(e.location),
                    kind: WarningKind::NotImported { what: format!("{} of `{}` on itself", e.relation, e.from) },
                });
                continue;
            }
            batch.push((e.from, e.to, e.kind, e.attributes));
            batch_locations.push(e.location);
        }
        let edge_count = batch.len();
        if let Err(first) = graph.connect_all(batch.iter().cloned()) {
            // Locate the edge the model refused (nothing was changed).
            for (e, location) in batch.into_iter().zip(batch_locations) {
                if let Err(source) = graph.connect(e.0, e.1, e.2, e.3) {
                    return Err(ImportError::model(Arc::unwrap_or_clone(location), source));
                }
            }
            return Err(ImportError::model(Location::default(), first));
        }
        let references = refs.len();
        for r in refs {
            let location = locations.get(&r.consumer).cloned().unwrap_or_default();
            graph.set_param(r.consumer, r.param, r.value).map_err(|source| ImportError::model(location, source))?;
        }
        let snapshot: Snapshot = graph.snapshot();
        let report = ImportReport {
            format,
            components: n,
            edges: snapshot.edge_count(),
            declared_edges: edge_count,
            references,
            secrets,
            warnings,
        };
        Ok(Import { snapshot, report })
    }
}

/// Edges with the same ends and kind become one (a graph holds one edge per
/// (from, to, kind)); their attributes are kept: a name with several
/// distinct values gets the list of them, so nothing is overwritten.
fn merge_parallel(edges: Vec<DraftEdge>) -> Vec<DraftEdge> {
    let mut ids: FxHashSet<(&Key, &Key, &EdgeKind)> = FxHashSet::default();
    ids.reserve(edges.len());
    if edges.iter().all(|e| ids.insert((&e.from, &e.to, &e.kind))) {
        return edges; // the common case: nothing to merge
    }
    drop(ids);
    let mut out: Vec<DraftEdge> = Vec::with_capacity(edges.len());
    let mut seen: HashMap<(Key, Key, EdgeKind), usize> = HashMap::default();
    for e in edges {
        let id = (e.from.clone(), e.to.clone(), e.kind.clone());
        if let Some(&i) = seen.get(&id) {
            let kept = &mut out[i];
            for (name, value) in e.attributes {
                match kept.attributes.iter_mut().find(|(n, _)| *n == name) {
                    None => kept.attributes.push((name, value)),
                    Some((_, Value::List(values))) if !values.contains(&value) => values.push(value),
                    Some((_, old)) if *old != value && !matches!(old, Value::List(_)) => {
                        *old = Value::List(vec![old.clone(), value]);
                    }
                    Some(_) => {}
                }
            }
        } else {
            seen.insert(id, out.len());
            out.push(e);
        }
    }
    out
}

/// The file name as shared text, for locations.
pub(crate) fn file_name(file: Option<&str>) -> Option<Arc<str>> {
    file.map(Arc::from)
}

/// Moves `graph` to the state of `next`, as a series of edits stamped by
/// the graph's clock: unchanged components keep their version and times,
/// changed ones get a new version, each param keeps when it last changed.
pub(crate) fn advance(graph: &mut Graph, next: &Snapshot) -> karma_core::Result<()> {
    use karma_core::Removal;
    // Producers before their consumers, so every reference finds its output.
    let mut order: Vec<&Key> = Vec::with_capacity(next.len());
    let mut state: HashMap<&Key, bool> = HashMap::default();
    for c in next.components_sorted() {
        let mut stack = vec![(c.key(), false)];
        while let Some((k, expanded)) = stack.pop() {
            if expanded {
                state.insert(k, true);
                order.push(k);
                continue;
            }
            if state.contains_key(k) {
                continue;
            }
            state.insert(k, false);
            stack.push((k, true));
            if let Some(c) = next.get(k) {
                for (_, r) in c.references() {
                    if !state.contains_key(&r.component) {
                        stack.push((&r.component, false));
                    }
                }
            }
        }
    }
    for k in order {
        if let Some(c) = next.get(k) {
            graph.upsert(c.clone())?;
        }
    }
    let declared = |e: &karma_core::Edge| !matches!(e.kind(), EdgeKind::Reference { .. });
    let stale: Vec<karma_core::EdgeId> = graph
        .snapshot()
        .edges()
        .filter(|e| declared(e) && next.edge(e.id()).is_none())
        .map(|e| e.id().clone())
        .collect();
    for id in stale {
        graph.disconnect(id.from, id.to, &id.kind)?;
    }
    let gone: Vec<Key> =
        graph.snapshot().components().filter(|c| !next.contains(c.key())).map(|c| c.key().clone()).collect();
    for k in gone {
        graph.remove(k, Removal::Cascade)?;
    }
    for e in next.edges().filter(|e| declared(e)) {
        let current = graph.snapshot();
        if current.edge(e.id()).map(karma_core::Edge::attributes) != Some(e.attributes()) {
            graph.connect(
                e.from().clone(),
                e.to().clone(),
                e.kind().clone(),
                e.attributes().iter().map(|(k, v)| (k.clone(), v.clone())),
            )?;
        }
    }
    Ok(())
}
