//! One row of `results.csv`: a grid point's acquisition-time fraction, what it delivered (SR or the
//! fair baseline under the guard), PSNR/SSIM of the delivered image, the fair baseline, bicubic and
//! nearest (whole image and unacquired region), training and wall time, and where its run folder is.

use super::grid::PlannedRun;
use crate::metrics::{MethodScores, Score};
use crate::report::MetricsReport;
use serde::{Deserialize, Serialize};

/// One evaluated run. The "SR" columns hold what the run delivered (for the `all` strategy — every tile
/// scanned, no model — the mosaic of measured patches); the unacquired columns are empty when every
/// tile was scanned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRow {
    /// Surface label ("terraces", a file's stem, …).
    pub surface: String,
    /// Selection strategy ("farthest_first", "random", "uniform", "all").
    pub strategy: String,
    /// Requested picks (the budget).
    pub n_select: usize,
    /// HR patches acquired.
    pub n_patches: usize,
    /// Acquired patches held out for early stopping.
    pub n_val: usize,
    /// Plan instrument time ÷ one full HR frame (the plan's own accounting, as in `metrics.json`).
    pub fraction: Option<f64>,
    /// Plan instrument time, seconds.
    pub plan_s: Option<f64>,
    /// Instrument time of one full HR frame, seconds.
    pub full_hr_s: Option<f64>,
    /// What the run delivered: "sr", "filtered_baseline" or "baseline" (the guard, or no model).
    pub output: String,
    /// PSNR of the delivered image (patches pasted), whole image, dB.
    pub psnr_sr_whole_db: Option<f64>,
    /// PSNR of SR on the unacquired region, dB.
    pub psnr_sr_unacquired_db: Option<f64>,
    /// PSNR of the fair baseline (patches pasted), whole image, dB.
    pub psnr_fair_whole_db: Option<f64>,
    /// PSNR of the fair baseline on the unacquired region, dB.
    pub psnr_fair_unacquired_db: Option<f64>,
    /// PSNR of the aligned bicubic of the levelled LR, whole image, dB.
    pub psnr_bicubic_whole_db: Option<f64>,
    /// PSNR of the aligned bicubic on the unacquired region, dB.
    pub psnr_bicubic_unacquired_db: Option<f64>,
    /// PSNR of nearest, whole image, dB.
    pub psnr_nearest_whole_db: Option<f64>,
    /// PSNR of nearest on the unacquired region, dB.
    pub psnr_nearest_unacquired_db: Option<f64>,
    /// SSIM of SR, whole image.
    pub ssim_sr_whole: Option<f64>,
    /// SSIM of SR on the unacquired region.
    pub ssim_sr_unacquired: Option<f64>,
    /// SSIM of the fair baseline, whole image.
    pub ssim_fair_whole: Option<f64>,
    /// SSIM of the fair baseline on the unacquired region.
    pub ssim_fair_unacquired: Option<f64>,
    /// SSIM of bicubic, whole image.
    pub ssim_bicubic_whole: Option<f64>,
    /// SSIM of bicubic on the unacquired region.
    pub ssim_bicubic_unacquired: Option<f64>,
    /// SSIM of nearest, whole image.
    pub ssim_nearest_whole: Option<f64>,
    /// SSIM of nearest on the unacquired region.
    pub ssim_nearest_unacquired: Option<f64>,
    /// Optimiser steps (empty without training).
    pub train_steps: Option<usize>,
    /// Training wall time, seconds.
    pub train_s: Option<f64>,
    /// Wall time of the whole run, seconds.
    pub wall_s: Option<f64>,
    /// Compute device of the model ("cpu", "cuda", "none").
    pub device: String,
    /// The run folder, relative to the evaluation folder.
    pub run_dir: String,
    /// "ok", "reused" (taken from an earlier evaluation into the same folder) or "failed: …".
    pub status: String,
}

