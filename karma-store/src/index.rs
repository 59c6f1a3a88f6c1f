//! History indexes — param history, lineage, creations — stored as
//! checksummed chunks per series.
//!
//! A *series* is everything recorded about one thing: the values one param
//! of one component took (`P`), the lineage events of one component (`L`),
//! its creations with their initial params (`I`). Each entry is the commit's
//! write sequence number and a bincode payload. A commit writes its entries
//! as one *segment* (one sequential record); a merge regroups pending
//! segments into *chunks*: up to [`CHUNK`] entries of one series under the
//! key `series ++ first seq`, framed once. A param's history across 10,000
//! commits is then a handful of rows and checksums, not 10,000 of each.
//!
//! Both encodings are hand-rolled (little-endian lengths and seqs): serde
//! would encode each payload byte as a sequence element. A chunk's checksum
//! covers its series, and its key's seq must be its first entry's, so a
//! damaged key cannot pass one series' entries off as another's.

use karma_core::{ContentHash, Timestamp, Value};
use rayon::prelude::*;

use crate::error::{Result, StoreError};
use crate::record::{self, CommitId, ParamChange, RecordKind, key_seq};

/// Entries per chunk at most; a series with more spans several chunks.
pub(crate) const CHUNK: usize = 1024;

/// One index entry: which series, which commit (by write sequence), and
/// the entry's bincode payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub(crate) series: Vec<u8>,
    pub(crate) seq: u64,
    pub(crate) payload: Vec<u8>,
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("index entries are far below 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Reads what [`put_bytes`] and `u64::to_le_bytes` wrote, reporting any
/// shortfall as corruption of a `what`.
struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(StoreError::corrupt(format!("an index {} is truncated", self.what)));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"));
        self.take(len as usize)
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

/// A commit's entries as one framed segment record.
pub(crate) fn encode_segment(entries: &[IndexEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.iter().map(|e| 16 + e.series.len() + e.payload.len()).sum());
    for e in entries {
        put_bytes(&mut out, &e.series);
        out.extend_from_slice(&e.seq.to_le_bytes());
        put_bytes(&mut out, &e.payload);
    }
    record::frame(RecordKind::Segment, &out)
}

/// The entries of a segment record, checked against its checksum.
pub(crate) fn decode_segment(bytes: &[u8]) -> Result<Vec<IndexEntry>> {
    let mut r = Reader { rest: record::unframe(RecordKind::Segment, bytes)?, what: "segment" };
    let mut entries = Vec::new();
    while !r.is_empty() {
        let series = r.bytes()?.to_vec();
        let seq = r.u64()?;
        entries.push(IndexEntry { series, seq, payload: r.bytes()?.to_vec() });
    }
    Ok(entries)
}

/// The key of the entry `seq` of `series`, or of the chunk it starts.
pub(crate) fn entry_key(series: &[u8], seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(series.len() + 8);
    k.extend_from_slice(series);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Groups entries into chunk rows (key, framed value): by series, in seq
/// order, at most [`CHUNK`] to a row.
pub(crate) fn chunks(mut entries: Vec<IndexEntry>) -> Vec<(Vec<u8>, Vec<u8>)> {
    sort_entries(&mut entries);
    let mut groups = Vec::new();
    let mut rest = entries.as_slice();
    while let Some(first) = rest.first() {
        let same = rest.iter().take(CHUNK).take_while(|e| e.series == first.series).count();
        let (chunk, tail) = rest.split_at(same);
        groups.push(chunk);
        rest = tail;
    }
    let frame = |chunk: &[IndexEntry]| {
        let series = &chunk[0].series;
        let mut payload =
            Vec::with_capacity(4 + series.len() + chunk.iter().map(|e| 12 + e.payload.len()).sum::<usize>());
        put_bytes(&mut payload, series);
        for e in chunk {
            payload.extend_from_slice(&e.seq.to_le_bytes());
            put_bytes(&mut payload, &e.payload);
        }
        (entry_key(series, chunk[0].seq), record::frame(RecordKind::Chunk, &payload))
    };
    if groups.len() < PARALLEL_SORT {
        return groups.into_iter().map(frame).collect();
    }
    // Framed (checksummed) on both cores: an import frames a million rows.
    groups.into_par_iter().map(frame).collect()
}

/// Entries sorted (and chunks framed) on rayon's pool from this many.
const PARALLEL_SORT: usize = 4096;

/// Sorts entries by (series, seq). Each entry's series is a heap allocation
/// of its own, so the entries are ordered through the series' first 32
/// bytes (big-endian, zero-padded: ordered as the series are), comparing
/// whole entries only on ties, and on both cores: an import sorts a million.
fn sort_entries(entries: &mut Vec<IndexEntry>) {
    sort_entries_from(entries, PARALLEL_SORT);
}

/// [`sort_entries`], through prefixes on the pool from `parallel` entries.
fn sort_entries_from(entries: &mut Vec<IndexEntry>, parallel: usize) {
    if entries.len() < parallel {
        // Handing work to the pool from outside costs two thread switches.
        entries.sort_unstable_by(|a, b| (&a.series, a.seq).cmp(&(&b.series, b.seq)));
        return;
    }
    let prefix = |e: &IndexEntry| {
        let mut head = [0u8; 32];
        let n = e.series.len().min(32);
        head[..n].copy_from_slice(&e.series[..n]);
        let (hi, lo) = head.split_at(16);
        (u128::from_be_bytes(hi.try_into().expect("16 bytes")), u128::from_be_bytes(lo.try_into().expect("16 bytes")))
    };
    let mut order: Vec<((u128, u128), usize)> = entries.par_iter().map(prefix).zip(0..entries.len()).collect();
    order.par_sort_unstable_by(|a, b| {
        let (x, y) = (&entries[a.1], &entries[b.1]);
        a.0.cmp(&b.0).then_with(|| (&x.series, x.seq).cmp(&(&y.series, y.seq)))
    });
    let mut slots: Vec<Option<IndexEntry>> = entries.drain(..).map(Some).collect();
    entries.extend(order.into_iter().map(|(_, i)| slots[i].take().expect("each entry placed once")));
}

/// Calls `f` with each (seq, payload) of the chunk row of `series` under
/// `key`, whose record `payload` was unframed (checksum checked) by the
/// caller; checks the series and the key.
pub(crate) fn read_chunk<'a>(
    series: &[u8],
    key: &[u8],
    payload: &'a [u8],
    mut f: impl FnMut(u64, &'a [u8]) -> Result<()>,
) -> Result<()> {
    let mut r = Reader { rest: payload, what: "chunk" };
    if r.bytes()? != series || key.len() != series.len() + 8 || !key.starts_with(series) {
        return Err(StoreError::corrupt("an index chunk is stored under another series' key"));
    }
    let mut first = true;
    while !r.is_empty() {
        let seq = r.u64()?;
        if first && key_seq(key) != Some(seq) {
            return Err(StoreError::corrupt("an index chunk's key does not name its first entry"));
        }
        first = false;
        f(seq, r.bytes()?)?;
    }
    if first {
        return Err(StoreError::corrupt("an index chunk is empty"));
    }
    Ok(())
}

/// The series a chunk row's key belongs to (the key without its seq).
pub(crate) fn chunk_series(key: &[u8]) -> Result<&[u8]> {
    key.len().checked_sub(8).map(|at| &key[..at]).ok_or_else(|| StoreError::corrupt("an index chunk key is too short"))
}

// Tags of a param-history entry's value.
const NONE: u8 = 0;
const NULL: u8 = 1;
const FALSE: u8 = 2;
const TRUE: u8 = 3;
const INT: u8 = 4;
const FLOAT: u8 = 5;
const STRING: u8 = 6;
const OTHER: u8 = 7;

/// A param-history entry's payload: the commit id, the time, then the
/// value — a tag byte and the raw bytes for the scalar values params mostly
/// hold, bincode for the rest. Decoding through serde took ~90 ns an entry,
/// most of a 1 ms budget for a 10,000-entry history.
pub(crate) fn encode_param_change(change: &ParamChange) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(48);
    out.extend_from_slice(change.commit.0.as_bytes());
    out.extend_from_slice(&change.timestamp.as_nanos().to_le_bytes());
    match &change.value {
        None => out.push(NONE),
        Some(Value::Null) => out.push(NULL),
        Some(Value::Bool(b)) => out.push(if *b { TRUE } else { FALSE }),
        Some(Value::Int(i)) => {
            out.push(INT);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Some(Value::Float(x)) => {
            out.push(FLOAT);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        Some(Value::String(text)) => {
            out.push(STRING);
            out.extend_from_slice(text.as_bytes());
        }
        Some(other) => {
            out.push(OTHER);
            out.extend_from_slice(&record::encode_payload(other)?);
        }
    }
    Ok(out)
}

/// Reads what [`encode_param_change`] wrote.
pub(crate) fn decode_param_change(bytes: &[u8]) -> Result<ParamChange> {
    let bad = || StoreError::corrupt("a param history entry does not decode");
    if bytes.len() < 41 {
        return Err(bad());
    }
    let (head, rest) = bytes.split_at(41);
    let commit = CommitId(ContentHash::from_bytes(head[..32].try_into().expect("32 bytes")));
    let timestamp = Timestamp::from_nanos(i64::from_le_bytes(head[32..40].try_into().expect("8 bytes")));
    let word = || <[u8; 8]>::try_from(rest).map_err(|_| bad());
    let value = match head[40] {
        NONE if rest.is_empty() => None,
        NULL if rest.is_empty() => Some(Value::Null),
        FALSE if rest.is_empty() => Some(Value::Bool(false)),
        TRUE if rest.is_empty() => Some(Value::Bool(true)),
        INT => Some(Value::Int(i64::from_le_bytes(word()?))),
        FLOAT => Some(Value::Float(f64::from_bits(u64::from_le_bytes(word()?)))),
        STRING => Some(Value::String(std::str::from_utf8(rest).map_err(|_| bad())?.into())),
        OTHER => Some(record::decode_payload(RecordKind::ParamEntry, rest)?),
        _ => return Err(bad()),
    };
    Ok(ParamChange { commit, timestamp, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(series: &[u8], seq: u64, payload: &[u8]) -> IndexEntry {
        IndexEntry { series: series.to_vec(), seq, payload: payload.to_vec() }
    }

    fn read_all(series: &[u8], rows: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut out = Vec::new();
        for (k, v) in rows.iter().filter(|(k, _)| chunk_series(k).unwrap() == series) {
            read_chunk(series, k, record::unframe(RecordKind::Chunk, v)?, |seq, p| {
                out.push((seq, p.to_vec()));
                Ok(())
            })?;
        }
        Ok(out)
    }

    #[test]
    fn param_changes_round_trip_every_kind_of_value() {
        let values = [
            None,
            Some(Value::Null),
            Some(Value::Bool(false)),
            Some(Value::Bool(true)),
            Some(Value::Int(i64::MIN)),
            Some(Value::Float(-0.5)),
            Some(Value::Float(f64::INFINITY)),
            Some(Value::String("".into())),
            Some(Value::String("eu-west-1 — ünïcode".into())),
            Some(Value::List(vec![Value::Int(1), Value::String("x".into())])),
            Some(Value::reference("Database/db".parse().unwrap(), "url")),
        ];
        for (i, value) in values.into_iter().enumerate() {
            let change = ParamChange {
                commit: CommitId(ContentHash::from_bytes([i as u8; 32])),
                timestamp: Timestamp::from_nanos(-7 * i as i64),
                value,
            };
            let bytes = encode_param_change(&change).unwrap();
            assert_eq!(decode_param_change(&bytes).unwrap(), change);
            // Cut short or padded: an error, never a different value.
            for n in 0..bytes.len() {
                assert_ne!(decode_param_change(&bytes[..n]).ok().as_ref(), Some(&change));
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_ne!(decode_param_change(&longer).ok().as_ref(), Some(&change));
        }
        let nan = ParamChange { value: Some(Value::Float(f64::NAN)), ..decode_param_change(&[0; 41]).unwrap() };
        let back = decode_param_change(&encode_param_change(&nan).unwrap()).unwrap();
        assert!(matches!(back.value, Some(Value::Float(x)) if x.is_nan()));
    }

    #[test]
    fn segments_round_trip_and_detect_damage() {
        let entries = vec![entry(b"Pa", 3, b"x"), entry(b"Lb", 3, b""), entry(b"Pa", 3, b"longer payload")];
        let bytes = encode_segment(&entries);
        assert_eq!(decode_segment(&bytes).unwrap(), entries);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert!(decode_segment(&bad).is_err(), "flip at {i} went unnoticed");
        }
    }

    proptest::proptest! {
        /// The prefix sort orders as a plain sort of (series, seq) would,
        /// series sharing 32 bytes or more (decided on the whole series),
        /// one a prefix of another, or holding zero bytes included.
        #[test]
        fn entries_sort_as_a_plain_sort(
            raw in proptest::collection::vec(
                (0usize..4, proptest::collection::vec(0u8..3, 0..6), 0u64..4),
                0..60,
            )
        ) {
            let heads: [&[u8]; 4] = [b"", b"P", &[b'I'; 31], &[b'L'; 40]];
            let mut entries: Vec<IndexEntry> = raw
                .iter()
                .enumerate()
                .map(|(i, (h, tail, seq))| entry(&[heads[*h], tail].concat(), *seq, &i.to_le_bytes()))
                .collect();
            let mut expected = entries.clone();
            expected.sort_by(|a, b| (&a.series, a.seq).cmp(&(&b.series, b.seq)));
            sort_entries_from(&mut entries, 0);
            let key = |e: &IndexEntry| (e.series.clone(), e.seq);
            proptest::prop_assert_eq!(entries.iter().map(key).collect::<Vec<_>>(), expected.iter().map(key).collect::<Vec<_>>());
            // Nothing lost or duplicated: the payloads are a permutation.
            let mut payloads: Vec<_> = entries.iter().map(|e| e.payload.clone()).collect();
            payloads.sort();
            let mut original: Vec<_> = expected.iter().map(|e| e.payload.clone()).collect();
            original.sort();
            proptest::prop_assert_eq!(payloads, original);
        }
    }

    #[test]
    fn chunks_group_by_series_in_seq_order_and_split_long_series() {
        let mut entries: Vec<IndexEntry> =
            (0..CHUNK as u64 * 2 + 5).rev().map(|s| entry(b"Pa", s, &s.to_le_bytes())).collect();
        entries.push(entry(b"Pb", 7, b"b"));
        entries.push(entry(b"P", 1, b"short series"));
        let rows = chunks(entries);
        assert_eq!(rows.len(), 3 + 2);
        let a = read_all(b"Pa", &rows).unwrap();
        assert_eq!(a.len(), CHUNK * 2 + 5);
        assert!(a.iter().enumerate().all(|(i, (s, p))| *s == i as u64 && p == &s.to_le_bytes()));
        assert_eq!(read_all(b"Pb", &rows).unwrap(), vec![(7, b"b".to_vec())]);
        assert_eq!(read_all(b"P", &rows).unwrap(), vec![(1, b"short series".to_vec())]);
    }

    #[test]
    fn a_chunk_under_a_wrong_key_is_corruption() {
        let rows = chunks(vec![entry(b"Pa", 5, b"x"), entry(b"Pa", 9, b"y")]);
        let (key, value) = &rows[0];
        let read = |series: &[u8], key: &[u8], value: &[u8]| {
            read_chunk(series, key, record::unframe(RecordKind::Chunk, value)?, |_, _| Ok(()))
        };
        assert!(read(b"Pa", key, value).is_ok());
        assert!(read(b"Pb", &entry_key(b"Pb", 5), value).unwrap_err().is_corruption());
        assert!(read(b"Pa", &entry_key(b"Pa", 9), value).unwrap_err().is_corruption());
        let mut bad = value.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(read(b"Pa", key, &bad).unwrap_err().is_corruption());
    }
}
