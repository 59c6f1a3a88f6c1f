//! The mutable graph: insert, change and remove components and edges.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use smol_str::SmolStr;

use crate::component::{Component, Observation};
use crate::delta::Delta;
use crate::edge::{Edge, EdgeId, EdgeKind};
use crate::error::{Error, Result};
use crate::fields::FieldMap;
use crate::key::{IntoKey, Key, Name};
use crate::schema::Schema;
use crate::snapshot::{EdgeSet, Snapshot};
use crate::time::{Clock, SystemClock, Timestamp};
use crate::typed::TypedComponent;
use crate::value::Value;

/// What [`Graph::remove`] does with components that depend on the one
/// removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Removal {
    /// Refuse with [`Error::StillDependedOn`] if anything depends on it.
    #[default]
    Restrict,
    /// Remove its dependents too, transitively.
    Cascade,
}

/// The infrastructure graph: components joined by typed edges, every change
/// versioned and timestamped by the graph's [`Clock`].
///
/// Reads go through [`Snapshot`]'s methods (a `Graph` derefs to the snapshot
/// of its current state); [`Graph::snapshot`] freezes that state in O(1).
/// Every mutation either applies whole or returns a typed error and changes
/// nothing; [`Graph::transaction`] extends that to a batch.
///
/// Edges point from dependent to dependency: `connect(a, b, ..)` says
/// *a depends on b*.
///
/// ```
/// use karma_core::{Component, EdgeKind, Graph, Removal, Value};
///
/// let mut graph = Graph::new();
/// graph.insert(Component::new("Database", "orders")?.with_output("endpoint", "db:5432"))?;
/// graph.insert(
///     Component::new("Service", "api")?
///         .with_param("db", Value::reference("Database/orders".parse()?, "endpoint")),
/// )?;
/// // The reference param made a reference edge api -> orders.
/// assert_eq!(graph.dependents(&"Database/orders".parse()?).len(), 1);
/// // So orders cannot go while api needs it.
/// assert!(graph.remove("Database/orders", Removal::Restrict).is_err());
/// # Ok::<(), karma_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Graph {
    state: Snapshot,
    clock: Arc<dyn Clock>,
}

impl Default for Graph {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Graph").field("state", &self.state).field("clock", &self.clock).finish()
    }
}

impl Deref for Graph {
    type Target = Snapshot;
    fn deref(&self) -> &Snapshot {
        &self.state
    }
}

impl Graph {
    /// An empty graph on the system clock.
    pub fn new() -> Self {
        Self::with_clock(SystemClock)
    }

    /// An empty graph on `clock`.
    pub fn with_clock(clock: impl Clock + 'static) -> Self {
        Self { state: Snapshot::default(), clock: Arc::new(clock) }
    }

    /// A graph continuing from `snapshot` on `clock`.
    pub fn from_snapshot(snapshot: Snapshot, clock: impl Clock + 'static) -> Self {
        Self { state: snapshot, clock: Arc::new(clock) }
    }

    /// Replaces the clock.
    pub fn set_clock(&mut self, clock: impl Clock + 'static) {
        self.clock = Arc::new(clock);
    }

    /// The current time on the graph's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// An immutable snapshot of the current state, in O(1).
    pub fn snapshot(&self) -> Snapshot {
        self.state.clone()
    }