/// The columns of `results.csv`, in order (the field names of [`EvalRow`]).
pub const COLUMNS: [&str; 31] = [
    "surface",
    "strategy",
    "n_select",
    "n_patches",
    "n_val",
    "fraction",
    "plan_s",
    "full_hr_s",
    "output",
    "psnr_sr_whole_db",
    "psnr_sr_unacquired_db",
    "psnr_fair_whole_db",
    "psnr_fair_unacquired_db",
    "psnr_bicubic_whole_db",
    "psnr_bicubic_unacquired_db",
    "psnr_nearest_whole_db",
    "psnr_nearest_unacquired_db",
    "ssim_sr_whole",
    "ssim_sr_unacquired",
    "ssim_fair_whole",
    "ssim_fair_unacquired",
    "ssim_bicubic_whole",
    "ssim_bicubic_unacquired",
    "ssim_nearest_whole",
    "ssim_nearest_unacquired",
    "train_steps",
    "train_s",
    "wall_s",
    "device",
    "run_dir",
    "status",
];

const TEXT_COLUMNS: [&str; 6] = ["surface", "strategy", "output", "device", "run_dir", "status"];

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

impl EvalRow {
    /// A row of a case that is not a planned closed-loop run (a `fuse` case), with nothing filled in.
    pub fn named(surface: &str, strategy: &str, run_dir: &str) -> Self {
        Self {
            surface: surface.into(),
            strategy: strategy.into(),
            n_select: 0,
            n_patches: 0,
            n_val: 0,
            run_dir: run_dir.into(),
            ..Self::blank()
        }
    }

    fn blank() -> Self {
        Self {
            surface: String::new(),
            strategy: String::new(),
            n_select: 0,
            n_patches: 0,
            n_val: 0,
            fraction: None,
            plan_s: None,
            full_hr_s: None,
            output: String::new(),
            psnr_sr_whole_db: None,
            psnr_sr_unacquired_db: None,
            psnr_fair_whole_db: None,
            psnr_fair_unacquired_db: None,
            psnr_bicubic_whole_db: None,
            psnr_bicubic_unacquired_db: None,
            psnr_nearest_whole_db: None,
            psnr_nearest_unacquired_db: None,
            ssim_sr_whole: None,
            ssim_sr_unacquired: None,
            ssim_fair_whole: None,
            ssim_fair_unacquired: None,
            ssim_bicubic_whole: None,
            ssim_bicubic_unacquired: None,
            ssim_nearest_whole: None,
            ssim_nearest_unacquired: None,
            train_steps: None,
            train_s: None,
            wall_s: None,
            device: "none".into(),
            run_dir: String::new(),
            status: String::new(),
        }
    }

    fn empty(run: &PlannedRun, status: String) -> Self {
        Self {
            surface: run.surface.clone(),
            strategy: run.strategy.name().into(),
            n_select: run.n_select,
            n_patches: run.spec.n_patches(),
            n_val: run.n_val,
            run_dir: run.folder.to_string_lossy().into_owned(),
            status,
            ..Self::blank()
        }
    }

    /// A run that failed: its identity and the reason.
    pub fn failed(run: &PlannedRun, reason: &str) -> Self {
        Self::empty(run, format!("failed: {reason}"))
    }

    /// From a finished run's `metrics.json` (the full-scan reference included: it delivers the mosaic).
    pub fn from_report(run: &PlannedRun, report: &MetricsReport, status: &str) -> Self {
        let mut row = Self::empty(run, status.into());
        row.set_acquisition(report);
        if let Some(q) = &report.quality {
            row.set_scores(&q.psnr, &q.ssim);
        }
        row.output = report.output.map(|o| o.name().to_string()).unwrap_or_default();
        row.train_steps = report.training.as_ref().map(|t| t.steps);
        row.train_s = report.training.as_ref().map(|_| report.timing.train_s);
        row.device = report.device.clone();
        row
    }

    fn set_acquisition(&mut self, report: &MetricsReport) {
        if let Some(a) = &report.acquisition {
            self.n_patches = a.n_patches;
            self.fraction = Some(a.fraction);
            self.plan_s = Some(a.plan_s);
            self.full_hr_s = Some(a.full_hr_s);
        }
        self.wall_s = Some(report.timing.total_s);
    }

