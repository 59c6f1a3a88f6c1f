//! Components: the nodes of the graph.

use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

use crate::error::Result;
use crate::fields::FieldMap;
use crate::hash::{Canonical, CanonicalReader, ContentHash, hash_body};
use crate::key::{Key, Name};
use crate::time::Timestamp;
use crate::tree::{StoreTag, TagCell};
use crate::value::{MAX_NESTING, OutputRef, Value};

/// The hash domain of a component's canonical encoding (v2: varint
/// lengths, counts and integers; the stored form is the encoding itself).
const DOMAIN: &str = "karma.component.v2";

/// Writes a field map: its count, then each name followed by what `value`
/// writes (what [`read_fields`] reads).
fn write_fields<V>(c: &mut Canonical, fields: &FieldMap<V>, mut value: impl FnMut(&mut Canonical, &V)) {
    c.len(fields.len());
    for (name, v) in fields {
        c.str(name);
        value(c, v);
    }
}

/// Reads a stored field map: a count, then each name (in strictly
/// increasing order) followed by what `value` reads.
fn read_fields<'a, V>(
    r: &mut CanonicalReader<'a>,
    mut value: impl FnMut(&mut CanonicalReader<'a>) -> Result<V>,
) -> Result<FieldMap<V>> {
    let n = r.len()?;
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        let name = Name::new(r.str()?);
        entries.push((name, value(r)?));
    }
    FieldMap::from_sorted(entries).ok_or_else(|| r.error("has names out of order"))
}

/// A param's value and when it last changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    /// The value.
    pub value: Value,
    /// When the value last changed (set, or set to a different value).
    pub changed_at: Timestamp,
}

/// A runtime value as observed, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// The observed value.
    pub value: Value,
    /// When it was observed.
    pub observed_at: Timestamp,
}

/// A component: one node of the infrastructure graph (a database, a service,
/// a queue, a pipeline, a network, a public API...).
///
/// It has a kind (its type name), a name, a key unique in the graph, params
/// (declared configuration), outputs (values produced when deployed), runtime
/// observations and labels; plus a version, bumped on every change of its
/// params, outputs, labels or name, and created/updated timestamps. Runtime
/// observations do not bump the version: they are what was seen, not what was
/// declared.
///
/// Build one with the `with_*` methods, then insert it into a
/// [`Graph`](crate::Graph), which stamps versions and times:
///
/// ```
/// use karma_core::{Component, Value};
/// let db = Component::new("Database", "orders")?
///     .with_param("engine", "postgres")
///     .with_param("port", 5432)
///     .with_label("tier", "data");
/// assert_eq!(db.key().as_str(), "Database/orders");
/// assert_eq!(db.param_value("port"), Some(&Value::Int(5432)));
/// # Ok::<(), karma_core::Error>(())
/// ```
#[derive(Serialize, Deserialize)]
pub struct Component {
    kind: Name,
    name: Name,
    key: Key,
    #[serde(default)]
    params: FieldMap<Param>,
    #[serde(default)]
    outputs: FieldMap<Value>,
    #[serde(default)]
    runtime: FieldMap<Observation>,
    #[serde(default)]
    labels: FieldMap<SmolStr>,
    version: u64,
    created: Timestamp,
    updated: Timestamp,
    #[serde(skip)]
    hash: OnceLock<ContentHash>,
    #[serde(skip)]
    tag: TagCell,
}

impl Component {
    /// A component of `kind` named `name`, keyed `kind/name`.
    pub fn new(kind: &str, name: &str) -> Result<Self> {
        let key = Key::new(kind, name)?;
        Ok(Self::with_key(key, kind, name))
    }

    /// A component with an explicit key (e.g. `prod/Deployment/api`).
    pub fn with_key(key: Key, kind: impl Into<Name>, name: impl Into<Name>) -> Self {
        Self {
            kind: kind.into(),
            name: name.into(),
            key,
            params: FieldMap::new(),
            outputs: FieldMap::new(),
            runtime: FieldMap::new(),
            labels: FieldMap::new(),
            version: 0,
            created: Timestamp::EPOCH,
            updated: Timestamp::EPOCH,
            hash: OnceLock::new(),
            tag: TagCell::default(),
        }
    }

