//! Karma's data model: infrastructure as a typed, versioned, timestamped
//! directed graph, with O(1) snapshots and O(changes) diffs.
//!
//! # Example
//!
//! ```
//! use karma_core::prelude::*;
//!
//! #[derive(Component)]
//! struct Database {
//!     engine: String,
//!     port: u16,
//!     #[karma(output)]
//!     endpoint: Option<String>,
//! }
//!
//! fn main() -> Result<(), karma_core::Error> {
//!     let mut graph = Graph::new();
//!     graph.insert_typed("orders", &Database { engine: "postgres".into(), port: 5432, endpoint: None })?;
//!     graph.insert(Component::new("Service", "api")?.with_param("replicas", 2))?;
//!     graph.connect("Service/api", "Database/orders", EdgeKind::DependsOn, [])?;
//!
//!     let before = graph.snapshot(); // O(1)
//!     graph.set_param("Database/orders", "port", 6432)?;
//!     let delta = before.diff(&graph.snapshot());
//!     println!("{delta}"); // ~ Database/orders  v1 -> v2 /  port: 5432 -> 6432
//!     assert_eq!(delta.changed().count(), 1);
//!     Ok(())
//! }
//! ```
//!
//! # The model
//!
//! - A [`struct@Component`] is a node: kind, name, [`Key`] (unique, e.g.
//!   `Database/orders`), params, outputs, runtime observations, labels.
//! - An [`Edge`] A → B means **A depends on B**. Reference params
//!   ([`Value::Ref`]) make reference edges automatically.
//! - Every component and edge has a version, created/updated
//!   [`Timestamp`]s from the graph's [`Clock`], and a blake3
//!   [`ContentHash`]; each param remembers when it last changed.
//! - [`Secret`]s are held only as salted digests.
//! - A [`Snapshot`] is immutable and O(1) to take; [`Snapshot::diff`] gives a
//!   [`Delta`] that can be applied and inverted.
//!
//! # Crate features
//!
//! None yet: everything is always on.

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

// Lets `#[derive(Component)]` (which names `::karma_core`) work in this crate's own tests.
#[allow(unused_extern_crates)]
extern crate self as karma_core;

mod codec;
mod component;
mod delta;
mod edge;
mod error;
mod fields;
mod graph;
mod hash;
mod key;
mod merge;
mod schema;
mod secret;
mod snapshot;
mod time;
pub mod tree;
mod trie;
mod typed;
mod value;

pub use component::{Component, Observation, Param};
pub use delta::{Change, ComponentChange, ComponentDelta, Delta, EdgeChange, FieldChange};
pub use edge::{Edge, EdgeId, EdgeKind};
pub use error::{Error, Result};
pub use fields::FieldMap;
pub use graph::{Graph, Removal};
pub use hash::ContentHash;
pub use key::{IntoKey, Key, Name};
pub use merge::{MergeConflict, merge};
pub use schema::{OutputSpec, ParamSpec, Schema};
pub use secret::{Secret, SecretSalt};
pub use smol_str::SmolStr;
pub use snapshot::Snapshot;
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
#[doc(hidden)]
pub use typed::__private;
pub use typed::{FieldValue, Ref, TypedComponent};
pub use value::{OutputRef, Resolution, Value, ValueType};

/// `#[derive(Component)]`: implements [`TypedComponent`] for a struct with
/// named fields. See [`TypedComponent`] for the attributes.
pub use karma_derive::Component;

/// The names most programs need: `use karma_core::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Clock, Component, Delta, Edge, EdgeKind, Graph, Key, ManualClock, Ref, Removal, Secret, SecretSalt, Snapshot,
        Timestamp, TypedComponent, Value,
    };
}
