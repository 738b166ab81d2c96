//! Separable Gaussian smoothing with reflected borders (scipy's `mode="reflect"`), in f64: the SSIM
//! window and the band-limiting of an HR frame before it is compared with the LR frame.

use ndarray::Array2;

/// Normalised Gaussian taps of standard deviation `sigma` (pixels) over `-radius ..= radius`.
/// `sigma` ≤ 0 gives the identity (one tap of weight 1).
pub fn gaussian_taps(sigma: f64, radius: usize) -> Vec<f64> {
    if sigma <= 0.0 || radius == 0 {
        return vec![1.0];
    }
    let r = radius as i64;
    let w: Vec<f64> = (-r..=r).map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    let s: f64 = w.iter().sum();
    w.into_iter().map(|v| v / s).collect()
}

/// Index `i` reflected into `0..n` (scipy's "reflect": … b a | a b c … c b | b a …).
pub fn reflect(i: i64, n: i64) -> usize {
    let period = 2 * n;
    let mut j = i.rem_euclid(period);
    if j >= n {
        j = period - 1 - j;
    }
    j as usize
}

/// `x` filtered along columns (within each row) with `col_taps`, then along rows with `row_taps`
/// (both odd-length, centred), borders reflected.
pub fn separable_filter(x: &Array2<f64>, col_taps: &[f64], row_taps: &[f64]) -> Array2<f64> {
    let (rows, cols) = x.dim();
    let (rc, rr) = ((col_taps.len() / 2) as i64, (row_taps.len() / 2) as i64);
    let mut tmp = Array2::<f64>::zeros((rows, cols));
    for i in 0..rows {
        for j in 0..cols {
            tmp[[i, j]] = col_taps.iter().enumerate().map(|(k, w)| w * x[[i, reflect(j as i64 + k as i64 - rc, cols as i64)]]).sum();
        }
    }
    let mut out = Array2::<f64>::zeros((rows, cols));
    for i in 0..rows {
        for j in 0..cols {
            out[[i, j]] = row_taps.iter().enumerate().map(|(k, w)| w * tmp[[reflect(i as i64 + k as i64 - rr, rows as i64), j]]).sum();
        }
    }
    out
}

/// Gaussian smoothing with standard deviations `sigma_cols` (along a line) and `sigma_rows` (across
/// lines), pixels, truncated at 3σ.
pub fn gaussian_blur(x: &Array2<f64>, sigma_cols: f64, sigma_rows: f64) -> Array2<f64> {
    let radius = |s: f64| (3.0 * s).ceil().max(0.0) as usize;
    separable_filter(x, &gaussian_taps(sigma_cols, radius(sigma_cols)), &gaussian_taps(sigma_rows, radius(sigma_rows)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_keeps_constants_and_linear_ramps_and_spreads_a_spike() {
        let ramp = Array2::from_shape_fn((20, 20), |(_, c)| 2.0 * c as f64);
        let b = gaussian_blur(&ramp, 1.5, 1.5);
        assert!((b[[10, 10]] - 20.0).abs() < 1e-9, "interior of a ramp is kept");
        let mut spike = Array2::<f64>::zeros((21, 21));
        spike[[10, 10]] = 1.0;
        let s = gaussian_blur(&spike, 2.0, 1.0);
        assert!((s.sum() - 1.0).abs() < 1e-9);
        assert!(s[[10, 12]] > s[[12, 10]], "wider along the line than across lines");
        assert_eq!(gaussian_taps(0.0, 3), vec![1.0]);
        assert_eq!((reflect(-1, 5), reflect(5, 5), reflect(2, 5)), (0, 4, 2));
    }
}
