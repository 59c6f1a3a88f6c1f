//! Full-graph inference (computed block by block of rows, the aggregate
//! never written out whole) against a naive per-node model in f64, and
//! against the training forward pass, on graphs of several blocks.

use karma_ml::{Adjacency, Aggregation, Flow, Linear, Rng, Sage, SageConfig, SageConv, Workspace};
use ndarray::{Array1, Array2};
use proptest::prelude::*;

/// `W v + b` in f64.
fn affine(l: &Linear, v: &[f64]) -> Vec<f64> {
    (0..l.outputs())
        .map(|o| {
            let dot: f64 = (0..l.inputs()).map(|i| f64::from(l.weight[[o, i]]) * v[i]).sum();
            dot + l.bias.as_ref().map_or(0.0, |b| f64::from(b[o]))
        })
        .collect()
}

/// One layer by its definition, node by node.
fn naive_layer(layer: &SageConv, x: &[Vec<f64>], adj: &Adjacency) -> Vec<Vec<f64>> {
    let messages: Vec<Vec<f64>> = match &layer.project {
        Some(p) => x.iter().map(|v| affine(p, v).into_iter().map(|m| m.max(0.0)).collect()).collect(),
        None => x.to_vec(),
    };
    let d = layer.inputs();
    (0..adj.len())
        .map(|i| {
            let nbs = adj.incoming(i);
            let agg: Vec<f64> = if nbs.is_empty() {
                vec![0.0; d]
            } else {
                match layer.aggregation {
                    Aggregation::Mean => (0..d)
                        .map(|f| nbs.iter().map(|&j| messages[j as usize][f]).sum::<f64>() / nbs.len() as f64)
                        .collect(),
                    Aggregation::Max => {
                        (0..d).map(|f| nbs.iter().map(|&j| messages[j as usize][f]).fold(f64::MIN, f64::max)).collect()
                    }
                }
            };
            let mut out = affine(&layer.lin_l, &agg);
            if let Some(r) = &layer.lin_r {
                for (o, v) in out.iter_mut().zip(affine(r, &x[i])) {
                    *o += v;
                }
            }
            if layer.normalize {
                let norm = out.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
                for v in &mut out {
                    *v /= norm;
                }
            }
            out
        })
        .collect()
}

fn random_bias(l: &mut Linear, rng: &mut Rng) {
    if l.bias.is_some() {
        l.bias = Some(Array1::from_shape_simple_fn(l.outputs(), || rng.symmetric(1.0)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn inference_matches_the_definition_and_the_training_pass(
        n in 0usize..2600,
        degree in 0usize..4,
        dims in prop::collection::vec(1usize..20, 2..4),
        max in any::<bool>(),
        normalize in any::<bool>(),
        root_weight in any::<bool>(),
        bias in any::<bool>(),
        project in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed);
        let edges: Vec<(u32, u32)> = if n == 0 {
            Vec::new()
        } else {
            (0..n * degree).map(|_| (rng.below(n) as u32, rng.below(n) as u32)).collect()
        };
        let adj = Adjacency::from_edges(n, &edges, Flow::SourceToTarget).unwrap();
        let aggregation = if max { Aggregation::Max } else { Aggregation::Mean };
        let config = SageConfig { aggregation, normalize, root_weight, bias, project };
        let mut model = Sage::new(&dims, config, seed).unwrap();
        for layer in &mut model.layers {
            random_bias(&mut layer.lin_l, &mut rng);
            if let Some(p) = &mut layer.project {
                random_bias(p, &mut rng);
            }
        }
        let x = Array2::from_shape_simple_fn((n, dims[0]), || rng.symmetric(1.0));

        let got = model.forward(x.view(), &adj).unwrap();
        let mut h: Vec<Vec<f64>> = x.rows().into_iter().map(|r| r.iter().map(|&v| f64::from(v)).collect()).collect();
        for (i, layer) in model.layers.iter().enumerate() {
            h = naive_layer(layer, &h, &adj);
            if i + 1 < model.layers.len() {
                for v in h.iter_mut().flatten() {
                    *v = v.max(0.0);
                }
            }
        }
        prop_assert_eq!(got.dim(), (n, *dims.last().unwrap()));
        for (row, want) in got.rows().into_iter().zip(&h) {
            for (&g, &w) in row.iter().zip(want) {
                prop_assert!((f64::from(g) - w).abs() <= 1e-4 * (1.0 + w.abs()), "{} against {}", g, w);
            }
        }
        // The same through a workspace that an inference of other sizes
        // left holding its numbers, and into an output that is not one
        // row-major stretch (a transposed view).
        let mut workspace = Workspace::default();
        let other = Sage::new(&[3, 23, 17, 5], config, seed ^ 1).unwrap();
        let m = n + 37;
        let other_edges: Vec<(u32, u32)> = (0..m * 2).map(|_| (rng.below(m) as u32, rng.below(m) as u32)).collect();
        let other_adj = Adjacency::from_edges(m, &other_edges, Flow::SourceToTarget).unwrap();
        let other_x = Array2::from_shape_simple_fn((m, 3), || rng.symmetric(1.0));
        other.forward_with(other_x.view(), &other_adj, &mut workspace).unwrap();
        prop_assert!(workspace.heap_bytes() > 0);
        prop_assert_eq!(&model.forward_with(x.view(), &adj, &mut workspace).unwrap(), &got);
        let mut transposed = Array2::from_elem((*dims.last().unwrap(), n), f32::NAN);
        model.forward_into(x.view(), &adj, &mut workspace, transposed.view_mut().reversed_axes()).unwrap();
        prop_assert_eq!(transposed.t(), got.view());
        let cached = model.forward_cached(x.view(), &adj).unwrap();
        for (g, c) in got.iter().zip(cached.output()) {
            prop_assert!((g - c).abs() <= 1e-5 * (1.0 + c.abs()), "{} against the training pass's {}", g, c);
        }
    }
}

#[test]
fn a_model_without_layers_is_a_typed_error() {
    let adj = Adjacency::from_edges(2, &[(0, 1)], Flow::SourceToTarget).unwrap();
    let x = Array2::zeros((2, 3));
    let empty = Sage { layers: Vec::new() };
    assert!(matches!(empty.forward(x.view(), &adj), Err(karma_ml::MlError::Invalid(_))));
    assert!(matches!(empty.forward_cached(x.view(), &adj), Err(karma_ml::MlError::Invalid(_))));
    let mut out = Array2::zeros((2, 2));
    let mut workspace = Workspace::default();
    assert!(matches!(
        empty.forward_into(x.view(), &adj, &mut workspace, out.view_mut()),
        Err(karma_ml::MlError::Invalid(_))
    ));
    // An output of the wrong shape is refused, and left as it was.
    let model = Sage::new(&[3, 4, 2], SageConfig::default(), 1).unwrap();
    let mut wrong = Array2::from_elem((2, 3), 7.0f32);
    assert!(matches!(
        model.forward_into(x.view(), &adj, &mut workspace, wrong.view_mut()),
        Err(karma_ml::MlError::Shape(_))
    ));
    assert_eq!(wrong, Array2::from_elem((2, 3), 7.0f32));
    // Layers whose sizes do not chain are refused too.
    let mut model = Sage::new(&[3, 4, 2], SageConfig::default(), 1).unwrap();
    model.layers[1] = Sage::new(&[5, 2], SageConfig::default(), 1).unwrap().layers.remove(0);
    assert!(matches!(model.forward(x.view(), &adj), Err(karma_ml::MlError::Shape(_))));
}
