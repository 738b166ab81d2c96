//! The full-scan reference (strategy `all`): every tile scanned at HR in patches, no model. Its
//! image is the mosaic of measured patches pasted hard onto the aligned bicubic (which shows only
//! where a tile could not be scanned); it is scored against the same ground truth as every other run.

use crate::backend::{run_surface, simulated_ground_truth, BackendError};
use crate::config::RunSpec;
use crate::engine::{channel_data, EngineError};
use crate::io::npy::write_array;
use crate::io::session::{Session, SessionError};
use crate::metrics::{score, ImageScores, MetricsError};
use crate::reconstruct::{acquired_mask, mask_as_f32, paste_patches, MeasuredPatch, PasteError};
use crate::upsample::{GridMap, GridMapError, Interpolation};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use std::path::Path;
use thiserror::Error;

/// The file in the run folder holding the reference's scores.
pub const FULL_SCAN_SCORES_FILE: &str = "full_scan_scores.json";

/// Why the reference could not be scored.
#[derive(Debug, Error)]
pub enum FullScanError {
    /// The session lacks the LR frame.
    #[error("the session holds no LR frame")]
    NoLrFrame,
    /// The session file failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The surface or ground truth could not be built.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A frame lacks the configured channel.
    #[error(transparent)]
    Channel(#[from] EngineError),
    /// The LR frame could not be placed on the HR grid.
    #[error("placing the LR frame on the HR grid: {0}")]
    Geometry(#[from] GridMapError),
    /// A patch does not fit the HR grid.
    #[error(transparent)]
    Paste(#[from] PasteError),
    /// Scoring failed.
    #[error("metrics: {0}")]
    Metrics(#[from] MetricsError),
    /// An output file could not be written.
    #[error("{0}")]
    Output(String),
}

/// Scores of the full-scan reference and of the baselines on the same frame. The unacquired values
/// are NaN (`null` in the file) when every tile was scanned.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FullScanScores {
    /// The mosaic of measured patches.
    pub mosaic: ImageScores,
    /// The aligned bicubic upsampling of the LR frame.
    pub bicubic: ImageScores,
    /// The aligned nearest upsampling of the LR frame.
    pub nearest: ImageScores,
    /// HR pixels no patch covers.
    pub unacquired_px: usize,
}

/// Scores the acquisition of `session` (run with `spec`, strategy `all`) as a full HR scan: writes
/// `mosaic.npy`, `acquired_mask.npy`, `ground_truth.npy` and [`FULL_SCAN_SCORES_FILE`] into `dir`.
/// Needs a simulated backend (the ground truth comes from the simulator).
pub fn score_full_scan(spec: &RunSpec, session: &Session, dir: &Path) -> Result<FullScanScores, FullScanError> {
    let channel = &spec.config.frame.channel;
    let lr_frame = session.lr()?.ok_or(FullScanError::NoLrFrame)?;
    let lr = channel_data(&lr_frame, channel, "LR frame")?;
    let map =
        GridMap { src_region: lr_frame.region, src_raster: lr_frame.raster, dst_region: spec.hr_region(), dst_raster: spec.hr_raster() };
    let bicubic = map.resample(lr.view(), Interpolation::Bicubic)?;
    let nearest = map.resample(lr.view(), Interpolation::Nearest)?;
    let patches = session
        .patches()?
        .iter()
        .map(|p| Ok(MeasuredPatch { rect: p.rect, data: channel_data(&p.frame, channel, "patch")?.clone() }))
        .collect::<Result<Vec<_>, EngineError>>()?;
    let mosaic = paste_patches(bicubic.view(), &patches, 0)?;
    let acquired = acquired_mask(mosaic.dim(), patches.iter().map(|p| p.rect));
    let truth = simulated_ground_truth(spec, &run_surface(spec)?)?;
    let result = FullScanScores {
        mosaic: score(mosaic.view(), truth.view(), acquired.view())?,
        bicubic: score(bicubic.view(), truth.view(), acquired.view())?,
        nearest: score(nearest.view(), truth.view(), acquired.view())?,
        unacquired_px: acquired.iter().filter(|&&a| !a).count(),
    };
    let mask = mask_as_f32(&acquired);
    let arrays: [(&str, &Array2<f32>); 3] = [("mosaic.npy", &mosaic), ("acquired_mask.npy", &mask), ("ground_truth.npy", &truth)];
    for (name, data) in arrays {
        write_array(&dir.join(name), data).map_err(|e| FullScanError::Output(e.to_string()))?;
    }
    let path = dir.join(FULL_SCAN_SCORES_FILE);
    let text = serde_json::to_string_pretty(&result).map_err(|e| FullScanError::Output(e.to_string()))?;
    std::fs::write(&path, text + "\n").map_err(|e| FullScanError::Output(format!("{}: {e}", path.display())))?;
    Ok(result)
}

/// Reads a [`FULL_SCAN_SCORES_FILE`].
pub fn read_full_scan_scores(path: &Path) -> Result<FullScanScores, FullScanError> {
    let text = std::fs::read_to_string(path).map_err(|e| FullScanError::Output(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| FullScanError::Output(format!("{}: {e}", path.display())))
}
