//! The SSIM map with a Gaussian window (σ 1.5, truncated at 3.5σ → 11 taps) and reflected borders,
//! computed separably in f64.

use ndarray::{Array2, ArrayView2};

/// Half-width of the Gaussian window, pixels: map values closer than this to the border are excluded
/// from the mean (as scikit-image crops them).
pub const SSIM_BORDER_PX: usize = 5;
const SIGMA: f64 = 1.5;
const K1: f64 = 0.01;
const K2: f64 = 0.03;

fn gaussian_taps() -> Vec<f64> {
    let r = SSIM_BORDER_PX as i64;
    let w: Vec<f64> = (-r..=r).map(|i| (-(i * i) as f64 / (2.0 * SIGMA * SIGMA)).exp()).collect();
    let s: f64 = w.iter().sum();
    w.into_iter().map(|v| v / s).collect()
}

/// Index `i` reflected into `0..n` (scipy's "reflect": … b a | a b c … c b | b a …).
fn reflect(i: i64, n: i64) -> usize {
    let period = 2 * n;
    let mut j = i.rem_euclid(period);
    if j >= n {
        j = period - 1 - j;
    }
    j as usize
}

/// Separable Gaussian filter with reflected borders.
fn gaussian_filter(x: &Array2<f64>) -> Array2<f64> {
    let taps = gaussian_taps();
    let r = SSIM_BORDER_PX as i64;
    let (rows, cols) = x.dim();
    let mut tmp = Array2::<f64>::zeros((rows, cols));
    for i in 0..rows {
        for j in 0..cols {
            tmp[[i, j]] = taps.iter().enumerate().map(|(k, w)| w * x[[i, reflect(j as i64 + k as i64 - r, cols as i64)]]).sum();
        }
    }
    let mut out = Array2::<f64>::zeros((rows, cols));
    for i in 0..rows {
        for j in 0..cols {
            out[[i, j]] = taps.iter().enumerate().map(|(k, w)| w * tmp[[reflect(i as i64 + k as i64 - r, rows as i64), j]]).sum();
        }
    }
    out
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
        let t = gaussian_taps();
        assert_eq!(t.len(), 11);
        assert!((t.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert_eq!([reflect(-1, 4), reflect(-2, 4), reflect(4, 4), reflect(5, 4)], [0, 1, 3, 2]);
    }
}
