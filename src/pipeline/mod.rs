//! The model half of a run, after acquisition: x0 and the baselines on the HR grid (true geometry),
//! training on the acquired pairs, sliding-window reconstruction with the measured patches pasted
//! back, quality against the ground truth where one exists, and the run folder's arrays and figures.

mod closed_loop;
mod outputs;

pub use closed_loop::{run_closed_loop, RunError, RunOptions};
pub use outputs::{write_outputs, OUTPUT_FILES};

use crate::config::RunSpec;
use crate::device::{device_name, DeviceError};
use crate::engine::{channel_data, AcquisitionOutcome, EngineError, ProgressEvent};
use crate::metrics::{score, ImageScores, MetricsError};
use crate::plan::AcquisitionPlan;
use crate::reconstruct::{acquired_mask, reconstruct, MeasuredPatch, PasteError, ReconstructError};
use crate::train::{pairs_from_patches, save_artifacts, train, ArtifactError, NormalizeError, Normalizer, StopReason, TrainError};
use crate::upsample::{GridMap, GridMapError, Interpolation};
use crossbeam::channel::Sender;
use ndarray::{Array2, ArrayView2};
use std::path::Path;
use std::time::Instant;
use thiserror::Error;

/// Why the model stage failed.
#[derive(Debug, Error)]
pub enum PipelineError {
    /// The acquired frames lack the configured channel.
    #[error(transparent)]
    Channel(#[from] EngineError),
    /// The LR frame could not be placed on the HR grid.
    #[error("placing the LR frame on the HR grid: {0}")]
    Geometry(#[from] GridMapError),
    /// Normalisation from the LR frame failed (e.g. a flat frame).
    #[error("normalising by the LR frame: {0}")]
    Normalize(#[from] NormalizeError),
    /// A patch does not fit the HR grid.
    #[error(transparent)]
    Paste(#[from] PasteError),
    /// The requested device is unavailable.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// Training failed.
    #[error("training: {0}")]
    Train(#[from] TrainError),
    /// The checkpoint, loss CSV or curve could not be written.
    #[error("saving the model: {0}")]
    Artifacts(#[from] ArtifactError),
    /// Reconstruction failed.
    #[error("reconstruction: {0}")]
    Reconstruct(#[from] ReconstructError),
    /// Scoring failed.
    #[error("metrics: {0}")]
    Metrics(#[from] MetricsError),
    /// An output file could not be written.
    #[error("{0}")]
    Output(String),
}

/// Scores of every method against the ground truth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// SR with the measured patches pasted back.
    pub sr: ImageScores,
    /// SR before pasting.
    pub sr_unpasted: ImageScores,
    /// Bicubic upsampling of the LR frame.
    pub bicubic: ImageScores,
    /// Nearest-neighbour upsampling of the LR frame.
    pub nearest: ImageScores,
}

impl Quality {
    /// Scores every method against `truth`; `acquired` marks the measured patches.
    pub fn of(
        sr: &Array2<f32>,
        sr_unpasted: &Array2<f32>,
        up: &Upsampled,
        truth: &Array2<f32>,
        acquired: &Array2<bool>,
    ) -> Result<Self, MetricsError> {
        let s = |pred: &Array2<f32>| score(pred.view(), truth.view(), acquired.view());
        Ok(Self { sr: s(sr)?, sr_unpasted: s(sr_unpasted)?, bicubic: s(&up.bicubic)?, nearest: s(&up.nearest)? })
    }
}

/// The LR frame on the HR grid three ways, all at the LR pixels' true physical positions: the model
/// input x0 and the two baselines.
#[derive(Debug, Clone)]
pub struct Upsampled {
    /// The model input.
    pub x0: Array2<f32>,
    /// Bicubic baseline.
    pub bicubic: Array2<f32>,
    /// Nearest baseline.
    pub nearest: Array2<f32>,
}

impl Upsampled {
    /// Resamples `lr` with `map`; x0 by `model_input` (a copy of the baseline of the same method).
    pub fn new(lr: ArrayView2<f32>, map: &GridMap, model_input: Interpolation) -> Result<Self, GridMapError> {
        let bicubic = map.resample(lr, Interpolation::Bicubic)?;
        let nearest = map.resample(lr, Interpolation::Nearest)?;
        let x0 = match model_input {
            Interpolation::Bicubic => bicubic.clone(),
            Interpolation::Nearest => nearest.clone(),
            Interpolation::Bilinear => map.resample(lr, Interpolation::Bilinear)?,
        };
        Ok(Self { x0, bicubic, nearest })
    }
}

/// Everything the model stage produced, on the HR grid, metres.
#[derive(Debug, Clone)]
pub struct ModelStage {
    /// The LR frame as acquired (its own grid).
    pub lr: Array2<f32>,
    /// The model input: the LR frame on the HR grid.
    pub x0: Array2<f32>,
    /// The reconstruction with the measured patches pasted back.
    pub sr: Array2<f32>,
    /// The reconstruction before pasting.
    pub sr_unpasted: Array2<f32>,
    /// Bicubic baseline.
    pub bicubic: Array2<f32>,
    /// Nearest baseline.
    pub nearest: Array2<f32>,
    /// true where a measured HR patch lies.
    pub acquired: Array2<bool>,
    /// Scores, where a ground truth was given.
    pub quality: Option<Quality>,
    /// Training wall time, seconds.
    pub train_s: f64,
    /// Mean training step, milliseconds.
    pub train_step_ms: f64,
    /// Optimiser steps run.
    pub train_steps: usize,
    /// Why training stopped.
    pub stop: StopReason,
    /// Reconstruction wall time, seconds.
    pub reconstruct_s: f64,
    /// "cpu" or "cuda".
    pub device: String,
}

/// Trains on the acquired pairs and reconstructs the whole HR image; scores it against
/// `ground_truth` when given. The checkpoint, loss CSV and loss curve go to `model_dir`.
pub fn train_and_reconstruct(
    spec: &RunSpec,
    plan: &AcquisitionPlan,
    acq: &AcquisitionOutcome,
    ground_truth: Option<&Array2<f32>>,
    model_dir: &Path,
    events: &Sender<ProgressEvent>,
) -> Result<ModelStage, PipelineError> {
    let channel = &spec.config.frame.channel;
    let lr = channel_data(&acq.lr, channel, "LR frame")?.clone();
    let map = GridMap { src_region: acq.lr.region, src_raster: acq.lr.raster, dst_region: plan.hr_region, dst_raster: plan.hr_raster };
    let up = Upsampled::new(lr.view(), &map, spec.config.lr.model_input)?;
    let x0 = &up.x0;
    let patches = acq
        .patches
        .iter()
        .map(|p| {
            let label = format!("patch {}", p.pick_order + 1);
            Ok(MeasuredPatch { rect: p.rect, data: channel_data(&p.frame, channel, &label)?.clone() })
        })
        .collect::<Result<Vec<_>, EngineError>>()?;
    let pairs = pairs_from_patches(x0.view(), &patches)?;
    let normalizer = Normalizer::from_lr(lr.view())?;
    let device = spec.config.run.device.resolve()?;
    let cfg = &spec.config.train;
    let _ = events.send(ProgressEvent::Stage("training".into()));
    let outcome = train(&pairs, normalizer, cfg, device, &mut |p| {
        let _ = events.send(ProgressEvent::Training { step: p.step, max_steps: p.max_steps, loss: p.train_loss, val_loss: p.val_loss });
    })?;
    save_artifacts(model_dir, &outcome, cfg)?;

    let _ = events.send(ProgressEvent::Stage("reconstruction".into()));
    let t0 = Instant::now();
    let rec = reconstruct(&outcome.model, x0.view(), &patches, &spec.config.reconstruct)?;
    let reconstruct_s = t0.elapsed().as_secs_f64();
    let acquired = acquired_mask(x0.dim(), patches.iter().map(|p| p.rect));
    let quality = ground_truth.map(|truth| Quality::of(&rec.sr_m, &rec.inferred_m, &up, truth, &acquired)).transpose()?;
    Ok(ModelStage {
        lr,
        x0: up.x0,
        sr: rec.sr_m,
        sr_unpasted: rec.inferred_m,
        bicubic: up.bicubic,
        nearest: up.nearest,
        acquired,
        quality,
        train_s: outcome.train_s,
        train_step_ms: outcome.mean_step_ms,
        train_steps: outcome.steps,
        stop: outcome.stop,
        reconstruct_s,
        device: device_name(device).to_string(),
    })
}
