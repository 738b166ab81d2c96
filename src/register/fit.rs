//! Least-squares fits of one image to another over chosen pixels: the height offset and tilt of an HR
//! frame relative to the LR (heights from separate scans differ by an arbitrary offset and tilt), and
//! the gain and offset that bring the LR onto the HR frames' scale (non-height channels, whose
//! baseline and gain change between scans — and the fair baseline of every channel).

use crate::level::{fit_plane, Plane};
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

/// `y ≈ gain·x + offset`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GainOffset {
    /// Multiplier.
    pub gain: f64,
    /// Added after the gain, in the target's unit.
    pub offset: f64,
}

impl Default for GainOffset {
    fn default() -> Self {
        Self { gain: 1.0, offset: 0.0 }
    }
}

impl GainOffset {
    /// Applies the map to every value.
    pub fn apply(&self, x: ArrayView2<f32>) -> Array2<f32> {
        x.mapv(|v| (self.gain * v as f64 + self.offset) as f32)
    }
}

/// Least-squares gain and offset mapping `x` onto `y` over the pixels where `mask` is true. A constant
/// `x` (or no pixel) gives gain 1 and the offset of the means.
pub fn fit_gain_offset(x: ArrayView2<f32>, y: ArrayView2<f32>, mask: ArrayView2<bool>) -> GainOffset {
    let (mut n, mut sx, mut sy) = (0.0f64, 0.0, 0.0);
    for ((idx, &a), &b) in x.indexed_iter().zip(y.iter()) {
        if mask[idx] {
            n += 1.0;
            sx += a as f64;
            sy += b as f64;
        }
    }
    if n == 0.0 {
        return GainOffset::default();
    }
    let (mx, my) = (sx / n, sy / n);
    let (mut sxx, mut sxy) = (0.0f64, 0.0);
    for ((idx, &a), &b) in x.indexed_iter().zip(y.iter()) {
        if mask[idx] {
            sxx += (a as f64 - mx).powi(2);
            sxy += (a as f64 - mx) * (b as f64 - my);
        }
    }
    let gain = if sxx > 0.0 { sxy / sxx } else { 1.0 };
    GainOffset { gain, offset: my - gain * mx }
}

/// Brings `frame` onto `reference` (same shape): subtracts the least-squares plane of
/// `frame − reference` (with `tilt`) or only its mean (without). Returns the adjusted frame and what
/// was removed.
pub fn fit_relative_plane(frame: ArrayView2<f32>, reference: ArrayView2<f32>, tilt: bool) -> (Array2<f32>, Plane) {
    let diff = Array2::from_shape_fn(frame.dim(), |idx| (frame[idx] as f64 - reference[idx] as f64) as f32);
    let plane = if tilt {
        fit_plane(diff.view(), None)
    } else {
        let mean = diff.iter().map(|&v| v as f64).sum::<f64>() / diff.len().max(1) as f64;
        Plane { offset: mean, mean, ..Plane::default() }
    };
    let adjusted = Array2::from_shape_fn(frame.dim(), |(r, c)| (frame[[r, c]] as f64 - plane.at(r as f64, c as f64)) as f32);
    (adjusted, plane)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gain_offset_and_relative_plane_are_exact_on_exact_data() {
        let x = Array2::from_shape_fn((10, 12), |(r, c)| ((r * 5 + c * 3) % 7) as f32);
        let y = x.mapv(|v| 2.0 * v - 3.0);
        let all = Array2::from_elem((10, 12), true);
        let g = fit_gain_offset(x.view(), y.view(), all.view());
        assert!((g.gain - 2.0).abs() < 1e-9 && (g.offset + 3.0).abs() < 1e-9);
        assert_eq!(fit_gain_offset(x.view(), y.view(), Array2::from_elem((10, 12), false).view()), GainOffset::default());
        // a frame = reference + offset + tilt comes back to the reference
        let frame = Array2::from_shape_fn((10, 12), |(r, c)| x[[r, c]] + 5.0 + 0.1 * c as f32 - 0.2 * r as f32);
        let (adj, plane) = fit_relative_plane(frame.view(), x.view(), true);
        assert!(adj.iter().zip(x.iter()).all(|(a, b)| (a - b).abs() < 1e-4), "{plane:?}");
        let (adj, _) = fit_relative_plane(x.mapv(|v| v + 5.0).view(), x.view(), false);
        assert!(adj.iter().zip(x.iter()).all(|(a, b)| (a - b).abs() < 1e-5));
    }
}
