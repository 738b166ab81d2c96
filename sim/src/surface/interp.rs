//! Interpolation kernels for sampling a height grid between its points: bilinear (2 taps per axis)
//! and Catmull-Rom bicubic (4 taps per axis). Both are tensor products, so interpolating along y
//! first (a row profile) and then along x gives exactly the 2-D result — the line scanner relies on
//! that. Coordinates outside the grid are clamped to its edge.

use serde::{Deserialize, Serialize};

/// How a height grid is sampled between its points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    /// Bilinear: continuous, never overshoots (weights are non-negative).
    Bilinear,
    /// Catmull-Rom bicubic: smooth gradients, may overshoot slightly at sharp edges.
    #[default]
    Bicubic,
}

/// A uniform sampling axis: point `i` (0 ≤ i < n) lies at `x0_m + i·pitch`, metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Axis {
    /// Position of point 0, metres.
    pub x0_m: f64,
    /// 1 / pitch, points per metre.
    pub inv_pitch_per_m: f64,
    /// Number of points (≥ 2).
    pub n: usize,
}

impl Axis {
    /// An axis of `n` ≥ 2 points from `x0_m` with spacing `pitch_m` > 0.
    pub fn new(x0_m: f64, pitch_m: f64, n: usize) -> Self {
        Self { x0_m, inv_pitch_per_m: 1.0 / pitch_m, n }
    }

    /// The four grid indices and weights that interpolate at `x_m` (bilinear uses the middle two;
    /// the outer weights are 0). Positions outside the axis are clamped to its ends.
    #[inline]
    pub fn taps(&self, x_m: f64, interp: Interpolation) -> ([usize; 4], [f64; 4]) {
        let last = self.n - 1;
        let f = ((x_m - self.x0_m) * self.inv_pitch_per_m).clamp(0.0, last as f64);
        // `as usize` saturates (NaN → 0), so this never indexes out of bounds.
        let i = (f.floor() as usize).min(last - 1);
        let t = f - i as f64;
        let idx = [i.saturating_sub(1), i, i + 1, (i + 2).min(last)];
        let w = match interp {
            Interpolation::Bilinear => [0.0, 1.0 - t, t, 0.0],
            Interpolation::Bicubic => catmull_rom(t),
        };
        (idx, w)
    }

    /// Interpolates `values` (one per axis point) at `x_m`.
    #[inline]
    pub fn sample(&self, values: &[f64], x_m: f64, interp: Interpolation) -> f64 {
        let (i, w) = self.taps(x_m, interp);
        w[0] * values[i[0]] + w[1] * values[i[1]] + w[2] * values[i[2]] + w[3] * values[i[3]]
    }
}

/// Catmull-Rom (Keys, a = −0.5) weights for the points at −1, 0, 1, 2 given fraction `t` ∈ [0, 1].
#[inline]
fn catmull_rom(t: f64) -> [f64; 4] {
    let t2 = t * t;
    let t3 = t2 * t;
    [0.5 * (-t3 + 2.0 * t2 - t), 0.5 * (3.0 * t3 - 5.0 * t2 + 2.0), 0.5 * (-3.0 * t3 + 4.0 * t2 + t), 0.5 * (t3 - t2)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_reproduce_grid_points_and_linear_ramps() {
        let axis = Axis::new(-1.0, 0.5, 5);
        let ramp: Vec<f64> = (0..5).map(|i| 3.0 * i as f64 - 2.0).collect();
        for interp in [Interpolation::Bilinear, Interpolation::Bicubic] {
            for (i, v) in ramp.iter().enumerate() {
                assert!((axis.sample(&ramp, -1.0 + 0.5 * i as f64, interp) - v).abs() < 1e-12);
            }
            // Interior points of a linear ramp are exact for both kernels.
            let x = -1.0 + 0.5 * 1.3;
            assert!((axis.sample(&ramp, x, interp) - (3.0 * 1.3 - 2.0)).abs() < 1e-12, "{interp:?}");
            // Outside the axis: clamped to the edge values.
            assert_eq!(axis.sample(&ramp, -5.0, interp), ramp[0]);
            assert_eq!(axis.sample(&ramp, 5.0, interp), ramp[4]);
        }
    }
}
