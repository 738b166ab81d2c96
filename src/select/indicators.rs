//! The five per-tile indicators of DESIGN.md §1: mean, standard deviation, mean Sobel gradient
//! magnitude, mean |5-point Laplacian|, and a true high-frequency texture ratio (spectral energy of the
//! mean-removed, Hann-tapered tile outside radius `r_c` over all non-DC energy). Unlike the original
//! scripts — which averaged the centre of the shifted spectrum, i.e. the lowest frequencies and DC — the
//! ratio here is bounded in [0, 1] and measures what its name says.
//!
//! The indicators run on the LR frame's own pixels: on an LR upsampled by nearest neighbour, the energy
//! above the LR Nyquist is the upsampler's staircase, not the surface.
//!
//! Each tile's indicators depend on that tile's pixels only: the derivative filters run over the tile
//! interior (no padding), so a tile's numbers do not change with its neighbours.

use super::tiling::Tiling;
use ndarray::ArrayView2;
use rustfft::{num_complex::Complex, FftPlanner};
use serde::{Deserialize, Serialize};

/// Indicator column names, in the order of [`IndicatorRow::values`].
pub const INDICATOR_NAMES: [&str; 5] = ["mean", "std", "grad", "lap", "texture"];

/// The five indicators of one tile, in the image's units (texture is a dimensionless ratio).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IndicatorRow {
    /// Mean value.
    pub mean: f64,
    /// Standard deviation (population).
    pub std: f64,
    /// Mean Sobel gradient magnitude per pixel (Sobel kernels divided by 8, so a ramp of slope `a` per
    /// pixel gives `a`).
    pub grad: f64,
    /// Mean absolute 5-point Laplacian per pixel².
    pub lap: f64,
    /// High-frequency texture ratio in [0, 1]; 0 for a constant tile.
    pub texture: f64,
}

impl IndicatorRow {
    /// The indicators as an array in [`INDICATOR_NAMES`] order.
    pub fn values(&self) -> [f64; 5] {
        [self.mean, self.std, self.grad, self.lap, self.texture]
    }
}

/// Settings of the texture indicator.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TextureSpectrum {
    /// Cut-off radius as a fraction of the tile's own Nyquist frequency — the LR's, since tiles are
    /// LR pixels (default 0.5).
    pub cutoff_fraction_of_nyquist: f64,
}

impl Default for TextureSpectrum {
    fn default() -> Self {
        Self { cutoff_fraction_of_nyquist: 0.5 }
    }
}

/// The indicators of every tile of `image` (indexed `[line, point]`), in tile index order.
pub fn compute_indicators(image: ArrayView2<f32>, tiling: &Tiling, texture: &TextureSpectrum) -> Vec<IndicatorRow> {
    let mut planner = FftPlanner::<f64>::new();
    tiling
        .rects()
        .iter()
        .map(|r| {
            let tile = image.slice(ndarray::s![r.row..r.row + r.rows, r.col..r.col + r.cols]);
            tile_indicators(tile, texture, &mut planner)
        })
        .collect()
}

/// The indicators of one tile.
pub fn tile_indicators(tile: ArrayView2<f32>, texture: &TextureSpectrum, planner: &mut FftPlanner<f64>) -> IndicatorRow {
    let n = tile.len().max(1) as f64;
    let mean = tile.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = tile.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let (grad, lap) = derivative_means(tile);
    let std = var.sqrt();
    // A tile that is constant up to f32 rounding has no texture; its "spectrum" would be rounding noise.
    let flat = std <= 1e-7 * mean.abs() || std == 0.0;
    let texture = if flat { 0.0 } else { texture_ratio(tile, mean, texture, planner) };
    IndicatorRow { mean, std, grad, lap, texture }
}

/// Mean Sobel magnitude and mean |Laplacian| over the tile interior (0 for tiles thinner than 3 px).
fn derivative_means(t: ArrayView2<f32>) -> (f64, f64) {
    let (h, w) = t.dim();
    if h < 3 || w < 3 {
        return (0.0, 0.0);
    }
    let f = |r: usize, c: usize| t[[r, c]] as f64;
    let (mut g_sum, mut l_sum) = (0.0, 0.0);
    for r in 1..h - 1 {
        for c in 1..w - 1 {
            let gx = (f(r - 1, c + 1) + 2.0 * f(r, c + 1) + f(r + 1, c + 1)) - (f(r - 1, c - 1) + 2.0 * f(r, c - 1) + f(r + 1, c - 1));
            let gy = (f(r + 1, c - 1) + 2.0 * f(r + 1, c) + f(r + 1, c + 1)) - (f(r - 1, c - 1) + 2.0 * f(r - 1, c) + f(r - 1, c + 1));
            g_sum += (gx * gx + gy * gy).sqrt() / 8.0;
            l_sum += (f(r - 1, c) + f(r + 1, c) + f(r, c - 1) + f(r, c + 1) - 4.0 * f(r, c)).abs();
        }
    }
    let m = ((h - 2) * (w - 2)) as f64;
    (g_sum / m, l_sum / m)
}

