//! Training data for Python ML: a graph's node features (with column
//! names), edge index and types, labels and time-based splits, as a numpy
//! `.npz` and as JSON Lines, streamed in bounded memory.
//!
//! Load it into PyTorch Geometric (see `docs/guide-ml-export.md`):
//!
//! ```text
//! import numpy as np, torch
//! from torch_geometric.data import Data
//! d = {k: torch.from_numpy(v) for k, v in np.load("graph.npz").items()}
//! data = Data(x=d["x"], edge_index=d["edge_index"], edge_type=d["edge_type"], y=d["y_changed_next"],
//!             train_mask=d["train_mask"], val_mask=d["val_mask"], test_mask=d["test_mask"])
//! ```

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use karma_core::{ComponentChange, Key, Snapshot};
use karma_query::View;
use serde::Serialize;

use crate::drift::{Tolerance, declared_vs_observed};
use crate::features::FeatureExtractor;

/// Rows written per streamed chunk.
const CHUNK: usize = 65_536;

/// The shares of components (oldest first, by creation time) in the
/// training and validation sets; the rest is the test set.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Splits {
    /// Share for training.
    pub train: f64,
    /// Share for validation.
    pub validation: f64,
}

impl Default for Splits {
    fn default() -> Self {
        Self { train: 0.7, validation: 0.15 }
    }
}

/// What was written.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExportSummary {
    /// Nodes (rows).
    pub nodes: usize,
    /// Edges.
    pub edges: usize,
    /// Feature columns.
    pub features: usize,
    /// Nodes labelled changed in the next state.
    pub changed_next: usize,
    /// Nodes that drift in the next state.
    pub drifted_next: usize,
}

/// Writes `dir/graph.npz`, `dir/nodes.jsonl`, `dir/edges.jsonl` and
/// `dir/meta.json` for `snapshot`, labelled against `next` (the state that
/// followed, when known): `y_changed_next` (params, outputs, labels or
/// name changed, or removed, in `next`; runtime observations do not count),
/// `y_drifted_next` (a runtime value disagreeing with its param in
/// `next`), `y_kind` (index into `meta.json`'s kinds). Splits are by
/// creation time: the oldest components train, the newest test.
///
/// Arrays in the `.npz`: `x` (f32, nodes × features), `edge_index` (i64,
/// 2 × edges, row 0 the dependent, row 1 its dependency), `edge_type` (i64,
/// index into `meta.json`'s edge types), `y_kind`, `y_changed_next`,
/// `y_drifted_next` (i64), `train_mask`, `val_mask`, `test_mask` (bool).
/// Features are computed and written a chunk of rows at a time.
pub fn export(
    dir: &Path,
    snapshot: &Snapshot,
    next: Option<&Snapshot>,
    extractor: &FeatureExtractor,
    splits: Splits,
) -> io::Result<ExportSummary> {
    std::fs::create_dir_all(dir)?;
    let view = View::new(snapshot);
    let n = view.len();
    let (changed, drifted) = next_labels(snapshot, next, &view);
    let kinds = extractor.kinds();
    let y_kind: Vec<i64> =
        (0..n as u32).map(|i| kinds.binary_search(view.kind(i)).map_or(kinds.len() as i64, |k| k as i64)).collect();
    let split = time_splits(&view, splits);
    let (edges, edge_types) = typed_edges(&view);
    let data = Data {
        view: &view,
        extractor,
        y_kind: &y_kind,
        changed: &changed,
        drifted: &drifted,
        split: &split,
        edges: &edges,
    };
    data.write_npz(&dir.join("graph.npz"))?;
    data.write_jsonl(dir, &edge_types)?;
    let meta = serde_json::json!({
        "feature_names": extractor.feature_names(),
        "kinds": kinds.iter().map(karma_core::SmolStr::as_str).chain(["<unknown>"]).collect::<Vec<_>>(),
        "edge_types": edge_types,
        "edge_direction": "edge_index[0] depends on edge_index[1]",
        "splits": {"by": "creation time", "train": splits.train, "validation": splits.validation},
    });
    std::fs::write(dir.join("meta.json"), serde_json::to_vec_pretty(&meta)?)?;
    Ok(ExportSummary {
        nodes: n,
        edges: edges.len(),
        features: extractor.width(),
        changed_next: changed.iter().filter(|&&v| v == 1).count(),
        drifted_next: drifted.iter().filter(|&&v| v == 1).count(),
    })
}

