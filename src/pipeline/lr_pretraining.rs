//! Self-supervised pre-training pairs cut from the LR frame itself (the zero-shot super-resolution
//! idea): the LR decimated by the same factor that separates it from the HR grid, brought back onto
//! the LR grid exactly as the model input is brought onto the HR grid, is the input; the LR is the
//! target. A network pre-trained on them has seen the whole frame's content at one scale coarser
//! before it is fine-tuned on the few HR patches.

use super::PipelineError;
use crate::geo_image::GeoImage;
use crate::train::TilePair;
use crate::upsample::{strided_region, Interpolation};
use afm_drivers::Raster;
use ndarray::s;

/// Pairs (LR↓d on the LR grid → LR) over the whole of `lr` (the levelled LR frame on the acquired
/// scale), in tiles of `tile` (rows, cols) at half-tile strides, where `d` is the LR pitch over
/// `hr_pitch_x_m` (rounded, at least 2) and `method` the model input's interpolation. Empty when the
/// frame is smaller than one tile.
pub fn lr_self_pairs(
    lr: &GeoImage,
    hr_pitch_x_m: f64,
    tile: (usize, usize),
    method: Interpolation,
) -> Result<Vec<TilePair>, PipelineError> {
    let (lr_pitch_x, _) = lr.pitch_m();
    let d = if hr_pitch_x_m > 0.0 { (lr_pitch_x / hr_pitch_x_m).round().max(2.0) as usize } else { 2 };
    let target = &lr.data;
    let (lines, points) = target.dim();
    if lines < 2 * d || points < 2 * d {
        return Ok(Vec::new());
    }
    let coarse = target.slice(s![..;d, ..;d]).to_owned();
    let coarse_raster = Raster::new(coarse.ncols(), coarse.nrows());
    let coarse_region = strided_region(&lr.region, &lr.raster, d, &coarse_raster);
    // The LR pixels the coarse samples span, and the coarse frame brought back onto them.
    let (rows, cols) = ((coarse.nrows() - 1) * d + 1, (coarse.ncols() - 1) * d + 1);
    let covered = afm_drivers::PixelRect { col: 0, row: 0, cols, rows };
    let (covered_region, covered_raster) = lr.region.sub_region(&lr.raster, &covered);
    let x0 = GeoImage::new(coarse, coarse_region, lr.unit.clone()).resample_onto(&covered_region, &covered_raster, method)?;
    let x1 = target.slice(s![..rows, ..cols]);
    let (tile_rows, tile_cols) = tile;
    if tile_rows == 0 || tile_cols == 0 || rows < tile_rows || cols < tile_cols {
        return Ok(Vec::new());
    }
    let starts = |n: usize, t: usize| {
        let step = (t / 2).max(1);
        let mut v: Vec<usize> = (0..=n - t).step_by(step).collect();
        if v.last() != Some(&(n - t)) {
            v.push(n - t);
        }
        v
    };
    let mut pairs = Vec::new();
    for r in starts(rows, tile_rows) {
        for c in starts(cols, tile_cols) {
            let window = s![r..r + tile_rows, c..c + tile_cols];
            pairs.push(TilePair { x0: x0.slice(window).to_owned(), x1: x1.slice(window).to_owned() });
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use afm_drivers::ScanRegion;
    use ndarray::Array2;

    /// A 40 × 40 LR frame at 4 nm pitch (HR pitch 1 nm) whose values are `f(col, row)`.
    fn frame(f: impl Fn(f64, f64) -> f64) -> GeoImage {
        let data = Array2::from_shape_fn((40, 40), |(r, c)| f(c as f64, r as f64) as f32);
        let region = ScanRegion { center_x_m: 0.0, center_y_m: 0.0, width_m: 39.0 * 4e-9, height_m: 39.0 * 4e-9, angle_deg: 0.0 };
        GeoImage::new(data, region, "m")
    }

    #[test]
    fn the_pairs_are_lr_windows_and_their_decimated_interpolation() {
        let lr = frame(|c, r| 1e-9 * ((0.9 * c).sin() + (0.7 * r).cos()));
        let pairs = lr_self_pairs(&lr, 1e-9, (16, 16), Interpolation::Bicubic).unwrap();
        // decimation 4: samples 0, 4, …, 36 span 37 LR pixels; windows start at 0, 8, 16, 21
        assert_eq!(pairs.len(), 16);
        let first = &pairs[0];
        assert_eq!(first.x1, lr.data.slice(s![0..16, 0..16]));
        // the input passes through the coarse samples and differs between them (detail at 2 LR px)
        for (r, c) in [(0, 0), (4, 8), (12, 12)] {
            assert!((first.x0[(r, c)] - first.x1[(r, c)]).abs() < 1e-15, "({r}, {c})");
        }
        let off_grid = (0..16).flat_map(|r| (0..16).map(move |c| (r, c))).filter(|(r, c)| r % 4 != 0 || c % 4 != 0);
        let error = off_grid.map(|p| (first.x0[p] - first.x1[p]).abs()).fold(0.0f32, f32::max);
        assert!(error > 1e-10, "bicubic of the decimated frame should miss its fine detail ({error})");
    }

    #[test]
    fn a_plane_survives_decimation_and_a_frame_smaller_than_a_tile_gives_nothing() {
        let lr = frame(|c, r| 1e-9 * (0.3 * c - 0.2 * r + 5.0));
        let pairs = lr_self_pairs(&lr, 1e-9, (16, 16), Interpolation::Bicubic).unwrap();
        // the window at (8, 8) stays a coarse pixel away from the borders, where the interpolation clamps
        let p = &pairs[5];
        assert_eq!(p.x1, lr.data.slice(s![8..24, 8..24]));
        let error = p.x0.iter().zip(&p.x1).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(error < 1e-14, "bicubic reproduces a plane: {error}");
        assert!(lr_self_pairs(&lr, 1e-9, (48, 48), Interpolation::Bicubic).unwrap().is_empty());
    }
}
