//! Meta-configuration: the graph's recurring shapes ([`mine_patterns`]),
//! a partial graph drafted from a short intent ([`Intent`], [`Blueprint`]),
//! and a proposed change previewed before it is deployed ([`preview`]).

use std::collections::{BTreeMap, BTreeSet};

use karma_core::{Component, Delta, EdgeKind, Graph, Key, Name, Snapshot, Value};
use karma_query::{BlastRadius, View, change_impact};
use serde::{Deserialize, Serialize};

use crate::anomaly::{Anomaly, AnomalyConfig, scan as scan_anomalies};
use crate::error::{MlError, Result};
use crate::features::FeatureExtractor;
use crate::predict::Logistic;
use crate::recommend::Suggestion;

/// One part of a pattern: a component of `kind` the anchor reaches through
/// an edge of kind `via`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Part {
    /// The edge from the anchor (a reference edge names param and output).
    pub via: EdgeKind,
    /// The kind of the component at its end.
    pub kind: Name,
}

/// A param value typical of one role of a pattern.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Typical {
    /// The param.
    pub param: Name,
    /// Its most common value (numbers: the median).
    pub value: Value,
    /// The share of occurrences that have this value (numbers: that have
    /// the param at all).
    pub share: f32,
}

/// A recurring small subgraph: an anchor kind and the parts it connects to,
/// found around `support` components, with each role's typical params.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pattern {
    /// The anchor's kind (a service, say).
    pub anchor: Name,
    /// What the anchor connects to (a database, a cache, a queue...), sorted.
    pub parts: Vec<Part>,
    /// How many components anchor it.
    pub support: usize,
    /// Some occurrences: the anchor's key, then one key per part (up to 5).
    pub examples: Vec<Vec<Key>>,
    /// Typical params per role: index 0 the anchor, then one per part.
    pub typical: Vec<Vec<Typical>>,
}

impl Pattern {
    /// Every kind in the pattern, anchor first.
    pub fn kinds(&self) -> impl Iterator<Item = &Name> + '_ {
        std::iter::once(&self.anchor).chain(self.parts.iter().map(|p| &p.kind))
    }
}

/// A component and its parts, each with the key of one component at its end.
type Transaction<'a> = (&'a Component, BTreeMap<Part, &'a Key>);

/// Options of [`mine_patterns`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatternConfig {
    /// Patterns around fewer anchors are not reported.
    pub min_support: usize,
    /// The most parts a pattern has.
    pub max_parts: usize,
}

impl Default for PatternConfig {
    fn default() -> Self {
        Self { min_support: 3, max_parts: 4 }
    }
}