    /// Runs `f` on the graph as one transaction: if it returns `Err`, every
    /// change it made is undone (in O(1)) and the error returned.
    ///
    /// ```
    /// use karma_core::{Component, Graph};
    /// let mut graph = Graph::new();
    /// let result = graph.transaction(|g| {
    ///     g.insert(Component::new("Queue", "jobs")?)?;
    ///     g.insert(Component::new("Queue", "jobs")?)?; // duplicate: fails
    ///     Ok::<_, karma_core::Error>(())
    /// });
    /// assert!(result.is_err());
    /// assert!(graph.is_empty()); // the first insert was rolled back
    /// # Ok::<(), karma_core::Error>(())
    /// ```
    pub fn transaction<T, E>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, E>) -> Result<T, E> {
        let saved = self.state.clone();
        let result = f(self);
        if result.is_err() {
            self.state = saved;
        }
        result
    }

    /// Registers (or replaces) the schema of its kind. Every existing
    /// component of that kind must conform; defaults are filled in.
    pub fn register_schema(&mut self, schema: Schema) -> Result<()> {
        let schema = Arc::new(schema);
        if self.state.schemas.get(&schema.kind) == Some(&schema) {
            return Ok(());
        }
        self.transaction(|g| {
            let now = g.now();
            let keys: Vec<Key> =
                g.state.components().filter(|c| *c.kind() == schema.kind).map(|c| c.key().clone()).collect();
            Arc::make_mut(&mut g.state.schemas).insert(schema.kind.clone(), Arc::clone(&schema));
            for key in keys {
                let mut c = g.component_cloned(&key)?;
                let before = c.clone();
                schema.conform(&mut c)?;
                if c != before {
                    g.commit_component(c, &before, now);
                }
            }
            Ok(())
        })
    }

    /// Inserts a new component; [`Error::DuplicateKey`] if the key is taken.
    ///
    /// It is checked against its kind's schema (defaults filled in), its
    /// references must name existing components and outputs, and each one
    /// becomes a reference edge. Stamps version 1 and the current time.
    pub fn insert(&mut self, component: Component) -> Result<&Component> {
        let key = component.key().clone();
        if self.state.contains(&key) {
            return Err(Error::DuplicateKey { key });
        }
        let now = self.now();
        let mut c = component;
        c.stamp_new(now);
        self.conform(&mut c)?;
        self.check_references(&c)?;
        self.state.components.insert(key.clone(), Arc::new(c));
        self.sync_references(&key, now);
        Ok(self.state.get(&key).expect("just inserted"))
    }

    /// Inserts, or replaces the declared content (params, outputs, labels,
    /// name) of an existing component with the same key. Unchanged params
    /// keep their change times; the version moves only if something changed;
    /// runtime observations are kept and merged with the new ones.
    pub fn upsert(&mut self, component: Component) -> Result<&Component> {
        let key = component.key().clone();
        let Some(old) = self.state.get_arc(&key).cloned() else {
            return self.insert(component);
        };
        let now = self.now();
        let mut c = component;
        c.set_stamp(old.version(), old.created(), now);
        self.conform(&mut c)?;
        for (name, p) in c.params_mut().iter_mut_internal() {
            p.changed_at = match old.param(name) {
                Some(q) if q.value == p.value => q.changed_at,
                _ => now,
            };
        }
        let mut runtime = old.runtime_values().clone();
        for (name, o) in c.runtime_values().iter() {
            let observed_at = if o.observed_at == Timestamp::EPOCH { now } else { o.observed_at };
            runtime.insert(name.clone(), Observation { value: o.value.clone(), observed_at });
        }
        *c.runtime_mut() = runtime;
        self.check_references(&c)?;
        self.commit_component(c, &old, now);
        Ok(self.state.get(&key).expect("present"))
    }

    /// Removes a component and its edges. With [`Removal::Restrict`] this
    /// fails if anything depends on it; with [`Removal::Cascade`] its
    /// dependents go too, transitively. Returns what was removed.
    pub fn remove(&mut self, key: impl IntoKey, removal: Removal) -> Result<Vec<Arc<Component>>> {
        let key = key.into_key()?;
        if !self.state.contains(&key) {
            return Err(Error::UnknownComponent { key });
        }
        let mut doomed = BTreeSet::from([key.clone()]);
        let mut queue = VecDeque::from([key.clone()]);
        while let Some(k) = queue.pop_front() {
            for d in self.state.dependents(&k) {
                if !doomed.contains(d) {
                    if removal == Removal::Restrict {
                        let dependents = self.state.dependents(&key).into_iter().cloned().collect();
                        return Err(Error::StillDependedOn { component: key, dependents });
                    }
                    doomed.insert(d.clone());
                    queue.push_back(d.clone());
                }
            }
        }
        let mut removed = Vec::with_capacity(doomed.len());
        for k in &doomed {
            for id in self.state.edge_ids_touching(k) {
                self.state.take_edge(&id);
            }
        }
        for k in &doomed {
            removed.extend(self.state.components.remove(k));
        }
        Ok(removed)
    }

    /// Makes (or updates the attributes of) the edge `from` → `to` of
    /// `kind`: *from depends on to*. Reference edges cannot be made by hand.
    pub fn connect(
        &mut self,
        from: impl IntoKey,
        to: impl IntoKey,
        kind: EdgeKind,
        attributes: impl IntoIterator<Item = (Name, Value)>,
    ) -> Result<&Edge> {
        let (from, to) = (from.into_key()?, to.into_key()?);
        for k in [&from, &to] {
            if !self.state.contains(k) {
                return Err(Error::UnknownComponent { key: k.clone() });
            }
        }
        if from == to {
            return Err(Error::InvalidEdge { from, to, reason: "a component cannot depend on itself" });
        }
        if matches!(kind, EdgeKind::Reference { .. }) {
            return Err(Error::InvalidEdge { from, to, reason: "reference edges come only from reference params" });
        }
        let attributes: FieldMap<Value> = attributes.into_iter().collect();
        let id = EdgeId::new(from, to, kind);
        let now = self.now();
        let edge = match self.state.edge(&id) {
            Some(e) => {
                let mut e = e.clone();
                e.set_attributes(attributes, now);
                e
            }
            None => Edge::new(id.clone(), attributes, now),
        };
        self.state.put_edge(Arc::new(edge));
        Ok(self.state.edge(&id).expect("just put"))
    }

    /// Makes (or updates the attributes of) many edges at once, each
    /// `from` → `to` of `kind`: what [`connect`](Self::connect) does for each,
    /// with the same checks, but all or nothing and several times faster for
    /// bulk loads (importers, generators): edges are grouped by their ends,
    /// so each component's edge sets are found once.
    ///
    /// Returns how many edges are new. On error nothing is changed.
    ///
    /// ```
    /// use karma_core::{Component, EdgeKind, Graph};
    /// let mut graph = Graph::new();
    /// for name in ["a", "b", "c"] {
    ///     graph.insert(Component::new("Service", name)?)?;
    /// }
    /// let edges = [("Service/a", "Service/b"), ("Service/a", "Service/c"), ("Service/b", "Service/c")]
    ///     .map(|(f, t)| (f.parse().unwrap(), t.parse().unwrap(), EdgeKind::DependsOn, vec![]));
    /// assert_eq!(graph.connect_all(edges)?, 3);
    /// assert_eq!(graph.edge_count(), 3);
    /// # Ok::<(), karma_core::Error>(())
    /// ```
    pub fn connect_all(
        &mut self,
        edges: impl IntoIterator<Item = (Key, Key, EdgeKind, Vec<(Name, Value)>)>,
    ) -> Result<usize> {
        let mut edges: Vec<(EdgeId, FieldMap<Value>)> = edges
            .into_iter()
            .map(|(from, to, kind, attributes)| (EdgeId::new(from, to, kind), attributes.into_iter().collect()))
            .collect();
        // Check everything before changing anything.
        edges.sort_by(|a, b| a.0.from.cmp(&b.0.from));
        let mut last_checked: Option<&Key> = None;
        for (id, _) in &edges {
            if last_checked != Some(&id.from) {
                if !self.state.contains(&id.from) {
                    return Err(Error::UnknownComponent { key: id.from.clone() });
                }
                last_checked = Some(&id.from);
            }
            if !self.state.contains(&id.to) {
                return Err(Error::UnknownComponent { key: id.to.clone() });
            }
            if id.from == id.to {
                return Err(Error::InvalidEdge {
                    from: id.from.clone(),
                    to: id.to.clone(),
                    reason: "a component cannot depend on itself",
                });
            }
            if matches!(id.kind, EdgeKind::Reference { .. }) {
                return Err(Error::InvalidEdge {
                    from: id.from.clone(),
                    to: id.to.clone(),
                    reason: "reference edges come only from reference params",
                });
            }
        }
        let now = self.now();
        let mut added: Vec<EdgeId> = Vec::new();
        // Outgoing sets, one lookup per source.
        let mut put = |set: &mut EdgeSet, id: EdgeId, attributes: FieldMap<Value>| {
            let edge = if let Some(e) = set.get(&id) {
                let mut e = (**e).clone();
                e.set_attributes(attributes, now);
                e
            } else {
                added.push(id.clone());
                Edge::new(id.clone(), attributes, now)
            };
            set.insert(id, Arc::new(edge));
        };
        let mut iter = edges.into_iter().peekable();
        while let Some((id, attributes)) = iter.next() {
            let from = id.from.clone();
            let mut set = self.state.edges.remove(&from).unwrap_or_default();
            put(&mut set, id, attributes);
            while let Some((id, attributes)) = iter.next_if(|(id, _)| id.from == from) {
                put(&mut set, id, attributes);
            }
            self.state.edges.insert(from, set);
        }
        // Incoming sets for the new edges, one lookup per target.
        let count = added.len();
        added.sort_by(|a, b| a.to.cmp(&b.to));
        let mut j = 0;
        while j < added.len() {
            let to = added[j].to.clone();
            let mut set = self.state.incoming.remove(&to).unwrap_or_default();
            while j < added.len() && added[j].to == to {
                set.insert(added[j].clone(), ());
                j += 1;
            }
            self.state.incoming.insert(to, set);
        }
        self.state.edge_count += count;
        Ok(count)
    }

    /// Removes the edge `from` → `to` of `kind`, returning it.
    pub fn disconnect(&mut self, from: impl IntoKey, to: impl IntoKey, kind: &EdgeKind) -> Result<Edge> {
        let (from, to) = (from.into_key()?, to.into_key()?);
        if matches!(kind, EdgeKind::Reference { .. }) {
            return Err(Error::InvalidEdge { from, to, reason: "unset the reference param to drop a reference edge" });
        }
        let id = EdgeId::new(from, to, kind.clone());
        match self.state.take_edge(&id) {
            Some(e) => Ok((*e).clone()),
            None => Err(Error::UnknownEdge { from: id.from, to: id.to, kind: id.kind }),
        }
    }

    /// Sets param `name` of component `key` (type-checked against the
    /// schema; references checked and turned into edges).
    pub fn set_param(&mut self, key: impl IntoKey, name: impl Into<Name>, value: impl Into<Value>) -> Result<()> {
        let key = key.into_key()?;
        let (name, value) = (name.into(), value.into());
        let old = self.component_arc(&key)?;
        if old.param_value(&name) == Some(&value) {
            return Ok(());
        }
        let mut c = (*old).clone();
        let now = self.now();
        c.put_param(name, value, now);
        self.conform(&mut c)?;
        self.check_references(&c)?;
        self.commit_component(c, &old, now);
        Ok(())
    }

    /// Records that component `key` has taken the current value of every
    /// output it references: each reference in its params is stamped with the
    /// producer's version and the digest of the output's value (a
    /// [`Resolution`](crate::Resolution)). References to outputs that have no
    /// value yet stay unresolved. Returns how many references changed; the
    /// component's version is bumped when any did.
    ///
    /// Call it when a consumer is (re)deployed; a consumer whose recorded
    /// resolution no longer matches its producer's output is running on a
    /// stale value.
    ///
    /// ```
    /// use karma_core::{Component, Graph, Key, Value};
    ///
    /// let mut g = Graph::new();
    /// g.insert(Component::new("Database", "orders")?.with_output("endpoint", "db-1:5432"))?;
    /// let db = Key::new("Database", "orders")?;
    /// g.insert(Component::new("Service", "api")?.with_param("db", Value::reference(db, "endpoint")))?;
    /// assert_eq!(g.resolve_references("Service/api")?, 1);
    /// assert_eq!(g.resolve_references("Service/api")?, 0); // already current
    /// g.set_output("Database/orders", "endpoint", "db-2:5432")?;
    /// assert_eq!(g.resolve_references("Service/api")?, 1);
    /// # Ok::<(), karma_core::Error>(())
    /// ```
    pub fn resolve_references(&mut self, key: impl IntoKey) -> Result<usize> {
        let key = key.into_key()?;
        let old = self.component_arc(&key)?;
        let mut c = (*old).clone();
        let now = self.now();
        let mut changed = 0;
        let names: Vec<Name> =
            old.params().iter().filter(|(_, p)| !p.value.references().is_empty()).map(|(n, _)| n.clone()).collect();
        for name in names {
            let Some(mut value) = old.param_value(&name).cloned() else { continue };
            value.for_each_ref_mut(&mut |r| {
                let Some(producer) = self.state.get(&r.component) else { return };
                let Some(out) = producer.output(&r.output) else { return };
                let res = crate::Resolution { version: producer.version(), digest: out.digest() };
                if r.resolved.as_deref() != Some(&res) {
                    r.resolved = Some(Box::new(res));
                    changed += 1;
                }
            });
            c.put_param(name, value, now);
        }
        if changed > 0 {
            self.commit_component(c, &old, now);
        }
        Ok(changed)
    }

    /// Removes param `name` (refused if the schema requires it), returning
    /// its value if it was set.
    pub fn unset_param(&mut self, key: impl IntoKey, name: &str) -> Result<Option<Value>> {
        let key = key.into_key()?;
        let old = self.component_arc(&key)?;
        if old.param(name).is_none() {
            return Ok(None);
        }
        let mut c = (*old).clone();
        let removed = c.remove_param(name).map(|p| p.value);
        self.conform(&mut c)?;
        let now = self.now();
        self.commit_component(c, &old, now);
        Ok(removed)
    }

    /// Sets output `name` (checked against the schema if declared there).
    pub fn set_output(&mut self, key: impl IntoKey, name: impl Into<Name>, value: impl Into<Value>) -> Result<()> {
        let key = key.into_key()?;
        let old = self.component_arc(&key)?;
        let mut c = (*old).clone();
        if !c.put_output(name.into(), value.into()) {
            return Ok(());
        }
        self.conform(&mut c)?;
        let now = self.now();
        self.commit_component(c, &old, now);
        Ok(())
    }

    /// Removes output `name`, refused with [`Error::UnknownOutput`] while a
    /// consumer references it and the schema does not declare it.
    pub fn unset_output(&mut self, key: impl IntoKey, name: &str) -> Result<Option<Value>> {
        let key = key.into_key()?;
        let old = self.component_arc(&key)?;
        if old.output(name).is_none() {
            return Ok(None);
        }
        let mut c = (*old).clone();
        let removed = c.remove_output(name);
        let declared = self.state.schema(c.kind()).is_some_and(|s| s.output_spec(name).is_some());
        if !declared {
            for e in self.state.edges_to(&key) {
                if let EdgeKind::Reference { param, output } = e.kind()
                    && output == name
                {
                    return Err(Error::UnknownOutput {
                        component: e.from().clone(),
                        param: param.clone(),
                        target: crate::value::OutputRef::new(key.clone(), output.clone()),
                    });
                }
            }
        }
        let now = self.now();
        self.commit_component(c, &old, now);
        Ok(removed)
    }

    /// Records a runtime observation of `name`, stamped now. Does not bump
    /// the version (runtime is observed, not declared).
    pub fn observe(&mut self, key: impl IntoKey, name: impl Into<Name>, value: impl Into<Value>) -> Result<()> {
        let key = key.into_key()?;
        let old = self.component_arc(&key)?;
        let now = self.now();
        let mut c = (*old).clone();
        c.put_runtime(name.into(), Observation { value: value.into(), observed_at: now });
        self.commit_component(c, &old, now);
        Ok(())
    }

    /// Sets label `name` to `value`.
    pub fn set_label(&mut self, key: impl IntoKey, name: impl Into<Name>, value: impl Into<SmolStr>) -> Result<()> {
        let key = key.into_key()?;
        let old = self.component_arc(&key)?;
        let mut c = (*old).clone();
        if c.put_label(name.into(), value.into()) {
            let now = self.now();
            self.commit_component(c, &old, now);
        }
        Ok(())
    }

    /// Removes label `name`, returning its value.
    pub fn unset_label(&mut self, key: impl IntoKey, name: &str) -> Result<Option<SmolStr>> {
        let key = key.into_key()?;
        let old = self.component_arc(&key)?;
        let mut c = (*old).clone();
        let removed = c.remove_label(name);
        if removed.is_some() {
            let now = self.now();
            self.commit_component(c, &old, now);
        }
        Ok(removed)
    }

    /// Changes the display name (the key stays: it is the identity).
    pub fn rename(&mut self, key: impl IntoKey, name: impl Into<Name>) -> Result<()> {
        let key = key.into_key()?;
        let old = self.component_arc(&key)?;
        let mut c = (*old).clone();
        c.set_name(name.into());
        let now = self.now();
        self.commit_component(c, &old, now);
        Ok(())
    }

    /// Applies a delta (e.g. one computed by [`Snapshot::diff`]) to the
    /// current state, whole or not at all.
    pub fn apply(&mut self, delta: &Delta) -> Result<()> {
        self.state = self.state.apply(delta)?;
        Ok(())
    }

    /// Inserts a typed component under `name` (registering its kind's
    /// schema first if none is registered).
    pub fn insert_typed<T: TypedComponent>(&mut self, name: &str, value: &T) -> Result<&Component> {
        let c = self.typed_component(name, value)?;
        self.insert(c)
    }

    /// Inserts or updates a typed component under `name` (see
    /// [`Graph::upsert`]).
    pub fn upsert_typed<T: TypedComponent>(&mut self, name: &str, value: &T) -> Result<&Component> {
        let c = self.typed_component(name, value)?;
        self.upsert(c)
    }

    /// Reads component `key` back as `T`, with an error naming the field on a
    /// type mismatch.
    pub fn get_typed<T: TypedComponent>(&self, key: impl IntoKey) -> Result<T> {
        let key = key.into_key()?;
        let c = self.state.get(&key).ok_or(Error::UnknownComponent { key })?;
        T::from_component(c)
    }

    fn typed_component<T: TypedComponent>(&mut self, name: &str, value: &T) -> Result<Component> {
        if self.state.schema(T::KIND).is_none() {
            self.register_schema(T::schema())?;
        }
        value.to_component(name)
    }

    // ---- internals ----

    /// Stores `c` exactly as given (no stamping, no checks): for merges.
    pub(crate) fn put_raw(&mut self, c: Component) {
        self.state.components.insert(c.key().clone(), Arc::new(c));
    }

    /// Removes a component and its outgoing edges, no checks: for merges.
    pub(crate) fn remove_raw(&mut self, key: &Key) {
        let outgoing: Vec<EdgeId> = self.state.edges_from(key).map(|e| e.id().clone()).collect();
        for id in outgoing {
            self.state.take_edge(&id);
        }
        self.state.components.remove(key);
    }

    /// Makes `key`'s reference edges exactly those it has in `other`.
    pub(crate) fn copy_reference_edges(&mut self, other: &Snapshot, key: &Key) {
        let is_ref = |e: &&Edge| matches!(e.kind(), EdgeKind::Reference { .. });
        let mine: Vec<EdgeId> = self.state.edges_from(key).filter(is_ref).map(|e| e.id().clone()).collect();
        for id in mine {
            self.state.take_edge(&id);
        }
        for e in other.edges_from(key).filter(is_ref) {
            self.state.put_edge(Arc::new(e.clone()));
        }
    }

    pub(crate) fn put_edge_raw(&mut self, edge: Edge) {
        self.state.put_edge(Arc::new(edge));
    }

    pub(crate) fn remove_edge_raw(&mut self, id: &EdgeId) {
        self.state.take_edge(id);
    }

    pub(crate) fn resync_references(&mut self, key: &Key, now: Timestamp) {
        self.sync_references(key, now);
    }

    pub(crate) fn check_references_of(&self, c: &Component) -> Result<()> {
        self.check_references(c)
    }

    fn component_arc(&self, key: &Key) -> Result<Arc<Component>> {
        self.state.get_arc(key).cloned().ok_or_else(|| Error::UnknownComponent { key: key.clone() })
    }

    fn component_cloned(&self, key: &Key) -> Result<Component> {
        self.component_arc(key).map(|c| (*c).clone())
    }

    fn conform(&self, c: &mut Component) -> Result<()> {
        match self.state.schemas.get(c.kind()) {
            Some(schema) => Arc::clone(schema).conform(c),
            None => Ok(()),
        }
    }

    fn check_references(&self, c: &Component) -> Result<()> {
        for (param, r) in c.references() {
            if r.component == *c.key() {
                return Err(Error::InvalidEdge {
                    from: c.key().clone(),
                    to: r.component.clone(),
                    reason: "a component cannot reference its own output",
                });
            }
            let Some(target) = self.state.get(&r.component) else {
                return Err(Error::DanglingReference {
                    component: c.key().clone(),
                    param: param.clone(),
                    target: r.clone(),
                });
            };
            let declared = self.state.schema(target.kind()).is_some_and(|s| s.output_spec(&r.output).is_some());
            if !declared && target.output(&r.output).is_none() {
                return Err(Error::UnknownOutput {
                    component: c.key().clone(),
                    param: param.clone(),
                    target: r.clone(),
                });
            }
        }
        Ok(())
    }

    /// Stores `c` in place of `old`, bumping the version if its declared
    /// content changed and stamping `updated`, then re-derives its reference
    /// edges.
    fn commit_component(&mut self, mut c: Component, old: &Component, now: Timestamp) {
        let declared_change = c.params() != old.params()
            || c.outputs() != old.outputs()
            || c.labels() != old.labels()
            || c.name() != old.name()
            || c.kind() != old.kind();
        let runtime_change = c.runtime_values() != old.runtime_values();
        if !declared_change && !runtime_change {
            return;
        }
        let version = old.version() + u64::from(declared_change);
        c.set_stamp(version, old.created(), now);
        let key = c.key().clone();
        self.state.components.insert(key.clone(), Arc::new(c));
        if declared_change {
            self.sync_references(&key, now);
        }
    }

    /// Makes the reference edges out of `key` match its reference params.
    fn sync_references(&mut self, key: &Key, now: Timestamp) {
        let c = Arc::clone(self.state.get_arc(key).expect("caller checked"));
        let wanted: BTreeSet<EdgeId> = c
            .references()
            .into_iter()
            .map(|(param, r)| {
                let kind = EdgeKind::Reference { param: param.clone(), output: r.output.clone() };
                EdgeId::new(key.clone(), r.component.clone(), kind)
            })
            .collect();
        let existing: Vec<EdgeId> = self
            .state
            .edges_from(key)
            .filter(|e| matches!(e.kind(), EdgeKind::Reference { .. }))
            .map(|e| e.id().clone())
            .collect();
        for id in existing {
            if !wanted.contains(&id) {
                self.state.take_edge(&id);
            }
        }
        for id in wanted {
            if self.state.edge(&id).is_none() {
                self.state.put_edge(Arc::new(Edge::new(id, FieldMap::new(), now)));
            }
        }
    }
}
