//! The one pipeline every front end feeds (DESIGN.md §4): frames in → levelled → registered pairs →
//! trained model → reconstruction (with the guard against doing worse than the fair baseline) →
//! scores → run folder. `run` feeds it from an instrument ([`run_closed_loop`]), `train` and
//! `reconstruct` from HR/LR files, `fuse` from an overview and its zooms, `eval` from a grid of runs.

mod active_picking;
mod block_correlation;
mod closed_loop;
mod input;
mod input_filter;
mod joint_level;
mod model_stage;
mod motion;
mod outputs;
mod prepare;
mod scoring;
mod training_during_acquisition;

pub use active_picking::{choose_tile, decide_next_pick, tile_means, TileBook};
pub use block_correlation::{correlated_t, line_inflation, t_needed, BlockGrid, CorrelatedT};
pub use closed_loop::{closed_loop_input, journal_input, prepare_config, run_closed_loop, scans_take_real_time, RunError, RunOptions};
pub use input::{ChannelKind, HrFrameInput, PipelineInput, RegistrationImages};
pub use model_stage::{
    reconstruct_mean, reconstruct_only, train_and_reconstruct, ModelOutcome, OutputChoice, TrainingRecord, CROSS_FIT_SECOND_DIR,
};
pub use motion::{refine_with_motion, MotionLog, ScanTiming};
pub use outputs::{write_outputs, OUTPUT_FILES};
pub use prepare::{onto_hr_grid, prepare, FrameRegistration, Piece, PrepareConfig, Prepared, PreparedFrame};
pub use scoring::{calibration, pearson, score_against, spearman, Calibration, Scored};
pub use training_during_acquisition::{TrainingWorker, WarmStart};

use crate::device::DeviceError;
use crate::reconstruct::{PasteError, ReconstructError};
use crate::train::{ArtifactError, NormalizeError, TrainError};
use crate::upsample::GridMapError;
use thiserror::Error;

/// Why a pipeline stage failed.
#[derive(Debug, Error)]
pub enum PipelineError {
    /// A frame lacks the configured channel.
    #[error(transparent)]
    Channel(#[from] crate::engine::EngineError),
    /// Two frames cannot be related (e.g. different scan angles).
    #[error("placing a frame on the HR grid: {0}")]
    Geometry(#[from] GridMapError),
    /// An HR frame could not be levelled or registered.
    #[error("{label}: {reason}")]
    Frame {
        /// The frame.
        label: String,
        /// What went wrong.
        reason: String,
    },
    /// Normalisation from the LR frame failed (e.g. a flat frame).
    #[error("normalising by the LR frame: {0}")]
    Normalize(#[from] NormalizeError),
    /// A patch does not fit the HR grid.
    #[error(transparent)]
    Paste(#[from] PasteError),
    /// The requested device is unavailable.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// Nothing to train on.
    #[error("{0}")]
    NoTraining(String),
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
    Metrics(#[from] crate::metrics::MetricsError),
    /// An output file could not be written.
    #[error("{0}")]
    Output(String),
}