/// Mines the graph's recurring stars: for each kind, the sets of (edge,
/// neighbour kind) its components connect to that at least
/// `min_support` of them share. Exact frequent-itemset counting over each
/// component's frequent parts (subsets up to `max_parts`), keeping closed
/// sets only: a pattern is dropped when a larger one has the same support.
/// Sorted by size, then support, both descending.
///
/// ```
/// use karma_core::{Component, EdgeKind, Graph};
/// use karma_ml::{PatternConfig, mine_patterns};
///
/// let mut g = Graph::new();
/// for i in 0..4 {
///     for kind in ["Service", "Database", "Cache"] {
///         g.insert(Component::new(kind, &format!("s{i}"))?.with_param("tier", "gold"))?;
///     }
///     g.connect(format!("Service/s{i}").as_str(), format!("Database/s{i}").as_str(), EdgeKind::DependsOn, [])?;
///     g.connect(format!("Service/s{i}").as_str(), format!("Cache/s{i}").as_str(), EdgeKind::DependsOn, [])?;
/// }
/// let patterns = mine_patterns(&g.snapshot(), &PatternConfig::default());
/// assert_eq!(patterns[0].anchor, "Service");
/// assert_eq!(patterns[0].parts.len(), 2);
/// assert_eq!(patterns[0].support, 4);
/// assert_eq!(patterns[0].typical[1][0].value.as_str(), Some("gold"));
/// # Ok::<(), karma_core::Error>(())
/// ```
pub fn mine_patterns(snapshot: &Snapshot, config: &PatternConfig) -> Vec<Pattern> {
    // Transactions: per anchor kind, each component's parts (with the keys).
    let mut by_kind: BTreeMap<&Name, Vec<Transaction<'_>>> = BTreeMap::new();
    for c in snapshot.components() {
        let mut parts = BTreeMap::new();
        for e in snapshot.edges_from(c.key()) {
            if let Some(target) = snapshot.get(e.to()) {
                parts.entry(Part { via: e.kind().clone(), kind: target.kind().clone() }).or_insert(e.to());
            }
        }
        if !parts.is_empty() {
            by_kind.entry(c.kind()).or_default().push((c, parts));
        }
    }
    let mut out = Vec::new();
    for (anchor, transactions) in by_kind {
        // Single parts first: only frequent ones can be in a frequent set.
        let mut single: BTreeMap<&Part, usize> = BTreeMap::new();
        for (_, parts) in &transactions {
            for p in parts.keys() {
                *single.entry(p).or_default() += 1;
            }
        }
        let mut counts: BTreeMap<Vec<&Part>, Vec<usize>> = BTreeMap::new();
        for (t, (_, parts)) in transactions.iter().enumerate() {
            let frequent: Vec<&Part> = parts.keys().filter(|p| single[p] >= config.min_support).collect();
            for_each_subset(&frequent, config.max_parts, &mut |set| {
                counts.entry(set.to_vec()).or_default().push(t);
            });
        }
        let frequent: Vec<(Vec<&Part>, Vec<usize>)> =
            counts.into_iter().filter(|(_, ts)| ts.len() >= config.min_support).collect();
        for (set, ts) in &frequent {
            let closed = !frequent.iter().any(|(other, ots)| {
                other.len() > set.len() && ots.len() == ts.len() && set.iter().all(|p| other.contains(p))
            });
            if closed {
                out.push(pattern(anchor, set, ts, &transactions, snapshot));
            }
        }
    }
    out.sort_by(|a, b| {
        b.parts.len().cmp(&a.parts.len()).then(b.support.cmp(&a.support)).then_with(|| a.anchor.cmp(&b.anchor))
    });
    out
}

/// Calls `f` on every non-empty subset of `items` with at most `max` items,
/// each in `items`' order.
fn for_each_subset<'a>(items: &[&'a Part], max: usize, f: &mut impl FnMut(&[&'a Part])) {
    fn go<'a>(items: &[&'a Part], start: usize, max: usize, cur: &mut Vec<&'a Part>, f: &mut impl FnMut(&[&'a Part])) {
        for i in start..items.len() {
            cur.push(items[i]);
            f(cur);
            if cur.len() < max {
                go(items, i + 1, max, cur, f);
            }
            cur.pop();
        }
    }
    go(items, 0, max, &mut Vec::new(), f);
}

fn pattern(
    anchor: &Name,
    set: &[&Part],
    ts: &[usize],
    transactions: &[Transaction<'_>],
    snapshot: &Snapshot,
) -> Pattern {
    let occurrences: Vec<Vec<&Component>> = ts
        .iter()
        .map(|&t| {
            let (c, parts) = &transactions[t];
            std::iter::once(*c).chain(set.iter().filter_map(|p| snapshot.get(parts[*p]))).collect()
        })
        .filter(|o: &Vec<&Component>| o.len() == set.len() + 1)
        .collect();
    let typical = (0..=set.len()).map(|role| typical(occurrences.iter().map(|o| o[role]))).collect();
    Pattern {
        anchor: anchor.clone(),
        parts: set.iter().map(|p| (*p).clone()).collect(),
        support: ts.len(),
        examples: occurrences.iter().take(5).map(|o| o.iter().map(|c| c.key().clone()).collect()).collect(),
        typical,
    }
}

/// The params at least half the components have: the median of numbers,
/// the most common value otherwise (references and secrets left out).
fn typical<'a>(components: impl Iterator<Item = &'a Component>) -> Vec<Typical> {
    let components: Vec<&Component> = components.collect();
    let mut values: BTreeMap<&Name, Vec<&Value>> = BTreeMap::new();
    for c in &components {
        for (name, p) in c.params().iter() {
            if !matches!(p.value, Value::Ref(_) | Value::Secret(_)) {
                values.entry(name).or_default().push(&p.value);
            }
        }
    }
    let n = components.len().max(1) as f32;
    let mut out = Vec::new();
    for (name, vs) in values {
        if (vs.len() as f32) < n / 2.0 {
            continue;
        }
        let numbers: Option<Vec<f64>> = vs.iter().map(|v| v.as_float()).collect();
        let (value, share) = if let Some(mut xs) = numbers {
            xs.sort_by(f64::total_cmp);
            let median = xs[xs.len() / 2];
            let value = vs.iter().find(|v| v.as_float() == Some(median)).map_or(Value::Float(median), |v| (*v).clone());
            (value, vs.len() as f32 / n)
        } else {
            let mut tally: BTreeMap<String, (usize, &Value)> = BTreeMap::new();
            for v in &vs {
                tally.entry(v.to_string()).or_insert((0, v)).0 += 1;
            }
            let (count, v) = tally.values().max_by_key(|(count, _)| *count).copied().expect("non-empty");
            (v.clone(), count as f32 / n)
        };
        out.push(Typical { param: name.clone(), value, share });
    }
    out
}

