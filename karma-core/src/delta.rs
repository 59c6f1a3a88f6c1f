//! Deltas: what changed between two snapshots.

use std::fmt;
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

use crate::component::{Component, Observation, Param};
use crate::edge::{Edge, EdgeId};
use crate::error::{Error, Result};
use crate::fields::FieldMap;
use crate::key::{Key, Name};
use crate::snapshot::Snapshot;
use crate::time::Timestamp;
use crate::value::Value;

/// The difference between two snapshots: added, removed and changed
/// components (per field, old → new) and edge changes, both sorted.
///
/// `before.apply(&before.diff(&after))` gives `after`, exactly; `invert`
/// gives the delta that leads back.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// Component changes, sorted by key.
    pub components: Vec<ComponentChange>,
    /// Edge changes, sorted by edge id. Reference edges are included: they
    /// follow the params that make them.
    pub edges: Vec<EdgeChange>,
}

/// One component's change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentChange {
    /// It was added.
    Added(Arc<Component>),
    /// It was removed (its last state).
    Removed(Arc<Component>),
    /// It changed.
    Changed(Box<ComponentDelta>),
}

impl ComponentChange {
    /// The component's key.
    pub fn key(&self) -> &Key {
        match self {
            Self::Added(c) | Self::Removed(c) => c.key(),
            Self::Changed(d) => &d.key,
        }
    }
}

/// A value before and after.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change<T> {
    /// The old value.
    pub before: T,
    /// The new value.
    pub after: T,
}

impl<T: PartialEq> Change<T> {
    /// Whether the value changed.
    pub fn is_change(&self) -> bool {
        self.before != self.after
    }
}

/// A named field before and after; `None` where it was absent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange<T> {
    /// The param, output, runtime value or label name.
    pub name: Name,
    /// The old value, if it existed.
    pub before: Option<T>,
    /// The new value, if it exists.
    pub after: Option<T>,
}

/// How one component changed, field by field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentDelta {
    /// The component's key.
    pub key: Key,
    /// Its kind, before and after (usually equal).
    pub kind: Change<Name>,
    /// Its name, before and after (usually equal).
    pub name: Change<Name>,
    /// Its version, before and after.
    pub version: Change<u64>,
    /// Its creation time, before and after (equal unless re-created).
    pub created: Change<Timestamp>,
    /// Its last-update time, before and after.
    pub updated: Change<Timestamp>,
    /// Params that changed (value, or when it last changed).
    pub params: Vec<FieldChange<Param>>,
    /// Outputs that changed.
    pub outputs: Vec<FieldChange<Value>>,
    /// Runtime observations that changed.
    pub runtime: Vec<FieldChange<Observation>>,
    /// Labels that changed.
    pub labels: Vec<FieldChange<SmolStr>>,
}

/// One edge's change; `before`/`after` are `None` where it was absent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeChange {
    /// The edge.
    pub id: EdgeId,
    /// Its old state, if it existed.
    pub before: Option<Edge>,
    /// Its new state, if it exists.
    pub after: Option<Edge>,
}

fn field_changes<T: Clone + PartialEq>(a: &FieldMap<T>, b: &FieldMap<T>) -> Vec<FieldChange<T>> {
    let mut out = Vec::new();
    a.merge_with(b, |name, x, y| {
        if x != y {
            out.push(FieldChange { name: name.clone(), before: x.cloned(), after: y.cloned() });
        }
    });
    out
}

fn invert_fields<T: Clone>(changes: &[FieldChange<T>]) -> Vec<FieldChange<T>> {
    changes
        .iter()
        .map(|c| FieldChange { name: c.name.clone(), before: c.after.clone(), after: c.before.clone() })
        .collect()
}

fn swap<T: Clone>(c: &Change<T>) -> Change<T> {
    Change { before: c.after.clone(), after: c.before.clone() }
}

impl ComponentDelta {
    /// The field-by-field difference from `a` to `b` (same key).
    pub fn between(a: &Component, b: &Component) -> Self {
        Self {
            key: b.key().clone(),
            kind: Change { before: a.kind().clone(), after: b.kind().clone() },
            name: Change { before: a.name().clone(), after: b.name().clone() },
            version: Change { before: a.version(), after: b.version() },
            created: Change { before: a.created(), after: b.created() },
            updated: Change { before: a.updated(), after: b.updated() },
            params: field_changes(a.params(), b.params()),
            outputs: field_changes(a.outputs(), b.outputs()),
            runtime: field_changes(a.runtime_values(), b.runtime_values()),
            labels: field_changes(a.labels(), b.labels()),
        }
    }