/// Periodic Hann window of length `n` (so a tile's window tiles seamlessly in frequency).
fn hann(n: usize) -> Vec<f64> {
    (0..n).map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()).collect()
}

/// Spectral energy outside the cut-off radius over total non-DC energy of the mean-removed, Hann-tapered
/// tile. Radii are in cycles per pixel (Nyquist 0.5). A tile with no non-DC energy has ratio 0.
fn texture_ratio(t: ArrayView2<f32>, mean: f64, cfg: &TextureSpectrum, planner: &mut FftPlanner<f64>) -> f64 {
    let (h, w) = t.dim();
    if h < 2 || w < 2 {
        return 0.0;
    }
    let (wy, wx) = (hann(h), hann(w));
    let mut buf: Vec<Complex<f64>> = t.indexed_iter().map(|((r, c), &v)| Complex::new((v as f64 - mean) * wy[r] * wx[c], 0.0)).collect();
    // rows (length w), then columns (length h)
    let fft_w = planner.plan_fft_forward(w);
    for row in buf.chunks_mut(w) {
        fft_w.process(row);
    }
    let fft_h = planner.plan_fft_forward(h);
    let mut col = vec![Complex::new(0.0, 0.0); h];
    for c in 0..w {
        for r in 0..h {
            col[r] = buf[r * w + c];
        }
        fft_h.process(&mut col);
        for r in 0..h {
            buf[r * w + c] = col[r];
        }
    }
    let freq = |k: usize, n: usize| if k <= n / 2 { k as f64 / n as f64 } else { k as f64 / n as f64 - 1.0 };
    let r_c = cfg.cutoff_fraction_of_nyquist * 0.5;
    let (mut high, mut total) = (0.0, 0.0);
    for r in 0..h {
        for c in 0..w {
            if r == 0 && c == 0 {
                continue;
            }
            let e = buf[r * w + c].norm_sqr();
            total += e;
            if freq(r, h).hypot(freq(c, w)) > r_c {
                high += e;
            }
        }
    }
    if total > 0.0 {
        (high / total).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn one(tile: &Array2<f32>) -> IndicatorRow {
        tile_indicators(tile.view(), &TextureSpectrum::default(), &mut FftPlanner::new())
    }

    #[test]
    fn constant_tile_has_zero_spread_derivatives_and_texture() {
        let row = one(&Array2::from_elem((64, 64), 3.5));
        assert!((row.mean - 3.5).abs() < 1e-12);
        assert_eq!((row.std, row.grad, row.lap, row.texture), (0.0, 0.0, 0.0, 0.0));
    }

    #[test]
    fn linear_ramp_gives_its_exact_sobel_magnitude_and_zero_laplacian() {
        // slope 0.3 per pixel along x and 0.4 along y: magnitude 0.5 at every interior pixel
        let ramp = Array2::from_shape_fn((32, 32), |(r, c)| 0.3 * c as f32 + 0.4 * r as f32);
        let row = one(&ramp);
        assert!((row.grad - 0.5).abs() < 1e-5, "grad {}", row.grad);
        assert!(row.lap.abs() < 1e-4, "lap {}", row.lap);
        // std of a uniform ramp: population std of 0.3c + 0.4r over a 32×32 grid
        let std_1d = ((32.0f64 * 32.0 - 1.0) / 12.0).sqrt();
        assert!((row.std - std_1d * 0.5).abs() < 1e-3, "std {}", row.std);
    }

    #[test]
    fn fine_texture_ratio_is_near_one_and_slow_texture_near_zero() {
        let checker = Array2::from_shape_fn((64, 64), |(r, c)| if (r + c) % 2 == 0 { 1.0 } else { -1.0 });
        let fast = Array2::from_shape_fn((64, 64), |(_, c)| (2.0 * std::f32::consts::PI * 0.4 * c as f32).sin());
        let slow = Array2::from_shape_fn((64, 64), |(_, c)| (2.0 * std::f32::consts::PI * 2.0 * c as f32 / 64.0).sin());
        assert!(one(&checker).texture > 0.99, "checker {}", one(&checker).texture);
        assert!(one(&fast).texture > 0.97, "fast {}", one(&fast).texture);
        assert!(one(&slow).texture < 0.03, "slow {}", one(&slow).texture);
        // laplacian of a checkerboard: |±1·4 − (∓1)·4| = 8 everywhere
        assert!((one(&checker).lap - 8.0).abs() < 1e-6);
    }
}
