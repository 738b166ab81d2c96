//! Geometry-aware resampling of a frame onto another frame's pixel grid. Every LR pixel sits at a known
//! physical position and upsampling puts it there: the mapping is derived from both frames' regions
//! and rasters (never assumed), so `HR[::4, ::4]` decimation and Asylum's corner-aligned scans are both
//! exact. Used for the model input x0, the indicators and the nearest/bicubic baselines alike.

use afm_drivers::{Raster, ScanRegion};
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

/// How values between source pixels are interpolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    /// The nearest source pixel.
    #[default]
    Nearest,
    /// Linear in each axis.
    Bilinear,
    /// Cubic convolution (Keys, a = −0.5: Catmull-Rom) in each axis, borders clamped.
    Bicubic,
}

/// Where a source frame lies relative to a target grid: both frames' physical regions and rasters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridMap {
    /// Region of the source (e.g. LR) frame.
    pub src_region: ScanRegion,
    /// Raster of the source frame.
    pub src_raster: Raster,
    /// Region of the target (e.g. HR) grid.
    pub dst_region: ScanRegion,
    /// Raster of the target grid.
    pub dst_raster: Raster,
}

/// Error when two frames cannot be related by an axis-aligned resampling.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GridMapError {
    /// The frames are rotated differently.
    #[error("source and target scan angles differ ({0}° vs {1}°): resampling needs equal angles")]
    AngleMismatch(f64, f64),
    /// The source array's shape does not match its raster.
    #[error("source array is {0}×{1} (lines × points) but its raster says {2}×{3}")]
    ShapeMismatch(usize, usize, usize, usize),
}

impl GridMap {
    /// Fractional source column of each target column and source row of each target row.
    pub fn source_coordinates(&self) -> Result<(Vec<f64>, Vec<f64>), GridMapError> {
        if (self.src_region.angle_deg - self.dst_region.angle_deg).abs() > 1e-9 {
            return Err(GridMapError::AngleMismatch(self.src_region.angle_deg, self.dst_region.angle_deg));
        }
        let cols: Vec<f64> = (0..self.dst_raster.points)
            .map(|i| {
                let (x, y) = self.dst_region.pixel_position_m(&self.dst_raster, i as f64, 0.0);
                self.src_region.pixel_of_m(&self.src_raster, x, y).0
            })
            .collect();
        let rows: Vec<f64> = (0..self.dst_raster.lines)
            .map(|j| {
                let (x, y) = self.dst_region.pixel_position_m(&self.dst_raster, 0.0, j as f64);
                self.src_region.pixel_of_m(&self.src_raster, x, y).1
            })
            .collect();
        // Positions within a millionth of a pixel of a source pixel are that pixel: a patch pasted back
        // where it was cut keeps its values exactly, whatever the rounding of the metre arithmetic.
        let snap = |v: Vec<f64>| v.into_iter().map(|f| if (f - f.round()).abs() < 1e-6 { f.round() } else { f }).collect();
        Ok((snap(cols), snap(rows)))
    }

    /// Resamples `src` (indexed `[line, point]`, shaped like `src_raster`) onto the target grid.
    pub fn resample(&self, src: ArrayView2<f32>, method: Interpolation) -> Result<Array2<f32>, GridMapError> {
        let (lines, points) = src.dim();
        if lines != self.src_raster.lines || points != self.src_raster.points {
            return Err(GridMapError::ShapeMismatch(lines, points, self.src_raster.lines, self.src_raster.points));
        }
        let (cols, rows) = self.source_coordinates()?;
        Ok(resample_separable(src, &cols, &rows, method))
    }
}

/// Taps and weights that interpolate position `f` (fractional index) on an axis of length `n`.
pub(crate) fn axis_weights(f: f64, n: usize, method: Interpolation) -> Vec<(usize, f64)> {
    let clamp = |i: isize| i.clamp(0, n as isize - 1) as usize;
    match method {
        Interpolation::Nearest => vec![(clamp(f.round() as isize), 1.0)],
        Interpolation::Bilinear => {
            let f = f.clamp(0.0, (n - 1) as f64);
            let i0 = f.floor() as isize;
            let t = f - i0 as f64;
            vec![(clamp(i0), 1.0 - t), (clamp(i0 + 1), t)]
        }
        Interpolation::Bicubic => {
            let f = f.clamp(0.0, (n - 1) as f64);
            let i0 = f.floor() as isize;
            let t = f - i0 as f64;
            let a = -0.5;
            let w = |x: f64| {
                let x = x.abs();
                if x <= 1.0 {
                    (a + 2.0) * x.powi(3) - (a + 3.0) * x * x + 1.0
                } else if x < 2.0 {
                    a * x.powi(3) - 5.0 * a * x * x + 8.0 * a * x - 4.0 * a
                } else {
                    0.0
                }
            };
            (-1..=2).map(|k| (clamp(i0 + k), w(t - k as f64))).collect()
        }
    }
}