    /// Params whose value changed (ignoring `changed_at`-only changes), as
    /// `(name, old, new)`.
    pub fn changed_params(&self) -> impl Iterator<Item = (&Name, Option<&Value>, Option<&Value>)> + '_ {
        self.params.iter().filter_map(|c| {
            let (x, y) = (c.before.as_ref().map(|p| &p.value), c.after.as_ref().map(|p| &p.value));
            (x != y).then_some((&c.name, x, y))
        })
    }

    fn inverted(&self) -> Self {
        Self {
            key: self.key.clone(),
            kind: swap(&self.kind),
            name: swap(&self.name),
            version: swap(&self.version),
            created: swap(&self.created),
            updated: swap(&self.updated),
            params: invert_fields(&self.params),
            outputs: invert_fields(&self.outputs),
            runtime: invert_fields(&self.runtime),
            labels: invert_fields(&self.labels),
        }
    }
}

impl Delta {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.components.is_empty() && self.edges.is_empty()
    }

    /// The number of component and edge changes.
    pub fn len(&self) -> usize {
        self.components.len() + self.edges.len()
    }

    /// Components added.
    pub fn added(&self) -> impl Iterator<Item = &Component> + '_ {
        self.components.iter().filter_map(|c| match c {
            ComponentChange::Added(c) => Some(&**c),
            _ => None,
        })
    }

    /// Components removed (their last state).
    pub fn removed(&self) -> impl Iterator<Item = &Component> + '_ {
        self.components.iter().filter_map(|c| match c {
            ComponentChange::Removed(c) => Some(&**c),
            _ => None,
        })
    }

    /// Components changed.
    pub fn changed(&self) -> impl Iterator<Item = &ComponentDelta> + '_ {
        self.components.iter().filter_map(|c| match c {
            ComponentChange::Changed(d) => Some(&**d),
            _ => None,
        })
    }

    /// The delta that undoes this one.
    #[must_use]
    pub fn invert(&self) -> Self {
        Self {
            components: self
                .components
                .iter()
                .map(|c| match c {
                    ComponentChange::Added(c) => ComponentChange::Removed(Arc::clone(c)),
                    ComponentChange::Removed(c) => ComponentChange::Added(Arc::clone(c)),
                    ComponentChange::Changed(d) => ComponentChange::Changed(Box::new(d.inverted())),
                })
                .collect(),
            edges: self
                .edges
                .iter()
                .map(|e| EdgeChange { id: e.id.clone(), before: e.after.clone(), after: e.before.clone() })
                .collect(),
        }
    }

    /// Encodes with bincode 2.
    pub fn to_bincode(&self) -> Result<Vec<u8>> {
        crate::codec::to_bincode(self)
    }

    /// Decodes what [`Delta::to_bincode`] wrote.
    pub fn from_bincode(bytes: &[u8]) -> Result<Self> {
        crate::codec::from_bincode(bytes)
    }
}

/// `diff` as documented on [`Snapshot::diff`].
pub(crate) fn diff(a: &Snapshot, b: &Snapshot) -> Delta {
    let mut components = Vec::new();
    a.components.diff(&b.components, &mut |_, x, y| {
        components.push(match (x, y) {
            (Some(x), None) => ComponentChange::Removed(Arc::clone(x)),
            (None, Some(y)) => ComponentChange::Added(Arc::clone(y)),
            (Some(x), Some(y)) => ComponentChange::Changed(Box::new(ComponentDelta::between(x, y))),
            (None, None) => unreachable!("a diff entry has a side"),
        });
    });
    sort_by_key(&mut components);

    let empty = crate::snapshot::EdgeSet::default();
    let mut edges = Vec::new();
    a.edges.diff(&b.edges, &mut |_, x, y| {
        x.unwrap_or(&empty).diff(y.unwrap_or(&empty), &mut |id, p, q| {
            edges.push(EdgeChange {
                id: id.clone(),
                before: p.map(|e| (**e).clone()),
                after: q.map(|e| (**e).clone()),
            });
        });
    });
    edges.sort_unstable_by(|p, q| p.id.cmp(&q.id));
    Delta { components, edges }
}

