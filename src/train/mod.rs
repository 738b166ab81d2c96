//! Training TinyUNetFlow by conditional flow matching on the acquired (x0 = LR on the HR grid,
//! x1 = HR patch) pairs (DESIGN.md §2): configuration, LR-only normalisation, pairs and batches, the
//! loss, the loop with early stopping on held-out acquired pairs, the loss history, and the files a
//! run leaves (checkpoint, loss CSV, loss-curve PNG).

mod artifacts;
mod config;
mod history;
mod loss;
mod normalize;
mod pairs;
mod trainer;

pub use artifacts::{save_artifacts, ArtifactError, LOSS_CSV_FILE, LOSS_PNG_FILE, TRAIN_CONFIG_FILE};
pub use config::{ConfigError, LrSchedule, TrainConfig};
pub use history::{LossHistory, LossRecord};
pub use loss::{flow_matching_loss, laplacian, Loss, LossWeights};
pub use normalize::{NormalizeError, Normalizer};
pub use pairs::{check_pairs, draw_batch, pairs_from_patches, BatchSpec, PairError, PairTensors, TilePair};
pub use trainer::{evaluate, train, StopReason, TrainOutcome, TrainProgress};

/// Error of a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A hyper-parameter out of range.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Unusable training pairs.
    #[error(transparent)]
    Pairs(#[from] PairError),
    /// libtorch failed (e.g. the optimiser could not be built).
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}
