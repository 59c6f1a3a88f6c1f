//! The error type of `karma-core`.

use crate::edge::EdgeKind;
use crate::key::{Key, Name};
use crate::value::{OutputRef, ValueType};

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `karma-core`. Bad input always comes back
/// as one of these, never as a panic, and leaves the graph unchanged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key was empty or contained control characters.
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The offending text (control characters escaped).
        key: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// No component has this key.
    #[error("unknown component {key}")]
    UnknownComponent {
        /// The missing key.
        key: Key,
    },

    /// A component with this key already exists.
    #[error("a component with key {key} already exists")]
    DuplicateKey {
        /// The key in use.
        key: Key,
    },

    /// A param references a component that does not exist.
    #[error("{component}.{param} references {target}, but {} does not exist", target.component)]
    DanglingReference {
        /// The consumer.
        component: Key,
        /// Its param holding the reference.
        param: Name,
        /// The missing target.
        target: OutputRef,
    },

    /// A param references an output that its producer neither declares in
    /// its schema nor has.
    #[error("{component}.{param} references {target}, but {} has no output {:?}", target.component, target.output)]
    UnknownOutput {
        /// The consumer.
        component: Key,
        /// Its param holding the reference.
        param: Name,
        /// The missing output.
        target: OutputRef,
    },

    /// A value does not have the type the schema declares.
    #[error("{component}.{field}: expected {expected}, found {found}")]
    TypeMismatch {
        /// The component.
        component: Key,
        /// The param or output.
        field: Name,
        /// The declared type.
        expected: ValueType,
        /// The type of the value given.
        found: &'static str,
    },

    /// The schema of the component's kind does not declare this param.
    #[error("{component}: kind {kind} declares no param {param:?}")]
    UndeclaredParam {
        /// The component.
        component: Key,
        /// Its kind.
        kind: Name,
        /// The undeclared param.
        param: Name,
    },

    /// A required param (per the schema) is missing.
    #[error("{component}: required param {param:?} is missing")]
    MissingParam {
        /// The component.
        component: Key,
        /// The missing param.
        param: Name,
    },

    /// A component cannot be removed while others depend on it.
    #[error("{component} cannot be removed: {} depend on it (first: {})", dependents.len(), dependents.first().map_or("?", Key::as_str))]
    StillDependedOn {
        /// The component asked to be removed.
        component: Key,
        /// The components with edges into it.
        dependents: Vec<Key>,
    },

    /// No such edge.
    #[error("no {kind} edge from {from} to {to}")]
    UnknownEdge {
        /// Source (the dependent).
        from: Key,
        /// Target (the dependency).
        to: Key,
        /// Edge kind.
        kind: EdgeKind,
    },

    /// An edge that cannot be made by hand (a self-loop, or a reference
    /// edge, which only reference params create).
    #[error("invalid edge from {from} to {to}: {reason}")]
    InvalidEdge {
        /// Source.
        from: Key,
        /// Target.
        to: Key,
        /// Why.
        reason: &'static str,
    },

    /// A typed read-back found a component of another kind.
    #[error("{key} is a {found}, not a {expected}")]
    KindMismatch {
        /// The component.
        key: Key,
        /// The kind asked for.
        expected: Name,
        /// The component's kind.
        found: Name,
    },

    /// A typed read-back could not convert a field.
    #[error("{kind}.{field}: {message}")]
    Field {
        /// The component kind (the Rust type's kind).
        kind: Name,
        /// The struct field (as named in the graph).
        field: Name,
        /// What was wrong.
        message: String,
    },

    /// A delta does not apply to this snapshot: its "before" side differs
    /// from what the snapshot holds.
    #[error("delta does not apply at {at}: {reason}")]
    DeltaConflict {
        /// The component key or edge that conflicts.
        at: String,
        /// What differs.
        reason: String,
    },

    /// Stored data failed a check: an object does not match its hash, a
    /// trie node is malformed, counts disagree.
    #[error("corrupt data: {what}")]
    Corrupt {
        /// What was found wrong.
        what: String,
    },

    /// Encoding or decoding (JSON, bincode) failed, or decoded data was
    /// inconsistent.
    #[error("codec error: {0}")]
    Codec(String),
}
