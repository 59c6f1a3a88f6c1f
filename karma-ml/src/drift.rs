//! Drift: runtime values that disagree with what was declared, consumers
//! still running on an older value of a producer's output, and changes a
//! commit made that its plan did not declare.

use std::collections::BTreeMap;

use std::sync::Arc;

use karma_core::{Component, ComponentChange, Delta, EdgeId, Key, Name, OutputRef, Snapshot, Timestamp, Value};
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

/// What a drift scan found: runtime values that disagree with their params,
/// and consumers running on an older value of a producer's output.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// Declared vs observed, sorted by key and param.
    pub declared: Vec<Drift>,
    /// Stale references, sorted by consumer and param.
    pub stale: Vec<StaleReference>,
}

/// Both drift scans in one pass over the components: [`declared_vs_observed`]
/// and [`stale_references`].
///
/// ```
/// use karma_core::{Component, Graph, Key, Value};
/// use karma_ml::{Tolerance, scan_drift};
///
/// let mut g = Graph::new();
/// g.insert(Component::new("Database", "orders")?.with_output("endpoint", "db-1:5432"))?;
/// let db = Key::new("Database", "orders")?;
/// g.insert(Component::new("Service", "api")?.with_param("db", Value::reference(db, "endpoint")).with_param("replicas", 3))?;
/// g.resolve_references("Service/api")?; // deployed against db-1
/// g.set_output("Database/orders", "endpoint", "db-2:5432")?; // the database moved
/// g.observe("Service/api", "replicas", 2)?; // and a replica died
///
/// let report = scan_drift(&g.snapshot(), &Tolerance::default());
/// assert_eq!(report.declared[0].param, "replicas");
/// assert_eq!(report.stale[0].param, "db");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn scan_drift(snapshot: &Snapshot, tolerance: &Tolerance) -> DriftReport {
    scan(snapshot, Some(tolerance), true)
}

/// Every runtime observation named like a param that disagrees with it
/// beyond `tolerance`, parallel over components; sorted by key and param.
pub fn declared_vs_observed(snapshot: &Snapshot, tolerance: &Tolerance) -> Vec<Drift> {
    scan(snapshot, Some(tolerance), false).declared
}

/// A consumer whose reference was resolved to a value of the producer's
/// output that is no longer the current one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StaleReference {
    /// The consumer.
    pub consumer: Key,
    /// Its param holding the reference.
    pub param: Name,
    /// The reference, with the resolution the consumer took.
    pub reference: OutputRef,
    /// The producer's version now.
    pub producer_version: u64,
    /// The output's value now (`None`: the producer no longer has it).
    pub current: Option<Value>,
}

impl StaleReference {
    /// The producer's version the consumer took its value at.
    pub fn taken_at(&self) -> u64 {
        self.reference.resolved.as_ref().map_or(0, |r| r.version)
    }
}

/// Every resolved reference whose recorded value differs from the
/// producer's output now: the consumer was deployed against an older version
/// of it and has not taken the new one. Unresolved references are not
/// judged; a producer change that leaves the output's value alone is not
/// staleness. Parallel over components; sorted by consumer and param.
///
/// A producer still at the version the reference recorded has not changed
/// its outputs since (every output change bumps the version, and a
/// referenced producer cannot be removed and re-created under its
/// consumers), so only references whose producer moved on have their value
/// compared, by digest.
pub fn stale_references(snapshot: &Snapshot) -> Vec<StaleReference> {
    scan(snapshot, None, true).stale
}

/// A component in the scan: its key's stable hash, itself and its version.
type Row<'a> = (u64, &'a Component, u64);

/// A resolved reference to check: the producer's key hash, the consumer, the
/// param and the reference.
type Pending<'a> = (u64, &'a Component, &'a Name, &'a OutputRef);

/// What one shard of the scan found.
type Part<'a> = (Vec<Drift>, Vec<Row<'a>>, Vec<Pending<'a>>);

