//! Progress events the engine emits (over a crossbeam channel) for the CLI's progress display.

/// Something that happened in a run.
#[derive(Debug, Clone, PartialEq)]
pub enum ProgressEvent {
    /// A new stage begins ("LR frame", "selection", "HR patches", "training", …).
    Stage(String),
    /// The plan is known: how many scans and how much instrument time in all.
    PlanReady {
        /// Scans in the plan (LR + patches).
        scans: usize,
        /// Planned instrument time, seconds.
        instrument_s: f64,
    },
    /// A scan was already in the session (resume) and is not repeated.
    Skipped {
        /// What, e.g. "patch 3/20 (tile 17)".
        label: String,
        /// Its planned instrument time, seconds.
        instrument_s: f64,
    },
    /// A scan request goes out.
    ScanStarted {
        /// What, e.g. "LR frame" or "patch 3/20 (tile 17)".
        label: String,
        /// Planned instrument time still ahead, this scan included, seconds.
        remaining_instrument_s: f64,
    },
    /// A scan was journaled.
    ScanFinished {
        /// What.
        label: String,
        /// Its planned instrument time, seconds (what the progress bar advances by).
        planned_s: f64,
        /// Instrument time the instrument reported, seconds.
        instrument_time_s: f64,
    },
    /// One training evaluation point.
    Training {
        /// Step reached.
        step: usize,
        /// Step budget.
        max_steps: usize,
        /// Training loss.
        loss: f64,
        /// Validation gain over the fair baseline (dB), when validated.
        val_gain_db: Option<f64>,
    },
    /// Training that runs while the instrument scans has reached `steps`, on `patches` patches.
    TrainingWhileScanning {
        /// Optimiser steps so far.
        steps: usize,
        /// Patches in the training set now.
        patches: usize,
    },
    /// Reconstruction progress: windows done of total.
    Reconstructing {
        /// Windows integrated so far.
        done: usize,
        /// All windows.
        total: usize,
    },
    /// The run is over (successfully or not); the display can close.
    Finished,
}
