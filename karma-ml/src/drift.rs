//! Drift: runtime values that disagree with what was declared, and changes
//! a commit made that its plan did not declare.

use std::collections::BTreeMap;

use karma_core::{ComponentChange, Delta, EdgeId, Key, Name, Snapshot, Timestamp, Value};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// How far an observed value may stray from the declared one, per type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tolerance {
    /// Numbers: allowed difference as a fraction of the declared value.
    pub relative: f64,
    /// Numbers: allowed difference in absolute terms (whichever is larger wins).
    pub absolute: f64,
    /// Strings: compare without regard to ASCII case.
    pub ignore_case: bool,
}

impl Default for Tolerance {
    fn default() -> Self {
        Self { relative: 0.0, absolute: 1e-9, ignore_case: false }
    }
}

impl Tolerance {
    /// Whether `observed` agrees with `declared`. Numbers compare by value
    /// (an int and a float may agree); secrets by digest; lists and maps
    /// element by element; anything else exactly.
    pub fn agrees(&self, declared: &Value, observed: &Value) -> bool {
        match (declared, observed) {
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
                let (d, o) = (as_f64(declared), as_f64(observed));
                (d - o).abs() <= self.absolute.max(self.relative * d.abs())
            }
            (Value::String(a), Value::String(b)) if self.ignore_case => a.eq_ignore_ascii_case(b),
            (Value::List(a), Value::List(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| self.agrees(x, y)),
            (Value::Map(a), Value::Map(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|((ka, va), (kb, vb))| ka == kb && self.agrees(va, vb))
            }
            (a, b) => a == b,
        }
    }
}

fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(x) => *x,
        _ => f64::NAN,
    }
}

/// A runtime value that disagrees with its param.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// The component.
    pub key: Key,
    /// The param (and runtime value) name.
    pub param: Name,
    /// What the param says.
    pub declared: Value,
    /// What was observed.
    pub observed: Value,
    /// When it was observed.
    pub observed_at: Timestamp,
}

/// Every runtime observation named like a param that disagrees with it
/// beyond `tolerance`, parallel over components; sorted by key and param.
pub fn declared_vs_observed(snapshot: &Snapshot, tolerance: &Tolerance) -> Vec<Drift> {
    let components: Vec<_> = snapshot.component_arcs().collect();
    let mut out: Vec<Drift> = components
        .par_iter()
        .flat_map_iter(|c| {
            c.runtime_values()
                .iter()
                .filter_map(|(name, o)| {
                    let declared = c.param_value(name)?;
                    (!tolerance.agrees(declared, &o.value)).then(|| Drift {
                        key: c.key().clone(),
                        param: name.clone(),
                        declared: declared.clone(),
                        observed: o.value.clone(),
                        observed_at: o.observed_at,
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.param.cmp(&b.param)));
    out
}

/// A change a commit made that its plan did not declare (or made
/// differently).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Mutation {
    /// A component appeared that the plan did not add.
    Added(Key),
    /// A component went away that the plan did not remove.
    Removed(Key),
    /// A param, output or label (`field` says which: `param`, `output`,
    /// `label`) changed to something the plan did not say.
    Field {
        /// The component.
        key: Key,
        /// `param`, `output` or `label`.
        field: &'static str,
        /// Its name.
        name: Name,
        /// What the plan said it would become (`None`: not in the plan;
        /// `Some(None)`: removed).
        declared: Option<Option<Value>>,
        /// What it became (`None`: removed).
        actual: Option<Value>,
    },
    /// An edge appeared, went away or changed that the plan did not touch.
    Edge(EdgeId),
}

/// The changes of `actual` (what a commit did) that `declared` (its plan)
/// does not contain. Runtime observations, versions and times are not
/// declared and are ignored.
pub fn unintended_mutations(declared: &Delta, actual: &Delta) -> Vec<Mutation> {
    // What the plan says each field becomes: (key, field, name) → after.
    let mut planned: BTreeMap<(Key, &'static str, Name), Option<Value>> = BTreeMap::new();
    let mut added: BTreeMap<&Key, &karma_core::Component> = BTreeMap::new();
    let mut removed: Vec<&Key> = Vec::new();
    for change in &declared.components {
        match change {
            ComponentChange::Added(c) => {
                added.insert(c.key(), c);
            }
            ComponentChange::Removed(c) => removed.push(c.key()),
            ComponentChange::Changed(d) => {
                for p in &d.params {
                    planned.insert((d.key.clone(), "param", p.name.clone()), p.after.as_ref().map(|p| p.value.clone()));
                }
                for o in &d.outputs {
                    planned.insert((d.key.clone(), "output", o.name.clone()), o.after.clone());
                }
                for l in &d.labels {
                    planned.insert((d.key.clone(), "label", l.name.clone()), l.after.clone().map(Value::String));
                }
            }
        }
    }
    let mut out = Vec::new();
    let check = |key: &Key, field: &'static str, name: &Name, actual: Option<Value>| -> Option<Mutation> {
        let said = planned.get(&(key.clone(), field, name.clone())).cloned();
        (said.as_ref() != Some(&actual)).then(|| Mutation::Field {
            key: key.clone(),
            field,
            name: name.clone(),
            declared: said,
            actual,
        })
    };
    for change in &actual.components {
        match change {
            ComponentChange::Added(c) => match added.get(c.key()) {
                None => out.push(Mutation::Added(c.key().clone())),
                Some(plan) => {
                    // Added as planned: its params must be the planned ones.
                    for (name, p) in c.params().iter() {
                        if plan.param_value(name) != Some(&p.value) {
                            let said = plan.param_value(name).cloned();
                            out.push(Mutation::Field {
                                key: c.key().clone(),
                                field: "param",
                                name: name.clone(),
                                declared: Some(said),
                                actual: Some(p.value.clone()),
                            });
                        }
                    }
                }
            },
            ComponentChange::Removed(c) => {
                if !removed.contains(&c.key()) {
                    out.push(Mutation::Removed(c.key().clone()));
                }
            }
            ComponentChange::Changed(d) => {
                for p in &d.params {
                    out.extend(check(&d.key, "param", &p.name, p.after.as_ref().map(|p| p.value.clone())));
                }
                for o in &d.outputs {
                    out.extend(check(&d.key, "output", &o.name, o.after.clone()));
                }
                for l in &d.labels {
                    out.extend(check(&d.key, "label", &l.name, l.after.clone().map(Value::String)));
                }
            }
        }
    }
    let declared_edges: BTreeMap<&EdgeId, bool> = declared.edges.iter().map(|e| (&e.id, e.after.is_some())).collect();
    for e in &actual.edges {
        let reference = matches!(e.id.kind, karma_core::EdgeKind::Reference { .. });
        if !reference && declared_edges.get(&e.id) != Some(&e.after.is_some()) {
            out.push(Mutation::Edge(e.id.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerances_per_type() {
        let t = Tolerance { relative: 0.05, absolute: 0.0, ignore_case: true };
        assert!(t.agrees(&Value::Int(100), &Value::Float(104.0)));
        assert!(!t.agrees(&Value::Int(100), &Value::Int(106)));
        assert!(t.agrees(&Value::String("EU".into()), &Value::String("eu".into())));
        assert!(!Tolerance::default().agrees(&Value::String("EU".into()), &Value::String("eu".into())));
        assert!(!t.agrees(&Value::Bool(true), &Value::Bool(false)));
        assert!(t.agrees(&Value::List(vec![Value::Int(10)]), &Value::List(vec![Value::Int(10)])));
        assert!(!t.agrees(&Value::Int(1), &Value::String("1".into())));
    }
}
