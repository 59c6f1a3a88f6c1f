//! Each layer's hand-derived backward pass against central finite
//! differences, for every layer configuration, through a two-layer model
//! (so the ReLU between layers is crossed too).

use karma_ml::{Adjacency, Aggregation, Flow, Rng, Sage, SageConfig};
use ndarray::Array2;

/// `L = Σ out ⊙ r`, so `∂L/∂out = r`.
fn loss(model: &Sage, x: &Array2<f32>, adj: &Adjacency, r: &Array2<f32>) -> f64 {
    let out = model.forward(x.view(), adj).unwrap();
    out.iter().zip(r.iter()).map(|(&o, &w)| f64::from(o) * f64::from(w)).sum()
}

fn check(config: SageConfig, seed: u64) {
    let mut rng = Rng::new(seed);
    let n = 10;
    // Random edges, one duplicated, one node left without in-neighbours.
    let mut edges: Vec<(u32, u32)> = (0..24).map(|_| (rng.below(n) as u32, 1 + rng.below(n - 1) as u32)).collect();
    edges.push(edges[0]);
    let adj = Adjacency::from_edges(n, &edges, Flow::SourceToTarget).unwrap();
    let x = Array2::from_shape_simple_fn((n, 5), || rng.symmetric(1.0));
    let r = Array2::from_shape_simple_fn((n, 3), || rng.symmetric(1.0));
    let mut model = Sage::new(&[5, 6, 3], config, seed).unwrap();
    // Non-zero biases, so that their gradients are exercised away from 0.
    let mut p = model.parameters();
    for v in &mut p {
        *v += rng.symmetric(0.1);
    }
    model.set_parameters(&p).unwrap();

    let cache = model.forward_cached(x.view(), &adj).unwrap();
    let grads = Sage::flatten_grads(&model.backward(&adj, &cache, r.view()));
    assert_eq!(grads.len(), p.len());
    let eps = 1e-3f32;
    let mut probe = model.clone();
    for k in 0..p.len() {
        let mut q = p.clone();
        q[k] = p[k] + eps;
        probe.set_parameters(&q).unwrap();
        let up = loss(&probe, &x, &adj, &r);
        q[k] = p[k] - eps;
        probe.set_parameters(&q).unwrap();
        let down = loss(&probe, &x, &adj, &r);
        let numeric = (up - down) / (2.0 * f64::from(eps));
        let analytic = f64::from(grads[k]);
        let tolerance = 2e-3 + 2e-2 * numeric.abs().max(analytic.abs());
        assert!((numeric - analytic).abs() <= tolerance, "{config:?} param {k}: analytic {analytic} numeric {numeric}");
    }
}

#[test]
fn mean() {
    for seed in 0..3 {
        check(SageConfig::default(), seed);
    }
}

#[test]
fn mean_normalised() {
    for seed in 0..3 {
        check(SageConfig { normalize: true, ..SageConfig::default() }, seed);
    }
}

#[test]
fn mean_without_root_or_bias() {
    check(SageConfig { root_weight: false, bias: false, ..SageConfig::default() }, 4);
}

#[test]
fn max_pool_with_projection() {
    for seed in 0..3 {
        check(SageConfig { aggregation: Aggregation::Max, project: true, ..SageConfig::default() }, seed);
    }
}
