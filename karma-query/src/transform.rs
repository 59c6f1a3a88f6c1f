//! Selector-driven rewrites that produce a [`Delta`] to preview before it
//! is applied.

use std::collections::{BTreeMap, BTreeSet};

use karma_core::{Component, EdgeKind, Graph, Key, Name, OutputRef, Removal, SmolStr, Snapshot, Value};
use serde::{Deserialize, Serialize};

use crate::error::{QueryError, Result};
use crate::select::Selector;
use crate::view::{NodeId, View};

/// A rewrite of the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// Set param `name` to `value` on every match.
    SetParam {
        /// Which components.
        select: Selector,
        /// The param.
        name: Name,
        /// Its new value.
        value: Value,
    },
    /// Remove param `name` from every match that has it.
    UnsetParam {
        /// Which components.
        select: Selector,
        /// The param.
        name: Name,
    },
    /// Set (or with `None` remove) label `name` on every match.
    Relabel {
        /// Which components.
        select: Selector,
        /// The label.
        name: Name,
        /// Its new value; `None` removes it.
        value: Option<SmolStr>,
    },
    /// Give a component a new display name; its key (its identity, and so
    /// its lineage) stays.
    Rename {
        /// The component.
        key: Key,
        /// The new name.
        name: Name,
    },
    /// Keep only the matches: everything else is removed, with the edges
    /// and references that led out of the kept part (those appear in the
    /// delta, so nothing goes unseen).
    Extract {
        /// What to keep.
        select: Selector,
    },
    /// Copy the matches under new keys (e.g. staging's shape into prod):
    /// references and edges between copied components are rewired to the
    /// copies; those to components outside stay as they are.
    Clone {
        /// Which components.
        select: Selector,
        /// How each copy's key is made.
        mapping: KeyMapping,
        /// Labels set on every copy (e.g. `env = prod`).
        labels: BTreeMap<Name, SmolStr>,
        /// Param values set on particular copies, by the copy's key.
        overrides: BTreeMap<Key, BTreeMap<Name, Value>>,
    },
}

/// How a cloned component's key is made from the original's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMapping {
    /// Replace this text in the name…
    pub replace: String,
    /// …with this; when the name does not contain it, `with` is prefixed.
    pub with: String,
}

impl KeyMapping {
    /// The copy of `key`.
    pub fn map(&self, view: &View, id: NodeId) -> Result<Key> {
        let c = view.component(id);
        let name = c.key().as_str().strip_prefix(c.kind().as_str()).and_then(|r| r.strip_prefix('/'));
        let name = name.unwrap_or(c.key().as_str());
        let mapped = if !self.replace.is_empty() && name.contains(&self.replace) {
            name.replace(&self.replace, &self.with)
        } else {
            format!("{}{name}", self.with)
        };
        Ok(Key::new(c.kind(), &mapped)?)
    }
}

impl Transform {
    /// The delta this transform makes to `view`'s snapshot. Nothing is
    /// changed: apply the delta (e.g. `Graph::apply`) once it looks right.
    ///
    /// ```
    /// use karma_core::{Component, Graph, Value};
    /// use karma_query::{CmpOp, Selector, Transform, View};
    ///
    /// let mut g = Graph::new();
    /// g.insert(Component::new("Service", "api")?.with_param("replicas", 2))?;
    /// g.insert(Component::new("Service", "worker")?.with_param("replicas", 8))?;
    /// let view = View::new(&g);
    /// let t = Transform::SetParam {
    ///     select: Selector::param("replicas", CmpOp::Lt, 3),
    ///     name: "replicas".into(),
    ///     value: Value::Int(3),
    /// };
    /// let delta = t.preview(&view)?;
    /// assert_eq!(delta.len(), 1);
    /// g.apply(&delta)?;
    /// assert_eq!(g.snapshot().get(&"Service/api".parse()?).unwrap().param_value("replicas"), Some(&Value::Int(3)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn preview(&self, view: &View) -> Result<karma_core::Delta> {
        let before = view.snapshot();
        let after = self.apply_to(view)?;
        Ok(before.diff(&after))
    }

    /// The snapshot after the transform.
    pub fn apply_to(&self, view: &View) -> Result<Snapshot> {
        let mut g = Graph::from_snapshot(view.snapshot().clone(), karma_core::SystemClock);
        match self {
            Self::SetParam { select, name, value } => {
                for id in select.select(view) {
                    g.set_param(view.key(id).clone(), name.clone(), value.clone())?;
                }
            }
            Self::UnsetParam { select, name } => {
                for id in select.select(view) {
                    g.unset_param(view.key(id).clone(), name)?;
                }
            }
            Self::Relabel { select, name, value } => {
                for id in select.select(view) {
                    match value {
                        Some(v) => g.set_label(view.key(id).clone(), name.clone(), v.clone())?,
                        None => {
                            g.unset_label(view.key(id).clone(), name)?;
                        }
                    }
                }
            }
            Self::Rename { key, name } => {
                view.require(key)?;
                g.rename(key.clone(), name.clone())?;
            }
            Self::Extract { select } => extract(view, &mut g, &select.mask(view))?,
            Self::Clone { select, mapping, labels, overrides } => {
                clone_into(view, &mut g, &select.select(view), mapping, labels, overrides)?;
            }
        }
        Ok(g.snapshot())
    }
}

