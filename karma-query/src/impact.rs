//! Parameter-level impact ("which components depend on this parameter?")
//! and change impact (the blast radius of a delta).

use std::collections::{BTreeMap, BTreeSet};

use karma_core::{ComponentChange, Delta, EdgeKind, Key, Name, Snapshot};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::error::{QueryError, Result};
use crate::traverse::{Direction, Reach, Traversal};
use crate::view::{NodeId, View};

/// A param of a component: one link of an impact chain.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ParamRef {
    /// The component.
    pub key: Key,
    /// The param.
    pub param: Name,
}

impl std::fmt::Display for ParamRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.key, self.param)
    }
}

/// A param reached by a parameter-impact query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpactedParam {
    /// The component and param reached.
    pub target: ParamRef,
    /// References followed from the start.
    pub depth: u32,
    /// Why: the start param, then each param that reads an output derived
    /// from the previous one, ending with `target`.
    pub chain: Vec<ParamRef>,
}

/// Reference edges indexed for param-level traversal, built on first use
/// and kept with the view.
#[derive(Clone, Debug, Default)]
pub(crate) struct RefIndex {
    /// Per kind id: whether every param of the kind feeds every output (no
    /// schema, or no output declares what it derives from).
    kind_feeds_all: Vec<bool>,
    names: Vec<Name>,
    name_ids: FxHashMap<Name, u32>,
    /// Per producer: `incoming[offsets[p]..offsets[p + 1]]`, each the param
    /// node of the consumer and the producer output it reads.
    offsets: Vec<u32>,
    incoming: Vec<(u32, u32)>,
    /// Param nodes: a (consumer, param) pair that holds references, sorted.
    node_component: Vec<NodeId>,
    node_param: Vec<u32>,
    /// Per param node: `producers[node_offsets[n]..node_offsets[n + 1]]`,
    /// the components it reads outputs of.
    node_offsets: Vec<u32>,
    producers: Vec<NodeId>,
    /// Per component: how many param nodes read it and no other component;
    /// with `shared`, counts reached params from a reach's components.
    sole_readers: Vec<u32>,
    /// The param nodes that read more than one component.
    shared: Vec<u32>,
}

