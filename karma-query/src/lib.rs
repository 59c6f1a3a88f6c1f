//! Karma's query engine: impact, paths, plans and change impact over
//! read-optimised views of snapshots.
//!
//! Work in progress (see the karma-query issue); today it re-exports the core
//! types that queries read.
//!
//! # Example
//!
//! ```
//! use karma_query::core::{Component, EdgeKind, Graph};
//!
//! let mut graph = Graph::new();
//! graph.insert(Component::new("Database", "orders")?)?;
//! graph.insert(Component::new("Service", "api")?)?;
//! graph.connect("Service/api", "Database/orders", EdgeKind::DependsOn, [])?;
//! assert_eq!(graph.dependents(&"Database/orders".parse()?).len(), 1);
//! # Ok::<(), karma_query::core::Error>(())
//! ```

pub use karma_core as core;
