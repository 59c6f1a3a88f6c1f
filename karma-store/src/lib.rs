//! Karma's durable history: commits, environments, branches, as-of reads,
//! parameter history and lineage over pluggable backends.
//!
//! Work in progress (see the karma-store issue); today it re-exports the core
//! types that history is made of.
//!
//! # Example
//!
//! ```
//! use karma_store::core::{Component, Graph};
//!
//! let mut graph = Graph::new();
//! graph.insert(Component::new("Queue", "jobs")?)?;
//! let snapshot = graph.snapshot();
//! assert_eq!(snapshot.len(), 1);
//! # Ok::<(), karma_store::core::Error>(())
//! ```

pub use karma_core as core;