/// What a short text asks for, matched against the graph's own vocabulary:
/// kinds (by the words of their names, plurals too), label values (`prod`,
/// `staging`) and string param values (`postgres` → a `Database` whose
/// `engine` is `postgres`), and boolean param names (`public`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// The kinds asked for, each with the params the text fixes.
    pub kinds: Vec<(Name, Vec<(Name, Value)>)>,
    /// Labels for every component (`env = staging`).
    pub labels: Vec<(Name, String)>,
    /// Words that matched nothing (stop words aside).
    pub unmatched: Vec<String>,
}

const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "with", "by", "backed", "in", "on", "to", "of", "for", "using", "uses", "behind",
    "plus", "its", "own", "new", "some", "that", "which", "from", "into", "at",
];

impl Intent {
    /// Reads `text` against `snapshot`'s vocabulary.
    ///
    /// ```
    /// use karma_core::{Component, Graph};
    /// use karma_ml::Intent;
    ///
    /// let mut g = Graph::new();
    /// g.insert(Component::new("Database", "a")?.with_param("engine", "postgres").with_label("env", "staging"))?;
    /// g.insert(Component::new("MessageQueue", "q")?.with_label("env", "prod"))?;
    /// let intent = Intent::parse("a postgres database and a message queue in staging", &g.snapshot());
    /// let kinds: Vec<&str> = intent.kinds.iter().map(|(k, _)| k.as_str()).collect();
    /// assert_eq!(kinds, ["Database", "MessageQueue"]);
    /// assert_eq!(intent.kinds[0].1[0].1.as_str(), Some("postgres"));
    /// assert_eq!(intent.labels, [("env".into(), "staging".to_string())]);
    /// # Ok::<(), karma_core::Error>(())
    /// ```
    pub fn parse(text: &str, snapshot: &Snapshot) -> Self {
        let words: Vec<String> = text
            .split(|ch: char| !ch.is_alphanumeric() && ch != '-' && ch != '_')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let vocab = Vocabulary::of(snapshot);
        let mut used = vec![false; words.len()];
        let mut intent = Self::default();
        let mut fixed: BTreeMap<Name, Vec<(Name, Value)>> = BTreeMap::new();
        // The kinds asked for, with where the text first names them.
        let mut order: Vec<(usize, Name)> = Vec::new();
        // Kinds: longest names first, their words in a row ("message queue").
        let mut kinds: Vec<(&Name, Vec<String>)> = vocab.kinds.iter().map(|k| (k, camel_words(k))).collect();
        kinds.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(b.0)));
        for (kind, kw) in &kinds {
            for start in 0..words.len() {
                let end = start + kw.len();
                if end <= words.len()
                    && (start..end).all(|i| !used[i])
                    && kw.iter().zip(&words[start..end]).all(|(k, w)| same_word(k, w))
                {
                    used[start..end].iter_mut().for_each(|u| *u = true);
                    want(kind, start, &mut order, &mut fixed);
                }
            }
        }
        for (i, w) in words.iter().enumerate() {
            if used[i] || STOP_WORDS.contains(&w.as_str()) {
                continue;
            }
            if let Some(label) = vocab.labels.get(w.as_str()) {
                intent.labels.push((label.clone(), w.clone()));
            } else if let Some((kind, param, value)) = vocab.values.get(w.as_str()) {
                want(kind, i, &mut order, &mut fixed);
                fixed.entry(kind.clone()).or_default().push((param.clone(), value.clone()));
            } else if let Some(kinds) = vocab.flags.get(w.as_str()) {
                // A flag applies to the kinds asked for that have it (or its commonest kind).
                let targets: Vec<&Name> = order.iter().map(|(_, k)| k).filter(|k| kinds.contains(k)).collect();
                let targets = if targets.is_empty() { vec![&kinds[0]] } else { targets };
                for k in targets.into_iter().cloned().collect::<Vec<_>>() {
                    want(&k, i, &mut order, &mut fixed);
                    fixed.entry(k).or_default().push((Name::from(w.as_str()), Value::Bool(true)));
                }
            } else {
                intent.unmatched.push(w.clone());
                continue;
            }
            used[i] = true;
        }
        order.sort();
        intent.kinds = order
            .into_iter()
            .map(|(_, k)| {
                let params = fixed.remove(&k).unwrap_or_default();
                (k, params)
            })
            .collect();
        intent
    }
}