fn scan(snapshot: &Snapshot, tolerance: Option<&Tolerance>, stale: bool) -> DriftReport {
    // One pass over every component, shard by shard in parallel (their memory
    // is what costs): runtime drift, each component's row, and the resolved
    // references it holds.
    let shards: Vec<_> = snapshot.component_arcs_sharded().collect();
    let parts: Vec<Part<'_>> = shards
        .into_par_iter()
        .map(|shard| {
            let (mut drift, mut rows, mut pending) = (Vec::new(), Vec::new(), Vec::new());
            let mut group: Vec<&Arc<Component>> = Vec::with_capacity(TOUCH);
            let mut shard = shard.peekable();
            while shard.peek().is_some() {
                group.clear();
                group.extend(shard.by_ref().take(TOUCH).map(|(_, c)| c));
                touch(&group);
                for c in &group {
                    let c: &Component = c;
                    if let Some(tolerance) = tolerance {
                        declared_drift(c, tolerance, &mut drift);
                    }
                    if stale {
                        rows.push((c.key().stable_hash(), c, c.version()));
                        for (name, p) in c.params().iter() {
                            for r in p.value.references() {
                                if r.resolved.is_some() {
                                    pending.push((r.component.stable_hash(), c, name, r));
                                }
                            }
                        }
                    }
                }
            }
            (drift, rows, pending)
        })
        .collect();
    let mut declared = Vec::new();
    let mut rows = Vec::new();
    let mut pending = Vec::new();
    for (d, r, p) in parts {
        declared.extend(d);
        rows.extend(r);
        pending.extend(p);
    }
    declared.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.param.cmp(&b.param)));
    let mut stale_found = if stale { check_references(rows, pending) } else { Vec::new() };
    stale_found.sort_by(|a, b| a.consumer.cmp(&b.consumer).then_with(|| a.param.cmp(&b.param)));
    DriftReport { declared, stale: stale_found }
}

/// How many components [`touch`] reaches ahead.
const TOUCH: usize = 16;

/// Reads a little of each component and of its field vectors before they are
/// worked on: the loads are independent, so their cache misses overlap
/// instead of being paid one after another (a scan of 1M components is bound
/// by memory latency, not by work).
fn touch(group: &[&Arc<Component>]) {
    let mut sink = 0usize;
    for c in group {
        sink = sink.wrapping_add(c.runtime_values().len()).wrapping_add(c.params().len());
    }
    for c in group {
        let first = |n: Option<&Name>| n.map_or(0, karma_core::SmolStr::len);
        sink ^= first(c.runtime_values().iter().next().map(|e| e.0)) ^ first(c.params().iter().next().map(|e| e.0));
    }
    // References live in boxes of their own.
    for c in group {
        for (_, p) in c.params().iter() {
            if let Value::Ref(r) = &p.value {
                sink ^= r.output.len();
            }
        }
    }
    std::hint::black_box(sink);
}

fn declared_drift(c: &Component, tolerance: &Tolerance, out: &mut Vec<Drift>) {
    for (name, o) in c.runtime_values().iter() {
        if let Some(declared) = c.param_value(name)
            && !tolerance.agrees(declared, &o.value)
        {
            out.push(Drift {
                key: c.key().clone(),
                param: name.clone(),
                declared: declared.clone(),
                observed: o.value.clone(),
                observed_at: o.observed_at,
            });
        }
    }
}

/// Joins the pending references to their producers by key hash (both sorted,
/// then merged in one sequential walk), and compares values only where the
/// producer's version moved on.
fn check_references(mut rows: Vec<Row<'_>>, mut pending: Vec<Pending<'_>>) -> Vec<StaleReference> {
    rows.par_sort_unstable_by_key(|r| r.0);
    pending.par_sort_unstable_by_key(|p| p.0);
    // (reference, the rows sharing its producer's hash) for every reference
    // whose producer is not plainly still at the recorded version.
    let mut to_check: Vec<(&Pending<'_>, &[Row<'_>])> = Vec::new();
    let mut r = 0;
    for p in &pending {
        while r < rows.len() && rows[r].0 < p.0 {
            r += 1;
        }
        let end = r + rows[r..].iter().take_while(|row| row.0 == p.0).count();
        let same = &rows[r..end];
        let recorded = p.3.resolved.as_deref().map(|res| res.version);
        if let [(_, _, version)] = same
            && Some(*version) == recorded
        {
            continue;
        }
        to_check.push((p, same));
    }
    to_check
        .par_iter()
        .filter_map(|&(&(_, consumer, param, r), same)| {
            let res = r.resolved.as_deref()?;
            // Usually one component has the hash; when several do, the key decides.
            let producer = same.iter().map(|row| row.1).find(|c| *c.key() == r.component)?;
            if producer.version() == res.version {
                return None;
            }
            let current = producer.output(&r.output);
            if current.is_some_and(|v| res.matches(v)) {
                return None;
            }
            Some(StaleReference {
                consumer: consumer.key().clone(),
                param: param.clone(),
                reference: r.clone(),
                producer_version: producer.version(),
                current: current.cloned(),
            })
        })
        .collect()
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