/// `y_changed_next` and `y_drifted_next` per view id.
fn next_labels(snapshot: &Snapshot, next: Option<&Snapshot>, view: &View) -> (Vec<i64>, Vec<i64>) {
    let Some(next) = next else { return (vec![0; view.len()], vec![0; view.len()]) };
    let changed: BTreeSet<Key> = snapshot
        .diff(next)
        .components
        .iter()
        .filter_map(|c| match c {
            // Declared content only: a new runtime observation is not a change.
            ComponentChange::Changed(d)
                if !d.params.is_empty()
                    || !d.outputs.is_empty()
                    || !d.labels.is_empty()
                    || d.name.before != d.name.after =>
            {
                Some(d.key.clone())
            }
            ComponentChange::Removed(c) => Some(c.key().clone()),
            ComponentChange::Changed(_) | ComponentChange::Added(_) => None,
        })
        .collect();
    let drifted: BTreeSet<Key> = declared_vs_observed(next, &Tolerance::default()).into_iter().map(|d| d.key).collect();
    let label = |set: &BTreeSet<Key>| -> Vec<i64> {
        (0..view.len() as u32).map(|i| i64::from(set.contains(view.key(i)))).collect()
    };
    (label(&changed), label(&drifted))
}

/// 0 train, 1 validation, 2 test, by creation time (then key).
fn time_splits(view: &View, splits: Splits) -> Vec<u8> {
    let n = view.len();
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by_key(|&i| (view.component(i).created(), view.key(i).clone()));
    let train_end = (splits.train * n as f64).round() as usize;
    let val_end = ((splits.train + splits.validation) * n as f64).round() as usize;
    let mut split = vec![2u8; n];
    for (rank, &i) in order.iter().enumerate() {
        split[i as usize] = if rank < train_end {
            0
        } else if rank < val_end.min(n) {
            1
        } else {
            2
        };
    }
    split
}

/// Every edge as (dependent, dependency, type index), and the type names.
fn typed_edges(view: &View) -> (Vec<(u32, u32, i64)>, Vec<String>) {
    let mut types: Vec<String> = Vec::new();
    let mut edges = Vec::new();
    for a in 0..view.len() as u32 {
        for (b, kind) in view.dependencies_of(a) {
            let t = if let Some(t) = types.iter().position(|k| k == kind) {
                t
            } else {
                types.push(kind.to_string());
                types.len() - 1
            };
            edges.push((a, b, t as i64));
        }
    }
    (edges, types)
}

/// What an export writes, gathered.
struct Data<'a> {
    view: &'a View,
    extractor: &'a FeatureExtractor,
    y_kind: &'a [i64],
    changed: &'a [i64],
    drifted: &'a [i64],
    split: &'a [u8],
    edges: &'a [(u32, u32, i64)],
}

fn i64_bytes(values: impl Iterator<Item = i64>) -> Vec<u8> {
    values.flat_map(i64::to_le_bytes).collect()
}

impl Data<'_> {
    /// Feature rows `start..start + CHUNK`.
    fn rows(&self, start: usize) -> io::Result<ndarray::Array2<f32>> {
        let end = (start + CHUNK).min(self.view.len());
        self.extractor
            .transform_range(self.view, start..end, None)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
    }

    fn write_npz(&self, path: &Path) -> io::Result<()> {
        let n = self.view.len();
        let mut zip = ZipWriter::new(BufWriter::new(File::create(path)?));
        zip.start("x.npy")?;
        zip.write(&npy_header("<f4", &[n, self.extractor.width()]))?;
        for start in (0..n).step_by(CHUNK) {
            let bytes: Vec<u8> = self.rows(start)?.iter().flat_map(|v| v.to_le_bytes()).collect();
            zip.write(&bytes)?;
        }
        zip.finish_entry()?;
        zip.start("edge_index.npy")?;
        zip.write(&npy_header("<i8", &[2, self.edges.len()]))?;
        zip.write(&i64_bytes(self.edges.iter().map(|e| i64::from(e.0))))?;
        zip.write(&i64_bytes(self.edges.iter().map(|e| i64::from(e.1))))?;
        zip.finish_entry()?;
        let types: Vec<i64> = self.edges.iter().map(|e| e.2).collect();
        for (name, values) in [
            ("edge_type", &types[..]),
            ("y_kind", self.y_kind),
            ("y_changed_next", self.changed),
            ("y_drifted_next", self.drifted),
        ] {
            zip.start(&format!("{name}.npy"))?;
            zip.write(&npy_header("<i8", &[values.len()]))?;
            zip.write(&i64_bytes(values.iter().copied()))?;
            zip.finish_entry()?;
        }
        for (name, which) in [("train_mask", 0u8), ("val_mask", 1), ("test_mask", 2)] {
            zip.start(&format!("{name}.npy"))?;
            zip.write(&npy_header("|b1", &[n]))?;
            zip.write(&self.split.iter().map(|&s| u8::from(s == which)).collect::<Vec<u8>>())?;
            zip.finish_entry()?;
        }
        zip.close()
    }

    fn write_jsonl(&self, dir: &Path, edge_types: &[String]) -> io::Result<()> {
        let mut nodes = BufWriter::new(File::create(dir.join("nodes.jsonl"))?);
        for start in (0..self.view.len()).step_by(CHUNK) {
            for (offset, row) in self.rows(start)?.outer_iter().enumerate() {
                let i = start + offset;
                let split_name = ["train", "val", "test"][self.split[i] as usize];
                let line = serde_json::json!({
                    "id": i,
                    "key": self.view.key(i as u32).as_str(),
                    "kind": self.view.kind(i as u32).as_str(),
                    "features": row.to_vec(),
                    "y_kind": self.y_kind[i],
                    "y_changed_next": self.changed[i],
                    "y_drifted_next": self.drifted[i],
                    "split": split_name,
                });
                serde_json::to_writer(&mut nodes, &line)?;
                nodes.write_all(b"\n")?;
            }
        }
        nodes.flush()?;
        let mut out = BufWriter::new(File::create(dir.join("edges.jsonl"))?);
        for &(a, b, t) in self.edges {
            let line = serde_json::json!({"source": a, "target": b, "type": edge_types[t as usize]});
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }
}

