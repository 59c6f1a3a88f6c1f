//! The export re-read and checked value by value: the `.npz` through a
//! small zip and `.npy` reader written here (CRC-checked), the JSON Lines
//! through serde.

use std::collections::BTreeMap;

use karma_core::{Component, EdgeKind, Graph, ManualClock, Timestamp};
use karma_ml::{FeatureConfig, FeatureExtractor, Splits, export};
use karma_query::View;

/// name → (descr, shape, data bytes) for every array of an `.npz`.
fn read_npz(bytes: &[u8]) -> BTreeMap<String, (String, Vec<usize>, Vec<u8>)> {
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]) as usize;
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
    let end = bytes.len() - 22;
    assert_eq!(u32_at(end), 0x0605_4b50, "end of central directory");
    let (count, mut at) = (u16_at(end + 10), u32_at(end + 16));
    let mut out = BTreeMap::new();
    for _ in 0..count {
        assert_eq!(u32_at(at), 0x0201_4b50);
        let crc = u32_at(at + 16) as u32;
        let size = u32_at(at + 24);
        let name_len = u16_at(at + 28);
        let local = u32_at(at + 42);
        let name = String::from_utf8(bytes[at + 46..at + 46 + name_len].to_vec()).unwrap();
        at += 46 + name_len + u16_at(at + 30) + u16_at(at + 32);
        assert_eq!(u32_at(local), 0x0403_4b50);
        let data_at = local + 30 + u16_at(local + 26) + u16_at(local + 28);
        let data = &bytes[data_at..data_at + size];
        assert_eq!(crc32fast::hash(data), crc, "{name}: CRC");
        // .npy: magic, version 1.0, header length, the header dict, data.
        assert_eq!(&data[..8], b"\x93NUMPY\x01\x00");
        let header_len = u16::from_le_bytes([data[8], data[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0, "{name}: aligned");
        let header = std::str::from_utf8(&data[10..10 + header_len]).unwrap();
        let descr = header.split("'descr': '").nth(1).unwrap().split('\'').next().unwrap().to_string();
        let shape: Vec<usize> = header
            .split("'shape': (")
            .nth(1)
            .unwrap()
            .split(')')
            .next()
            .unwrap()
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        out.insert(name.trim_end_matches(".npy").to_string(), (descr, shape, data[10 + header_len..].to_vec()));
    }
    out
}

fn i64s(bytes: &[u8]) -> Vec<i64> {
    bytes.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()
}

#[test]
fn export_reread_value_by_value() {
    let clock = ManualClock::new(Timestamp::from_secs(0));
    let mut g = Graph::with_clock(clock.clone());
    for i in 0..40 {
        clock.set(Timestamp::from_secs(i * 60));
        let kind = ["Service", "Database"][i as usize % 2];
        g.insert(
            Component::new(kind, &format!("c{i}"))
                .unwrap()
                .with_param("replicas", i % 5)
                .with_param("image", format!("img{}", i % 3)),
        )
        .unwrap();
    }
    for i in 2..40 {
        let kind = ["Service", "Database"][i % 2];
        let target = ["Service", "Database"][(i / 2) % 2];
        let edge = if i % 3 == 0 { EdgeKind::custom("network") } else { EdgeKind::DependsOn };
        g.connect(format!("{kind}/c{i}").as_str(), format!("{target}/c{}", i / 2).as_str(), edge, []).unwrap();
    }
    let now = g.snapshot();
    let mut later = g.clone();
    later.set_param("Service/c4", "replicas", 9).unwrap();
    later.set_param("Database/c7", "image", "img9").unwrap();
    later.observe("Service/c10", "replicas", 77).unwrap(); // drifts
    let next = later.snapshot();
    let extractor = FeatureExtractor::fit(&now, FeatureConfig { hash_width: 8, seed: 1, labels: true });
    let dir = tempfile::tempdir().unwrap();
    let summary = export(dir.path(), &now, Some(&next), &extractor, Splits::default()).unwrap();
    assert_eq!((summary.nodes, summary.edges, summary.changed_next, summary.drifted_next), (40, 38, 2, 1));

    let arrays = read_npz(&std::fs::read(dir.path().join("graph.npz")).unwrap());
    let view = View::new(&now);
    let x = extractor.transform(&view, None).unwrap();
    let (descr, shape, data) = &arrays["x"];
    assert_eq!((descr.as_str(), shape.as_slice()), ("<f4", &[40, extractor.width()][..]));
    let floats: Vec<f32> = data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(floats, x.iter().copied().collect::<Vec<_>>(), "features value by value");
    let (_, shape, data) = &arrays["edge_index"];
    assert_eq!(shape, &[2, 38]);
    let index = i64s(data);
    for e in 0..38 {
        let (a, b) = (index[e] as u32, index[38 + e] as u32);
        assert!(view.dependencies_of(a).any(|(t, _)| t == b), "edge {a} -> {b}");
    }
    let changed = i64s(&arrays["y_changed_next"].2);
    for key in ["Service/c4", "Database/c7"] {
        assert_eq!(changed[view.id(&key.parse().unwrap()).unwrap() as usize], 1, "{key}");
    }
    assert_eq!(changed.iter().sum::<i64>(), 2);
    assert_eq!(i64s(&arrays["y_drifted_next"].2)[view.id(&"Service/c10".parse().unwrap()).unwrap() as usize], 1);
    let kinds = i64s(&arrays["y_kind"].2);
    assert_eq!(kinds[view.id(&"Database/c7".parse().unwrap()).unwrap() as usize], 0, "kinds sorted: Database first");
    // Splits partition the nodes, oldest in training.
    let masks: Vec<Vec<u8>> = ["train_mask", "val_mask", "test_mask"].iter().map(|m| arrays[*m].2.clone()).collect();
    assert!((0..40).all(|i| masks.iter().map(|m| m[i]).sum::<u8>() == 1));
    assert_eq!(masks[0].iter().map(|&v| usize::from(v)).sum::<usize>(), 28);
    assert_eq!(masks[0][view.id(&"Service/c0".parse().unwrap()).unwrap() as usize], 1);
    assert_eq!(masks[2][view.id(&"Database/c39".parse().unwrap()).unwrap() as usize], 1);

    // JSON Lines agree with the arrays.
    let nodes = std::fs::read_to_string(dir.path().join("nodes.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = nodes.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 40);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["key"].as_str().unwrap(), view.key(i as u32).as_str());
        let features: Vec<f32> =
            line["features"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        assert_eq!(features, x.row(i).to_vec());
        assert_eq!(line["y_changed_next"].as_i64().unwrap(), changed[i]);
    }
    let edges = std::fs::read_to_string(dir.path().join("edges.jsonl")).unwrap();
    assert_eq!(edges.lines().count(), 38);
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["feature_names"].as_array().unwrap().len(), extractor.width());
}
