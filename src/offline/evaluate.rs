//! Reconstruction of the whole HR image of an offline pair with a trained model, scored against the
//! HR file: SR (with the measured patches pasted back and without), and the aligned bicubic and
//! nearest baselines, each on the whole image and on the unacquired region — the numbers of a run's
//! `metrics.json`. Writes plain arrays (NumPy, HR grid, the LR's units), `panels.png` and
//! `metrics.json` into a folder.

use super::inputs::ImagePair;
use super::OfflineError;
use crate::device::device_name;
use crate::figures::sr_comparison_png;
use crate::io::npy::write_array;
use crate::model::TrainedModel;
use crate::pipeline::{Quality, Upsampled};
use crate::reconstruct::{acquired_mask, mask_as_f32, reconstruct, MeasuredPatch, ReconstructConfig};
use crate::report::MethodScores;
use crate::train::StopReason;
use crate::upsample::Interpolation;
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// The metrics file an evaluation writes.
pub const METRICS_FILE: &str = "metrics.json";

/// Files an evaluation writes into its folder.
pub const EVALUATION_FILES: [&str; 7] =
    ["sr.npy", "sr_unpasted.npy", "bicubic.npy", "nearest.npy", "acquired_mask.npy", "panels.png", METRICS_FILE];

/// How the model was trained, when the evaluation follows training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// Optimiser steps run.
    pub steps: usize,
    /// Why training stopped.
    pub stop: StopReason,
    /// Training wall time, seconds.
    pub train_s: f64,
    /// Mean optimiser step, milliseconds.
    pub train_step_ms: f64,
    /// Acquired pairs trained on.
    pub n_train: usize,
    /// Acquired pairs held out for early stopping.
    pub n_val: usize,
}

/// `metrics.json` of an offline evaluation. PSNR/SSIM that are +∞ (a perfect match) or undefined
/// (no unacquired pixel) are written as `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfflineMetrics {
    /// PSNR in dB, data range of the HR image.
    pub psnr: MethodScores,
    /// SSIM (Gaussian window 11, σ 1.5).
    pub ssim: MethodScores,
    /// Measured HR patches pasted back (the acquired tiles).
    pub n_patches: usize,
    /// Their tile indices, in pick order.
    pub picks: Vec<usize>,
    /// How the LR was placed on the HR grid.
    pub geometry: String,
    /// Reconstruction wall time, seconds.
    pub reconstruct_s: f64,
    /// "cpu" or "cuda".
    pub device: String,
    /// Training summary, when the model was trained in the same command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingInfo>,
}

/// Everything an evaluation produced (HR grid).
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// SR with the measured patches pasted back.
    pub sr: Array2<f32>,
    /// SR before pasting.
    pub sr_unpasted: Array2<f32>,
    /// The scores and their context.
    pub metrics: OfflineMetrics,
}

/// What an evaluation reconstructs with, besides the model and the images.
#[derive(Debug, Clone, Copy)]
pub struct EvaluationSetup<'a> {
    /// How the LR is brought onto the HR grid as the model input x0.
    pub model_input: Interpolation,
    /// The measured HR patches pasted back (the acquired tiles).
    pub patches: &'a [MeasuredPatch],
    /// Their tile indices, in pick order (for the report).
    pub picks: &'a [usize],
    /// Sliding-window settings.
    pub reconstruct: &'a ReconstructConfig,
    /// How the model was trained, when known.
    pub training: Option<TrainingInfo>,
}

/// Reconstructs the HR grid of `pair` with `model` (x0 = the LR by `setup.model_input` at its true
/// position), pastes the measured patches back, scores everything against the HR image and writes
/// [`EVALUATION_FILES`] into `dir` (created if missing).
pub fn evaluate(model: &TrainedModel, pair: &ImagePair, setup: &EvaluationSetup<'_>, dir: &Path) -> Result<Evaluation, OfflineError> {
    let EvaluationSetup { model_input, patches, picks, reconstruct: cfg, training } = *setup;
    let geometry = |e: crate::upsample::GridMapError| OfflineError::stage("placing the LR on the HR grid", e);
    let lr = pair.lr.data.view();
    let up = Upsampled::new(lr, &pair.map, model_input).map_err(geometry)?;
    let x0 = &up.x0;
    let t0 = Instant::now();
    let rec = reconstruct(model, x0.view(), patches, cfg).map_err(|e| OfflineError::stage("reconstruction", e))?;
    let reconstruct_s = t0.elapsed().as_secs_f64();
    let rects: Vec<_> = patches.iter().map(|p| p.rect).collect();
    let acquired = acquired_mask(x0.dim(), rects.iter().copied());
    let truth = pair.hr.data.view();
    let quality = Quality::of(&rec.sr_m, &rec.inferred_m, &up, &pair.hr.data, &acquired)
        .map_err(|e| OfflineError::stage(format!("metrics against {}", pair.hr.path.display()), e))?;
    let (psnr, ssim) = MethodScores::from_quality(&quality);
    let metrics = OfflineMetrics {
        psnr,
        ssim,
        n_patches: patches.len(),
        picks: picks.to_vec(),
        geometry: pair.describe_geometry(),
        reconstruct_s,
        device: device_name(model.device()).to_string(),
        training,
    };
    std::fs::create_dir_all(dir).map_err(|e| OfflineError::output(dir, e))?;
    let mask = mask_as_f32(&acquired);
    for (name, data) in
        [("sr", &rec.sr_m), ("sr_unpasted", &rec.inferred_m), ("bicubic", &up.bicubic), ("nearest", &up.nearest), ("acquired_mask", &mask)]
    {
        let path = dir.join(format!("{name}.npy"));
        write_array(&path, data).map_err(|e| OfflineError::output(&path, e))?;
    }
    let panels = dir.join("panels.png");
    sr_comparison_png(&panels, lr, rec.sr_m.view(), Some(truth), &rects).map_err(|e| OfflineError::output(&panels, e))?;
    let path = dir.join(METRICS_FILE);
    let text = serde_json::to_string_pretty(&metrics).map_err(|e| OfflineError::output(&path, e))?;
    std::fs::write(&path, text + "\n").map_err(|e| OfflineError::output(&path, e))?;
    Ok(Evaluation { sr: rec.sr_m, sr_unpasted: rec.inferred_m, metrics })
}
