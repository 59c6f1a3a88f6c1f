//! Edges: typed dependencies between components.
//!
//! **Convention: an edge A → B means "A depends on B".** Data and outputs flow
//! the other way, from B to A; so "the path from a data source to a public
//! API" walks edges backwards, from dependency to dependents.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::fields::FieldMap;
use crate::hash::{Canonical, ContentHash, combine64, stable_hash64};
use crate::key::{Key, Name};
use crate::time::Timestamp;
use crate::tree::{StoreTag, TagCell};
use crate::value::Value;

/// What an edge means.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EdgeKind {
    /// A plain declared dependency.
    DependsOn,
    /// Derived automatically from a reference param: the consumer's `param`
    /// reads the producer's `output`. Made and removed only by setting params.
    Reference {
        /// The consumer's param holding the reference.
        param: Name,
        /// The producer's output it reads.
        output: Name,
    },
    /// A user-defined kind, e.g. `"network"` or `"replicates-to"`.
    Custom(Name),
}

impl EdgeKind {
    /// A user-defined edge kind.
    pub fn custom(name: impl Into<Name>) -> Self {
        Self::Custom(name.into())
    }

    /// A short label: `depends-on`, `reference`, or the custom name.
    pub fn label(&self) -> &str {
        match self {
            Self::DependsOn => "depends-on",
            Self::Reference { .. } => "reference",
            Self::Custom(name) => name,
        }
    }

    fn write_canonical(&self, c: &mut Canonical) {
        match self {
            Self::DependsOn => {
                c.tag(0);
            }
            Self::Reference { param, output } => {
                c.tag(1).str(param).str(output);
            }
            Self::Custom(name) => {
                c.tag(2).str(name);
            }
        }
    }

    fn stable_hash(&self) -> u64 {
        match self {
            Self::DependsOn => 0,
            Self::Reference { param, output } => {
                combine64(stable_hash64(param.as_bytes()), stable_hash64(output.as_bytes()))
            }
            Self::Custom(name) => combine64(2, stable_hash64(name.as_bytes())),
        }
    }
}

impl fmt::Debug for EdgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for EdgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DependsOn => f.write_str("depends-on"),
            Self::Reference { param, output } => write!(f, "reference({param} <- {output})"),
            Self::Custom(name) => write!(f, "{name}"),
        }
    }
}

/// Identifies an edge: at most one edge of a kind joins two components.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EdgeId {
    /// The dependent.
    pub from: Key,
    /// The dependency.
    pub to: Key,
    /// What the edge means.
    pub kind: EdgeKind,
}

impl EdgeId {
    /// The edge `from` → `to` of `kind`.
    pub fn new(from: Key, to: Key, kind: EdgeKind) -> Self {
        Self { from, to, kind }
    }

    pub(crate) fn stable_hash(&self) -> u64 {
        combine64(combine64(self.from.stable_hash(), self.to.stable_hash()), self.kind.stable_hash())
    }

    pub(crate) fn write_canonical(&self, c: &mut Canonical) {
        c.str(self.from.as_str()).str(self.to.as_str());
        self.kind.write_canonical(c);
    }
}

impl fmt::Debug for EdgeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for EdgeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -[{}]-> {}", self.from, self.kind, self.to)
    }
}

/// An edge with its attributes (e.g. latency, cost), version and times.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Edge {
    id: EdgeId,
    #[serde(default)]
    attributes: FieldMap<Value>,
    version: u64,
    created: Timestamp,
    updated: Timestamp,
    #[serde(skip)]
    tag: TagCell,
}

impl PartialEq for Edge {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.version == other.version
            && self.created == other.created
            && self.updated == other.updated
            && self.attributes == other.attributes
    }
}

impl Eq for Edge {}

impl Edge {
    pub(crate) fn new(id: EdgeId, attributes: FieldMap<Value>, now: Timestamp) -> Self {
        Self { id, attributes, version: 1, created: now, updated: now, tag: TagCell::default() }
    }

    /// Its identity: from, to, kind.
    pub fn id(&self) -> &EdgeId {
        &self.id
    }

    /// The dependent.
    pub fn from(&self) -> &Key {
        &self.id.from
    }

    /// The dependency.
    pub fn to(&self) -> &Key {
        &self.id.to
    }

    /// What the edge means.
    pub fn kind(&self) -> &EdgeKind {
        &self.id.kind
    }

    /// The attribute `name`.
    pub fn attribute(&self, name: &str) -> Option<&Value> {
        self.attributes.get(name)
    }

    /// All attributes, in name order.
    pub fn attributes(&self) -> &FieldMap<Value> {
        &self.attributes
    }

    /// 1 when made, +1 on each change of attributes.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// When it was made.
    pub fn created(&self) -> Timestamp {
        self.created
    }

    /// When its attributes last changed.
    pub fn updated(&self) -> Timestamp {
        self.updated
    }

    pub(crate) fn set_attributes(&mut self, attributes: FieldMap<Value>, now: Timestamp) -> bool {
        if attributes == self.attributes {
            return false;
        }
        self.attributes = attributes;
        self.tag = TagCell::default();
        self.version += 1;
        self.updated = now;
        true
    }

    pub(crate) fn store_tag(&self) -> Option<StoreTag> {
        self.tag.get()
    }

    pub(crate) fn set_store_tag(&self, tag: StoreTag) {
        self.tag.set(tag);
    }

    /// The blake3 hash of its canonical encoding.
    pub fn content_hash(&self) -> ContentHash {
        let mut c = Canonical::new("karma.edge.v1");
        self.id.write_canonical(&mut c);
        c.u64(self.version).i64(self.created.as_nanos()).i64(self.updated.as_nanos());
        c.u64(self.attributes.len() as u64);
        for (name, v) in &self.attributes {
            c.str(name);
            v.write_canonical(&mut c);
        }
        c.finish()
    }
}
