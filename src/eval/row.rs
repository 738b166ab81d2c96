//! One row of `results.csv`: a grid point's acquisition-time fraction, PSNR/SSIM of SR, bicubic and
//! nearest (whole image and unacquired region), training and wall time, and where its run folder is.

use super::full_scan::FullScanScores;
use super::grid::PlannedRun;
use crate::metrics::Score;
use crate::report::MetricsReport;
use serde::{Deserialize, Serialize};

/// One evaluated run. For the `all` strategy (every tile scanned, no model) the "SR" columns hold the
/// mosaic of measured patches, and the unacquired columns are empty when every tile was scanned.
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
    /// PSNR of SR (patches pasted), whole image, dB.
    pub psnr_sr_whole_db: Option<f64>,
    /// PSNR of SR on the unacquired region, dB.
    pub psnr_sr_unacquired_db: Option<f64>,
    /// PSNR of the aligned bicubic, whole image, dB.
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
pub const COLUMNS: [&str; 26] = [
    "surface",
    "strategy",
    "n_select",
    "n_patches",
    "n_val",
    "fraction",
    "plan_s",
    "full_hr_s",
    "psnr_sr_whole_db",
    "psnr_sr_unacquired_db",
    "psnr_bicubic_whole_db",
    "psnr_bicubic_unacquired_db",
    "psnr_nearest_whole_db",
    "psnr_nearest_unacquired_db",
    "ssim_sr_whole",
    "ssim_sr_unacquired",
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

const TEXT_COLUMNS: [&str; 5] = ["surface", "strategy", "device", "run_dir", "status"];

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

impl EvalRow {
    fn empty(run: &PlannedRun, status: String) -> Self {
        Self {
            surface: run.surface.clone(),
            strategy: run.strategy.name().into(),
            n_select: run.n_select,
            n_patches: run.spec.n_patches(),
            n_val: run.n_val,
            fraction: None,
            plan_s: None,
            full_hr_s: None,
            psnr_sr_whole_db: None,
            psnr_sr_unacquired_db: None,
            psnr_bicubic_whole_db: None,
            psnr_bicubic_unacquired_db: None,
            psnr_nearest_whole_db: None,
            psnr_nearest_unacquired_db: None,
            ssim_sr_whole: None,
            ssim_sr_unacquired: None,
            ssim_bicubic_whole: None,
            ssim_bicubic_unacquired: None,
            ssim_nearest_whole: None,
            ssim_nearest_unacquired: None,
            train_steps: None,
            train_s: None,
            wall_s: None,
            device: "none".into(),
            run_dir: run.folder.to_string_lossy().into_owned(),
            status,
        }
    }

    /// A run that failed: its identity and the reason.
    pub fn failed(run: &PlannedRun, reason: &str) -> Self {
        Self::empty(run, format!("failed: {reason}"))
    }

    /// From a finished run's `metrics.json`.
    pub fn from_report(run: &PlannedRun, report: &MetricsReport, status: &str) -> Self {
        let mut row = Self::empty(run, status.into());
        row.set_acquisition(report);
        if let (Some(p), Some(s)) = (&report.psnr, &report.ssim) {
            row.set_scores([p.sr, p.bicubic, p.nearest], [s.sr, s.bicubic, s.nearest]);
        }
        row.train_steps = report.training.as_ref().map(|t| t.steps);
        row.train_s = report.training.as_ref().map(|_| report.timing.train_s);
        row.device = report.device.clone();
        row
    }

    /// From the acquisition-only run of the `all` reference and its mosaic scores.
    pub fn from_full_scan(run: &PlannedRun, report: &MetricsReport, scores: &FullScanScores, status: &str) -> Self {
        let mut row = Self::empty(run, status.into());
        row.set_acquisition(report);
        let [m, b, n] = [scores.mosaic, scores.bicubic, scores.nearest];
        row.set_scores([m.psnr, b.psnr, n.psnr], [m.ssim, b.ssim, n.ssim]);
        row
    }

    fn set_acquisition(&mut self, report: &MetricsReport) {
        let a = &report.acquisition;
        self.n_patches = a.n_patches;
        self.fraction = Some(a.fraction);
        self.plan_s = Some(a.plan_s);
        self.full_hr_s = Some(a.full_hr_s);
        self.wall_s = Some(report.timing.total_s);
    }

    /// Sets the scores of SR, bicubic and nearest (in that order). Non-finite values (e.g. a perfect
    /// match, or an empty region) are left empty.
    fn set_scores(&mut self, psnr: [Score; 3], ssim: [Score; 3]) {
        let [sr, bi, ne] = psnr;
        (self.psnr_sr_whole_db, self.psnr_sr_unacquired_db) = (finite(sr.whole), finite(sr.unacquired));
        (self.psnr_bicubic_whole_db, self.psnr_bicubic_unacquired_db) = (finite(bi.whole), finite(bi.unacquired));
        (self.psnr_nearest_whole_db, self.psnr_nearest_unacquired_db) = (finite(ne.whole), finite(ne.unacquired));
        let [sr, bi, ne] = ssim;
        (self.ssim_sr_whole, self.ssim_sr_unacquired) = (finite(sr.whole), finite(sr.unacquired));
        (self.ssim_bicubic_whole, self.ssim_bicubic_unacquired) = (finite(bi.whole), finite(bi.unacquired));
        (self.ssim_nearest_whole, self.ssim_nearest_unacquired) = (finite(ne.whole), finite(ne.unacquired));
    }

    /// Whether the run finished (fresh or reused).
    pub fn is_ok(&self) -> bool {
        self.status == "ok" || self.status == "reused"
    }

    /// SR minus bicubic PSNR on the unacquired region, dB.
    pub fn gain_unacquired_db(&self) -> Option<f64> {
        Some(self.psnr_sr_unacquired_db? - self.psnr_bicubic_unacquired_db?)
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
            f(self.psnr_sr_whole_db, 4),
            f(self.psnr_sr_unacquired_db, 4),
            f(self.psnr_bicubic_whole_db, 4),
            f(self.psnr_bicubic_unacquired_db, 4),
            f(self.psnr_nearest_whole_db, 4),
            f(self.psnr_nearest_unacquired_db, 4),
            f(self.ssim_sr_whole, 6),
            f(self.ssim_sr_unacquired, 6),
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
