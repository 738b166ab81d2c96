//! Z-score normalisation with the **LR frame's** statistics, applied to LR and HR alike. The HR
//! image's statistics are never used: in a sparse acquisition they do not exist (the original scripts
//! used them, a leak).

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

/// `z = (h − mean_m) / std_m` with mean and standard deviation of the LR frame, metres.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalizer {
    /// Mean height of the LR frame, metres.
    pub mean_m: f64,
    /// Standard deviation of the LR frame's heights, metres (1 when the frame is flat).
    pub std_m: f64,
}

/// Error when the LR frame cannot define a normalisation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NormalizeError {
    /// The frame is empty or holds NaN/∞.
    #[error("the LR frame is empty or holds non-finite heights: cannot normalise")]
    NonFinite,
}

impl Normalizer {
    /// Statistics of the LR frame (population standard deviation). A flat frame gets std 1.
    pub fn from_lr(lr: ArrayView2<f32>) -> Result<Self, NormalizeError> {
        let n = lr.len() as f64;
        if lr.is_empty() || lr.iter().any(|v| !v.is_finite()) {
            return Err(NormalizeError::NonFinite);
        }
        let mean_m = lr.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = lr.iter().map(|&v| (v as f64 - mean_m).powi(2)).sum::<f64>() / n;
        let std_m = if var > 0.0 { var.sqrt() } else { 1.0 };
        Ok(Self { mean_m, std_m })
    }

    /// Heights in metres → normalised.
    pub fn normalize(&self, image: ArrayView2<f32>) -> Array2<f32> {
        image.mapv(|v| ((v as f64 - self.mean_m) / self.std_m) as f32)
    }

    /// Normalised → heights in metres.
    pub fn denormalize(&self, image: ArrayView2<f32>) -> Array2<f32> {
        image.mapv(|v| (v as f64 * self.std_m + self.mean_m) as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn statistics_come_from_the_lr_frame_and_round_trip() {
        let lr = array![[1e-9f32, 3e-9], [1e-9, 3e-9]];
        let n = Normalizer::from_lr(lr.view()).unwrap();
        assert!((n.mean_m - 2e-9).abs() < 1e-16 && (n.std_m - 1e-9).abs() < 1e-16);
        let hr = array![[5e-9f32]];
        assert!((n.normalize(hr.view())[[0, 0]] - 3.0).abs() < 1e-5);
        let back = n.denormalize(n.normalize(hr.view()).view());
        assert!((back[[0, 0]] - 5e-9).abs() < 1e-15);
        assert_eq!(Normalizer::from_lr(array![[2.0f32, 2.0]].view()).unwrap().std_m, 1.0);
        assert!(Normalizer::from_lr(array![[f32::NAN]].view()).is_err());
    }
}