/// Changes sorted on rayon's pool from this many.
const PARALLEL_SORT: usize = 4096;

/// Sorts changes by key. An import's million comparisons would each chase a
/// pointer to the component, so the changes are ordered through their keys'
/// first 16 bytes (big-endian, zero-padded: ordered as the keys are),
/// comparing whole keys only on ties, and on both cores.
fn sort_by_key(changes: &mut Vec<ComponentChange>) {
    sort_by_key_from(changes, PARALLEL_SORT);
}

/// [`sort_by_key`], through prefixes on the pool from `parallel` changes.
fn sort_by_key_from(changes: &mut Vec<ComponentChange>, parallel: usize) {
    if changes.len() < parallel.max(2) {
        // Handing work to the pool from outside costs two thread switches.
        changes.sort_unstable_by(|p, q| p.key().cmp(q.key()));
        return;
    }
    let prefix = |c: &ComponentChange| {
        let mut head = [0u8; 16];
        let bytes = c.key().as_str().as_bytes();
        let n = bytes.len().min(16);
        head[..n].copy_from_slice(&bytes[..n]);
        u128::from_be_bytes(head)
    };
    let mut order: Vec<(u128, usize)> = changes.par_iter().map(prefix).zip(0..changes.len()).collect();
    order.par_sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| changes[a.1].key().cmp(changes[b.1].key())));
    let mut slots: Vec<Option<ComponentChange>> = changes.drain(..).map(Some).collect();
    changes.extend(order.into_iter().map(|(_, i)| slots[i].take().expect("each change placed once")));
}

fn conflict(at: impl fmt::Display, reason: impl Into<String>) -> Error {
    Error::DeltaConflict { at: at.to_string(), reason: reason.into() }
}

fn apply_fields<T: Clone + PartialEq + fmt::Debug>(
    key: &Key,
    what: &str,
    map: &mut FieldMap<T>,
    changes: &[FieldChange<T>],
) -> Result<()> {
    for c in changes {
        if map.get(&c.name) != c.before.as_ref() {
            return Err(conflict(
                key,
                format!("{what} {:?} is {:?}, the delta expects {:?}", c.name, map.get(&c.name), c.before),
            ));
        }
        match &c.after {
            Some(v) => {
                map.insert(c.name.clone(), v.clone());
            }
            None => {
                map.remove(&c.name);
            }
        }
    }
    Ok(())
}

fn apply_component_delta(current: &Component, d: &ComponentDelta) -> Result<Component> {
    let at = &d.key;
    if current.version() != d.version.before
        || *current.kind() != d.kind.before
        || *current.name() != d.name.before
        || current.created() != d.created.before
        || current.updated() != d.updated.before
    {
        return Err(conflict(
            at,
            format!(
                "the component is at version {}, the delta expects version {}",
                current.version(),
                d.version.before
            ),
        ));
    }
    let mut next = Component::with_key(d.key.clone(), d.kind.after.clone(), d.name.after.clone());
    *next.params_mut() = current.params().clone();
    *next.outputs_mut() = current.outputs().clone();
    *next.runtime_mut() = current.runtime_values().clone();
    *next.labels_mut() = current.labels().clone();
    apply_fields(at, "param", next.params_mut(), &d.params)?;
    apply_fields(at, "output", next.outputs_mut(), &d.outputs)?;
    apply_fields(at, "runtime value", next.runtime_mut(), &d.runtime)?;
    apply_fields(at, "label", next.labels_mut(), &d.labels)?;
    next.set_stamp(d.version.after, d.created.after, d.updated.after);
    Ok(next)
}

