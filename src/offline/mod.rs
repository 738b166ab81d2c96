//! Offline use of the method on files already on disk (no microscope): tile selection on any LR
//! image, training on HR/LR file pairs with the picked tiles of the HR file as the "acquired" patches
//! (as the closed loop would have scanned them), reconstruction from a saved checkpoint, and a summary
//! of a run's session file. The command-line tools `select`, `train`, `reconstruct` and `inspect` are
//! thin wrappers around this module; the model, selection and metrics code is the closed loop's own.

mod acquired;
mod checkpoints;
mod error;
mod evaluate;
mod geometry;
mod inputs;
mod selection;
mod session_summary;
mod settings;
mod training;

pub use acquired::{AcquiredTiles, ACQUIRED_FILE};
pub use checkpoints::{find_checkpoints, CheckpointDir};
pub use error::OfflineError;
pub use evaluate::{evaluate, Evaluation, EvaluationSetup, OfflineMetrics, TrainingInfo, EVALUATION_FILES, METRICS_FILE};
pub use geometry::{decimation_step, hr_grid_for_lr, LrGeometry};
pub use inputs::{ImagePair, LrImage};
pub use selection::{indicator_table, picks_png, select_tiles_on_grid, selection_csv, SelectOptions, TileSelection};
pub use session_summary::{is_session_file, LrSummary, SessionSummary};
pub use settings::ConfigSections;
pub use training::{train_models, ModelResult, TrainOptions, OPTIONS_FILE, SELECTION_CSV_FILE, SUMMARY_CSV_FILE};
