//! Sliding-window reconstruction of a whole normalised image: cut x0 into overlapping tiles, integrate
//! each batch of tiles with Euler, and blend the results with the floored Hann window (weighted mean,
//! accumulated in f64). Every pixel, borders included, is covered by at least one tile with a positive
//! weight, so a field that leaves the tiles unchanged returns x0 exactly.

use super::sampler::euler;
use super::window::{hann_window, tile_starts};
use crate::model::{array_to_tensor, ConvertError, VelocityField};
use ndarray::{Array2, ArrayView2};
use tch::{Device, Kind, Tensor};

/// Tiling and integration settings, resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlidingWindow {
    /// Tile rows, pixels.
    pub tile_rows: usize,
    /// Tile columns, pixels.
    pub tile_cols: usize,
    /// Step between tile origins along rows, pixels.
    pub stride_rows: usize,
    /// Step between tile origins along columns, pixels.
    pub stride_cols: usize,
    /// Euler steps.
    pub steps: usize,
    /// Tiles per batch.
    pub batch_size: usize,
    /// Floor of the blending window.
    pub window_floor: f64,
}

/// Integrates `field` over `x0` (normalised, `[row, col]`) tile by tile on `device` and blends the
/// tiles. `None` when the image is smaller than a tile.
pub fn sliding_window(
    field: &dyn VelocityField,
    x0: ArrayView2<f32>,
    w: &SlidingWindow,
    device: Device,
) -> Result<Option<Array2<f32>>, ConvertError> {
    let (rows, cols) = x0.dim();
    let (Some(rs), Some(cs)) = (tile_starts(rows, w.tile_rows, w.stride_rows), tile_starts(cols, w.tile_cols, w.stride_cols)) else {
        return Ok(None);
    };
    let origins: Vec<(usize, usize)> = rs.iter().flat_map(|&r| cs.iter().map(move |&c| (r, c))).collect();
    let window = hann_window(w.tile_rows, w.tile_cols, w.window_floor);
    let image = array_to_tensor(x0, device);
    let mut sum = Array2::<f64>::zeros((rows, cols));
    let mut weight = Array2::<f64>::zeros((rows, cols));
    let (th, tw) = (w.tile_rows as i64, w.tile_cols as i64);
    for chunk in origins.chunks(w.batch_size) {
        let tiles: Vec<Tensor> = chunk.iter().map(|&(r, c)| image.narrow(2, r as i64, th).narrow(3, c as i64, tw)).collect();
        let batch = Tensor::cat(&tiles, 0); // [B, 1, th, tw]
        let out = euler(field, &batch, w.steps).to_device(Device::Cpu).to_kind(Kind::Float).contiguous().view([-1]);
        let out = Vec::<f32>::try_from(&out)?;
        let per_tile = w.tile_rows * w.tile_cols;
        for (k, &(r0, c0)) in chunk.iter().enumerate() {
            let tile = &out[k * per_tile..(k + 1) * per_tile];
            for ((r, c), &wt) in window.indexed_iter() {
                sum[[r0 + r, c0 + c]] += wt * tile[r * w.tile_cols + c] as f64;
                weight[[r0 + r, c0 + c]] += wt;
            }
        }
    }
    Ok(Some(Array2::from_shape_fn((rows, cols), |(r, c)| (sum[[r, c]] / weight[[r, c]]) as f32)))
}
