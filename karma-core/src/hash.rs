//! Content hashes: blake3 over a canonical encoding.
//!
//! Every hashed object writes itself into a [`Canonical`] encoder: each field is
//! preceded by a one-byte tag and every variable-length item by its length, maps
//! are written in key order, so the same content always yields the same bytes
//! (and hence the same hash), whatever order it was built in. Lengths, counts
//! and integers are LEB128 varints (integers zigzagged), always in their
//! shortest form.
//!
//! A component is stored as exactly the bytes its hash covers (after the
//! domain header), and read back through [`CanonicalReader`], which accepts
//! only what [`Canonical`] writes: a stored component is hashed as it is
//! read, never encoded a second time.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 32-byte blake3 digest identifying some content.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    /// Wraps raw digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hexadecimal form (64 characters).
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        out
    }

    /// Parses the form written by [`ContentHash::to_hex`].
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            out[i] = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
        }
        Some(Self(out))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", &self.to_hex()[..16])
    }
}

impl Serialize for ContentHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_hex())
        } else {
            // One length-prefixed byte string, not 32 tuple elements.
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Self::from_hex(&text).ok_or_else(|| serde::de::Error::custom("expected 64 hexadecimal digits"))
        } else {
            deserializer.deserialize_bytes(HashBytes)
        }
    }
}

/// Reads the 32 bytes of a [`ContentHash`] from a binary format.
struct HashBytes;

impl serde::de::Visitor<'_> for HashBytes {
    type Value = ContentHash;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("32 bytes")
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<ContentHash, E> {
        <[u8; 32]>::try_from(v).map(ContentHash).map_err(|_| E::invalid_length(v.len(), &self))
    }
}

/// The canonical encoder every hashed object writes itself into.
///
/// Bytes are gathered in a buffer and hashed once at the end: one blake3 call
/// over a few hundred bytes costs far less than many tiny updates.
pub(crate) struct Canonical {
    buf: Vec<u8>,
}

impl Canonical {
    /// Starts an encoding under a domain-separation context, so that objects
    /// of different types never share an encoding.
    pub(crate) fn new(domain: &str) -> Self {
        Self::with_capacity(domain, 256)
    }

    /// Like [`Canonical::new`], with room for about `capacity` bytes.
    pub(crate) fn with_capacity(domain: &str, capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity);
        buf.extend_from_slice(&(domain.len() as u64).to_le_bytes());
        buf.extend_from_slice(domain.as_bytes());
        Self { buf }
    }

    pub(crate) fn tag(&mut self, tag: u8) -> &mut Self {
        self.buf.push(tag);
        self
    }

    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub(crate) fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A LEB128 varint: lengths, counts, versions.
    pub(crate) fn var(&mut self, mut v: u64) -> &mut Self {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
        self
    }

    /// A count of the items that follow.
    pub(crate) fn len(&mut self, n: usize) -> &mut Self {
        self.var(n as u64)
    }

    /// A signed integer, zigzagged into a varint (small magnitudes are short).
    pub(crate) fn int(&mut self, v: i64) -> &mut Self {
        self.var(((v << 1) ^ (v >> 63)) as u64)
    }

    pub(crate) fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.len(v.len());
        self.buf.extend_from_slice(v);
        self
    }

    pub(crate) fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }

    pub(crate) fn hash(&mut self, v: &ContentHash) -> &mut Self {
        self.buf.extend_from_slice(v.as_bytes());
        self
    }

    pub(crate) fn finish(&self) -> ContentHash {
        ContentHash(*blake3::hash(&self.buf).as_bytes())
    }

    /// An encoder without a domain header, appending to `buf`: the stored
    /// body of an object (see [`hash_body`]).
    pub(crate) fn body(buf: Vec<u8>) -> Self {
        Self { buf }
    }

    /// The bytes written.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// The hash of a stored body under `domain`: what [`Canonical::new`]`(domain)`
/// followed by the same writes would give.
pub(crate) fn hash_body(domain: &str, body: &[u8]) -> ContentHash {
    let mut h = blake3::Hasher::new();
    h.update(&(domain.len() as u64).to_le_bytes());
    h.update(domain.as_bytes());
    h.update(body);
    ContentHash(*h.finalize().as_bytes())
}

