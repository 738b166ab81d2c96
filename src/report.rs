//! `metrics.json`: the machine-readable summary of a run — image quality against the ground truth
//! (where one exists), the acquisition-time accounting, timings and the compute device.

use crate::metrics::{ImageScores, Score};
use crate::pipeline::Quality;
use crate::plan::TimeAccounting;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One metric (PSNR or SSIM) for every reconstruction method, each on the whole image and on the
/// unacquired region only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodScores {
    /// The model's reconstruction with the measured patches pasted in (what the run delivers).
    pub sr: Score,
    /// The model's reconstruction before the patches are pasted.
    pub sr_unpasted: Score,
    /// Bicubic upsampling of the LR frame (correct geometry).
    pub bicubic: Score,
    /// Nearest-neighbour upsampling of the LR frame (correct geometry).
    pub nearest: Score,
}

impl MethodScores {
    /// The PSNR and SSIM tables of a run's quality.
    pub fn from_quality(q: &Quality) -> (Self, Self) {
        let pick = |f: fn(&ImageScores) -> Score| Self {
            sr: f(&q.sr),
            sr_unpasted: f(&q.sr_unpasted),
            bicubic: f(&q.bicubic),
            nearest: f(&q.nearest),
        };
        (pick(|s| s.psnr), pick(|s| s.ssim))
    }
}

/// The acquisition part of the report, seconds of instrument time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcquisitionMetrics {
    /// The plan's instrument time: LR + patches + moves/settling.
    pub plan_s: f64,
    /// One full HR frame of the same area.
    pub full_hr_s: f64,
    /// plan_s / full_hr_s.
    pub fraction: f64,
    /// Number of HR patches.
    pub n_patches: usize,
    /// LR frame line time.
    pub lr_s: f64,
    /// Patch line times together.
    pub patches_s: f64,
    /// Moves and settling together.
    pub moves_s: f64,
    /// What the instrument reported for the frames, summed.
    pub measured_s: f64,
    /// Tile indices in pick order.
    pub picks: Vec<usize>,
}

impl AcquisitionMetrics {
    /// From the plan's accounting, the instrument's reported total and the picks.
    pub fn new(acc: &TimeAccounting, measured_s: f64, picks: &[usize]) -> Self {
        Self {
            plan_s: acc.plan_s,
            full_hr_s: acc.full_hr_s,
            fraction: acc.fraction,
            n_patches: acc.n_patches,
            lr_s: acc.lr_s,
            patches_s: acc.patch_s.iter().sum(),
            moves_s: acc.moves_s,
            measured_s,
            picks: picks.to_vec(),
        }
    }
}

/// Wall-clock timings of the run, seconds (step time in ms).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Acquisition (instrument I/O and simulation).
    pub acquire_s: f64,
    /// Training.
    pub train_s: f64,
    /// Reconstruction.
    pub reconstruct_s: f64,
    /// Everything.
    pub total_s: f64,
    /// Mean training step.
    pub train_step_ms: f64,
}

/// The whole `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsReport {
    /// PSNR in dB (data range of the ground truth), where a ground truth exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub psnr: Option<MethodScores>,
    /// SSIM (Gaussian window 11, σ 1.5), where a ground truth exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssim: Option<MethodScores>,
    /// Instrument-time accounting.
    pub acquisition: AcquisitionMetrics,
    /// Wall-clock timings.
    pub timing: Timing,
    /// "cpu" or "cuda".
    pub device: String,
    /// What the run did: "acquisition only" or "reconstructed".
    pub stage: String,
    /// Training summary, when the model was trained.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingSummary>,
}

/// How training went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// Optimiser steps run.
    pub steps: usize,
    /// Why it stopped.
    pub stop: crate::train::StopReason,
}

impl MetricsReport {
    /// Writes the report as pretty JSON.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text + "\n")
    }

    /// Reads a report.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        serde_json::from_str(&text).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))
    }
}
