//! Component keys and names.

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use smol_str::SmolStr;

use crate::error::{Error, Result};

/// A name: of a kind, a param, an output, a label or a runtime value.
///
/// Short names (up to 23 bytes) are stored inline, longer ones shared; cloning
/// is O(1) either way.
pub type Name = SmolStr;

/// The key of a component: unique in a graph, e.g. `Database/orders`.
///
/// [`Key::new`] builds the conventional `Kind/name` form; importers may use
/// any other non-empty string (e.g. `prod/Deployment/api` for Kubernetes).
/// A key may not contain control characters.
///
/// ```
/// use karma_core::Key;
/// let key = Key::new("Database", "orders")?;
/// assert_eq!(key.as_str(), "Database/orders");
/// # Ok::<(), karma_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Key(SmolStr);

impl Key {
    /// The conventional key `kind/name`.
    pub fn new(kind: &str, name: &str) -> Result<Self> {
        if kind.is_empty() || name.is_empty() {
            return Err(Error::InvalidKey { key: format!("{kind}/{name}"), reason: "kind and name must not be empty" });
        }
        Self::parse(&format!("{kind}/{name}"))
    }

    /// Any non-empty string without control characters.
    pub fn parse(text: &str) -> Result<Self> {
        if text.is_empty() {
            return Err(Error::InvalidKey { key: String::new(), reason: "a key must not be empty" });
        }
        if text.chars().any(char::is_control) {
            return Err(Error::InvalidKey {
                key: text.escape_debug().to_string(),
                reason: "a key must not contain control characters",
            });
        }
        Ok(Self(SmolStr::new(text)))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A 64-bit hash of the key that is the same on every machine and in
    /// every version (the snapshot trie is laid out by it). Different keys
    /// can share one, rarely.
    pub fn stable_hash(&self) -> u64 {
        crate::hash::stable_hash64(self.0.as_bytes())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0.as_str())
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Key {
    type Error = Error;
    fn try_from(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}

impl TryFrom<String> for Key {
    type Error = Error;
    fn try_from(text: String) -> Result<Self> {
        Self::parse(&text)
    }
}

impl std::str::FromStr for Key {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = SmolStr::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Anything that names a component: a [`Key`], or text parsed as one.
pub trait IntoKey {
    /// The key, or an [`Error::InvalidKey`].
    fn into_key(self) -> Result<Key>;
}

impl IntoKey for Key {
    fn into_key(self) -> Result<Key> {
        Ok(self)
    }
}

impl IntoKey for &Key {
    fn into_key(self) -> Result<Key> {
        Ok(self.clone())
    }
}

impl IntoKey for &str {
    fn into_key(self) -> Result<Key> {
        Key::parse(self)
    }
}

impl IntoKey for String {
    fn into_key(self) -> Result<Key> {
        Key::parse(&self)
    }
}

impl IntoKey for &String {
    fn into_key(self) -> Result<Key> {
        Key::parse(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_keys() {
        assert!(matches!(Key::parse(""), Err(Error::InvalidKey { .. })));
        assert!(matches!(Key::parse("a\nb"), Err(Error::InvalidKey { .. })));
        assert!(matches!(Key::new("", "x"), Err(Error::InvalidKey { .. })));
        assert_eq!(Key::parse("prod/Deployment/api").unwrap().as_str(), "prod/Deployment/api");
    }

    #[test]
    fn deserialize_validates() {
        assert!(serde_json::from_str::<Key>("\"\"").is_err());
        let k: Key = serde_json::from_str("\"Queue/jobs\"").unwrap();
        assert_eq!(k, Key::new("Queue", "jobs").unwrap());
    }
}