/// Notes that the text asks for `kind` (first named at word `at`).
fn want(kind: &Name, at: usize, order: &mut Vec<(usize, Name)>, fixed: &mut BTreeMap<Name, Vec<(Name, Value)>>) {
    match order.iter_mut().find(|(_, k)| k == kind) {
        Some(entry) => entry.0 = entry.0.min(at),
        None => order.push((at, kind.clone())),
    }
    fixed.entry(kind.clone()).or_default();
}

fn same_word(kind_word: &str, word: &str) -> bool {
    word == kind_word || word.strip_suffix('s') == Some(kind_word) || word.strip_suffix("es") == Some(kind_word)
}

/// `MessageQueue` → `["message", "queue"]`; `API` stays one word.
fn camel_words(kind: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let chars: Vec<char> = kind.chars().collect();
    for (i, &ch) in chars.iter().enumerate() {
        let boundary = i > 0
            && ch.is_uppercase()
            && (chars[i - 1].is_lowercase() || chars.get(i + 1).is_some_and(|n| n.is_lowercase()));
        if words.is_empty() || boundary || !ch.is_alphanumeric() {
            words.push(String::new());
        }
        if ch.is_alphanumeric() {
            words.last_mut().expect("pushed").extend(ch.to_lowercase());
        }
    }
    words.retain(|w| !w.is_empty());
    words
}

/// The graph's words.
struct Vocabulary {
    kinds: BTreeSet<Name>,
    /// Lowercased label value → the label it is most often a value of.
    labels: BTreeMap<String, Name>,
    /// Lowercased string param value → (kind, param, value), commonest.
    values: BTreeMap<String, (Name, Name, Value)>,
    /// Boolean param name → kinds having it, commonest first.
    flags: BTreeMap<String, Vec<Name>>,
}

impl Vocabulary {
    fn of(snapshot: &Snapshot) -> Self {
        let mut kinds = BTreeSet::new();
        let mut labels: BTreeMap<String, BTreeMap<Name, usize>> = BTreeMap::new();
        let mut values: BTreeMap<String, BTreeMap<(Name, Name, String), usize>> = BTreeMap::new();
        let mut flags: BTreeMap<String, BTreeMap<Name, usize>> = BTreeMap::new();
        for c in snapshot.components() {
            kinds.insert(c.kind().clone());
            for (name, v) in c.labels().iter() {
                *labels.entry(v.to_lowercase()).or_default().entry(name.clone()).or_default() += 1;
            }
            for (name, p) in c.params().iter() {
                match &p.value {
                    Value::String(s) if s.len() <= 40 => {
                        *values
                            .entry(s.to_lowercase())
                            .or_default()
                            .entry((c.kind().clone(), name.clone(), s.to_string()))
                            .or_default() += 1;
                    }
                    Value::Bool(_) => {
                        *flags.entry(name.to_lowercase()).or_default().entry(c.kind().clone()).or_default() += 1;
                    }
                    _ => {}
                }
            }
        }
        let commonest = |m: BTreeMap<Name, usize>| m.into_iter().max_by_key(|(_, n)| *n).map(|(k, _)| k);
        Self {
            kinds,
            labels: labels.into_iter().filter_map(|(v, m)| Some((v, commonest(m)?))).collect(),
            values: values
                .into_iter()
                .filter_map(|(v, m)| {
                    let ((kind, param, value), _) = m.into_iter().max_by_key(|(_, n)| *n)?;
                    Some((v, (kind, param, Value::from(value))))
                })
                .collect(),
            flags: flags
                .into_iter()
                .map(|(f, m)| {
                    let mut ks: Vec<(Name, usize)> = m.into_iter().collect();
                    ks.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                    (f, ks.into_iter().map(|(k, _)| k).collect())
                })
                .collect(),
        }
    }
}