/// Applies `delta` to `snap` in place; on error `snap` may be partly changed
/// (callers work on a clone).
pub(crate) fn apply(snap: &mut Snapshot, delta: &Delta) -> Result<()> {
    // Edges first where they go away, so removed components have none left;
    // then components; then edges that appear or change.
    for e in &delta.edges {
        let current = snap.edge(&e.id);
        if current != e.before.as_ref() {
            return Err(conflict(&e.id, "the edge differs from the delta's before state"));
        }
        if e.after.is_none() {
            snap.take_edge(&e.id);
        }
    }
    for change in &delta.components {
        match change {
            ComponentChange::Added(c) => {
                if snap.contains(c.key()) {
                    return Err(conflict(c.key(), "added by the delta, but already present"));
                }
                snap.components.insert(c.key().clone(), Arc::clone(c));
            }
            ComponentChange::Removed(c) => {
                if snap.get(c.key()) != Some(&**c) {
                    return Err(conflict(c.key(), "removed by the delta, but absent or different"));
                }
                if !snap.edge_ids_touching(c.key()).is_empty() {
                    return Err(conflict(c.key(), "removed by the delta, but edges still join it"));
                }
                snap.components.remove(c.key());
            }
            ComponentChange::Changed(d) => {
                let current = snap.get(&d.key).ok_or_else(|| conflict(&d.key, "changed by the delta, but absent"))?;
                let next = apply_component_delta(current, d)?;
                snap.components.insert(d.key.clone(), Arc::new(next));
            }
        }
    }
    for e in &delta.edges {
        if let Some(after) = &e.after {
            if after.id() != &e.id {
                return Err(conflict(&e.id, "the edge's after state has another id"));
            }
            if !snap.contains(&e.id.from) || !snap.contains(&e.id.to) {
                return Err(conflict(&e.id, "the edge would join a missing component"));
            }
            snap.put_edge(Arc::new(after.clone()));
        }
    }
    Ok(())
}

impl fmt::Display for Delta {
    /// A readable summary, one line per change:
    ///
    /// ```text
    /// + Service/billing
    /// - Queue/legacy
    /// ~ Database/orders  v3 -> v4
    ///     port: 5432 -> 6432
    /// + edge Service/api -[depends-on]-> Queue/jobs
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for change in &self.components {
            match change {
                ComponentChange::Added(c) => writeln!(f, "+ {}", c.key())?,
                ComponentChange::Removed(c) => writeln!(f, "- {}", c.key())?,
                ComponentChange::Changed(d) => {
                    writeln!(f, "~ {}  v{} -> v{}", d.key, d.version.before, d.version.after)?;
                    for (name, x, y) in d.changed_params() {
                        writeln!(f, "    {name}: {} -> {}", show(x), show(y))?;
                    }
                    for c in &d.outputs {
                        writeln!(
                            f,
                            "    output {}: {} -> {}",
                            c.name,
                            show(c.before.as_ref()),
                            show(c.after.as_ref())
                        )?;
                    }
                    for c in &d.runtime {
                        let (x, y) = (c.before.as_ref().map(|o| &o.value), c.after.as_ref().map(|o| &o.value));
                        writeln!(f, "    runtime {}: {} -> {}", c.name, show(x), show(y))?;
                    }
                    for c in &d.labels {
                        writeln!(f, "    label {}: {:?} -> {:?}", c.name, c.before.as_deref(), c.after.as_deref())?;
                    }
                }
            }
        }
        for e in &self.edges {
            let sign = match (&e.before, &e.after) {
                (None, Some(_)) => '+',
                (Some(_), None) => '-',
                _ => '~',
            };
            writeln!(f, "{sign} edge {}", e.id)?;
        }
        Ok(())
    }
}

fn show(v: Option<&Value>) -> String {
    v.map_or_else(|| "(unset)".to_string(), ToString::to_string)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Sorting through key prefixes orders as a plain sort does, keys
        /// sharing their first 16 bytes or more included.
        #[test]
        fn prefix_sort_orders_as_a_plain_sort(
            names in proptest::collection::btree_set((0usize..3, "[a-c]{0,4}"), 0..60),
            seed in any::<u64>(),
        ) {
            let heads = ["", "shared-prefix-", "a-much-longer-shared-prefix-of-names-"];
            let mut changes: Vec<ComponentChange> = names
                .iter()
                .map(|(h, tail)| ComponentChange::Added(Arc::new(Component::new("Service", &format!("{}{tail}x", heads[*h])).unwrap())))
                .collect();
            // Out of order: a seeded rotation, and a reversal for even seeds.
            let n = changes.len().max(1);
            changes.rotate_left(seed as usize % n);
            if seed % 2 == 0 {
                changes.reverse();
            }
            let mut expected: Vec<Key> = changes.iter().map(|c| c.key().clone()).collect();
            expected.sort();
            sort_by_key_from(&mut changes, 0);
            prop_assert_eq!(changes.iter().map(|c| c.key().clone()).collect::<Vec<_>>(), expected);
        }
    }
}
