//! Offline front ends of the one pipeline, on files already on disk (no microscope): HR/LR file pairs
//! with the picked tiles of the HR file as the "acquired" frames (as the closed loop would have
//! scanned them), reconstruction from a saved checkpoint, and a summary of a run's session file. The
//! command-line tools `select`, `train`, `reconstruct` and `inspect` are thin wrappers around this
//! module; selection, levelling, registration, the model, scoring and the run folder's files are the
//! pipeline's own.

mod acquired;
mod checkpoints;
mod error;
mod evaluate;
pub mod fuse;
mod geometry;
mod inputs;
mod selection;
mod session_summary;
mod settings;
mod training;

pub use acquired::{AcquiredTiles, ACQUIRED_FILE};
pub use checkpoints::{find_checkpoints, CheckpointDir};
pub use error::OfflineError;
pub use evaluate::{pair_input, score_and_write, METRICS_FILE};
pub use geometry::{decimation_step, hr_grid_for_lr, LrGeometry};
pub use inputs::{ImagePair, LrImage};
pub use selection::picks_png;
pub use session_summary::{is_session_file, LrSummary, SessionSummary};
pub use settings::ConfigSections;
pub use training::{pair_selection, train_models, ModelResult, TrainOptions, OPTIONS_FILE, SELECTION_CSV_FILE, SUMMARY_CSV_FILE};
