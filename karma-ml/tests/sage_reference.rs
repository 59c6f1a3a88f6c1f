//! Every case of PyTorch Geometric's reference vectors
//! (`tests/data/sage_vectors.json`, see `tests/data/SOURCES.md`) reproduced
//! to 1e-5: the neighbour aggregates, both layers' outputs and the ReLU
//! between them.

use karma_ml::{Adjacency, Aggregation, Flow, Linear, Sage, SageConv};
use ndarray::{Array1, Array2};
use serde_json::Value as Json;

const TOLERANCE: f64 = 1e-5;

fn matrix(v: &Json) -> Array2<f32> {
    let rows: Vec<Vec<f32>> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect())
        .collect();
    let (n, d) = (rows.len(), rows.first().map_or(0, Vec::len));
    Array2::from_shape_vec((n, d), rows.into_iter().flatten().collect()).unwrap()
}

fn vector(v: &Json) -> Array1<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn close(name: &str, got: &Array2<f32>, want: &Json) {
    let want: Vec<Vec<f64>> = want
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect())
        .collect();
    assert_eq!(got.nrows(), want.len(), "{name}: rows");
    let mut worst = 0.0f64;
    for (i, row) in want.iter().enumerate() {
        assert_eq!(got.ncols(), row.len(), "{name}: columns");
        for (j, &w) in row.iter().enumerate() {
            worst = worst.max((f64::from(got[[i, j]]) - w).abs());
        }
    }
    assert!(worst <= TOLERANCE, "{name}: max abs error {worst:e} > {TOLERANCE:e}");
}

fn layer(case: &Json, prefix: &str) -> SageConv {
    let w = &case["weights"];
    let config = &case["config"];
    let aggregation = match config["aggr"].as_str().unwrap() {
        "mean" => Aggregation::Mean,
        "max" => Aggregation::Max,
        other => panic!("unknown aggregation {other}"),
    };
    let get = |name: &str| w.get(format!("{prefix}.{name}"));
    let lin_l = Linear::new(matrix(get("lin_l.weight").unwrap()), get("lin_l.bias").map(vector)).unwrap();
    let lin_r = get("lin_r.weight").map(|m| Linear::new(matrix(m), None).unwrap());
    let project = get("lin.weight").map(|m| Linear::new(matrix(m), get("lin.bias").map(vector)).unwrap());
    SageConv::from_weights(aggregation, config["normalize"].as_bool().unwrap(), lin_l, lin_r, project).unwrap()
}

#[test]
fn every_reference_case_to_1e_5() {
    let text = std::fs::read_to_string(format!("{}/tests/data/sage_vectors.json", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let doc: Json = serde_json::from_str(&text).unwrap();
    let n = doc["num_nodes"].as_u64().unwrap() as usize;
    let edges: Vec<(u32, u32)> = doc["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e[0].as_u64().unwrap() as u32, e[1].as_u64().unwrap() as u32))
        .collect();
    let x = matrix(&doc["features"]);
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let flow = match case["config"]["flow"].as_str().unwrap() {
            "source_to_target" => Flow::SourceToTarget,
            "target_to_source" => Flow::TargetToSource,
            other => panic!("unknown flow {other}"),
        };
        let adj = Adjacency::from_edges(n, &edges, flow).unwrap();
        let model = Sage { layers: vec![layer(case, "conv1"), layer(case, "conv2")] };
        let cache = model.forward_cached(x.view(), &adj).unwrap();
        close(&format!("{name} layer1 aggregate"), cache.layer(0).aggregate(), &case["layer1"]["neighbour_aggregate"]);
        close(&format!("{name} h1"), cache.layer(0).output(), &case["layer1"]["output_h1"]);
        close(&format!("{name} a1"), &cache.layer(0).output().mapv(|v| v.max(0.0)), &case["layer1"]["relu_a1"]);
        close(&format!("{name} layer2 aggregate"), cache.layer(1).aggregate(), &case["layer2"]["neighbour_aggregate"]);
        close(&format!("{name} h2"), cache.output(), &case["layer2"]["output_h2"]);
        // Inference without caches gives the same.
        close(&format!("{name} forward"), &model.forward(x.view(), &adj).unwrap(), &case["layer2"]["output_h2"]);
    }
}