/// A `.npy` (version 1.0) header for a C-order array of `dtype` and `shape`,
/// padded so the data starts on a 64-byte boundary.
pub(crate) fn npy_header(dtype: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut dict = format!("{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape}, }}");
    let unpadded = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// A minimal zip writer: stored (uncompressed) entries, sizes and CRC in a
/// data descriptor after each entry, so entries stream.
struct ZipWriter<W: Write> {
    out: W,
    offset: u64,
    entries: Vec<(String, u32, u64, u64)>,
    current: Option<(String, crc32fast::Hasher, u64, u64)>,
}

impl<W: Write> ZipWriter<W> {
    fn new(out: W) -> Self {
        Self { out, offset: 0, entries: Vec::new(), current: None }
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    fn start(&mut self, name: &str) -> io::Result<()> {
        let header_at = self.offset;
        let mut h = Vec::with_capacity(30 + name.len());
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&20u16.to_le_bytes()); // version needed
        h.extend_from_slice(&0x0008u16.to_le_bytes()); // sizes in a data descriptor
        h.extend_from_slice(&0u16.to_le_bytes()); // stored
        h.extend_from_slice(&[0, 0, 0x21, 0]); // time 00:00, date 1980-01-01
        h.extend_from_slice(&[0; 12]); // crc, sizes: in the descriptor
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        self.put(&h)?;
        self.current = Some((name.to_string(), crc32fast::Hasher::new(), 0, header_at));
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let (_, crc, size, _) = self.current.as_mut().expect("an entry is open");
        crc.update(bytes);
        *size += bytes.len() as u64;
        self.put(bytes)
    }

    fn finish_entry(&mut self) -> io::Result<()> {
        let (name, crc, size, at) = self.current.take().expect("an entry is open");
        let crc = crc.finalize();
        let size32 = u32::try_from(size).map_err(|_| io::Error::other("an array over 4 GiB (zip64 is not written)"))?;
        let mut d = Vec::with_capacity(16);
        d.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
        d.extend_from_slice(&crc.to_le_bytes());
        d.extend_from_slice(&size32.to_le_bytes());
        d.extend_from_slice(&size32.to_le_bytes());
        self.put(&d)?;
        self.entries.push((name, crc, size, at));
        Ok(())
    }

    fn close(mut self) -> io::Result<()> {
        let directory_at = self.offset;
        let entries = std::mem::take(&mut self.entries);
        for (name, crc, size, at) in &entries {
            let mut c = Vec::with_capacity(46 + name.len());
            c.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            c.extend_from_slice(&20u16.to_le_bytes()); // made by
            c.extend_from_slice(&20u16.to_le_bytes()); // needed
            c.extend_from_slice(&0x0008u16.to_le_bytes());
            c.extend_from_slice(&0u16.to_le_bytes());
            c.extend_from_slice(&[0, 0, 0x21, 0]);
            c.extend_from_slice(&crc.to_le_bytes());
            c.extend_from_slice(&(*size as u32).to_le_bytes());
            c.extend_from_slice(&(*size as u32).to_le_bytes());
            c.extend_from_slice(&(name.len() as u16).to_le_bytes());
            c.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attributes
            c.extend_from_slice(&0u32.to_le_bytes()); // external attributes
            let offset =
                u32::try_from(*at).map_err(|_| io::Error::other("an archive over 4 GiB (zip64 is not written)"))?;
            c.extend_from_slice(&offset.to_le_bytes());
            c.extend_from_slice(name.as_bytes());
            self.put(&c)?;
        }
        let size = self.offset - directory_at;
        let mut e = Vec::with_capacity(22);
        e.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        e.extend_from_slice(&[0; 4]);
        e.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        e.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        e.extend_from_slice(&(size as u32).to_le_bytes());
        e.extend_from_slice(&(directory_at as u32).to_le_bytes());
        e.extend_from_slice(&0u16.to_le_bytes());
        self.put(&e)?;
        self.out.flush()
    }
}
