//! The network: TinyUNetFlow (DESIGN.md §2), a small U-Net that predicts the flow-matching velocity
//! that carries the upsampled LR tile x0 to the HR patch x1, and the `VelocityField` seam that lets the
//! sampler run with any field (the network, a zero field, an oracle).

mod blocks;
mod checkpoint;
mod convert;
mod init;
mod tiny_unet_flow;

pub use checkpoint::{CheckpointError, ModelInfo, TrainedModel, INFO_FILE, WEIGHTS_FILE};
pub use convert::{array_to_tensor, tensor_to_array, ConvertError};
pub use init::init_pytorch_default;
pub use tiny_unet_flow::{parameter_count, TinyUNetFlow};

use serde::{Deserialize, Serialize};
use tch::Tensor;

/// Size of the network (channels of the first level, width of the time embedding) and whether it
/// sees heights relative to each window's mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Channels of the full-resolution level; the two coarser levels have `2·base`.
    pub base: i64,
    /// Width of the time embedding (MLP 1 → t_ch → t_ch).
    pub t_ch: i64,
    /// Feed the network each window's heights relative to the mean of its x0 (x_t and x0 alike), so
    /// that the velocity does not depend on the absolute height — a tile higher or lower than every
    /// training tile is treated like them. `false` (the original, and checkpoints written before the
    /// setting): absolute (normalised) heights.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub center_heights: bool,
}

impl ModelConfig {
    /// The original AFM-SPARK size: base 64, t_ch 128 (1,798,529 parameters).
    pub const PAPER: ModelConfig = ModelConfig { base: 64, t_ch: 128, center_heights: false };

    /// A small network that trains fast on a CPU.
    pub const CPU: ModelConfig = ModelConfig { base: 16, t_ch: 32, center_heights: false };
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self::PAPER
    }
}

/// A velocity field v(x_t, x0, t) of conditional flow matching.
pub trait VelocityField {
    /// `x_t`, `x0`: `[B, 1, H, W]` (normalised heights); `t`: `[B]` in [0, 1] → velocity `[B, 1, H, W]`.
    fn velocity(&self, x_t: &Tensor, x0: &Tensor, t: &Tensor) -> Tensor;
}

/// The field that is zero everywhere: Euler integration from x0 stays at x0.
#[derive(Debug, Clone, Copy, Default)]
pub struct ZeroField;

impl VelocityField for ZeroField {
    fn velocity(&self, x_t: &Tensor, _x0: &Tensor, _t: &Tensor) -> Tensor {
        x_t.zeros_like()
    }
}
