//! Secrets, held only as salted digests.
//!
//! A [`Secret`] is made from plaintext and keeps nothing of it but a keyed
//! blake3 digest. The plaintext never reaches a snapshot, a delta, a hash
//! input, `Debug`/`Display` output or a serialized form. The same plaintext
//! under the same [`SecretSalt`] gives the same digest, so writing a secret
//! again is recognisably "unchanged" while a rotated secret is a change.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::hash::ContentHash;

/// The salt (a blake3 key) under which secrets are digested.
///
/// Keep one per organisation or repository, outside the graph (e.g. in your
/// secret manager), and use it for every write: digests made under different
/// salts differ, so a secret re-digested under a new salt reads as changed.
/// [`SecretSalt::default`] is a fixed, public salt: it keeps plaintext out of
/// every output, but offers no protection against guessing a weak secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretSalt([u8; 32]);

impl SecretSalt {
    /// A salt from 32 bytes the caller keeps secret.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A salt derived from a passphrase or a longer key.
    pub fn derive(material: &[u8]) -> Self {
        Self(blake3::derive_key("karma secret salt v1", material))
    }
}

impl Default for SecretSalt {
    fn default() -> Self {
        Self::derive(b"karma default public salt")
    }
}

impl fmt::Debug for SecretSalt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretSalt(..)")
    }
}

/// A secret value: only its salted digest is kept.
///
/// ```
/// use karma_core::{Secret, SecretSalt};
///
/// let salt = SecretSalt::derive(b"our org's salt");
/// let a = Secret::with_salt(&salt, "hunter2");
/// assert_eq!(a, Secret::with_salt(&salt, "hunter2")); // unchanged
/// assert_ne!(a, Secret::with_salt(&salt, "hunter3")); // rotated
/// assert!(!format!("{a:?} {a}").contains("hunter2"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(ContentHash);

impl Secret {
    /// Digests `plaintext` under the default public salt. Prefer
    /// [`Secret::with_salt`] with a salt of your own.
    pub fn new(plaintext: impl AsRef<[u8]>) -> Self {
        Self::with_salt(&SecretSalt::default(), plaintext)
    }

    /// Digests `plaintext` under `salt`.
    pub fn with_salt(salt: &SecretSalt, plaintext: impl AsRef<[u8]>) -> Self {
        Self(ContentHash::from_bytes(*blake3::keyed_hash(&salt.0, plaintext.as_ref()).as_bytes()))
    }

    /// Rebuilds a secret from a digest produced earlier (e.g. by an importer
    /// that received digests only).
    pub const fn from_digest(digest: ContentHash) -> Self {
        Self(digest)
    }

    /// The salted digest.
    pub const fn digest(&self) -> &ContentHash {
        &self.0
    }

    /// Whether `plaintext` under `salt` is this secret.
    pub fn matches(&self, salt: &SecretSalt, plaintext: impl AsRef<[u8]>) -> bool {
        *self == Self::with_salt(salt, plaintext)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", &self.0.to_hex()[..12])
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<secret {}>", &self.0.to_hex()[..12])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salt_changes_digest() {
        let a = Secret::with_salt(&SecretSalt::derive(b"a"), "pw");
        let b = Secret::with_salt(&SecretSalt::derive(b"b"), "pw");
        assert_ne!(a, b);
        assert!(a.matches(&SecretSalt::derive(b"a"), "pw"));
        assert!(!a.matches(&SecretSalt::derive(b"a"), "pw2"));
    }

    #[test]
    fn never_prints_plaintext() {
        let s = Secret::new("correct horse battery staple");
        let outputs = [
            format!("{s:?}"),
            format!("{s}"),
            serde_json::to_string(&s).unwrap(),
            format!("{:?}", SecretSalt::derive(b"correct horse battery staple")),
        ];
        for out in outputs {
            assert!(!out.contains("correct horse"), "{out}");
        }
    }
}
