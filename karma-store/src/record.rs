//! Stored records: framing, commits, index entries and their keys.
//!
//! Every stored value is framed: a magic byte, the format version, the
//! record kind, the blake3 hash of the payload, then the payload (bincode 2).
//! Reading checks all four before decoding, so a flipped or truncated byte
//! is reported as corruption, never decoded into a wrong answer.

use std::fmt;

use karma_core::tree::SnapshotRoots;
use karma_core::{ContentHash, Key, Name, OutputRef, Timestamp, Value};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};

/// The format version written into (and required of) every record.
/// 2: output references carry the resolution they were taken at.
/// 3: history index entries are grouped in checksummed chunks per series.
/// 4: objects are stored in packs.
/// 5: components are stored as their canonical encoding (varint lengths,
///    counts and integers), which their content hash covers.
pub(crate) const FORMAT: u8 = 5;
const MAGIC: u8 = b'K';
pub(crate) const HEADER: usize = 3 + 32;

/// What a stored record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum RecordKind {
    // 1 was a framed tree object, before objects went into packs.
    Commit = 2,
    CommitId = 3,
    Location = 4,
    ParamEntry = 5,
    LineageEntry = 6,
    Meta = 7,
    InitialParams = 8,
    Segment = 9,
    Chunk = 10,
    Pack = 11,
}

pub(crate) fn frame(kind: RecordKind, payload: &[u8]) -> Vec<u8> {
    frame_parts(kind, &[payload])
}

/// Frames the concatenation of `parts` without first joining them.
pub(crate) fn frame_parts(kind: RecordKind, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + parts.iter().map(|p| p.len()).sum::<usize>());
    out.extend_from_slice(&[MAGIC, FORMAT, kind as u8]);
    out.extend_from_slice(&[0; 32]);
    for part in parts {
        out.extend_from_slice(part);
    }
    let hash = blake3::hash(&out[HEADER..]);
    out[3..HEADER].copy_from_slice(hash.as_bytes());
    out
}

/// The payload of a framed `kind` record, after checking its magic byte,
/// format version, kind and checksum.
pub(crate) fn unframe(kind: RecordKind, bytes: &[u8]) -> Result<&[u8]> {
    let payload = unframe_unchecked(kind, bytes)?;
    if blake3::hash(payload).as_bytes() != &bytes[3..HEADER] {
        return Err(StoreError::corrupt(format!("a {kind:?} record fails its checksum")));
    }
    Ok(payload)
}

/// Like [`unframe`] without the checksum, for records whose content is
/// checked against content hashes after decoding.
pub(crate) fn unframe_unchecked(kind: RecordKind, bytes: &[u8]) -> Result<&[u8]> {
    if bytes.len() < HEADER || bytes[0] != MAGIC {
        return Err(StoreError::corrupt(format!("a {kind:?} record is truncated or not a record")));
    }
    if bytes[1] != FORMAT {
        return Err(StoreError::UnsupportedFormat { found: u32::from(bytes[1]), supported: u32::from(FORMAT) });
    }
    if bytes[2] != kind as u8 {
        return Err(StoreError::corrupt(format!("expected a {kind:?} record, found kind {}", bytes[2])));
    }
    Ok(&bytes[HEADER..])
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

pub(crate) fn encode<T: Serialize>(kind: RecordKind, value: &T) -> Result<Vec<u8>> {
    Ok(frame(kind, &encode_payload(value)?))
}

/// A value's bincode bytes, unframed (for records nested in a checksummed one).
pub(crate) fn encode_payload<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    Ok(bincode::serde::encode_to_vec(value, config()).map_err(|e| karma_core::Error::Codec(e.to_string()))?)
}

pub(crate) fn decode<T: DeserializeOwned>(kind: RecordKind, bytes: &[u8]) -> Result<T> {
    decode_payload(kind, unframe(kind, bytes)?)
}

/// Decodes the payload of a `kind` record (unframed, its checksum checked
/// by the record enclosing it).
pub(crate) fn decode_payload<T: DeserializeOwned>(kind: RecordKind, payload: &[u8]) -> Result<T> {
    let (value, read) = bincode::serde::decode_from_slice(payload, config())
        .map_err(|e| StoreError::corrupt(format!("a {kind:?} record does not decode: {e}")))?;
    if read != payload.len() {
        return Err(StoreError::corrupt(format!("a {kind:?} record has trailing bytes")));
    }
    Ok(value)
}

/// The identity of a commit: the blake3 hash of its record.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CommitId(pub ContentHash);

impl fmt::Display for CommitId {
    /// The first 16 hex digits, as people quote commits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_hex()[..16])
    }
}

impl fmt::Debug for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommitId({self})")
    }
}

/// A commit as stored (its id is the hash of this record).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CommitRecord {
    pub(crate) parents: Vec<CommitId>,
    pub(crate) roots: SnapshotRoots,
    pub(crate) timestamp: Timestamp,
    pub(crate) author: String,
    pub(crate) message: String,
    pub(crate) reference: String,
    pub(crate) seq: u64,
}

