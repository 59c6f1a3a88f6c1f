//! Three-way merge of graph states at param granularity.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::component::Component;
use crate::edge::EdgeKind;
use crate::error::Error;
use crate::fields::FieldMap;
use crate::graph::Graph;
use crate::key::{Key, Name};
use crate::snapshot::Snapshot;
use crate::time::Clock;

/// One thing both sides changed differently. Never resolved silently.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeConflict {
    /// Where: a component key, or an edge written `from -[kind]-> to`.
    pub at: String,
    /// The param, output or label both sides changed (`None` for a whole
    /// component or edge).
    pub field: Option<Name>,
    /// What differs.
    pub reason: String,
}

impl fmt::Display for MergeConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}.{field}: {}", self.at, self.reason),
            None => write!(f, "{}: {}", self.at, self.reason),
        }
    }
}

/// Merges `ours` and `theirs`, both descended from `base`.
///
/// Changes made on one side only are taken. Where both sides changed the
/// same component, it merges param by param (and output by output, label by
/// label): a field changed on one side takes that side's value, a field
/// changed identically on both is fine, a field changed differently on both
/// is a [`MergeConflict`] naming the component and the field. Removing a
/// component one side changed, edges changed differently, and references
/// left dangling are conflicts too. Runtime observations keep the latest.
///
/// Merged components get a new version stamped by `clock`.
///
/// ```
/// use karma_core::{merge, Component, Graph, ManualClock};
///
/// let mut g = Graph::new();
/// g.insert(Component::new("Service", "api")?.with_param("replicas", 2).with_param("image", "v1"))?;
/// let base = g.snapshot();
/// let mut ours = Graph::from_snapshot(base.clone(), ManualClock::default());
/// ours.set_param("Service/api", "replicas", 4)?;
/// let mut theirs = Graph::from_snapshot(base.clone(), ManualClock::default());
/// theirs.set_param("Service/api", "image", "v2")?;
///
/// let merged = merge(&base, &ours, &theirs, ManualClock::default()).expect("no conflict");
/// let api = merged.get(&"Service/api".parse()?).unwrap();
/// assert_eq!(api.param_value("replicas"), Some(&4.into()));
/// assert_eq!(api.param_value("image"), Some(&"v2".into()));
/// # Ok::<(), karma_core::Error>(())
/// ```
pub fn merge(
    base: &Snapshot,
    ours: &Snapshot,
    theirs: &Snapshot,
    clock: impl Clock + 'static,
) -> Result<Snapshot, Vec<MergeConflict>> {
    let mut g = Graph::from_snapshot(ours.clone(), clock);
    let now = g.now();
    let mut conflicts = Vec::new();
    let mut touched: Vec<Key> = Vec::new();

    for change in base.diff(theirs).components {
        let key = change.key().clone();
        let (b, o, t) = (base.get(&key), ours.get(&key), theirs.get(&key));
        let conflict = |reason: &str| MergeConflict { at: key.to_string(), field: None, reason: reason.into() };
        if o == b {
            // Only theirs changed it: take their state as it is.
            match t {
                Some(t) => {
                    g.put_raw(t.clone());
                    g.copy_reference_edges(theirs, &key);
                }
                None => g.remove_raw(&key),
            }
            continue;
        }
        match (o, t) {
            (None, None) => {}
            (Some(o), Some(t)) if o == t => {}
            (Some(o), Some(t)) => match merge_component(b, o, t) {
                Ok(mut merged) => {
                    merged.set_stamp(o.version().max(t.version()) + 1, o.created().min(t.created()), now);
                    g.put_raw(merged);
                    touched.push(key);
                }
                Err(mut field_conflicts) => conflicts.append(&mut field_conflicts),
            },
            (None, Some(_)) => conflicts.push(conflict("removed on our side, changed on theirs")),
            (Some(_), None) => conflicts.push(conflict("changed on our side, removed on theirs")),
        }
    }

    for e in base.diff(theirs).edges {
        if matches!(e.id.kind, EdgeKind::Reference { .. }) {
            continue; // follows the params, re-derived below
        }
        let (b, o) = (base.edge(&e.id), ours.edge(&e.id));
        if o == b {
            match e.after {
                Some(edge) => {
                    if g.contains(edge.from()) && g.contains(edge.to()) {
                        g.put_edge_raw(edge);
                    } else {
                        conflicts.push(MergeConflict {
                            at: e.id.to_string(),
                            field: None,
                            reason: "their edge joins a component our side removed".into(),
                        });
                    }
                }
                None => g.remove_edge_raw(&e.id),
            }
        } else if o != e.after.as_ref() {
            conflicts.push(MergeConflict {
                at: e.id.to_string(),
                field: None,
                reason: "edge changed differently on both sides".into(),
            });
        }
    }

    for key in &touched {
        if g.contains(key) {
            g.resync_references(key, now);
        }
    }
    check_merged(&g, &mut conflicts);
    if conflicts.is_empty() { Ok(g.snapshot()) } else { Err(conflicts) }
}

