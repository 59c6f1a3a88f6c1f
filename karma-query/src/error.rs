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
}
