//! The SSIM map with a Gaussian window (σ 1.5, truncated at 3.5σ → 11 taps) and reflected borders,
//! computed separably in f64.

use crate::filter::{gaussian_taps, separable_filter};
use ndarray::{Array2, ArrayView2};

/// Half-width of the Gaussian window, pixels: map values closer than this to the border are excluded
/// from the mean (as scikit-image crops them).
pub const SSIM_BORDER_PX: usize = 5;
const SIGMA: f64 = 1.5;
const K1: f64 = 0.01;
const K2: f64 = 0.03;

/// Gaussian filter of the SSIM window: σ 1.5 truncated at [`SSIM_BORDER_PX`] (11 taps), reflected borders.
fn gaussian_filter(x: &Array2<f64>) -> Array2<f64> {
    let taps = gaussian_taps(SIGMA, SSIM_BORDER_PX);
    separable_filter(x, &taps, &taps)
}

/// Per-pixel SSIM of `x` against `y` with data range `range`.
pub fn ssim_map(x: ArrayView2<f32>, y: ArrayView2<f32>, range: f64) -> Array2<f64> {
    let x = x.mapv(|v| v as f64);
    let y = y.mapv(|v| v as f64);
    let (ux, uy) = (gaussian_filter(&x), gaussian_filter(&y));
    let uxx = gaussian_filter(&(&x * &x));
    let uyy = gaussian_filter(&(&y * &y));
    let uxy = gaussian_filter(&(&x * &y));
    let (c1, c2) = ((K1 * range).powi(2), (K2 * range).powi(2));
    Array2::from_shape_fn(x.dim(), |idx| {
        let (mx, my) = (ux[idx], uy[idx]);
        let (vx, vy, vxy) = (uxx[idx] - mx * mx, uyy[idx] - my * my, uxy[idx] - mx * my);
        ((2.0 * mx * my + c1) * (2.0 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_are_eleven_and_normalised_and_reflection_is_scipys() {
        let t = gaussian_taps(SIGMA, SSIM_BORDER_PX);
        assert_eq!(t.len(), 11);
        assert!((t.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        use crate::filter::reflect;
        assert_eq!([reflect(-1, 4), reflect(-2, 4), reflect(4, 4), reflect(5, 4)], [0, 1, 3, 2]);
    }
}