/// Reads what [`Canonical`] wrote, accepting nothing else: a truncated
/// field, a varint not in its shortest form or text that is not UTF-8 is
/// an error naming `what` was being read, never a panic.
pub(crate) struct CanonicalReader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> CanonicalReader<'a> {
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Self { rest: bytes, what }
    }

    /// An error about the object being read.
    pub(crate) fn error(&self, problem: &str) -> crate::Error {
        crate::Error::Codec(format!("a stored {} {problem}", self.what))
    }

    fn take(&mut self, n: usize) -> crate::Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(self.error("is truncated"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn tag(&mut self) -> crate::Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u64(&mut self) -> crate::Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    pub(crate) fn i64(&mut self) -> crate::Result<i64> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    pub(crate) fn var(&mut self) -> crate::Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.tag()?;
            // The tenth byte may carry only the top bit.
            if shift == 63 && b > 1 {
                return Err(self.error("has a varint past 64 bits"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                if b == 0 && shift > 0 {
                    return Err(self.error("has a varint not in its shortest form"));
                }
                return Ok(v);
            }
        }
        Err(self.error("has a varint past 64 bits"))
    }

    /// A count of items that follow, each at least one byte long (so a
    /// damaged count cannot make the caller reserve more than the input).
    pub(crate) fn len(&mut self) -> crate::Result<usize> {
        let n = self.var()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.rest.len() => Ok(n),
            _ => Err(self.error("has a count larger than its bytes")),
        }
    }

    pub(crate) fn int(&mut self) -> crate::Result<i64> {
        let v = self.var()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    pub(crate) fn str(&mut self) -> crate::Result<&'a str> {
        let n = self.len()?;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes).map_err(|_| self.error("has text that is not UTF-8"))
    }

    pub(crate) fn hash(&mut self) -> crate::Result<ContentHash> {
        Ok(ContentHash(self.take(32)?.try_into().expect("32 bytes")))
    }

    /// Fails unless every byte was read.
    pub(crate) fn finish(&self) -> crate::Result<()> {
        if self.rest.is_empty() { Ok(()) } else { Err(self.error("has trailing bytes")) }
    }
}

/// A stable 64-bit hash of bytes (FNV-1a followed by a murmur3 finaliser).
///
/// Used to place keys in the snapshot's hash trie. It must never change:
/// the trie's shape, and so its Merkle hashes, depend on it.
pub(crate) fn stable_hash64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    fmix64(h)
}

/// Combines two stable hashes (order matters).
pub(crate) fn combine64(a: u64, b: u64) -> u64 {
    fmix64(a ^ b.wrapping_add(0x9e37_79b9_7f4a_7c15).wrapping_add(a << 6).wrapping_add(a >> 2))
}

fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let h = Canonical::new("test").str("hello").finish();
        assert_eq!(ContentHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(ContentHash::from_hex("zz"), None);
    }

    #[test]
    fn encoding_separates_fields() {
        let a = Canonical::new("t").str("ab").str("c").finish();
        let b = Canonical::new("t").str("a").str("bc").finish();
        assert_ne!(a, b);
        assert_ne!(Canonical::new("x").finish(), Canonical::new("y").finish());
    }

    proptest::proptest! {
        /// Varints and zigzagged integers read back as written, in their
        /// shortest form; anything else is refused.
        #[test]
        fn varints_round_trip(v in proptest::num::u64::ANY, i in proptest::num::i64::ANY) {
            let mut c = Canonical::body(Vec::new());
            c.var(v).int(i);
            let bytes = c.into_bytes();
            let mut r = CanonicalReader::new(&bytes, "test");
            proptest::prop_assert_eq!(r.var().unwrap(), v);
            proptest::prop_assert_eq!(r.int().unwrap(), i);
            proptest::prop_assert!(r.finish().is_ok());
            // Every proper prefix is truncated, never misread.
            for cut in 0..bytes.len() {
                let mut r = CanonicalReader::new(&bytes[..cut], "test");
                proptest::prop_assert!(r.var().and_then(|_| r.int()).is_err());
            }
        }
    }

    #[test]
    fn varints_are_shortest_and_bounded() {
        let mut c = Canonical::body(Vec::new());
        c.var(0).var(127).var(128).var(u64::MAX);
        assert_eq!(c.into_bytes().len(), 1 + 1 + 2 + 10);
        for bad in [&[0x80, 0x00][..], &[0xff; 10][..], &[0xff; 11][..]] {
            assert!(CanonicalReader::new(bad, "test").var().is_err(), "{bad:?}");
        }
        // A count larger than what follows is refused before anything is reserved.
        assert!(CanonicalReader::new(&[5, 1, 2], "test").len().is_err());
        assert_eq!(CanonicalReader::new(&[2, 1, 2], "test").len().unwrap(), 2);
        // Text must be UTF-8.
        assert!(CanonicalReader::new(&[1, 0xff], "test").str().is_err());
    }

    #[test]
    fn a_body_hashes_as_its_encoding_under_the_domain() {
        let whole = Canonical::new("d").str("x").int(-3).finish();
        let mut body = Canonical::body(Vec::new());
        body.str("x").int(-3);
        assert_eq!(hash_body("d", &body.into_bytes()), whole);
    }

    #[test]
    fn stable_hash_is_stable() {
        // Pinned: the trie layout and every stored Merkle hash depend on it.
        assert_eq!(stable_hash64(b""), 0xefd0_1f60_ba99_2926);
        assert_eq!(stable_hash64(b"Database/orders"), 0x9ea6_639a_f797_eba7);
    }
}