    /// Sets a param (builder style).
    #[must_use]
    pub fn with_param(mut self, name: impl Into<Name>, value: impl Into<Value>) -> Self {
        self.put_param(name.into(), value.into(), self.updated);
        self
    }

    /// Sets an output (builder style).
    #[must_use]
    pub fn with_output(mut self, name: impl Into<Name>, value: impl Into<Value>) -> Self {
        self.outputs.insert(name, value.into());
        self.touch();
        self
    }

    /// Sets a label (builder style).
    #[must_use]
    pub fn with_label(mut self, name: impl Into<Name>, value: impl Into<SmolStr>) -> Self {
        self.labels.insert(name, value.into());
        self.touch();
        self
    }

    /// Its kind (type name), e.g. `Database`.
    pub fn kind(&self) -> &Name {
        &self.kind
    }

    /// Its name, e.g. `orders`.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// Its key, unique in the graph.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Its version: 1 when inserted, +1 on every change of params, outputs,
    /// labels or name. 0 before it has been inserted into a graph.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// When it was inserted.
    pub fn created(&self) -> Timestamp {
        self.created
    }

    /// When it last changed (any change, runtime observations included).
    pub fn updated(&self) -> Timestamp {
        self.updated
    }

    /// The param `name`, with when it last changed.
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.get(name)
    }

    /// The value of param `name`.
    pub fn param_value(&self, name: &str) -> Option<&Value> {
        self.params.get(name).map(|p| &p.value)
    }

    /// All params, in name order.
    pub fn params(&self) -> &FieldMap<Param> {
        &self.params
    }

    /// The output `name`.
    pub fn output(&self, name: &str) -> Option<&Value> {
        self.outputs.get(name)
    }

    /// All outputs, in name order.
    pub fn outputs(&self) -> &FieldMap<Value> {
        &self.outputs
    }

    /// The latest observation of runtime value `name`.
    pub fn runtime(&self, name: &str) -> Option<&Observation> {
        self.runtime.get(name)
    }

    /// All runtime observations, in name order.
    pub fn runtime_values(&self) -> &FieldMap<Observation> {
        &self.runtime
    }

    /// The label `name`.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(SmolStr::as_str)
    }

    /// All labels, in name order.
    pub fn labels(&self) -> &FieldMap<SmolStr> {
        &self.labels
    }

    /// Every output reference held by its params: `(param, reference)`.
    pub fn references(&self) -> Vec<(&Name, &OutputRef)> {
        self.params.iter().flat_map(|(name, p)| p.value.references().into_iter().map(move |r| (name, r))).collect()
    }

    /// The blake3 hash of its canonical encoding: everything it holds, in
    /// name order, independent of the order it was built in. Cached.
    pub fn content_hash(&self) -> ContentHash {
        *self.hash.get_or_init(|| {
            let mut c = Canonical::new(DOMAIN);
            self.write_body(&mut c);
            c.finish()
        })
    }

    /// Writes its canonical encoding (without the domain header) to `c`.
    fn write_body(&self, c: &mut Canonical) {
        c.str(&self.kind).str(&self.name).str(self.key.as_str());
        c.var(self.version).i64(self.created.as_nanos()).i64(self.updated.as_nanos());
        write_fields(c, &self.params, |c, p| {
            c.i64(p.changed_at.as_nanos());
            p.value.write_canonical(c);
        });
        write_fields(c, &self.outputs, |c, v| v.write_canonical(c));
        write_fields(c, &self.runtime, |c, o| {
            c.i64(o.observed_at.as_nanos());
            o.value.write_canonical(c);
        });
        write_fields(c, &self.labels, |c, v| {
            c.str(v);
        });
    }

    /// Appends its stored form to `out`: the bytes its
    /// [`content_hash`](Self::content_hash) covers, after the domain header.
    /// A value nested deeper than the reader accepts
    /// ([`MAX_NESTING`](crate::value::MAX_NESTING) lists and maps) is an
    /// error here, before anything is written, rather than a stored
    /// component that could not be read back.
    pub(crate) fn encode_stored(&self, out: &mut Vec<u8>) -> Result<()> {
        let values = self.params.iter().map(|(_, p)| &p.value).chain(self.outputs.iter().map(|(_, v)| v));
        if values.chain(self.runtime.iter().map(|(_, o)| &o.value)).any(|v| v.nesting() > MAX_NESTING) {
            return Err(crate::Error::Codec(format!(
                "{} holds a value nested deeper than {MAX_NESTING} lists and maps, which cannot be stored",
                self.key
            )));
        }
        let mut c = Canonical::body(std::mem::take(out));
        self.write_body(&mut c);
        *out = c.into_bytes();
        Ok(())
    }

    /// Reads a component from its stored form, taking its content hash from
    /// the bytes themselves (so it is hashed as it is read, not re-encoded).
    /// Anything but what [`encode_stored`](Self::encode_stored) writes is an
    /// error.
    pub(crate) fn decode_stored(bytes: &[u8]) -> Result<Self> {
        let mut r = CanonicalReader::new(bytes, "component");
        let kind = Name::new(r.str()?);
        let name = Name::new(r.str()?);
        let key = Key::parse(r.str()?).map_err(|_| r.error("has an invalid key"))?;
        let mut c = Self::with_key(key, kind, name);
        c.version = r.var()?;
        c.created = Timestamp::from_nanos(r.i64()?);
        c.updated = Timestamp::from_nanos(r.i64()?);
        c.params = read_fields(&mut r, |r| {
            let changed_at = Timestamp::from_nanos(r.i64()?);
            Ok(Param { value: Value::read_canonical(r, 0)?, changed_at })
        })?;
        c.outputs = read_fields(&mut r, |r| Value::read_canonical(r, 0))?;
        c.runtime = read_fields(&mut r, |r| {
            let observed_at = Timestamp::from_nanos(r.i64()?);
            Ok(Observation { value: Value::read_canonical(r, 0)?, observed_at })
        })?;
        c.labels = read_fields(&mut r, |r| Ok(SmolStr::new(r.str()?)))?;
        r.finish()?;
        c.hash.set(hash_body(DOMAIN, bytes)).expect("a new component has no hash yet");
        Ok(c)
    }

    // ---- crate-internal mutation: the graph keeps versions and times ----

    fn touch(&mut self) {
        self.hash = OnceLock::new();
        self.tag = TagCell::default();
    }

    /// Where a store keeps this exact version, if one said so.
    pub(crate) fn store_tag(&self) -> Option<StoreTag> {
        self.tag.get()
    }

    pub(crate) fn set_store_tag(&self, tag: StoreTag) {
        self.tag.set(tag);
    }

    /// Sets a param; `changed_at` moves only if the value differs. Returns
    /// whether the value changed.
    pub(crate) fn put_param(&mut self, name: Name, value: Value, now: Timestamp) -> bool {
        self.touch();
        match self.params.get_mut(&name) {
            Some(p) if p.value == value => false,
            Some(p) => {
                p.value = value;
                p.changed_at = now;
                true
            }
            None => {
                self.params.insert(name, Param { value, changed_at: now });
                true
            }
        }
    }

    pub(crate) fn remove_param(&mut self, name: &str) -> Option<Param> {
        self.touch();
        self.params.remove(name)
    }

    pub(crate) fn put_output(&mut self, name: Name, value: Value) -> bool {
        if self.outputs.get(&name) == Some(&value) {
            return false;
        }
        self.touch();
        self.outputs.insert(name, value);
        true
    }

    pub(crate) fn remove_output(&mut self, name: &str) -> Option<Value> {
        self.touch();
        self.outputs.remove(name)
    }

    pub(crate) fn put_runtime(&mut self, name: Name, obs: Observation) {
        self.touch();
        self.runtime.insert(name, obs);
    }

    pub(crate) fn put_label(&mut self, name: Name, value: SmolStr) -> bool {
        if self.labels.get(&name) == Some(&value) {
            return false;
        }
        self.touch();
        self.labels.insert(name, value);
        true
    }

    pub(crate) fn remove_label(&mut self, name: &str) -> Option<SmolStr> {
        self.touch();
        self.labels.remove(name)
    }

    pub(crate) fn params_mut(&mut self) -> &mut FieldMap<Param> {
        self.touch();
        &mut self.params
    }

    pub(crate) fn outputs_mut(&mut self) -> &mut FieldMap<Value> {
        self.touch();
        &mut self.outputs
    }

    pub(crate) fn runtime_mut(&mut self) -> &mut FieldMap<Observation> {
        self.touch();
        &mut self.runtime
    }

    pub(crate) fn labels_mut(&mut self) -> &mut FieldMap<SmolStr> {
        self.touch();
        &mut self.labels
    }

    pub(crate) fn set_name(&mut self, name: Name) {
        self.touch();
        self.name = name;
    }

    pub(crate) fn set_stamp(&mut self, version: u64, created: Timestamp, updated: Timestamp) {
        self.touch();
        self.version = version;
        self.created = created;
        self.updated = updated;
    }

    /// Stamps a freshly inserted component: version 1, every time `now`.
    pub(crate) fn stamp_new(&mut self, now: Timestamp) {
        self.set_stamp(1, now, now);
        for (_, p) in self.params.iter_mut_internal() {
            p.changed_at = now;
        }
        for (_, o) in self.runtime.iter_mut_internal() {
            if o.observed_at == Timestamp::EPOCH {
                o.observed_at = now;
            }
        }
        self.params.shrink_to_fit();
        self.outputs.shrink_to_fit();
        self.labels.shrink_to_fit();
        self.runtime.shrink_to_fit();
    }
}

