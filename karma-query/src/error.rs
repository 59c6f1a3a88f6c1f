//! The error type of `karma-query`.

use karma_core::Key;

/// `Result` with [`QueryError`] as the default error.
pub type Result<T, E = QueryError> = std::result::Result<T, E>;

/// What can go wrong answering a query.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// No component has this key in the queried snapshot.
    #[error("unknown component {key}")]
    UnknownComponent {
        /// The missing key.
        key: Key,
    },
    /// The component has no such param.
    #[error("component {key} has no param {param}")]
    UnknownParam {
        /// The component.
        key: Key,
        /// The missing param.
        param: String,
    },
    /// An edge's weight attribute is missing, not a number, negative or not
    /// finite.
    #[error("edge {edge}: weight attribute {attribute} {reason}")]
    BadWeight {
        /// The edge.
        edge: String,
        /// The attribute weights are read from.
        attribute: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A query text did not parse: `column` (1-based, in characters) points
    /// at the offending token.
    #[error("{message} at column {column}")]
    Parse {
        /// What was expected or found.
        message: String,
        /// The column of the offending token, counting from 1.
        column: usize,
    },
    /// A query's argument is out of range or contradictory.
    #[error("invalid query: {0}")]
    Invalid(String),
    /// Applying a transform failed in the core (e.g. a rename collides).
    #[error(transparent)]
    Core(#[from] karma_core::Error),
}
