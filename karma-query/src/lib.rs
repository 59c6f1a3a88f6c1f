//! Karma's query engine: questions about a snapshot's graph, answered over a
//! read-optimised [`View`] (dense ids, compressed adjacency both ways, kind
//! and label columns), exactly and fast.
//!
//! - reachability: transitive dependents and dependencies with depth limits,
//!   edge-kind filters and a witness path per result ([`View::reach`],
//!   [`reachable`]), parallel and direction-optimising;
//! - parameter-level impact ([`View::param_impact`]) and the blast radius
//!   of a change ([`change_impact`]);
//! - paths between [`Selector`]s: shortest by hops or weight, k shortest,
//!   everything on some path ([`shortest_path`], [`k_shortest_paths`],
//!   [`on_paths_between`]);
//! - deployment plans in waves with cycle detection ([`plan`]) and graph
//!   checks ([`check`]);
//! - [`Transform`]s that preview a rewrite as a `Delta`;
//! - a text language ([`parse`]) for the same [`Query`] values, results
//!   printed as tables and subgraphs exported to DOT and Mermaid
//!   ([`Subgraph`]).
//!
//! The view implements petgraph's visit traits, so petgraph's algorithms
//! run on it too.
//!
//! # Example
//!
//! ```
//! use karma_core::{Component, EdgeKind, Graph};
//! use karma_query::{QueryResult, View, parse};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mut graph = Graph::new();
//!     graph.insert(Component::new("Database", "orders")?)?;
//!     graph.insert(Component::new("Service", "api")?)?;
//!     graph.connect("Service/api", "Database/orders", EdgeKind::DependsOn, [])?;
//!     let view = View::new(&graph);
//!     let QueryResult::Reached(dependents) = parse("dependents of Database/orders")?.run(&view)? else {
//!         unreachable!()
//!     };
//!     assert_eq!(dependents[0].key.as_str(), "Service/api");
//!     Ok(())
//! }
//! ```

mod error;
mod impact;
mod parse;
mod paths;
mod petgraph_impl;
mod plan;
mod query;
mod radix;
mod render;
mod select;
mod transform;
mod traverse;
mod view;

pub use error::{QueryError, Result};
pub use impact::{Affected, BlastRadius, ImpactedParam, ParamReach, ParamRef, change_impact, param_impact};
pub use parse::parse;
pub use paths::{Distances, Path, k_shortest_paths, on_paths_between, shortest_path, shortest_path_directed};
pub use petgraph_impl::{ViewEdge, ViewEdges};
pub use plan::{
    CheckReport, DanglingRef, Plan, check, dangling_references, orphans, plan, plan_change, unreachable_from,
};
pub use query::{CheckKind, Query, QueryResult};
pub use render::{GroupBy, Subgraph};
pub use select::{CmpOp, Selector};
pub use transform::{KeyMapping, Transform};
pub use traverse::{Direction, Reach, Reached, Traversal, reachable};
pub use view::{EdgeWeights, NodeId, View};

/// The core crate, for convenience.
pub use karma_core as core;
