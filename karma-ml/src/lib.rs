//! Karma's machine learning: GraphSAGE embeddings of infrastructure graphs
//! (PyTorch Geometric's `SAGEConv`, exactly), their training, and what they
//! are for.
//!
//! # Example
//!
//! ```
//! use karma_ml::{Adjacency, Flow, Sage, SageConfig};
//! use ndarray::Array2;
//!
//! // Four nodes, edges 0 → 1, 0 → 2, 1 → 3: each node averages its in-neighbours.
//! let adj = Adjacency::from_edges(4, &[(0, 1), (0, 2), (1, 3)], Flow::SourceToTarget)?;
//! let x = Array2::from_shape_fn((4, 8), |(i, j)| (i * 8 + j) as f32 / 32.0);
//! let model = Sage::new(&[8, 16, 4], SageConfig::default(), 42)?;
//! let embeddings = model.forward(x.view(), &adj)?;
//! assert_eq!(embeddings.dim(), (4, 4));
//! # Ok::<(), karma_ml::MlError>(())
//! ```
//!
//! # What is here
//!
//! - Features: `FeatureExtractor` (fit on one graph, apply to any; named
//!   columns; optional history columns from a `History`).
//! - Embeddings: `SageConv` and `Sage` (full-graph, sampled and
//!   not-yet-existing-node inference), `train_supervised`,
//!   `train_unsupervised`, `Adam`.
//! - Uses: `Embeddings` (similar, search), `kmeans`, `repeated_subgraphs`,
//!   `recommend`, `Connections` (proposals), `scan_anomalies`, `embedding_outliers`,
//!   `scan_drift` (`declared_vs_observed`, `stale_references`), `unintended_mutations`, `Transitions`,
//!   `Logistic`, `export` of training data for Python.
//! - Meta-configuration: `mine_patterns`, `Intent` and `Blueprint` (a
//!   partial graph from a short text), `preview` of a proposed change.

#![cfg_attr(docsrs, feature(doc_auto_cfg))]
// ndarray's views are cheap handles, passed by value by convention.
#![allow(clippy::needless_pass_by_value)]

mod adjacency;
mod anomaly;
mod connect;
mod dense;
mod drift;
mod embed;
mod error;
mod export;
mod features;
mod meta;
mod predict;
mod recommend;
mod rng;
mod sage;
mod sample;
mod train;
mod transitions;

pub use adjacency::{Adjacency, Csr, Flow};
pub use anomaly::{Anomaly, AnomalyConfig, AnomalyKind, Peers, embedding_outliers, scan as scan_anomalies};
pub use connect::{Accepted, Connections, Proposal, ProposeOptions};
pub use drift::{
    Drift, DriftReport, Mutation, StaleReference, Tolerance, declared_vs_observed, scan_drift, stale_references,
    unintended_mutations,
};
pub use embed::{Embeddings, ExactIndex, NearestNeighbours, adjusted_rand_index, kmeans, repeated_subgraphs, roc_auc};
pub use error::{MlError, Result};
pub use export::{ExportSummary, Splits, export};
pub use features::{FeatureConfig, FeatureExtractor, History};
pub use meta::{Blueprint, Intent, Part, Pattern, PatternConfig, Preview, Typical, mine_patterns, preview};
pub use predict::{Logistic, Scores};
pub use recommend::{Suggestion, recommend};
pub use rng::Rng;
pub use sage::{
    Aggregation, ConvCache, ConvGrads, Linear, LinearGrads, Sage, SageCache, SageConfig, SageConv, Workspace,
    max_aggregate, mean_aggregate,
};

pub use sample::{SampledBatch, sample_batch};
pub use train::{Adam, Progress, TrainOptions, cross_entropy, train_supervised, train_unsupervised};
pub use transitions::Transitions;

pub use karma_core as core;
