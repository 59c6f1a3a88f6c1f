//! Packs: a commit's new objects stored together, a few KiB to a row, with
//! one checksum per pack.
//!
//! One redb row and one blake3 per object made a 1,000-change commit write
//! ~2,700 rows and hash each small record on its own, and a checkout read a
//! million rows. A pack's id comes from the backend's location sequence; the
//! object at position `i` of pack `p` is at location `p << 16 | i`, so a read
//! is one point lookup of the pack (cached while a snapshot loads).
//!
//! A pack record's payload: the object count (u32 LE), the end offset of
//! each object (u32 LE each, relative to the data), then the objects'
//! stored form (`TreeObject::encode_into`). Objects need no checksum of their own: the pack's covers
//! them, and `Snapshot::load` checks every content hash against the root.

use crate::error::{Result, StoreError};
use crate::record::{self, RecordKind};

/// The most bytes a commit's first pack record takes (unless one object
/// alone is larger), and its later packs. redb gives a value larger than a
/// 4 KiB page a region rounded up to a power of two, so a 4.4 KiB pack
/// takes 8: small commits (most of a repository's history) fill pages
/// whole, and large ones (imports, checkouts) read few rows. The limits
/// leave room for the row key and the page's own bookkeeping.
const FIRST_PACK_BYTES: usize = 4 * 1024 - 256;
const PACK_BYTES: usize = 32 * 1024 - 256;
const INDEX_BITS: u32 = 16;
const MAX_OBJECTS: usize = 1 << INDEX_BITS;

/// Where object `index` of pack `pack` lives.
fn object_location(pack: u64, index: usize) -> Result<u64> {
    if pack >> (64 - INDEX_BITS) != 0 {
        return Err(StoreError::corrupt("the location sequence has run out of pack ids"));
    }
    Ok(pack << INDEX_BITS | index as u64)
}

/// The pack holding `location`, and the object's position in it.
pub(crate) fn split_location(location: u64) -> (u64, usize) {
    (location >> INDEX_BITS, (location & (MAX_OBJECTS as u64 - 1)) as usize)
}

/// Gathers objects into packs as a commit writes them.
#[derive(Default)]
pub(crate) struct PackWriter {
    id: Option<u64>,
    ends: Vec<u32>,
    data: Vec<u8>,
    sealed: Vec<(u64, Vec<u8>)>,
}

impl PackWriter {
    /// Adds `object`, opening a new pack (with an id from `allocate`) when
    /// there is none or the current one is full; returns its location.
    pub(crate) fn add(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<()>,
        allocate: impl FnOnce() -> Result<u64>,
    ) -> Result<u64> {
        if self.ends.len() == MAX_OBJECTS {
            self.seal();
        }
        let start = self.data.len();
        if let Err(e) = encode(&mut self.data) {
            self.data.truncate(start);
            return Err(e);
        }
        let limit = if self.sealed.is_empty() { FIRST_PACK_BYTES } else { PACK_BYTES };
        if !self.ends.is_empty() && self.record_len() > limit {
            // It does not fit: it opens the next pack.
            let object = self.data.split_off(start);
            self.seal();
            self.data = object;
        }
        let id = match self.id {
            Some(id) => id,
            None => *self.id.insert(allocate()?),
        };
        let end = u32::try_from(self.data.len()).map_err(|_| StoreError::corrupt("an object is larger than 4 GiB"))?;
        self.ends.push(end);
        object_location(id, self.ends.len() - 1)
    }

    /// The size of the current pack's record with one more object.
    fn record_len(&self) -> usize {
        record::HEADER + 4 * (self.ends.len() + 2) + self.data.len()
    }

    /// Closes the current pack, if any, into a framed record.
    fn seal(&mut self) {
        let Some(id) = self.id.take() else { return };
        let count = u32::try_from(self.ends.len()).expect("at most 2^16 objects");
        let table: Vec<u8> = std::iter::once(count).chain(self.ends.drain(..)).flat_map(u32::to_le_bytes).collect();
        self.sealed.push((id, record::frame_parts(RecordKind::Pack, &[&table, &self.data])));
        self.data.clear();
    }

    /// Every pack written, as (pack id, record).
    pub(crate) fn finish(mut self) -> Vec<(u64, Vec<u8>)> {
        self.seal();
        self.sealed
    }
}

/// A pack read back, its checksum and offset table checked.
pub(crate) struct Pack {
    record: Vec<u8>,
    /// Where the data starts in `record`.
    data: usize,
    ends: Vec<u32>,
}

