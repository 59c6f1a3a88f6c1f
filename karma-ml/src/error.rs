//! What can go wrong.

/// A karma-ml error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MlError {
    /// Arrays whose shapes do not fit together (with what was expected).
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A component the question names is not in the graph.
    #[error("unknown component {0}")]
    UnknownComponent(String),
    /// An argument out of its domain (k = 0, an empty training set...).
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// A graph error (an invalid key, a schema not met...).
    #[error(transparent)]
    Core(#[from] karma_core::Error),
    /// A query-layer error.
    #[error(transparent)]
    Query(#[from] karma_query::QueryError),
}

/// A result with [`MlError`].
pub type Result<T, E = MlError> = std::result::Result<T, E>;
