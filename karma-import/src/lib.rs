//! Brings real infrastructure into Karma: Terraform state and plans,
//! Kubernetes manifests and Compose files become a typed [`Snapshot`], with
//! a report of what came in and what could not be resolved.
//!
//! # Example
//!
//! ```
//! use karma_import::{compose, Options};
//!
//! let yaml = r#"
//! x-common: &common
//!   restart: always
//! services:
//!   db:
//!     <<: *common
//!     image: postgres:16
//!     environment:
//!       POSTGRES_PASSWORD: hunter2
//!   api:
//!     <<: *common
//!     image: example/api
//!     depends_on: [db]
//!     environment:
//!       DATABASE_URL: postgres://api@db:5432/orders
//! "#;
//! let import = compose::import(yaml, &Options::default())?;
//! let api = import.snapshot.get(&"service/api".parse()?).unwrap();
//! assert_eq!(api.param_value("restart").and_then(|v| v.as_str()), Some("always")); // merge key applied
//! // Two edges to db: `depends_on`, and the URL in its environment.
//! let to_db: Vec<&str> = import.snapshot.edges_from(api.key())
//!     .filter(|e| e.to().as_str() == "service/db")
//!     .map(|e| e.kind().label())
//!     .collect();
//! assert_eq!(to_db, ["depends-on", "env"]);
//! assert_eq!(import.report.secrets, 1); // the password is held as a salted digest only
//! println!("{}", import.report); // compose file: 3 components (with network/default), 4 edges, ...
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Formats
//!
//! - [`terraform`]: `terraform show -json` of a state or a plan, and raw
//!   `terraform.tfstate` (version 4). A plan becomes a base snapshot plus
//!   the planned [`Delta`](karma_core::Delta); drift becomes findings;
//!   several states in time order become a history.
//! - [`kubernetes`]: multi-document manifests.
//! - [`compose`]: Compose files, with anchors, aliases and merge keys.
//!
//! Every importer keeps fields it does not interpret as params, imports
//! unknown resource types as they are, reports malformed input as a typed
//! [`ImportError`] with a [`Location`] (file, JSON pointer or YAML path,
//! line and column where the parser knows them) and recoverable problems as
//! [`Warning`]s in the [`ImportReport`]. It never panics on input.
//!
//! Secrets (Terraform sensitive values, Kubernetes Secret data, credentials
//! in environment variables and URLs) are held only as salted digests
//! ([`karma_core::Secret`]); their plaintext is neither stored nor printed.
//!
//! Graphs go back out for people as Graphviz DOT and Mermaid through
//! `karma_query::render::Subgraph` (one implementation for the whole
//! workspace), and for round trips as Terraform-state-shaped JSON through
//! [`terraform::export_state`].

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod compose;
mod draft;
mod error;
mod json;
pub mod kubernetes;
mod secrets;
pub mod terraform;
mod yaml;

use std::fmt;

use karma_core::{SecretSalt, Snapshot, Timestamp};

pub use error::{ImportError, Location, Warning, WarningKind};

/// A result with [`ImportError`].
pub type Result<T, E = ImportError> = std::result::Result<T, E>;

/// How to import.
#[derive(Clone, Debug)]
pub struct Options {
    /// The file name to put in locations (errors and warnings).
    pub file: Option<String>,
    /// The time stamped on the imported components (the graph's clock).
    pub time: Timestamp,
    /// The salt secret values are digested under. Use one of your own: with
    /// the default public salt, a guessable secret can be confirmed from its
    /// digest.
    pub salt: SecretSalt,
    /// The largest single value accepted, in bytes (default 1 MiB); a
    /// larger one is an [`ImportError::ValueTooLarge`].
    pub max_value_bytes: usize,
    /// Kubernetes: the namespace of namespaced objects that name none.
    pub default_namespace: String,
    /// Compose: a project name prefixed to every key (`shop/service/api`).
    pub project: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            file: None,
            time: Timestamp::EPOCH,
            salt: SecretSalt::default(),
            max_value_bytes: 1 << 20,
            default_namespace: "default".into(),
            project: None,
        }
    }
}

impl Options {
    /// Options naming `file` in locations.
    pub fn file(file: impl Into<String>) -> Self {
        Self { file: Some(file.into()), ..Self::default() }
    }

    /// Stamps imported components at `time`.
    #[must_use]
    pub fn at(mut self, time: Timestamp) -> Self {
        self.time = time;
        self
    }

    /// Digests secrets under `salt`.
    #[must_use]
    pub fn with_salt(mut self, salt: SecretSalt) -> Self {
        self.salt = salt;
        self
    }
}

/// The input format of an import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// `terraform show -json` of a state.
    TerraformShowState,
    /// A raw `terraform.tfstate`, version 4.
    TerraformStateV4,
    /// `terraform show -json` of a plan file.
    TerraformPlan,
    /// Kubernetes manifests.
    Kubernetes,
    /// A Compose file.
    Compose,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TerraformShowState => "terraform show -json (state)",
            Self::TerraformStateV4 => "terraform.tfstate v4",
            Self::TerraformPlan => "terraform show -json (plan)",
            Self::Kubernetes => "kubernetes manifests",
            Self::Compose => "compose file",
        })
    }
}

/// What an import produced: the graph and the report.
#[derive(Clone, Debug)]
pub struct Import {
    /// The imported graph.
    pub snapshot: Snapshot,
    /// What came in and what was noticed.
    pub report: ImportReport,
}

/// How many components, edges and references came in, and the warnings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportReport {
    /// The input's format.
    pub format: Format,
    /// Components imported.
    pub components: usize,
    /// Edges in the graph (declared ones plus those references make).
    pub edges: usize,
    /// Edges made from declared relations (dependencies, selectors, mounts...).
    pub declared_edges: usize,
    /// Params set to references to another component's output.
    pub references: usize,
    /// Values held as secrets (digests only).
    pub secrets: usize,
    /// Recoverable problems, each with its location.
    pub warnings: Vec<Warning>,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} components, {} edges ({} declared), {} reference params, {} secrets, {} warnings",
            self.format,
            self.components,
            self.edges,
            self.declared_edges,
            self.references,
            self.secrets,
            self.warnings.len()
        )?;
        for w in &self.warnings {
            writeln!(f, "  warning: {w}")?;
        }
        Ok(())
    }
}
