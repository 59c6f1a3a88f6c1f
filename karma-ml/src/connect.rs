//! Connection proposals: which producers' outputs a component could
//! reference, ranked by link prediction on the embeddings.

use std::collections::{BTreeMap, BTreeSet};

use karma_core::{Component, Key, Name, OutputRef, Snapshot};
use ndarray::ArrayView1;
use serde::{Deserialize, Serialize};

use crate::embed::{Embeddings, NearestNeighbours};

/// A (kind, field name) pair: a consumer's param or a producer's output.
type Slot = (Name, Name);

/// Which outputs each reference param takes, learnt from a graph: a param
/// `p` of kind `K` accepts output `o` of kind `P` when some `K` in the
/// graph references some `P`'s `o` through `p`, and the output's value has
/// the type seen there. (Schemas type references only as "a reference", so
/// the graph's own use is the evidence.) Built once, then asked many times.
///
/// ```
/// use karma_core::{Component, Graph, Key, Value};
/// use karma_ml::Connections;
///
/// let mut g = Graph::new();
/// for db in ["orders", "users"] {
///     g.insert(Component::new("Database", db)?.with_output("endpoint", format!("{db}:5432")))?;
/// }
/// g.insert(Component::new("Service", "api")?.with_param("db", Value::reference(Key::new("Database", "orders")?, "endpoint")))?;
/// let connections = Connections::learn(&g.snapshot());
/// let accepted = connections.accepted("Service", "db");
/// assert_eq!(accepted.len(), 1);
/// assert_eq!((accepted[0].kind.as_str(), accepted[0].output.as_str(), accepted[0].seen), ("Database", "endpoint", 1));
/// assert_eq!(connections.candidates("Service", "db").count(), 2); // both databases' endpoints
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Connections {
    /// (consumer kind, param) → accepted outputs.
    accepts: BTreeMap<Slot, Vec<Accepted>>,
    /// (producer kind, output) → (producer, the output's value type).
    producers: BTreeMap<Slot, Vec<(Key, &'static str)>>,
    /// (consumer kind, param) → (consumer, producer) pairs as in the graph.
    links: BTreeMap<Slot, Vec<(Key, Key)>>,
}

/// An output a reference param accepts, and the evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    /// The producer kind.
    pub kind: Name,
    /// Its output.
    pub output: Name,
    /// The output's value type where it was referenced (`"string"`, ...).
    pub value_type: String,
    /// How many references in the graph take it.
    pub seen: usize,
}

/// A proposed connection: `param` of the component could reference `target`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// The component's reference param.
    pub param: Name,
    /// The producer's output to reference.
    pub target: OutputRef,
    /// The link-prediction score: `σ(z_component · z_producer)`, in `(0, 1)`.
    pub score: f32,
    /// Why the output fits: the kind and output the param is seen taking,
    /// with its type and how often.
    pub compatible: Accepted,
    /// Components like this one (its nearest neighbours of its kind) that
    /// reference this same producer through this param.
    pub precedents: Vec<Key>,
}

/// Options of [`Connections::propose`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposeOptions {
    /// Proposals kept per param.
    pub per_param: usize,
    /// Neighbours searched for precedents.
    pub neighbours: usize,
}

impl Default for ProposeOptions {
    fn default() -> Self {
        Self { per_param: 5, neighbours: 10 }
    }
}

