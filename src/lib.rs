//! Karma: infrastructure as a typed, versioned, timestamped directed graph
//! that keeps its whole history, answers questions in milliseconds and feeds
//! machine learning.
//!
//! # Example
//!
//! ```
//! use karma::prelude::*;
//!
//! #[derive(Component)]
//! struct Database {
//!     engine: String,
//!     port: u16,
//! }
//!
//! fn main() -> Result<(), karma::core::Error> {
//!     let mut graph = Graph::new();
//!     graph.insert_typed("orders", &Database { engine: "postgres".into(), port: 5432 })?;
//!     let before = graph.snapshot();
//!     graph.set_param("Database/orders", "port", 6432)?;
//!     assert_eq!(before.diff(&graph.snapshot()).changed().count(), 1);
//!     Ok(())
//! }
//! ```
//!
//! The crates, re-exported as modules:
//! - [`core`]: the data model (components, edges, snapshots, deltas, derive);
//! - [`store`]: durable history;
//! - [`query`]: impact, paths, plans;
//! - [`import`]: Terraform, Kubernetes and Compose in;
//! - [`ml`]: features, embeddings, detectors.

pub use karma_core as core;
pub use karma_import as import;
pub use karma_ml as ml;
pub use karma_query as query;
pub use karma_store as store;

/// The names most programs need: `use karma::prelude::*;`.
pub mod prelude {
    pub use karma_core::prelude::*;
    pub use karma_query::{Direction, Query, QueryResult, Selector, Traversal, View, parse};
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The guide's examples (`docs/guide.md`), compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/guide.md")]
pub struct GuideDoctests;