impl Clone for Component {
    fn clone(&self) -> Self {
        Self {
            kind: self.kind.clone(),
            name: self.name.clone(),
            key: self.key.clone(),
            params: self.params.clone(),
            outputs: self.outputs.clone(),
            runtime: self.runtime.clone(),
            labels: self.labels.clone(),
            version: self.version,
            created: self.created,
            updated: self.updated,
            hash: self.hash.clone(),
            tag: self.tag.clone(),
        }
    }
}

impl PartialEq for Component {
    fn eq(&self, other: &Self) -> bool {
        if let (Some(a), Some(b)) = (self.hash.get(), other.hash.get()) {
            return a == b;
        }
        self.key == other.key
            && self.kind == other.kind
            && self.name == other.name
            && self.version == other.version
            && self.created == other.created
            && self.updated == other.updated
            && self.params == other.params
            && self.outputs == other.outputs
            && self.runtime == other.runtime
            && self.labels == other.labels
    }
}

impl Eq for Component {}

impl fmt::Debug for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Component")
            .field("key", &self.key)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("version", &self.version)
            .field("params", &self.params)
            .field("outputs", &self.outputs)
            .field("runtime", &self.runtime)
            .field("labels", &self.labels)
            .field("created", &self.created)
            .field("updated", &self.updated)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_independent_of_build_order() {
        let a =
            Component::new("Service", "api").unwrap().with_param("a", 1).with_param("b", "x").with_label("t", "web");
        let b =
            Component::new("Service", "api").unwrap().with_label("t", "web").with_param("b", "x").with_param("a", 1);
        assert_eq!(a.content_hash(), b.content_hash());
        let c = a.clone().with_param("a", 2);
        assert_ne!(a.content_hash(), c.content_hash());
    }

    #[test]
    fn mutation_invalidates_cached_hash() {
        let mut a = Component::new("Service", "api").unwrap().with_param("a", 1);
        let before = a.content_hash();
        a.put_param("a".into(), Value::Int(2), Timestamp::EPOCH);
        assert_ne!(before, a.content_hash());
    }

    #[test]
    fn references_name_their_params() {
        let db = Key::new("Database", "orders").unwrap();
        let c = Component::new("Service", "api").unwrap().with_param("db", Value::reference(db.clone(), "endpoint"));
        let refs = c.references();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].0, "db");
        assert_eq!(refs[0].1.component, db);
    }
}