impl RefIndex {
    pub(crate) fn build(view: &View) -> Self {
        let index = view.key_index();
        let shards: Vec<_> = view.snapshot().edge_ids_by_source_sharded().collect();
        // (producer, consumer, param, output) per reference edge.
        let mut refs: Vec<(NodeId, NodeId, Name, Name)> = shards
            .into_par_iter()
            .flat_map_iter(|shard| {
                let index = &index;
                shard.flat_map(move |(from, ids)| {
                    let from = index.get(from);
                    ids.filter_map(move |id| match &id.kind {
                        EdgeKind::Reference { param, output } => {
                            Some((index.get(&id.to)?, from?, param.clone(), output.clone()))
                        }
                        _ => None,
                    })
                })
            })
            .collect();
        let mut this = Self {
            kind_feeds_all: view
                .kind_names()
                .iter()
                .map(|kind| {
                    view.snapshot().schema(kind).is_none_or(|s| s.outputs.iter().all(|o| o.derives_from.is_none()))
                })
                .collect(),
            ..Self::default()
        };
        let mut interned: Vec<(NodeId, NodeId, u32, u32)> = Vec::with_capacity(refs.len());
        for (producer, consumer, param, output) in refs.drain(..) {
            let param = this.intern(param);
            let output = this.intern(output);
            interned.push((producer, consumer, param, output));
        }
        // Param nodes, numbered in (consumer, param) order.
        let mut nodes: Vec<(NodeId, u32)> = interned.iter().map(|&(_, c, p, _)| (c, p)).collect();
        nodes.par_sort_unstable();
        nodes.dedup();
        this.node_component = nodes.iter().map(|&(c, _)| c).collect();
        this.node_param = nodes.iter().map(|&(_, p)| p).collect();
        let node_of = |c: NodeId, p: u32| nodes.binary_search(&(c, p)).map_or(0, |i| i as u32);
        let mut entries: Vec<(NodeId, u32, u32)> =
            interned.par_iter().map(|&(producer, c, p, o)| (producer, node_of(c, p), o)).collect();
        let mut forward: Vec<(u32, NodeId)> = entries.par_iter().map(|&(producer, node, _)| (node, producer)).collect();
        forward.par_sort_unstable();
        forward.dedup();
        let mut node_offsets = vec![0u32; nodes.len() + 1];
        for &(node, _) in &forward {
            node_offsets[node as usize + 1] += 1;
        }
        for i in 0..nodes.len() {
            node_offsets[i + 1] += node_offsets[i];
        }
        this.producers = forward.into_iter().map(|(_, p)| p).collect();
        this.sole_readers = vec![0; view.len()];
        for (node, w) in node_offsets.windows(2).enumerate() {
            match w[1] - w[0] {
                0 => {}
                1 => this.sole_readers[this.producers[w[0] as usize] as usize] += 1,
                _ => this.shared.push(node as u32),
            }
        }
        this.node_offsets = node_offsets;
        entries.par_sort_unstable();
        let n = view.len();
        let mut offsets = vec![0u32; n + 1];
        for &(producer, _, _) in &entries {
            offsets[producer as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        this.offsets = offsets;
        this.incoming = entries.into_iter().map(|(_, node, output)| (node, output)).collect();
        this
    }

    fn intern(&mut self, name: Name) -> u32 {
        if let Some(&id) = self.name_ids.get(&name) {
            return id;
        }
        self.names.push(name.clone());
        let id = (self.names.len() - 1) as u32;
        self.name_ids.insert(name, id);
        id
    }

    fn name_id(&self, name: &str) -> Option<u32> {
        self.name_ids.get(name).copied()
    }

    fn producers(&self, node: u32) -> &[NodeId] {
        &self.producers[self.node_offsets[node as usize] as usize..self.node_offsets[node as usize + 1] as usize]
    }

    /// The param nodes of component `id`.
    fn nodes_of(&self, id: NodeId) -> std::ops::Range<u32> {
        let start = self.node_component.partition_point(|&c| c < id);
        let end = self.node_component.partition_point(|&c| c <= id);
        start as u32..end as u32
    }

    fn incoming(&self, producer: NodeId) -> &[(u32, u32)] {
        &self.incoming[self.offsets[producer as usize] as usize..self.offsets[producer as usize + 1] as usize]
    }
}

/// Which outputs of a component a param feeds.
enum Outputs {
    All,
    Some(Vec<u32>),
}

/// The outputs of `id` derived from `param`: from its kind's schema where
/// the schema declares them, all of them otherwise.
fn outputs_of(view: &View, refs: &RefIndex, id: NodeId, param: &str) -> Outputs {
    if refs.kind_feeds_all[view.kind_of(id) as usize] {
        return Outputs::All;
    }
    let Some(schema) = view.snapshot().schema(view.kind(id)) else { return Outputs::All };
    let component = view.component(id);
    let mut out = Vec::new();
    for (name, _) in component.outputs().iter() {
        let derived = schema.output_spec(name).is_none_or(|spec| spec.derives_from_param(param));
        if derived && let Some(o) = refs.name_id(name) {
            out.push(o);
        }
    }
    // Declared outputs not (yet) set can still be read by references.
    for spec in schema.outputs_derived_from(param) {
        if let Some(o) = refs.name_id(&spec.name)
            && !out.contains(&o)
        {
            out.push(o);
        }
    }
    Outputs::Some(out)
}

/// The result of a parameter-impact traversal, compact: results and chains
/// are derived on demand.
#[derive(Debug)]
pub struct ParamReach<'v> {
    view: &'v View,
    refs: &'v RefIndex,
    sources: Vec<ParamRef>,
    source_ids: Vec<NodeId>,
    walk: Walk,
}

#[derive(Debug)]
enum Walk {
    /// Per param node: its depth, and the param node (or `SOURCE + i`) it
    /// was reached from; `order` lists the reached nodes.
    Params { depth: Vec<u32>, parent: Vec<u32>, order: Vec<u32> },
    /// Every kind feeds all outputs from every param, so a param is reached
    /// exactly when a component it reads is: a component-level reach over
    /// reference edges, a param's depth one more than its nearest reached
    /// producer's.
    Components { reach: Reach, max_depth: Option<u32> },
}

const UNREACHED: u32 = u32::MAX;
const SOURCE: u32 = 1 << 31;

impl ParamReach<'_> {
    /// The depth of param node `node`, if reached.
    fn node_depth(&self, node: u32) -> Option<u32> {
        match &self.walk {
            Walk::Params { depth, .. } => Some(depth[node as usize]).filter(|&d| d != UNREACHED),
            Walk::Components { reach, max_depth } => self
                .refs
                .producers(node)
                .iter()
                .filter_map(|&p| reach.depth(p))
                .min()
                .map(|d| d + 1)
                .filter(|&d| max_depth.is_none_or(|m| d <= m)),
        }
    }

