//! Karma's query engine: questions about a snapshot's graph, answered over a
//! read-optimised [`View`] (dense ids, compressed adjacency both ways).
//!
//! Work in progress (see the karma-query issue): today, transitive
//! dependents and dependencies with depth limits, edge-kind filters and a
//! witness path for every result.
//!
//! # Example
//!
//! ```
//! use karma_core::{Component, EdgeKind, Graph};
//! use karma_query::{Direction, Traversal, View, reachable};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mut graph = Graph::new();
//!     graph.insert(Component::new("Database", "orders")?)?;
//!     graph.insert(Component::new("Service", "api")?)?;
//!     graph.connect("Service/api", "Database/orders", EdgeKind::DependsOn, [])?;
//!     let view = View::new(&graph);
//!     let dependents = reachable(&view, &"Database/orders".parse()?, Direction::Dependents, &Traversal::default())?;
//!     assert_eq!(dependents[0].key.as_str(), "Service/api");
//!     Ok(())
//! }
//! ```

mod error;
mod traverse;
mod view;

pub use error::{QueryError, Result};
pub use traverse::{Direction, Reached, Traversal, reachable};
pub use view::{NodeId, View};

/// The core crate, for convenience.
pub use karma_core as core;
