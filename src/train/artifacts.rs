//! The files a training run leaves in its folder: the checkpoint (`model.safetensors`,
//! `model.json`), the training configuration (`train_config.json`), `loss.csv` and `loss.png`.

use super::config::TrainConfig;
use super::trainer::TrainOutcome;
use crate::figures::{loss_curve_with_validation_png, FigureError, ValidationCurve};
use crate::model::CheckpointError;
use std::path::{Path, PathBuf};

/// The training configuration written next to the checkpoint.
pub const TRAIN_CONFIG_FILE: &str = "train_config.json";
/// The loss history as CSV.
pub const LOSS_CSV_FILE: &str = "loss.csv";
/// The loss curve as PNG.
pub const LOSS_PNG_FILE: &str = "loss.png";

/// Error while writing a run's files.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The checkpoint could not be written.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The loss curve could not be drawn.
    #[error(transparent)]
    Figure(#[from] FigureError),
}

/// Writes checkpoint, configuration, loss CSV and loss-curve PNG into `dir` (created if missing).
pub fn save_artifacts(dir: &Path, outcome: &TrainOutcome, cfg: &TrainConfig) -> Result<(), ArtifactError> {
    let io = |path: PathBuf| move |source| ArtifactError::Io { path, source };
    std::fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
    outcome.model.save(dir)?;
    let cfg_path = dir.join(TRAIN_CONFIG_FILE);
    let json = serde_json::to_string_pretty(cfg).unwrap_or_default();
    std::fs::write(&cfg_path, json).map_err(io(cfg_path.clone()))?;
    let csv_path = dir.join(LOSS_CSV_FILE);
    outcome.history.write_csv(&csv_path).map_err(io(csv_path.clone()))?;
    let records = &outcome.history.records;
    let validation = ValidationCurve {
        psnr_db: records.iter().filter_map(|r| r.val_psnr_sr_db.map(|p| (r.step as f64, p))).collect(),
        baseline_psnr_db: records.iter().find_map(|r| r.val_psnr_fair_db),
    };
    loss_curve_with_validation_png(&dir.join(LOSS_PNG_FILE), &outcome.history, Some(&validation))?;
    Ok(())
}
