//! Where things are in an input, what went wrong, and what was noticed.

use std::fmt;
use std::sync::Arc;

/// A place in an input document: the file (when known), a path inside it
/// (a JSON pointer such as `/resources/3/instances/0`, or a YAML path such
/// as `services.web.depends_on[0]`) and, when the parser knows it, a 1-based
/// line and column.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file name given in [`Options::file`](crate::Options::file).
    pub file: Option<Arc<str>>,
    /// A JSON pointer or a YAML path; empty for the whole document.
    pub path: String,
    /// 1-based line, when known.
    pub line: Option<u32>,
    /// 1-based column, when known.
    pub column: Option<u32>,
}

impl Location {
    pub(crate) fn new(file: Option<&Arc<str>>, path: impl Into<String>) -> Self {
        Self { file: file.cloned(), path: path.into(), line: None, column: None }
    }

    pub(crate) fn at(mut self, line: u32, column: u32) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file.as_deref().unwrap_or("<input>"))?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if !self.path.is_empty() {
            write!(f, " at {}", self.path)?;
        }
        Ok(())
    }
}

/// Why an import failed. Every variant names where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The text is not well-formed JSON or YAML (truncated, bad syntax, a
    /// duplicate mapping key, too many alias expansions...).
    #[error("{location}: syntax error: {message}")]
    Syntax {
        /// Where the parser stopped.
        location: Location,
        /// The parser's message.
        message: String,
    },
    /// A field has the wrong type.
    #[error("{location}: expected {expected}, found {found}")]
    UnexpectedType {
        /// The field.
        location: Location,
        /// What the format requires there.
        expected: &'static str,
        /// What the input has.
        found: &'static str,
    },
    /// A required field is absent.
    #[error("{location}: missing required field `{field}`")]
    Missing {
        /// The object that lacks it.
        location: Location,
        /// The field's name.
        field: &'static str,
    },
    /// The document is of a format or version this importer does not read.
    #[error("{location}: unsupported input: {message}")]
    Unsupported {
        /// Where this was decided.
        location: Location,
        /// What was found and what is supported.
        message: String,
    },
    /// Two objects map to the same component key.
    #[error("{second}: `{key}` is defined twice (first at {first})")]
    Duplicate {
        /// The key both would have.
        key: String,
        /// The first definition.
        first: Box<Location>,
        /// The second one.
        second: Location,
    },
    /// Declared dependencies form a cycle, which the source tool itself
    /// would refuse.
    #[error("{location}: dependency cycle: {}", members.join(" -> "))]
    Cycle {
        /// The components on the cycle, in order (the first is repeated at the end).
        members: Vec<String>,
        /// Where the first member is defined.
        location: Location,
    },
    /// A single value is larger than [`Options::max_value_bytes`](crate::Options::max_value_bytes).
    #[error("{location}: value of {bytes} bytes exceeds the limit of {limit} bytes")]
    ValueTooLarge {
        /// The value.
        location: Location,
        /// Its size.
        bytes: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The data model refused what the input describes (e.g. an invalid key).
    #[error("{location}: {source}")]
    Model {
        /// Where the offending object is.
        location: Location,
        /// What karma-core said.
        #[source]
        source: Box<karma_core::Error>,
    },
}

impl ImportError {
    pub(crate) fn model(location: Location, source: karma_core::Error) -> Self {
        Self::Model { location, source: Box::new(source) }
    }

    /// Where the problem is.
    pub fn location(&self) -> &Location {
        match self {
            Self::Syntax { location, .. }
            | Self::UnexpectedType { location, .. }
            | Self::Missing { location, .. }
            | Self::Unsupported { location, .. }
            | Self::Cycle { location, .. }
            | Self::ValueTooLarge { location, .. }
            | Self::Model { location, .. } => location,
            Self::Duplicate { second, .. } => second,
        }
    }
}

/// A recoverable problem: the import went on, and this says what it could
/// not do. Nothing is dropped silently: each of these names what was left
/// out or left unresolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Where.
    pub location: Location,
    /// What.
    pub kind: WarningKind,
}

/// What a [`Warning`] is about.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarningKind {
    /// A dependency or reference names something that is not in the input
    /// (e.g. a Secret created outside the manifests). No edge was made.
    UnresolvedTarget {
        /// What it names.
        target: String,
        /// The relation, e.g. `depends_on`, `secretKeyRef`.
        relation: String,
    },
    /// A Service selector that matches no workload in the input.
    SelectsNothing {
        /// The Service's key.
        service: String,
    },
    /// A reference that several instances could satisfy and none matched by
    /// value: an edge was made to each of them.
    AmbiguousReference {
        /// The reference as written.
        reference: String,
        /// How many instances it was attached to.
        candidates: usize,
    },
    /// Part of the input that this importer does not turn into graph
    /// structure; it is named here rather than dropped silently.
    NotImported {
        /// What it is.
        what: String,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.location)?;
        match &self.kind {
            WarningKind::UnresolvedTarget { target, relation } => {
                write!(f, "{relation} names `{target}`, which is not in the input; no edge made")
            }
            WarningKind::SelectsNothing { service } => write!(f, "the selector of {service} matches no workload"),
            WarningKind::AmbiguousReference { reference, candidates } => {
                write!(f, "`{reference}` could mean any of {candidates} instances; linked to each")
            }
            WarningKind::NotImported { what } => write!(f, "not imported: {what}"),
        }
    }
}