fn extract(view: &View, g: &mut Graph, keep: &[bool]) -> Result<()> {
    for id in view.ids().filter(|&id| keep[id as usize]) {
        let c = view.component(id);
        for (param, r) in c.references() {
            if view.id(&r.component).is_none_or(|t| !keep[t as usize]) {
                g.unset_param(c.key().clone(), param)?;
            }
        }
        for e in view.snapshot().edges_from(c.key()) {
            if !matches!(e.kind(), EdgeKind::Reference { .. }) && view.id(e.to()).is_none_or(|t| !keep[t as usize]) {
                g.disconnect(c.key().clone(), e.to().clone(), e.kind())?;
            }
        }
    }
    for id in view.ids().filter(|&id| !keep[id as usize]) {
        if g.snapshot().contains(view.key(id)) {
            g.remove(view.key(id).clone(), Removal::Cascade)?;
        }
    }
    Ok(())
}

fn rewire(value: &Value, copies: &BTreeMap<Key, Key>) -> Value {
    match value {
        Value::Ref(r) => match copies.get(&r.component) {
            Some(to) => Value::Ref(Box::new(OutputRef::new(to.clone(), r.output.clone()))),
            None => value.clone(),
        },
        Value::List(items) => Value::List(items.iter().map(|v| rewire(v, copies)).collect()),
        Value::Map(map) => Value::Map(map.iter().map(|(k, v)| (k.clone(), rewire(v, copies))).collect()),
        other => other.clone(),
    }
}

/// `c` without its reference params, and those params.
fn split_references(c: &Component) -> (Component, Vec<(Name, Value)>) {
    let mut bare = Component::with_key(c.key().clone(), c.kind().clone(), c.name().clone());
    let mut refs = Vec::new();
    for (param, p) in c.params().iter() {
        if p.value.references().is_empty() {
            bare = bare.with_param(param.clone(), p.value.clone());
        } else {
            refs.push((param.clone(), p.value.clone()));
        }
    }
    for (output, v) in c.outputs().iter() {
        bare = bare.with_output(output.clone(), v.clone());
    }
    for (label, v) in c.labels().iter() {
        bare = bare.with_label(label.clone(), v.clone());
    }
    (bare, refs)
}

fn clone_into(
    view: &View,
    g: &mut Graph,
    ids: &[NodeId],
    mapping: &KeyMapping,
    labels: &BTreeMap<Name, SmolStr>,
    overrides: &BTreeMap<Key, BTreeMap<Name, Value>>,
) -> Result<()> {
    let mut copies = BTreeMap::new();
    for &id in ids {
        let to = mapping.map(view, id)?;
        if view.id(&to).is_some() || copies.values().any(|k| *k == to) {
            return Err(QueryError::Invalid(format!("cloning {} would overwrite {to}", view.key(id))));
        }
        copies.insert(view.key(id).clone(), to);
    }
    if let Some(key) = overrides.keys().find(|k| !copies.values().any(|c| c == *k)) {
        return Err(QueryError::Invalid(format!("override for {key}, which is not one of the copies")));
    }
    // Copies go in whole (schemas may require their reference params), each
    // after the copies it references; copies that reference each other in a
    // cycle go in without those references first and get them after.
    let built: Vec<(Component, BTreeSet<Key>)> = ids
        .iter()
        .map(|&id| {
            let original = view.component(id);
            let to = &copies[original.key()];
            let name =
                to.as_str().strip_prefix(original.kind().as_str()).and_then(|r| r.strip_prefix('/')).unwrap_or("");
            let mut c = Component::with_key(to.clone(), original.kind().clone(), name);
            let mut needs = BTreeSet::new();
            for (param, p) in original.params().iter() {
                let value = rewire(&p.value, &copies);
                needs.extend(value.references().into_iter().map(|r| r.component.clone()).filter(|k| k != to));
                c = c.with_param(param.clone(), value);
            }
            for (output, v) in original.outputs().iter() {
                c = c.with_output(output.clone(), v.clone());
            }
            for (label, v) in original.labels().iter().chain(labels.iter()) {
                c = c.with_label(label.clone(), v.clone());
            }
            needs.retain(|k| copies.values().any(|c| c == k));
            (c, needs)
        })
        .collect();
    let mut pending = built;
    let mut inserted: BTreeSet<Key> = BTreeSet::new();
    while !pending.is_empty() {
        let (ready, rest): (Vec<_>, Vec<_>) = pending.into_iter().partition(|(_, needs)| needs.is_subset(&inserted));
        if ready.is_empty() {
            // A cycle among the copies: references second.
            let mut deferred = Vec::new();
            for (c, _) in &rest {
                let (bare, refs) = split_references(c);
                deferred.extend(refs.into_iter().map(|(param, value)| (c.key().clone(), param, value)));
                g.insert(bare)?;
            }
            for (key, param, value) in deferred {
                g.set_param(key, param, value)?;
            }
            break;
        }
        for (c, _) in ready {
            inserted.insert(c.key().clone());
            g.insert(c)?;
        }
        pending = rest;
    }
    for (to, params) in overrides {
        for (param, value) in params {
            g.set_param(to.clone(), param.clone(), value.clone())?;
        }
    }
    for &id in ids {
        let from = view.key(id);
        for e in view.snapshot().edges_from(from) {
            if matches!(e.kind(), EdgeKind::Reference { .. }) {
                continue;
            }
            let target = copies.get(e.to()).unwrap_or(e.to()).clone();
            let attributes: Vec<(Name, Value)> = e.attributes().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            g.connect(copies[from].clone(), target, e.kind().clone(), attributes)?;
        }
    }
    Ok(())
}
