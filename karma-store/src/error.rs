//! The error type of `karma-store`.

use crate::backend::BackendError;
use crate::record::CommitId;
use crate::refs::RefName;

/// `Result` with [`StoreError`] as the default error.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything that can go wrong in a repository. Bad input and damaged data
/// come back as one of these, never as a panic or a silently wrong answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A core error: bad input to a graph operation, a delta conflict, or
    /// corruption found while loading a snapshot.
    #[error(transparent)]
    Core(#[from] karma_core::Error),

    /// The backend failed.
    #[error("storage backend: {0}")]
    Backend(BackendError),

    /// Another writer moved the ref first: rebase onto `actual` and retry.
    #[error("{reference} moved: expected {}, found {}", show(expected.as_ref()), show(actual.as_ref()))]
    Conflict {
        /// The ref.
        reference: RefName,
        /// Where the writer expected it.
        expected: Option<CommitId>,
        /// Where it is.
        actual: Option<CommitId>,
    },

    /// A merge found changes that both sides made differently; nothing was
    /// committed.
    #[error("merge conflicts: {}", conflicts.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Merge {
        /// Every conflict, each naming its component (and param).
        conflicts: Vec<karma_core::MergeConflict>,
    },

    /// No such ref.
    #[error("unknown ref {0}")]
    UnknownRef(RefName),

    /// No such commit in this repository.
    #[error("unknown commit {0}")]
    UnknownCommit(CommitId),

    /// A ref name was empty, too long or contained control characters.
    #[error("invalid ref name {name:?}: {reason}")]
    InvalidRef {
        /// The text given.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// Stored data failed a check (checksum, hash, shape or framing).
    #[error("corrupt store: {what}")]
    Corrupt {
        /// What was found wrong.
        what: String,
    },

    /// The store was written in a format this version cannot read.
    #[error("unsupported store format {found} (this version reads {supported})")]
    UnsupportedFormat {
        /// The format found.
        found: u32,
        /// The format supported.
        supported: u32,
    },
}

fn show(id: Option<&CommitId>) -> String {
    id.map_or_else(|| "nothing".to_string(), ToString::to_string)
}

impl StoreError {
    /// Whether this reports damaged stored data (as opposed to bad input or
    /// a failing backend).
    pub fn is_corruption(&self) -> bool {
        matches!(self, Self::Corrupt { .. } | Self::Core(karma_core::Error::Corrupt { .. }))
    }

    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        Self::Corrupt { what: what.into() }
    }
}
