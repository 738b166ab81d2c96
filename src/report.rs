//! `metrics.json`: the machine-readable summary of a run — what it delivers (SR or, under the guard,
//! the fair baseline) and why, image quality against the ground truth where one exists, the
//! acquisition-time accounting, each HR frame's registration, the LR → acquired mapping, training,
//! timings and the compute device.

use crate::metrics::Quality;
use crate::pipeline::{Calibration, FrameRegistration, ModelOutcome, OutputChoice, Prepared, Scored, TrainingRecord};
use crate::plan::TimeAccounting;
use crate::register::GainOffset;
use serde::{Deserialize, Serialize};
use std::path::Path;

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

/// Wall-clock timings of the run, seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Acquisition (instrument I/O and simulation).
    pub acquire_s: f64,
    /// Levelling and registration.
    pub prepare_s: f64,
    /// Training.
    pub train_s: f64,
    /// Reconstruction.
    pub reconstruct_s: f64,
    /// Everything.
    pub total_s: f64,
    /// From the last patch journaled to the delivered image ready (levelling, registration, training,
    /// reconstruction, guard; the ground truth and scores that only a simulation has are not counted).
    /// Absent for acquisition-only runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_after_last_patch_s: Option<f64>,
}

/// The whole `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsReport {
    /// What the run delivers (`sr.npy`): "sr"; "filtered_baseline" when the learned input filter alone
    /// did better than SR; "baseline" when neither beat the fair baseline on held-out patches; absent
    /// before reconstruction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputChoice>,
    /// Why, in one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_reason: Option<String>,
    /// PSNR/SSIM of every compared image, where a ground truth exists.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub quality: Option<Quality>,
    /// Instrument-time accounting (runs on an instrument or simulator; absent offline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquisition: Option<AcquisitionMetrics>,
    /// How the images were levelled ("none", "plane", "plane+lines").
    #[serde(default)]
    pub level_mode: String,
    /// The channel the frames were registered in (the reconstructed one unless `[register] channel`).
    #[serde(default)]
    pub registration_channel: String,
    /// Every HR frame's registration against the LR.
    #[serde(default)]
    pub registration: Vec<FrameRegistration>,
    /// The gain and offset that bring the levelled LR onto the acquired patches (fair baseline, x0).
    #[serde(default)]
    pub lr_mapping: GainOffset,
    /// How well the uncertainty map predicts the real error on the unacquired region (Spearman per
    /// tile and per pixel, Pearson per pixel), where a ground truth exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncertainty_calibration: Option<Calibration>,
    /// The fit that brought the ground truth onto the acquired patches, where one exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth_fit: Option<GainOffset>,
    /// Wall-clock timings.
    pub timing: Timing,
    /// "cpu", "cuda" or "none".
    pub device: String,
    /// What the run did: "acquisition only" or "reconstructed".
    pub stage: String,
    /// Training summary, when the model was trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingRecord>,
}

impl MetricsReport {
    /// A report with nothing reconstructed (yet): the acquisition, if any, and the timings.
    pub fn new(acquisition: Option<AcquisitionMetrics>, timing: Timing) -> Self {
        Self {
            output: None,
            output_reason: None,
            quality: None,
            acquisition,
            level_mode: String::new(),
            registration_channel: String::new(),
            registration: Vec::new(),
            lr_mapping: GainOffset::default(),
            truth_fit: None,
            uncertainty_calibration: None,
            timing,
            device: "none".into(),
            stage: "acquisition only".into(),
            training: None,
        }
    }

    /// Records the pipeline's results: what was delivered and why, the scores (where a ground truth
    /// was scored), levelling, registration, the LR mapping, training and timings.
    pub fn record(&mut self, prepared: &Prepared, model: Option<&ModelOutcome>, scored: Option<&Scored>) {
        self.quality = scored.map(|s| s.quality);
        self.truth_fit = scored.map(|s| s.fit);
        self.uncertainty_calibration = scored.and_then(|s| s.calibration);
        self.level_mode = prepared.level_mode.name().into();
        self.registration_channel = prepared.registration_channel.clone();
        self.registration = prepared.registrations();
        self.lr_mapping = prepared.mapping;
        self.stage = "reconstructed".into();
        match model {
            Some(m) => {
                self.output = Some(m.output);
                self.output_reason = Some(m.reason.clone());
                self.training = m.training.clone();
                self.timing.train_s = m.training.as_ref().map_or(0.0, |t| t.train_s);
                self.timing.reconstruct_s = m.reconstruct_s;
                self.device = m.device.clone();
            }
            None => {
                self.output = Some(OutputChoice::Baseline);
                self.output_reason = Some("no model trained: the fair baseline with the measured patches".into());
            }
        }
    }

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