impl CommitRecord {
    pub(crate) fn id(&self) -> Result<CommitId> {
        let payload =
            bincode::serde::encode_to_vec(self, config()).map_err(|e| karma_core::Error::Codec(e.to_string()))?;
        Ok(CommitId(ContentHash::from_bytes(*blake3::hash(&payload).as_bytes())))
    }
}

/// One value a param took: what [`Repository::param_history`](crate::Repository::param_history) returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamChange {
    /// The commit that made the change.
    pub commit: CommitId,
    /// The commit's time.
    pub timestamp: Timestamp,
    /// The new value; `None` when the param (or its component) went away.
    pub value: Option<Value>,
}

/// What happened to a component in a commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LineageEventKind {
    /// It appeared.
    Created,
    /// It changed.
    Changed,
    /// It was removed.
    Removed,
}

/// One step of a component's lineage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineageEvent {
    /// The commit.
    pub commit: CommitId,
    /// The commit's time.
    pub timestamp: Timestamp,
    /// What happened.
    pub kind: LineageEventKind,
    /// The component's version after the commit (before it, for removals).
    pub version: u64,
    /// Its reference chain at that version: which producer outputs fed which
    /// of its params.
    pub references: Vec<(Name, OutputRef)>,
}

// ---- index keys ----

fn push_len_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

pub(crate) fn location_key(location: u64) -> [u8; 8] {
    location.to_be_bytes()
}

pub(crate) fn commit_key(id: &CommitId) -> Vec<u8> {
    let mut k = vec![b'C'];
    k.extend_from_slice(id.0.as_bytes());
    k
}

/// Orders timestamps (including negative ones) as unsigned big-endian bytes.
fn time_bytes(t: Timestamp) -> [u8; 8] {
    ((t.as_nanos() as u64) ^ (1 << 63)).to_be_bytes()
}

pub(crate) fn time_prefix(reference: &str) -> Vec<u8> {
    let mut k = vec![b'T'];
    push_len_prefixed(&mut k, reference.as_bytes());
    k
}

pub(crate) fn time_key(reference: &str, t: Timestamp, seq: u64) -> Vec<u8> {
    let mut k = time_prefix(reference);
    k.extend_from_slice(&time_bytes(t));
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The first key after every entry of `reference` at or before `t`.
pub(crate) fn time_upper(reference: &str, t: Timestamp) -> Vec<u8> {
    let mut k = time_prefix(reference);
    k.extend_from_slice(&time_bytes(t));
    k.extend_from_slice(&u64::MAX.to_be_bytes());
    k
}

pub(crate) fn param_prefix(key: &Key, param: &str) -> Vec<u8> {
    let mut k = vec![b'P'];
    push_len_prefixed(&mut k, key.as_str().as_bytes());
    push_len_prefixed(&mut k, param.as_bytes());
    k
}

pub(crate) fn initial_prefix(key: &Key) -> Vec<u8> {
    let mut k = vec![b'I'];
    push_len_prefixed(&mut k, key.as_str().as_bytes());
    k
}

/// A component's creation: its lineage event and the params it was created
/// with, in one record (an import writes one index row per component).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InitialParams {
    pub(crate) event: LineageEvent,
    pub(crate) params: Vec<(Name, Value)>,
}

/// The write sequence number at the end of an index key.
pub(crate) fn key_seq(key: &[u8]) -> Option<u64> {
    let tail = key.len().checked_sub(8).map(|at| &key[at..])?;
    Some(u64::from_be_bytes(tail.try_into().ok()?))
}

pub(crate) fn lineage_prefix(key: &Key) -> Vec<u8> {
    let mut k = vec![b'L'];
    push_len_prefixed(&mut k, key.as_str().as_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_detects_damage() {
        let rec = frame(RecordKind::Meta, b"hello");
        assert_eq!(unframe(RecordKind::Meta, &rec).unwrap(), b"hello");
        assert!(unframe(RecordKind::Commit, &rec).unwrap_err().is_corruption());
        for i in 0..rec.len() {
            let mut bad = rec.clone();
            bad[i] ^= 1;
            assert!(unframe(RecordKind::Meta, &bad).is_err(), "flip at {i} went unnoticed");
        }
        for n in 0..rec.len() {
            assert!(unframe(RecordKind::Meta, &rec[..n]).is_err() || n == rec.len());
        }
        let mut newer = rec.clone();
        newer[1] = FORMAT + 1;
        assert!(matches!(unframe(RecordKind::Meta, &newer), Err(StoreError::UnsupportedFormat { .. })));
    }

    #[test]
    fn time_keys_order_like_times() {
        let a = time_key("env/prod", Timestamp::from_nanos(-5), 9);
        let b = time_key("env/prod", Timestamp::from_nanos(3), 1);
        let c = time_key("env/prod", Timestamp::from_nanos(3), 2);
        assert!(a < b && b < c);
        assert!(c < time_upper("env/prod", Timestamp::from_nanos(3)));
        assert!(time_upper("env/prod", Timestamp::from_nanos(2)) < b);
    }
}