/// Nothing may be left pointing at what the other side removed.
fn check_merged(g: &Graph, conflicts: &mut Vec<MergeConflict>) {
    for c in g.components() {
        if let Err(Error::DanglingReference { param, target, .. } | Error::UnknownOutput { param, target, .. }) =
            g.check_references_of(c)
        {
            conflicts.push(MergeConflict {
                at: c.key().to_string(),
                field: Some(param),
                reason: format!("references {target}, which the other side removed"),
            });
        }
    }
    for e in g.edges() {
        let dangling = !g.contains(e.from()) || !g.contains(e.to());
        if dangling && !matches!(e.kind(), EdgeKind::Reference { .. }) {
            conflicts.push(MergeConflict {
                at: e.id().to_string(),
                field: None,
                reason: "edge joins a removed component".into(),
            });
        }
    }
}

/// A side's value in a conflict: its debug form, or `unset`.
fn shown<V: fmt::Debug>(v: Option<&V>) -> String {
    v.map_or_else(|| "unset".to_string(), |v| format!("{v:?}"))
}

/// Three-way merges one field map; conflicts are named `at`.`field`.
fn merge_fields<V: Clone + PartialEq + fmt::Debug>(
    at: &Key,
    what: &str,
    base: Option<&FieldMap<V>>,
    ours: &FieldMap<V>,
    theirs: &FieldMap<V>,
    conflicts: &mut Vec<MergeConflict>,
) -> FieldMap<V> {
    let empty = FieldMap::new();
    let base = base.unwrap_or(&empty);
    let mut out = ours.clone();
    ours.merge_with(theirs, |name, o, t| {
        if o == t {
            return;
        }
        let b = base.get(name);
        if o == b {
            match t {
                Some(t) => {
                    out.insert(name.clone(), t.clone());
                }
                None => {
                    out.remove(name);
                }
            }
        } else if t != b {
            conflicts.push(MergeConflict {
                at: at.to_string(),
                field: Some(name.clone()),
                reason: format!("{what} changed on both sides: ours {}, theirs {}", shown(o), shown(t)),
            });
        }
    });
    out
}

fn merge_component(
    base: Option<&Component>,
    ours: &Component,
    theirs: &Component,
) -> Result<Component, Vec<MergeConflict>> {
    let key = ours.key();
    let mut conflicts = Vec::new();
    if ours.kind() != theirs.kind() {
        conflicts.push(MergeConflict { at: key.to_string(), field: None, reason: "kind changed differently".into() });
    }
    // Params compare by value: the change time follows the side that changed.
    let value_only = |c: &Component| -> FieldMap<crate::value::Value> {
        c.params().iter().map(|(n, p)| (n.clone(), p.value.clone())).collect()
    };
    let merged_values = merge_fields(
        key,
        "param",
        base.map(value_only).as_ref(),
        &value_only(ours),
        &value_only(theirs),
        &mut conflicts,
    );
    let outputs =
        merge_fields(key, "output", base.map(Component::outputs), ours.outputs(), theirs.outputs(), &mut conflicts);
    let labels =
        merge_fields(key, "label", base.map(Component::labels), ours.labels(), theirs.labels(), &mut conflicts);
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    let mut merged = ours.clone();
    let mut params = FieldMap::new();
    for (name, value) in &merged_values {
        let param = [ours.param(name), theirs.param(name)]
            .into_iter()
            .flatten()
            .find(|p| p.value == *value)
            .cloned()
            .expect("a merged value comes from one side");
        params.insert(name.clone(), param);
    }
    *merged.params_mut() = params;
    *merged.outputs_mut() = outputs;
    *merged.labels_mut() = labels;
    let mut runtime = ours.runtime_values().clone();
    for (name, obs) in theirs.runtime_values() {
        if runtime.get(name).is_none_or(|o| o.observed_at < obs.observed_at) {
            runtime.insert(name.clone(), obs.clone());
        }
    }
    *merged.runtime_mut() = runtime;
    Ok(merged)
}