/// A partial graph drafted from an [`Intent`]: new components with their
/// params and the edges between them, ready to [`apply`](Self::apply) to a
/// graph (a branch's, to try it).
#[derive(Clone, Debug, Default)]
pub struct Blueprint {
    /// The new components.
    pub components: Vec<Component>,
    /// Edges between them that are not references (those are params).
    pub edges: Vec<(Key, Key, EdgeKind)>,
    /// The pattern it follows, if one covered the intent.
    pub pattern: Option<Pattern>,
    /// Where each param came from: (component, param, `"intent"`,
    /// `"pattern"` or `"recommended"`).
    pub sources: Vec<(Key, Name, &'static str)>,
}

impl Blueprint {
    /// Drafts components named `{name}-{kind}` for `intent`: the pattern
    /// covering most of the intent's kinds lays out the edges (its anchor
    /// joins even when unnamed, to connect the rest); params come from the
    /// intent, then the pattern's typical values (held by at least half),
    /// then `recommend` (e.g. a closure over [`recommend`](crate::recommend)
    /// with an embedding of the partial component). Outputs that references
    /// read are left `null` until deployed.
    ///
    /// # Errors
    ///
    /// [`MlError::Invalid`] when the intent names no kind; [`MlError::Core`]
    /// when `name` makes an invalid key.
    pub fn draft(
        intent: &Intent,
        patterns: &[Pattern],
        name: &str,
        mut recommend: impl FnMut(&Component) -> Vec<Suggestion>,
    ) -> Result<Self> {
        if intent.kinds.is_empty() {
            return Err(MlError::Invalid("the intent names no kind the graph has".into()));
        }
        let asked: BTreeSet<&Name> = intent.kinds.iter().map(|(k, _)| k).collect();
        let best = patterns
            .iter()
            .map(|p| (p, p.kinds().filter(|k| asked.contains(k)).collect::<BTreeSet<_>>().len()))
            .filter(|(_, covered)| *covered >= 2.min(asked.len()))
            .max_by(|a, b| {
                a.1.cmp(&b.1).then(b.0.parts.len().cmp(&a.0.parts.len())).then(a.0.support.cmp(&b.0.support))
            });
        let mut roles: Vec<(Name, Vec<Typical>, Option<&Part>)> = Vec::new();
        if let Some((p, _)) = best {
            roles.push((p.anchor.clone(), p.typical[0].clone(), None));
            for (i, part) in p.parts.iter().enumerate() {
                if asked.contains(&part.kind) {
                    roles.push((part.kind.clone(), p.typical[i + 1].clone(), Some(part)));
                }
            }
        }
        for (kind, _) in &intent.kinds {
            if !roles.iter().any(|(k, _, _)| k == kind) {
                roles.push((kind.clone(), Vec::new(), None));
            }
        }
        let mut out = Self { pattern: best.map(|(p, _)| p.clone()), ..Self::default() };
        let mut keys = Vec::new();
        for (i, (kind, typical, _)) in roles.iter().enumerate() {
            let mut cname = format!("{name}-{}", camel_words(kind).join("-"));
            if keys.iter().any(|k: &Key| k.as_str().ends_with(&format!("/{cname}"))) {
                cname = format!("{cname}-{i}");
            }
            let mut c = Component::new(kind, &cname)?;
            for (label, value) in &intent.labels {
                c = c.with_label(label.as_str(), value.as_str());
            }
            let given = intent.kinds.iter().find(|(k, _)| k == kind).map(|(_, ps)| ps.as_slice()).unwrap_or_default();
            for (param, value) in given {
                c = c.with_param(param.as_str(), value.clone());
                out.sources.push((c.key().clone(), param.clone(), "intent"));
            }
            for t in typical.iter().filter(|t| t.share >= 0.5) {
                if c.param(&t.param).is_none() {
                    c = c.with_param(t.param.as_str(), t.value.clone());
                    out.sources.push((c.key().clone(), t.param.clone(), "pattern"));
                }
            }
            for s in recommend(&c) {
                if c.param(&s.param).is_none() {
                    c = c.with_param(s.param.as_str(), s.value);
                    out.sources.push((c.key().clone(), s.param, "recommended"));
                }
            }
            keys.push(c.key().clone());
            out.components.push(c);
        }
        // Wire the anchor to its parts.
        if best.is_some() {
            for (i, (_, _, part)) in roles.iter().enumerate().skip(1) {
                let Some(part) = part else { continue };
                match &part.via {
                    EdgeKind::Reference { param, output } => {
                        let producer = keys[i].clone();
                        out.components[i] = out.components[i].clone().with_output(output.as_str(), Value::Null);
                        out.components[0] = out.components[0]
                            .clone()
                            .with_param(param.as_str(), Value::reference(producer, output.clone()));
                    }
                    via => out.edges.push((keys[0].clone(), keys[i].clone(), via.clone())),
                }
            }
        }
        Ok(out)
    }

