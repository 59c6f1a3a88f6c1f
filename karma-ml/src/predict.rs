//! Which components will change (or drift) next: logistic regression on
//! feature rows (e.g. [`FeatureExtractor`](crate::FeatureExtractor) with
//! history columns), trained on one time window and judged on a later one.

use ndarray::{Array1, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::{MlError, Result};

/// A logistic-regression classifier, `p = σ(w·x + b)`, with standardised
/// inputs (the means and deviations of the training rows are kept).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    weights: Array1<f32>,
    bias: f32,
    mean: Array1<f32>,
    scale: Array1<f32>,
}

/// Precision and recall of predictions against what happened.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Of the predicted positives, the share that were positive.
    pub precision: f64,
    /// Of the positives, the share predicted.
    pub recall: f64,
    /// Their harmonic mean.
    pub f1: f64,
}

impl Scores {
    /// Scores of `predicted` against `actual`.
    pub fn of(predicted: &[bool], actual: &[bool]) -> Self {
        let tp = predicted.iter().zip(actual).filter(|(p, a)| **p && **a).count() as f64;
        let predicted_pos = predicted.iter().filter(|p| **p).count() as f64;
        let actual_pos = actual.iter().filter(|a| **a).count() as f64;
        let precision = if predicted_pos > 0.0 { tp / predicted_pos } else { 0.0 };
        let recall = if actual_pos > 0.0 { tp / actual_pos } else { 0.0 };
        let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        Self { precision, recall, f1 }
    }
}

impl Logistic {
    /// Fits by full-batch gradient descent on the log loss with L2 penalty
    /// `l2`, positives weighted to balance the classes.
    pub fn fit(x: ArrayView2<'_, f32>, y: &[bool], epochs: usize, learning_rate: f32, l2: f32) -> Result<Self> {
        if x.nrows() != y.len() || y.is_empty() {
            return Err(MlError::Shape(format!("{} rows for {} labels", x.nrows(), y.len())));
        }
        let n = x.nrows() as f32;
        let mean = x.mean_axis(ndarray::Axis(0)).expect("rows");
        let scale = x.var_axis(ndarray::Axis(0), 0.0).mapv(|v| v.sqrt().max(1e-6));
        let z = (&x - &mean) / &scale;
        let positives = y.iter().filter(|v| **v).count() as f32;
        let (w_pos, w_neg) = if positives > 0.0 && positives < n {
            (n / (2.0 * positives), n / (2.0 * (n - positives)))
        } else {
            (1.0, 1.0)
        };
        let mut weights = Array1::<f32>::zeros(x.ncols());
        let mut bias = 0.0f32;
        for _ in 0..epochs {
            let logits = z.dot(&weights) + bias;
            let residual: Array1<f32> = logits
                .iter()
                .zip(y)
                .map(|(&l, &t)| {
                    let p = 1.0 / (1.0 + (-l).exp());
                    (p - f32::from(u8::from(t))) * if t { w_pos } else { w_neg } / n
                })
                .collect();
            let grad = z.t().dot(&residual) + &weights * l2;
            weights.scaled_add(-learning_rate, &grad);
            bias -= learning_rate * residual.sum();
        }
        Ok(Self { weights, bias, mean, scale })
    }

    /// How many columns it reads.
    pub fn width(&self) -> usize {
        self.weights.len()
    }

    /// The probability for one row.
    pub fn probability(&self, row: ArrayView1<'_, f32>) -> f32 {
        let z = (&row - &self.mean) / &self.scale;
        1.0 / (1.0 + (-(z.dot(&self.weights) + self.bias)).exp())
    }

    /// Probabilities for every row.
    pub fn probabilities(&self, x: ArrayView2<'_, f32>) -> Vec<f32> {
        x.rows().into_iter().map(|r| self.probability(r)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn separates_a_linear_rule_and_scores() {
        let x = Array2::from_shape_fn((200, 2), |(i, j)| if j == 0 { (i % 10) as f32 } else { (i % 7) as f32 });
        let y: Vec<bool> = (0..200).map(|i| i % 10 >= 6).collect();
        let m = Logistic::fit(x.view(), &y, 500, 0.5, 0.0).unwrap();
        let predicted: Vec<bool> = m.probabilities(x.view()).iter().map(|&p| p > 0.5).collect();
        let s = Scores::of(&predicted, &y);
        assert!(s.precision > 0.95 && s.recall > 0.95, "{s:?}");
        let none = Scores::of(&[false, false], &[true, false]);
        assert_eq!((none.precision, none.recall), (0.0, 0.0));
    }
}