    /// Whether param node `node` was reached: `node_depth(node).is_some()`,
    /// answered from the reach's parent entries (which the search wrote)
    /// when no depth limit applies, rather than from its depths (indexed
    /// on first use).
    fn node_reached(&self, node: u32) -> bool {
        match &self.walk {
            Walk::Components { reach, max_depth: None } => self.refs.producers(node).iter().any(|&p| reach.seen(p)),
            _ => self.node_depth(node).is_some(),
        }
    }

    /// The reached param nodes, in node order.
    fn reached_nodes(&self) -> Vec<u32> {
        match &self.walk {
            Walk::Params { order, .. } => {
                let mut nodes = order.clone();
                nodes.par_sort_unstable();
                nodes
            }
            Walk::Components { .. } => {
                (0..self.refs.node_component.len() as u32).into_par_iter().filter(|&n| self.node_reached(n)).collect()
            }
        }
    }

    /// How many params were reached.
    pub fn len(&self) -> usize {
        match &self.walk {
            Walk::Params { order, .. } => order.len(),
            // A param that reads one component is reached when that one is:
            // sum those per reached component, then test the rest.
            Walk::Components { reach, max_depth: None } => {
                let sole: usize =
                    reach.seen_ids().par_iter().map(|&c| self.refs.sole_readers[c as usize] as usize).sum();
                sole + self.refs.shared.par_iter().filter(|&&n| self.node_reached(n)).count()
            }
            Walk::Components { .. } => {
                (0..self.refs.node_component.len() as u32).into_par_iter().filter(|&n| self.node_reached(n)).count()
            }
        }
    }

    /// Whether none were.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The distinct components whose params were reached, in key order.
    pub fn components(&self) -> Vec<NodeId> {
        let mut ids: Vec<NodeId> =
            self.reached_nodes().into_iter().map(|n| self.refs.node_component[n as usize]).collect();
        ids.dedup();
        ids
    }

    /// The chain that explains why `node` is reached: the source param
    /// first, `node` last.
    fn chain(&self, node: u32) -> Vec<ParamRef> {
        let mut chain = vec![self.param_ref(node)];
        match &self.walk {
            Walk::Params { parent, .. } => {
                let mut at = parent[node as usize];
                while at < SOURCE {
                    chain.push(self.param_ref(at));
                    at = parent[at as usize];
                }
                chain.push(self.sources[(at - SOURCE) as usize].clone());
            }
            Walk::Components { reach, .. } => {
                let mut at = node;
                loop {
                    // The nearest reached producer this param reads.
                    let producer = self
                        .refs
                        .producers(at)
                        .iter()
                        .filter_map(|&p| reach.depth(p).map(|d| (d, p)))
                        .min()
                        .expect("a reached param reads a reached producer");
                    if producer.0 == 0 {
                        let i = self.source_ids.iter().position(|&s| s == producer.1).expect("depth 0 is a source");
                        chain.push(self.sources[i].clone());
                        break;
                    }
                    // The param of the producer that reads the component it was reached from.
                    let from = reach.parent(producer.1);
                    at = self
                        .refs
                        .nodes_of(producer.1)
                        .find(|&n| self.refs.producers(n).contains(&from))
                        .expect("a reached component reads its parent through a param");
                    chain.push(self.param_ref(at));
                }
            }
        }
        chain.reverse();
        chain
    }

    /// Every reached param with its chain, nearest first (ties by key, then
    /// param).
    pub fn to_results(&self) -> Vec<ImpactedParam> {
        let mut out: Vec<ImpactedParam> = self
            .reached_nodes()
            .into_iter()
            .map(|node| ImpactedParam {
                target: self.param_ref(node),
                depth: self.node_depth(node).unwrap_or(0),
                chain: self.chain(node),
            })
            .collect();
        out.sort_by(|a, b| (a.depth, &a.target).cmp(&(b.depth, &b.target)));
        out
    }

