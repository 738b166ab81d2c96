//! Training TinyUNetFlow by conditional flow matching on the acquired (x0 = LR on the HR grid,
//! x1 = HR patch) pairs (DESIGN.md §2): configuration, LR-only normalisation, pairs and batches, the
//! loss, the loop with early stopping on held-out acquired pairs, the loss history, and the files a
//! run leaves (checkpoint, loss CSV, loss-curve PNG). The times t of the loss are drawn from U[0, 1)
//! (flow matching, as the original) or, with `t_grid_steps = n`, only at the n times an n-step Euler
//! reconstruction evaluates the field (t = 0 alone for one step: +1.5 … +3.4 dB on the 512² dry runs,
//! no change on the real replays and −0.87 dB on the real overview + zoom pair; opt-in, README "Results").
//!
//! ## The CPU setting (`TrainConfig::cpu_dry_run`, `ReconstructConfig::cpu_dry_run`)
//! Measured on a 2-core CPU (libtorch 2.11, 2 threads) with a synthetic 512² terraced surface whose LR
//! frame (128², 4× line rate) carries 4× longer feedback tails, line offsets and noise; 12 evenly
//! spread 64-px tiles acquired, 2 of them held out; x0 = aligned bicubic; scores on the 52 unacquired
//! tiles, where the aligned bicubic scores 37.70 dB / SSIM 0.9470:
//!
//! | training (base 16, t_ch 32, k_t 2, batches of 8 random 32-px crops, slow-axis flips) | SR − bicubic |
//! |---|---|
//! | lr 1e-3 constant, 800 steps (seeds 0 / 1) | +1.53 / +1.10 dB |
//! | lr 5e-4 / 3e-3 constant, 800 steps | +0.95 / +0.81 dB |
//! | lr 1e-3 constant, output layer zero-initialised, 800 steps | +1.35 dB |
//! | lr 1e-3 constant, full batch of 10 crops, 800 steps | +0.64 dB |
//! | lr 1e-3 constant, whole 64-px tiles, batches of 4, 249 steps (60 s under load) | +1.22 dB |
//! | lr 1e-3 cosine, 1000 steps (seeds 0 / 1) | +1.58 / +1.25 dB |
//! | lr 1e-3 cosine, 2500 steps (seeds 0 / 1) | +1.86 / +1.60 dB |
//!
//! One step takes about 31 ms on an idle machine (2–5× more while other jobs share the cores);
//! reconstructing 512² with stride 32 and 10 Euler steps about 10 s (4 steps: 4–5 s, but 0.15–0.25 dB
//! less; 1 step: 1.5–2 dB less). Hence: base 16, batches of 8 crops of 32 px, lr 1e-3 with a cosine
//! decay over `max_steps` 3000 or the 90 s budget, whichever ends first.

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
pub use trainer::{train, train_from, StopReason, TrainOutcome, TrainProgress, Validation, Validator};

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
