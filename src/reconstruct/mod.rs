//! Reconstruction of the whole HR image (DESIGN.md §1 step 6, §2 inference): sliding-window Euler
//! integration of the learned velocity field over the LR frame upsampled onto the HR grid (x0),
//! floored-Hann blending, then the measured HR patches pasted back with a feathered seam.

mod anchor;
mod config;
mod paste;
mod sampler;
mod stitch;
mod window;

pub use anchor::{anchor_low_frequencies, sigma_on_grid};
pub use config::{ReconstructConfig, ReconstructConfigError};
pub use paste::{acquired_mask, check_patches, mask_as_f32, paste_patches, MeasuredPatch, PasteError};
pub use sampler::euler;
pub use stitch::{sliding_window, SlidingWindow};
pub use window::{hann_window, tile_starts};

use crate::model::{ConvertError, TrainedModel, VelocityField};
use crate::train::Normalizer;
use ndarray::{Array2, ArrayView2};
use tch::Device;

/// Error of a reconstruction.
#[derive(Debug, thiserror::Error)]
pub enum ReconstructError {
    /// A setting out of range.
    #[error(transparent)]
    Config(#[from] ReconstructConfigError),
    /// The tile is larger than the image, or its sides are not multiples of 4.
    #[error("image is {rows}×{cols} px but tiles are {tile_rows}×{tile_cols} px (sides must be multiples of 4 and fit the image)")]
    Tile {
        /// Image rows.
        rows: usize,
        /// Image columns.
        cols: usize,
        /// Tile rows.
        tile_rows: usize,
        /// Tile columns.
        tile_cols: usize,
    },
    /// A measured patch does not fit.
    #[error(transparent)]
    Paste(#[from] PasteError),
    /// Moving data between the model and the arrays failed.
    #[error(transparent)]
    Convert(#[from] ConvertError),
}

/// The reconstruction, in metres on the HR grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconstruction {
    /// The super-resolved image with the measured patches pasted back.
    pub sr_m: Array2<f32>,
    /// The super-resolved image before pasting (pure inference everywhere).
    pub inferred_m: Array2<f32>,
}

/// Reconstructs with a trained model: its normalisation, its device, and its training tile shape
/// unless `cfg.tile_px` says otherwise. `x0_m` is the LR frame upsampled onto the HR grid, metres.
pub fn reconstruct(
    model: &TrainedModel,
    x0_m: ArrayView2<f32>,
    patches: &[MeasuredPatch],
    cfg: &ReconstructConfig,
) -> Result<Reconstruction, ReconstructError> {
    let tile = (model.info.tile_rows, model.info.tile_cols);
    reconstruct_with(model, &model.info.normalizer, tile, x0_m, patches, cfg, model.device())
}

/// Reconstructs with any velocity field. `default_tile` (rows, cols) is used unless `cfg.tile_px` is set.
pub fn reconstruct_with(
    field: &dyn VelocityField,
    normalizer: &Normalizer,
    default_tile: (usize, usize),
    x0_m: ArrayView2<f32>,
    patches: &[MeasuredPatch],
    cfg: &ReconstructConfig,
    device: Device,
) -> Result<Reconstruction, ReconstructError> {
    cfg.validate()?;
    let (rows, cols) = x0_m.dim();
    check_patches(patches, (rows, cols))?;
    let (tile_rows, tile_cols) = cfg.tile_px.map(|t| (t, t)).unwrap_or(default_tile);
    let tile_err = ReconstructError::Tile { rows, cols, tile_rows, tile_cols };
    if tile_rows % 4 != 0 || tile_cols % 4 != 0 || tile_rows == 0 || tile_cols == 0 {
        return Err(tile_err);
    }
    let w = SlidingWindow {
        tile_rows,
        tile_cols,
        stride_rows: cfg.stride_px.unwrap_or((tile_rows / 3).max(1)),
        stride_cols: cfg.stride_px.unwrap_or((tile_cols / 3).max(1)),
        steps: cfg.steps,
        batch_size: cfg.batch_size,
        window_floor: cfg.window_floor,
    };
    let x0 = normalizer.normalize(x0_m);
    let sr = sliding_window(field, x0.view(), &w, device)?.ok_or(tile_err)?;
    let inferred_m = normalizer.denormalize(sr.view());
    let sr_m = paste_patches(inferred_m.view(), patches, cfg.seam_px)?;
    Ok(Reconstruction { sr_m, inferred_m })
}
