//! Karma's durable history: every deployment a commit, any past state
//! readable, any two diffable, nothing acknowledged ever lost.
//!
//! # Example
//!
//! ```
//! use karma_core::{Component, Graph, Timestamp};
//! use karma_store::{CommitInfo, MemoryStore, RefName, Repository, Revision};
//!
//! fn main() -> Result<(), karma_store::StoreError> {
//!     let repo = Repository::open(MemoryStore::new())?;
//!     let prod = RefName::environment("prod")?;
//!     let mut graph = Graph::new();
//!     graph.insert(Component::new("Service", "api")?.with_param("replicas", 2))?;
//!     repo.commit(&prod, &graph, CommitInfo::new("ci", "deploy 1").at(Timestamp::from_secs(100)))?;
//!     graph.set_param("Service/api", "replicas", 4)?;
//!     repo.commit(&prod, &graph, CommitInfo::new("ci", "deploy 2").at(Timestamp::from_secs(200)))?;
//!
//!     // What was deployed at t = 150, and what changed since?
//!     let then = Revision::AsOf(prod.clone(), Timestamp::from_secs(150));
//!     let delta = repo.diff(&then, &Revision::Head(prod.clone()))?;
//!     assert_eq!(delta.changed().count(), 1);
//!     Ok(())
//! }
//! ```
//!
//! # Design
//!
//! One [`Repository`] holds all history logic over a thin [`Backend`] trait
//! (ordered key spaces, atomic batches with compare-and-swap, range scans,
//! a location sequence). [`MemoryStore`] and [`RedbStore`] implement it; one
//! conformance suite ([`conformance_tests!`]) tests every backend.
//!
//! Snapshots are stored as their hash tries (see `karma_core::tree`): each
//! trie node, component and edge one object, a commit's new objects packed
//! a few KiB to a row under sequential locations with one checksum per
//! pack, and every object checked against its content hash when a snapshot
//! loads. A commit writes only the nodes on the paths its changes touch, the
//! commit record, its index entries (commit location, ref time, param
//! history, lineage) and the ref move, in one atomic batch.

mod backend;
#[doc(hidden)]
pub mod conformance;
mod error;
mod index;
mod memory;
mod pack;
mod record;
mod redb_store;
mod refs;
mod repository;

pub use backend::{
    Backend, BackendError, Direction, Entries, Expectation, KeyRange, Keyspace, WriteBatch, WriteError, prefix_range,
};
pub use error::{Result, StoreError};
pub use memory::MemoryStore;
pub use record::{CommitId, LineageEvent, LineageEventKind, ParamChange};
pub use redb_store::RedbStore;
pub use refs::RefName;
pub use repository::{Commit, CommitInfo, Lineage, Repository, Revision, VerifyReport};

/// The core crate, for convenience.
pub use karma_core as core;