impl Connections {
    /// Learns, from every reference in `snapshot`, which outputs each
    /// reference param of each kind accepts, and indexes the producers.
    pub fn learn(snapshot: &Snapshot) -> Self {
        let mut accepts: BTreeMap<Slot, BTreeMap<(Name, Name, &'static str), usize>> = BTreeMap::new();
        let mut links: BTreeMap<(Name, Name), Vec<(Key, Key)>> = BTreeMap::new();
        let mut outputs: BTreeSet<(Name, Name)> = BTreeSet::new();
        for c in snapshot.components() {
            for (param, r) in c.references() {
                let Some(producer) = snapshot.get(&r.component) else { continue };
                let Some(value) = producer.output(&r.output) else { continue };
                let slot = (c.kind().clone(), param.clone());
                *accepts
                    .entry(slot.clone())
                    .or_default()
                    .entry((producer.kind().clone(), r.output.clone(), value.type_name()))
                    .or_default() += 1;
                links.entry(slot).or_default().push((c.key().clone(), r.component.clone()));
                outputs.insert((producer.kind().clone(), r.output.clone()));
            }
        }
        let mut producers: BTreeMap<(Name, Name), Vec<(Key, &'static str)>> = BTreeMap::new();
        for c in snapshot.components() {
            for (name, value) in c.outputs().iter() {
                let slot = (c.kind().clone(), name.clone());
                if outputs.contains(&slot) {
                    producers.entry(slot).or_default().push((c.key().clone(), value.type_name()));
                }
            }
        }
        let accepts = accepts
            .into_iter()
            .map(|(slot, found)| {
                let mut list: Vec<Accepted> = found
                    .into_iter()
                    .map(|((kind, output, ty), seen)| Accepted { kind, output, value_type: ty.to_string(), seen })
                    .collect();
                list.sort_by(|a, b| b.seen.cmp(&a.seen).then_with(|| (&a.kind, &a.output).cmp(&(&b.kind, &b.output))));
                (slot, list)
            })
            .collect();
        Self { accepts, producers, links }
    }

    /// The reference params seen on components of `kind`.
    pub fn params_of(&self, kind: &str) -> Vec<&Name> {
        self.accepts.keys().filter(|(k, _)| k == kind).map(|(_, p)| p).collect()
    }

    /// The outputs param `param` of `kind` accepts, most used first.
    pub fn accepted(&self, kind: &str, param: &str) -> &[Accepted] {
        self.accepts.get(&(Name::from(kind), Name::from(param))).map_or(&[], Vec::as_slice)
    }

    /// Every output in the graph that param `param` of `kind` could
    /// reference: the accepted kinds' outputs whose value has the accepted
    /// type.
    pub fn candidates<'a>(&'a self, kind: &str, param: &str) -> impl Iterator<Item = (OutputRef, &'a Accepted)> + 'a {
        self.accepted(kind, param).iter().flat_map(move |a| {
            self.producers
                .get(&(a.kind.clone(), a.output.clone()))
                .into_iter()
                .flatten()
                .filter(move |(_, ty)| *ty == a.value_type)
                .map(move |(key, _)| (OutputRef::new(key.clone(), a.output.clone()), a))
        })
    }

    /// Proposes producers for each reference param of `component`'s kind
    /// (those it has too: alternatives to its current target), ranked by
    /// link prediction between `vector` — the component's embedding (its row,
    /// or [`Sage::embed_new`](crate::Sage::embed_new) for one not in the
    /// graph) — and each candidate producer's embedding. Candidates without
    /// an embedding, the component itself and its current targets are left
    /// out. Sorted by param, then best first.
    pub fn propose<I: NearestNeighbours>(
        &self,
        embeddings: &Embeddings<I>,
        snapshot: &Snapshot,
        component: &Component,
        vector: ArrayView1<'_, f32>,
        options: &ProposeOptions,
    ) -> Vec<Proposal> {
        let kind = component.kind();
        // Its nearest components of its own kind, for precedents.
        let similar: BTreeSet<Key> = embeddings
            .search(vector, (options.neighbours * 4).max(16))
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| k != component.key() && snapshot.get(k).is_some_and(|c| c.kind() == kind))
            .take(options.neighbours)
            .map(|(k, _)| k)
            .collect();
        let mut out = Vec::new();
        for param in self.params_of(kind) {
            let current: Vec<&OutputRef> =
                component.param_value(param).map(karma_core::Value::references).unwrap_or_default();
            // The similar components' connections through this param, by
            // producer: gathered once, not rescanned per candidate.
            let mut precedents_of: BTreeMap<&Key, Vec<Key>> = BTreeMap::new();
            for (consumer, producer) in self.links.get(&(kind.clone(), param.clone())).into_iter().flatten() {
                if similar.contains(consumer) {
                    precedents_of.entry(producer).or_default().push(consumer.clone());
                }
            }
            let mut proposals: Vec<Proposal> = self
                .candidates(kind, param)
                .filter(|(t, _)| t.component != *component.key() && !current.iter().any(|c| c.same_target(t)))
                .filter_map(|(target, accepted)| {
                    let row = embeddings.row(&target.component)?;
                    let z = embeddings.vectors().row(row as usize);
                    let score = sigmoid(z.dot(&vector));
                    let precedents = precedents_of.get(&target.component).cloned().unwrap_or_default();
                    Some(Proposal { param: param.clone(), target, score, compatible: accepted.clone(), precedents })
                })
                .collect();
            proposals.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.target.cmp(&b.target)));
            proposals.truncate(options.per_param);
            out.extend(proposals);
        }
        out
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}