impl Pack {
    /// Checks (all of it, checksum included) and indexes a pack record.
    pub(crate) fn parse(record: Vec<u8>) -> Result<Self> {
        let payload = record::unframe(RecordKind::Pack, &record)?.len();
        Self::index(record, payload)
    }

    /// Indexes a pack record for a snapshot load, checking its framing and
    /// offset table but not its checksum: the load checks every object it
    /// reads against its content hash and the commit's Merkle root, so a
    /// damaged byte is caught there, and a pack fetched again after leaving
    /// the cache (a snapshot built by many commits reads their packs in
    /// scattered order) costs no second blake3 pass.
    pub(crate) fn parse_for_load(record: Vec<u8>) -> Result<Self> {
        let payload = record::unframe_unchecked(RecordKind::Pack, &record)?.len();
        Self::index(record, payload)
    }

    /// Reads the offset table of a record whose last `payload` bytes are
    /// its payload.
    fn index(record: Vec<u8>, payload_len: usize) -> Result<Self> {
        let payload = &record[record.len() - payload_len..];
        let bad = |what: &str| StoreError::corrupt(format!("a pack's {what} is damaged"));
        let word = |i: usize| -> Result<u32> {
            let bytes = payload.get(i * 4..i * 4 + 4).ok_or_else(|| bad("offset table"))?;
            Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
        };
        let count = word(0)? as usize;
        if count == 0 || count > MAX_OBJECTS {
            return Err(bad("object count"));
        }
        let ends = (1..=count).map(word).collect::<Result<Vec<u32>>>()?;
        let data_len = payload.len() - (count + 1) * 4;
        if !ends.is_sorted() || ends.last().map(|&e| e as usize) != Some(data_len) {
            return Err(bad("offset table"));
        }
        let data = record.len() - data_len;
        Ok(Self { record, data, ends })
    }

    /// The bytes of object `index`.
    pub(crate) fn object(&self, index: usize) -> Result<&[u8]> {
        let end = *self.ends.get(index).ok_or_else(|| {
            StoreError::corrupt(format!("a location names object {index} of a pack of {}", self.ends.len()))
        })? as usize;
        let start = index.checked_sub(1).map_or(0, |i| self.ends[i] as usize);
        Ok(&self.record[self.data + start..self.data + end])
    }

    /// The bytes it holds.
    pub(crate) fn size(&self) -> usize {
        self.record.len()
    }

    /// How many objects it holds.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(objects: &[String]) -> Vec<(u64, Vec<u8>)> {
        let mut next = 10;
        let mut w = PackWriter::default();
        for (i, o) in objects.iter().enumerate() {
            let location = w
                .add(
                    |out| {
                        out.extend_from_slice(o.as_bytes());
                        Ok(())
                    },
                    || {
                        next += 1;
                        Ok(next)
                    },
                )
                .unwrap();
            let (pack, index) = split_location(location);
            assert!(pack > 10 && index <= i);
        }
        w.finish()
    }

    #[test]
    fn objects_round_trip_across_packs() {
        let objects: Vec<String> = (0..3000).map(|i| "x".repeat(i % 97)).collect();
        let packs = write(&objects);
        assert!(packs.len() > 1, "3000 objects of ~50 bytes fill more than one pack");
        let mut read = Vec::new();
        for (_, record) in packs {
            let pack = Pack::parse(record).unwrap();
            for i in 0..pack.len() {
                read.push(String::from_utf8(pack.object(i).unwrap().to_vec()).unwrap());
            }
            assert!(pack.object(pack.len()).is_err());
        }
        assert_eq!(read, objects);
    }

    #[test]
    fn damage_is_detected() {
        let packs = write(&["a".to_string(), "bc".to_string()]);
        let record = &packs[0].1;
        for i in 0..record.len() {
            let mut bad = record.clone();
            bad[i] ^= 4;
            assert!(Pack::parse(bad).is_err(), "flip at {i} went unnoticed");
        }
        for n in 0..record.len() {
            assert!(Pack::parse(record[..n].to_vec()).is_err());
            assert!(Pack::parse_for_load(record[..n].to_vec()).is_err(), "cut at {n} went unnoticed");
        }
        // Without the checksum, a damaged object's bytes reach the loader
        // (whose content hashes catch them); the structure is still checked.
        let pack = Pack::parse_for_load(record.clone()).unwrap();
        assert_eq!(pack.object(1).unwrap(), Pack::parse(record.clone()).unwrap().object(1).unwrap());
    }
}
