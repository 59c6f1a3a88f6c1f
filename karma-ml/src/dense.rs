//! The dense products of the layers: `x Wᵀ` over row-major blocks.
//!
//! Products go through faer, whose x86 kernels are picked at run time
//! (AVX-512 where the CPU has it, else AVX2 + FMA, else portable code);
//! ndarray's matrixmultiply stops at AVX2. On the GraphSAGE bench's
//! `[100,000 × 64]·[64 × 64]` products faer's sequential kernel, run on
//! row blocks in parallel, took about half of ndarray's time (see
//! `docs/performance.md`). Callers parallelise over row blocks themselves,
//! so a block's product can run while its inputs are still in cache.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

/// Rows per parallel block of the products: 256 KiB of 64-wide rows.
pub(crate) const BLOCK_ROWS: usize = 1024;

/// `out = a · wᵀ`, or `out += a · wᵀ` when `accumulate`, on one thread.
///
/// `a` is `rows × k` and `out` is `rows × n`, both row-major slices; `w` is
/// `n × k` (torch's `[out, in]` layout) in standard layout.
///
/// # Panics
/// If the slices' lengths do not match `rows`, `k` and `n`.
pub(crate) fn mul_t_into(out: &mut [f32], a: &[f32], w: &[f32], n: usize, k: usize, accumulate: bool) {
    assert_eq!(w.len(), n * k, "weights of {n} × {k}");
    if n == 0 {
        return;
    }
    let rows = out.len() / n;
    assert_eq!(out.len(), rows * n, "output rows of {n}");
    assert_eq!(a.len(), rows * k, "{rows} input rows of {k}");
    if rows == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            out.fill(0.0);
        }
        return;
    }
    let dst = MatMut::from_row_major_slice_mut(out, rows, n);
    let lhs = MatRef::from_row_major_slice(a, rows, k);
    let rhs = MatRef::from_row_major_slice(w, n, k).transpose();
    let accum = if accumulate { Accum::Add } else { Accum::Replace };
    matmul(dst, accum, lhs, rhs, 1.0f32, Par::Seq);
}

/// `x · wᵀ` for every row of `x`, parallel over row blocks.
pub(crate) fn par_mul_t(x: ArrayView2<'_, f32>, w: ArrayView2<'_, f32>) -> Array2<f32> {
    let (rows, k) = x.dim();
    let n = w.nrows();
    assert_eq!(w.ncols(), k, "weights of {n} × {} for inputs of {k}", w.ncols());
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let w = w.as_standard_layout();
    let ws = w.as_slice().expect("standard layout");
    let mut out = vec![0.0f32; rows * n];
    if n > 0 {
        out.par_chunks_mut(BLOCK_ROWS * n).enumerate().for_each(|(b, block)| {
            let first = b * BLOCK_ROWS;
            let count = block.len() / n;
            mul_t_into(block, &xs[first * k..(first + count) * k], ws, n, k, false);
        });
    }
    Array2::from_shape_vec((rows, n), out).expect("sized")
}

/// Asks the CPU to bring `values` into cache ahead of their use: a hint,
/// one per 64-byte line; nothing elsewhere than on x86-64.
#[inline]
pub(crate) fn prefetch(values: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    for line in values.chunks(16) {
        // SAFETY: a prefetch never faults and never changes memory or
        // registers, whatever the address; this one is inside `values`,
        // a live borrow. SSE (and so `prefetcht0`) is part of x86-64's
        // baseline, so the instruction always exists.
        #[allow(unsafe_code)]
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(line.as_ptr().cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = values;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The product by definition, in f64.
    fn naive(a: &[f32], w: &[f32], rows: usize, n: usize, k: usize) -> Vec<f64> {
        let mut out = vec![0.0f64; rows * n];
        for r in 0..rows {
            for c in 0..n {
                out[r * n + c] = (0..k).map(|i| f64::from(a[r * k + i]) * f64::from(w[c * k + i])).sum();
            }
        }
        out
    }

    fn close(got: &[f32], want: &[f64], k: usize) -> bool {
        got.len() == want.len()
            && got.iter().zip(want).all(|(&g, &w)| (f64::from(g) - w).abs() <= 1e-5 * (k as f64 + 1.0))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn products_match_the_definition(
            rows in 0usize..40,
            n in 0usize..20,
            k in 0usize..20,
            seed in any::<u64>(),
            accumulate in any::<bool>(),
        ) {
            let mut rng = crate::Rng::new(seed);
            let a: Vec<f32> = (0..rows * k).map(|_| rng.symmetric(1.0)).collect();
            let w: Vec<f32> = (0..n * k).map(|_| rng.symmetric(1.0)).collect();
            let start: Vec<f32> = (0..rows * n).map(|_| rng.symmetric(1.0)).collect();
            let mut out = start.clone();
            mul_t_into(&mut out, &a, &w, n, k, accumulate);
            let mut want = naive(&a, &w, rows, n, k);
            if accumulate {
                for (w, &s) in want.iter_mut().zip(&start) {
                    *w += f64::from(s);
                }
            }
            prop_assert!(close(&out, &want, k), "{out:?} against {want:?}");
        }
    }

    #[test]
    fn parallel_blocks_cover_every_row() {
        // More rows than one block, and a last block that is not full.
        let (rows, n, k) = (BLOCK_ROWS * 2 + 37, 5, 3);
        let mut rng = crate::Rng::new(9);
        let x = Array2::from_shape_simple_fn((rows, k), || rng.symmetric(1.0));
        let w = Array2::from_shape_simple_fn((n, k), || rng.symmetric(1.0));
        let got = par_mul_t(x.view(), w.view());
        let want = naive(x.as_slice().unwrap(), w.as_slice().unwrap(), rows, n, k);
        assert!(close(got.as_slice().unwrap(), &want, k));
        // A transposed (non-standard) view gives the same as its copy.
        let xt = x.t().to_owned();
        let got_t = par_mul_t(xt.t(), w.view());
        assert_eq!(got_t, got);
    }
}