    /// Sets the scores of the delivered image, the fair baseline, bicubic and nearest. Non-finite
    /// values (e.g. a perfect match, or an empty region) are left empty.
    fn set_scores(&mut self, psnr: &MethodScores, ssim: &MethodScores) {
        let pair = |s: Score| (finite(s.whole), finite(s.unacquired));
        (self.psnr_sr_whole_db, self.psnr_sr_unacquired_db) = pair(psnr.delivered);
        (self.psnr_fair_whole_db, self.psnr_fair_unacquired_db) = pair(psnr.fair_baseline);
        (self.psnr_bicubic_whole_db, self.psnr_bicubic_unacquired_db) = pair(psnr.bicubic);
        (self.psnr_nearest_whole_db, self.psnr_nearest_unacquired_db) = pair(psnr.nearest);
        (self.ssim_sr_whole, self.ssim_sr_unacquired) = pair(ssim.delivered);
        (self.ssim_fair_whole, self.ssim_fair_unacquired) = pair(ssim.fair_baseline);
        (self.ssim_bicubic_whole, self.ssim_bicubic_unacquired) = pair(ssim.bicubic);
        (self.ssim_nearest_whole, self.ssim_nearest_unacquired) = pair(ssim.nearest);
    }

    /// Whether the run finished (fresh or reused).
    pub fn is_ok(&self) -> bool {
        self.status == "ok" || self.status == "reused"
    }

    /// Delivered minus fair-baseline PSNR on the unacquired region, dB.
    pub fn gain_unacquired_db(&self) -> Option<f64> {
        Some(self.psnr_sr_unacquired_db? - self.psnr_fair_unacquired_db?)
    }

    /// Delivered minus fair-baseline SSIM on the unacquired region.
    pub fn ssim_gain_unacquired(&self) -> Option<f64> {
        Some(self.ssim_sr_unacquired? - self.ssim_fair_unacquired?)
    }

    /// The CSV fields in [`COLUMNS`] order: fractions and SSIM to 6 decimals, dB to 4, seconds to 3.
    pub fn csv_fields(&self) -> Vec<String> {
        let f = |v: Option<f64>, d: usize| v.map(|v| format!("{v:.d$}")).unwrap_or_default();
        vec![
            self.surface.clone(),
            self.strategy.clone(),
            self.n_select.to_string(),
            self.n_patches.to_string(),
            self.n_val.to_string(),
            f(self.fraction, 6),
            f(self.plan_s, 3),
            f(self.full_hr_s, 3),
            self.output.clone(),
            f(self.psnr_sr_whole_db, 4),
            f(self.psnr_sr_unacquired_db, 4),
            f(self.psnr_fair_whole_db, 4),
            f(self.psnr_fair_unacquired_db, 4),
            f(self.psnr_bicubic_whole_db, 4),
            f(self.psnr_bicubic_unacquired_db, 4),
            f(self.psnr_nearest_whole_db, 4),
            f(self.psnr_nearest_unacquired_db, 4),
            f(self.ssim_sr_whole, 6),
            f(self.ssim_sr_unacquired, 6),
            f(self.ssim_fair_whole, 6),
            f(self.ssim_fair_unacquired, 6),
            f(self.ssim_bicubic_whole, 6),
            f(self.ssim_bicubic_unacquired, 6),
            f(self.ssim_nearest_whole, 6),
            f(self.ssim_nearest_unacquired, 6),
            self.train_steps.map(|s| s.to_string()).unwrap_or_default(),
            f(self.train_s, 3),
            f(self.wall_s, 3),
            self.device.clone(),
            self.run_dir.clone(),
            self.status.clone(),
        ]
    }

    /// A row from CSV fields under `header` (columns may come in any order; missing numbers are empty).
    pub fn from_csv_fields(header: &[String], fields: &[String]) -> Result<Self, String> {
        if header.len() != fields.len() {
            return Err(format!("{} fields under a header of {}", fields.len(), header.len()));
        }
        let mut map = serde_json::Map::new();
        for (name, value) in header.iter().zip(fields) {
            let v = if TEXT_COLUMNS.contains(&name.as_str()) {
                serde_json::Value::String(value.clone())
            } else if value.is_empty() {
                serde_json::Value::Null
            } else if let Ok(n) = value.parse::<u64>() {
                serde_json::Value::from(n)
            } else {
                let x: f64 = value.parse().map_err(|_| format!("column {name}: {value:?} is not a number"))?;
                serde_json::Number::from_f64(x)
                    .map(serde_json::Value::Number)
                    .ok_or_else(|| format!("column {name}: {value:?} is not finite"))?
            };
            map.insert(name.clone(), v);
        }
        serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| e.to_string())
    }
}