    fn param_ref(&self, node: u32) -> ParamRef {
        ParamRef {
            key: self.view.key(self.refs.node_component[node as usize]).clone(),
            param: self.refs.names[self.refs.node_param[node as usize] as usize].clone(),
        }
    }
}

impl View {
    /// Parameter-level impact from several params at once (one pass): every
    /// param that reads, through any chain of references, an output derived
    /// from one of `sources`. A param feeds the outputs its kind's schema
    /// says derive from it (all outputs when undeclared); a reference edge
    /// carries an output to the param that holds the reference.
    ///
    /// ```
    /// use karma_core::{Component, Graph, OutputRef, Value};
    /// use karma_query::{Traversal, View};
    ///
    /// let mut g = Graph::new();
    /// g.insert(Component::new("Database", "orders")?.with_param("port", 5432).with_output("url", "pg://orders"))?;
    /// g.insert(
    ///     Component::new("Service", "api")?
    ///         .with_param("db", Value::reference("Database/orders".parse()?, "url"))
    ///         .with_output("endpoint", "https://api"),
    /// )?;
    /// g.insert(Component::new("Gateway", "edge")?.with_param("upstream", Value::reference("Service/api".parse()?, "endpoint")))?;
    /// let view = View::new(&g);
    /// let hit = view.param_impact(&[("Database/orders".parse()?, "port".into())], &Traversal::default())?.to_results();
    /// let targets: Vec<String> = hit.iter().map(|p| p.target.to_string()).collect();
    /// assert_eq!(targets, ["Service/api.db", "Gateway/edge.upstream"]);
    /// assert_eq!(hit[1].chain.len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn param_impact(&self, sources: &[(Key, Name)], limits: &Traversal) -> Result<ParamReach<'_>> {
        self.param_impact_with(sources, limits, true)
    }

    /// [`param_impact`](Self::param_impact), optionally without the
    /// component-level shortcut (to test one against the other).
    fn param_impact_with(&self, sources: &[(Key, Name)], limits: &Traversal, shortcut: bool) -> Result<ParamReach<'_>> {
        let refs = self.ref_index();
        let mut starts = Vec::with_capacity(sources.len());
        for (key, param) in sources {
            let id = self.require(key)?;
            if self.component(id).param(param).is_none() {
                return Err(QueryError::UnknownParam { key: key.clone(), param: param.to_string() });
            }
            starts.push(id);
        }
        let owned: Vec<ParamRef> =
            sources.iter().map(|(key, param)| ParamRef { key: key.clone(), param: param.clone() }).collect();
        if shortcut && refs.kind_feeds_all.iter().all(|&all| all) {
            let reach = match limits.max_depth {
                Some(0) => self.reach(&[], Direction::Dependents, &Traversal::default()),
                m => self.reach(
                    &starts,
                    Direction::Dependents,
                    &Traversal { max_depth: m.map(|m| m - 1), edge_kinds: Some(vec!["reference".into()]) },
                ),
            };
            let walk = Walk::Components { reach, max_depth: limits.max_depth };
            return Ok(ParamReach { view: self, refs, sources: owned, source_ids: starts, walk });
        }
        let nodes = refs.node_component.len();
        let mut depth = vec![UNREACHED; nodes];
        let mut parent = vec![UNREACHED; nodes];
        let mut expanded_all = vec![false; self.len()];
        let mut order = Vec::new();
        // (component, where it was reached from: a param node or SOURCE + i).
        let mut frontier: Vec<(NodeId, u32)> =
            starts.iter().enumerate().map(|(i, &id)| (id, SOURCE + i as u32)).collect();
        let mut level = 0;
        while !frontier.is_empty() && limits.max_depth.is_none_or(|m| level < m) {
            level += 1;
            let mut next = Vec::new();
            for (component, from) in frontier.drain(..) {
                let outputs = if refs.kind_feeds_all[self.kind_of(component) as usize] {
                    Outputs::All
                } else {
                    let param = if from >= SOURCE {
                        &sources[(from - SOURCE) as usize].1
                    } else {
                        &refs.names[refs.node_param[from as usize] as usize]
                    };
                    outputs_of(self, refs, component, param)
                };
                if matches!(outputs, Outputs::All) {
                    if expanded_all[component as usize] {
                        continue;
                    }
                    expanded_all[component as usize] = true;
                }
                for &(node, output) in refs.incoming(component) {
                    if depth[node as usize] != UNREACHED {
                        continue;
                    }
                    if let Outputs::Some(list) = &outputs
                        && !list.contains(&output)
                    {
                        continue;
                    }
                    depth[node as usize] = level;
                    parent[node as usize] = from;
                    order.push(node);
                    next.push((refs.node_component[node as usize], node));
                }
            }
            frontier = next;
        }
        let walk = Walk::Params { depth, parent, order };
        Ok(ParamReach { view: self, refs, sources: owned, source_ids: starts, walk })
    }

    fn ref_index(&self) -> &RefIndex {
        self.refs.get_or_init(|| RefIndex::build(self))
    }
}