/// Separable resampling: target pixel (r, c) takes source (rows[r], cols[c]).
fn resample_separable(src: ArrayView2<f32>, cols: &[f64], rows: &[f64], method: Interpolation) -> Array2<f32> {
    let (lines, points) = src.dim();
    let col_w: Vec<_> = cols.iter().map(|&f| axis_weights(f, points, method)).collect();
    let row_w: Vec<_> = rows.iter().map(|&f| axis_weights(f, lines, method)).collect();
    // First along the fast axis (points), then along lines.
    let mut tmp = Array2::<f64>::zeros((lines, cols.len()));
    for r in 0..lines {
        for (c, taps) in col_w.iter().enumerate() {
            tmp[[r, c]] = taps.iter().map(|&(i, w)| w * src[[r, i]] as f64).sum();
        }
    }
    let mut out = Array2::<f32>::zeros((rows.len(), cols.len()));
    for (r, taps) in row_w.iter().enumerate() {
        for c in 0..cols.len() {
            out[[r, c]] = taps.iter().map(|&(i, w)| w * tmp[[i, c]]).sum::<f64>() as f32;
        }
    }
    out
}

/// The region an `HR[::step, ::step]` decimation of an HR frame covers: LR pixel k sits at HR pixel
/// `step·k`. Use when a pair of arrays carries no geometry of its own (e.g. the original scripts' .npy).
pub fn strided_region(hr_region: &ScanRegion, hr_raster: &Raster, step: usize, lr_raster: &Raster) -> ScanRegion {
    let last_col = (lr_raster.points.max(1) - 1) * step;
    let last_row = (lr_raster.lines.max(1) - 1) * step;
    let rect = afm_drivers::PixelRect { col: 0, row: 0, cols: last_col + 1, rows: last_row + 1 };
    hr_region.sub_region(hr_raster, &rect).0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(src_n: usize, dst_n: usize, src_region: ScanRegion, dst_region: ScanRegion) -> GridMap {
        GridMap { src_region, src_raster: Raster::square(src_n), dst_region, dst_raster: Raster::square(dst_n) }
    }

    #[test]
    fn strided_decimation_puts_lr_pixel_k_on_hr_pixel_4k() {
        let hr_region = ScanRegion::square(0.0, 0.0, 511e-9);
        let hr_raster = Raster::square(512);
        let lr_raster = Raster::square(128);
        let lr_region = strided_region(&hr_region, &hr_raster, 4, &lr_raster);
        let (cols, rows) = map(128, 512, lr_region, hr_region).source_coordinates().unwrap();
        for k in [0usize, 1, 50, 127] {
            assert!((cols[4 * k] - k as f64).abs() < 1e-9);
            assert!((rows[4 * k] - k as f64).abs() < 1e-9);
        }
        // Corner-aligned (Asylum) LR over the same region maps its last pixel to the HR's last pixel.
        let (cols, _) = map(128, 512, hr_region, hr_region).source_coordinates().unwrap();
        assert!((cols[511] - 127.0).abs() < 1e-9);
        assert!((cols[4 * 127] - 127.0 * 508.0 / 511.0).abs() < 1e-9);
    }

    #[test]
    fn interpolations_reproduce_source_pixels_and_linear_ramps() {
        let hr_region = ScanRegion::square(0.0, 0.0, 63e-9);
        let hr_raster = Raster::square(64);
        let lr_raster = Raster::square(16);
        let lr_region = strided_region(&hr_region, &hr_raster, 4, &lr_raster);
        let lr = Array2::from_shape_fn((16, 16), |(r, c)| (2.0 * r as f32) + 0.5 * c as f32);
        let m = map(16, 64, lr_region, hr_region);
        for method in [Interpolation::Nearest, Interpolation::Bilinear, Interpolation::Bicubic] {
            let up = m.resample(lr.view(), method).unwrap();
            assert_eq!(up[[4 * 3, 4 * 7]], lr[[3, 7]], "{method:?}");
        }
        for method in [Interpolation::Bilinear, Interpolation::Bicubic] {
            let up = m.resample(lr.view(), method).unwrap();
            // interior of the LR support: a ramp is reproduced exactly
            for (r, c) in [(9usize, 13usize), (30, 31), (45, 10)] {
                let want = 2.0 * (r as f32 / 4.0) + 0.5 * (c as f32 / 4.0);
                assert!((up[[r, c]] - want).abs() < 1e-4, "{method:?} at {r},{c}: {} vs {want}", up[[r, c]]);
            }
        }
    }
}
