//! Karma's machine learning: features, `GraphSAGE` embeddings, detectors and
//! export.
//!
//! Work in progress (see the karma-ml issues); today it re-exports the core
//! types that models read.
//!
//! # Example
//!
//! ```
//! use karma_ml::core::{Component, Graph};
//!
//! let mut graph = Graph::new();
//! graph.insert(Component::new("Service", "api")?.with_param("replicas", 3))?;
//! assert_eq!(graph.len(), 1);
//! # Ok::<(), karma_ml::core::Error>(())
//! ```

pub use karma_core as core;