/// "Which components depend on this parameter?": [`View::param_impact`]
/// from one param, as results with chains.
pub fn param_impact(view: &View, key: &Key, param: &str, limits: &Traversal) -> Result<Vec<ImpactedParam>> {
    Ok(view.param_impact(&[(key.clone(), param.into())], limits)?.to_results())
}

/// A component a change reaches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Affected {
    /// The component.
    pub key: Key,
    /// Its kind.
    pub kind: Name,
    /// Hops from the nearest changed component (0: changed itself).
    pub distance: u32,
    /// One shortest path from a changed component to it.
    pub path: Vec<Key>,
    /// The changed params whose values reach one of its params.
    pub via_params: Vec<ParamRef>,
}

/// The blast radius of a change: every affected component, nearest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlastRadius {
    /// Components the change touched directly (changed, added, or with
    /// changed edges), in key order.
    pub changed: Vec<Key>,
    /// Components removed by the change.
    pub removed: Vec<Key>,
    /// Every affected component (the changed ones at distance 0), by
    /// distance then key.
    pub affected: Vec<Affected>,
    /// Affected components per kind.
    pub by_kind: BTreeMap<Name, usize>,
}

/// The blast radius of `delta`, which leads from `before` to the state
/// `after` is a view of: the changed components and everything that
/// depends on them, transitively (by any edge kind), ranked by distance; for
/// each, the changed params that reach it through references. Dependents of
/// removed components (as they were in `before`) count as changed.
///
/// ```
/// use karma_core::{Component, EdgeKind, Graph};
/// use karma_query::{View, change_impact};
///
/// let mut g = Graph::new();
/// g.insert(Component::new("Database", "orders")?.with_param("port", 5432))?;
/// g.insert(Component::new("Service", "api")?)?;
/// g.connect("Service/api", "Database/orders", EdgeKind::DependsOn, [])?;
/// let before = g.snapshot();
/// g.set_param("Database/orders", "port", 6432)?;
/// let after = g.snapshot();
/// let radius = change_impact(&before, &View::new(&after), &before.diff(&after))?;
/// assert_eq!(radius.affected.len(), 2);
/// assert_eq!(radius.affected[1].key.as_str(), "Service/api");
/// assert_eq!(radius.affected[1].distance, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn change_impact(before: &Snapshot, after: &View, delta: &Delta) -> Result<BlastRadius> {
    let mut changed: BTreeSet<Key> = BTreeSet::new();
    let mut removed = Vec::new();
    let mut params: Vec<(Key, Name)> = Vec::new();
    for change in &delta.components {
        match change {
            ComponentChange::Added(c) => {
                changed.insert(c.key().clone());
            }
            ComponentChange::Removed(c) => {
                removed.push(c.key().clone());
                for dependent in before.dependents(c.key()) {
                    if after.id(dependent).is_some() {
                        changed.insert(dependent.clone());
                    }
                }
            }
            ComponentChange::Changed(d) => {
                changed.insert(d.key.clone());
                for (name, _, now) in d.changed_params() {
                    if now.is_some() {
                        params.push((d.key.clone(), name.clone()));
                    }
                }
            }
        }
    }
    for e in &delta.edges {
        if after.id(&e.id.from).is_some() {
            changed.insert(e.id.from.clone());
        }
    }
    let seeds: Vec<NodeId> = changed.iter().filter_map(|k| after.id(k)).collect();
    let reach = after.reach(&seeds, Direction::Dependents, &Traversal::default());
    // Which changed params reach which components: one pass per param.
    let reached_by: Vec<(ParamRef, Vec<NodeId>)> = params
        .par_iter()
        .map(|(key, param)| {
            let hit = after.param_impact(&[(key.clone(), param.clone())], &Traversal::default())?;
            Ok((ParamRef { key: key.clone(), param: param.clone() }, hit.components()))
        })
        .collect::<Result<_>>()?;
    let mut via: FxHashMap<NodeId, Vec<ParamRef>> = FxHashMap::default();
    for (param, ids) in reached_by {
        for id in ids {
            via.entry(id).or_default().push(param.clone());
        }
    }
    // The seeds are the search's sources: distance 0.
    let mut ids: Vec<(NodeId, u32)> = seeds.iter().map(|&s| (s, 0)).collect();
    ids.extend(reach.ranked());
    let mut affected: Vec<Affected> = ids
        .into_iter()
        .map(|(id, distance)| Affected {
            key: after.key(id).clone(),
            kind: after.kind(id).clone(),
            distance,
            path: reach.path(id).into_iter().map(|n| after.key(n).clone()).collect(),
            via_params: via.remove(&id).unwrap_or_default(),
        })
        .collect();
    affected.sort_by(|a, b| (a.distance, &a.key).cmp(&(b.distance, &b.key)));
    let mut by_kind = BTreeMap::new();
    for a in &affected {
        *by_kind.entry(a.kind.clone()).or_insert(0) += 1;
    }
    removed.sort();
    Ok(BlastRadius { changed: changed.into_iter().collect(), removed, affected, by_kind })
}