    /// Adds the drafted components and edges to `graph`, all or nothing.
    ///
    /// # Errors
    ///
    /// The graph's error (a key taken, a schema not met...), with `graph`
    /// unchanged.
    pub fn apply(&self, graph: &mut Graph) -> karma_core::Result<()> {
        graph.transaction(|g| {
            // Producers first, so references find them.
            let mut order: Vec<&Component> = self.components.iter().collect();
            order.sort_by_key(|c| !c.references().is_empty());
            for c in order {
                g.insert(c.clone())?;
            }
            for (from, to, kind) in &self.edges {
                g.connect(from.clone(), to.clone(), kind.clone(), [])?;
            }
            Ok(())
        })
    }
}

/// What a proposed change would do, computed before it is deployed.
#[derive(Clone, Debug)]
pub struct Preview {
    /// The change.
    pub delta: Delta,
    /// What it touches, transitively.
    pub blast_radius: BlastRadius,
    /// Anomalies on the components the change touched, judged against
    /// their peers in the changed graph.
    pub anomalies: Vec<Anomaly>,
    /// Predicted drift risk of each touched component (when a model was
    /// given), highest first.
    pub drift_risk: Vec<(Key, f32)>,
}

/// Previews the change from `before` to `after` (say, the head of `prod`
/// and a branch holding the proposal): its blast radius, the anomalies it
/// brings, and — given a drift model (a [`Logistic`] over the
/// [`FeatureExtractor`]'s columns) — each touched component's risk of
/// drifting. Reads only the two snapshots: nothing is committed.
///
/// # Errors
///
/// [`MlError::Shape`] when the model's width differs from the extractor's.
pub fn preview(
    before: &Snapshot,
    after: &Snapshot,
    anomaly: &AnomalyConfig,
    drift_model: Option<(&FeatureExtractor, &Logistic)>,
) -> Result<Preview> {
    let delta = before.diff(after);
    let view = View::new(after);
    let blast_radius = change_impact(before, &view, &delta)?;
    let touched: BTreeSet<&Key> = blast_radius.changed.iter().collect();
    let anomalies = scan_anomalies(after, anomaly).into_iter().filter(|a| touched.contains(&a.key)).collect();
    let mut drift_risk = Vec::new();
    if let Some((extractor, model)) = drift_model {
        if model.width() != extractor.width() {
            return Err(MlError::Shape(format!(
                "the drift model reads {} columns, the extractor writes {}",
                model.width(),
                extractor.width()
            )));
        }
        for a in &blast_radius.affected {
            if let Some(c) = after.get(&a.key) {
                let row = ndarray::Array1::from(extractor.row(c));
                drift_risk.push((a.key.clone(), model.probability(row.view())));
            }
        }
        drift_risk.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    }
    Ok(Preview { delta, blast_radius, anomalies, drift_risk })
}
