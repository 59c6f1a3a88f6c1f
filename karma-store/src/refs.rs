//! Ref names: environments, branches and tags.

use std::fmt;

use crate::error::{Result, StoreError};

/// The name of a ref: `env/prod`, `branch/what-if`, `tag/deploy-42`, or any
/// other non-empty name without control characters (at most 255 bytes).
///
/// ```
/// use karma_store::RefName;
/// assert_eq!(RefName::environment("prod")?.as_str(), "env/prod");
/// assert!(RefName::parse("").is_err());
/// # Ok::<(), karma_store::StoreError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RefName(String);

impl RefName {
    /// Any valid name.
    pub fn parse(name: &str) -> Result<Self> {
        let reason = if name.is_empty() {
            Some("a ref name must not be empty")
        } else if name.len() > 255 {
            Some("a ref name must be at most 255 bytes")
        } else if name.chars().any(char::is_control) {
            Some("a ref name must not contain control characters")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(StoreError::InvalidRef { name: name.escape_debug().to_string(), reason }),
            None => Ok(Self(name.to_string())),
        }
    }

    /// The ref of an environment (`env/<name>`): what is deployed there.
    pub fn environment(name: &str) -> Result<Self> {
        Self::parse(&format!("env/{name}"))
    }

    /// A branch (`branch/<name>`), for what-if changes.
    pub fn branch(name: &str) -> Result<Self> {
        Self::parse(&format!("branch/{name}"))
    }

    /// A tag (`tag/<name>`), e.g. one per deployment.
    pub fn tag(name: &str) -> Result<Self> {
        Self::parse(&format!("tag/{name}"))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RefName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for RefName {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}