#[cfg(test)]
mod tests {
    use karma_core::{Component, EdgeKind, Graph, Value};
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The component-level shortcut and the param-level walk agree on
        /// every param, depth and chain.
        #[test]
        fn shortcut_matches_the_param_walk(
            n in 1usize..12,
            refs in prop::collection::vec((0usize..12, 0usize..12, 0usize..3), 0..30),
            start in 0usize..12,
            max_depth in prop::option::of(0u32..4),
        ) {
            let key = |i: usize| Key::new("Node", &format!("n{i:02}")).unwrap();
            let mut g = Graph::new();
            for i in 0..n {
                g.insert(Component::new("Node", &format!("n{i:02}")).unwrap().with_param("size", 1).with_output("out", 1)).unwrap();
            }
            for (j, &(a, b, p)) in refs.iter().enumerate() {
                let (a, b) = (a % n, b % n);
                if a != b {
                    // Several references in one param (a list), or one each.
                    let name = format!("p{}", if p == 0 { j } else { p });
                    let existing = g.snapshot().get(&key(a)).and_then(|c| c.param_value(&name).cloned());
                    let value = match existing {
                        Some(Value::List(mut items)) => { items.push(Value::reference(key(b), "out")); Value::List(items) }
                        Some(old) => Value::List(vec![old, Value::reference(key(b), "out")]),
                        None => Value::reference(key(b), "out"),
                    };
                    g.set_param(key(a), name, value).unwrap();
                }
            }
            let view = View::new(&g.snapshot());
            let limits = Traversal { max_depth, edge_kinds: None };
            let sources = [(key(start % n), Name::from("size"))];
            let fast = view.param_impact_with(&sources, &limits, true).unwrap();
            let slow = view.param_impact_with(&sources, &limits, false).unwrap();
            let fast_is_components = matches!(fast.walk, Walk::Components { .. });
            prop_assert!(fast_is_components);
            let slow_is_params = matches!(slow.walk, Walk::Params { .. });
            prop_assert!(slow_is_params);
            prop_assert_eq!(fast.len(), slow.len());
            prop_assert_eq!(fast.components(), slow.components());
            let (f, s) = (fast.to_results(), slow.to_results());
            prop_assert_eq!(f.iter().map(|p| (&p.target, p.depth)).collect::<Vec<_>>(), s.iter().map(|p| (&p.target, p.depth)).collect::<Vec<_>>());
            // Chains may pick different (equally short) producers; each must be valid.
            for hit in &f {
                prop_assert_eq!(hit.chain.len(), hit.depth as usize + 1);
                for w in hit.chain.windows(2) {
                    let snapshot = view.snapshot();
                    let reads = snapshot.edges_from(&w[1].key).any(|e| matches!(e.kind(), EdgeKind::Reference { param, .. } if *param == w[1].param) && e.to() == &w[0].key);
                    prop_assert!(reads);
                }
            }
        }
    }
}
