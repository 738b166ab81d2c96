//! A trained network with everything needed to use it again: its size, the LR normalisation and the
//! tile shape it was trained on. Saved as `model.safetensors` (weights) plus `model.json` (the rest).

use super::{init_pytorch_default, ModelConfig, TinyUNetFlow, VelocityField};
use crate::train::Normalizer;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::{nn, Device, Tensor};

/// File name of the weights inside a checkpoint folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// File name of the model description inside a checkpoint folder.
pub const INFO_FILE: &str = "model.json";

/// What a checkpoint records besides the weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInfo {
    /// Network size.
    pub model: ModelConfig,
    /// The LR normalisation the network was trained with.
    pub normalizer: Normalizer,
    /// Rows of the acquired tiles it was trained on, pixels.
    pub tile_rows: usize,
    /// Columns of the acquired tiles it was trained on, pixels.
    pub tile_cols: usize,
}

/// Error while saving or loading a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `model.json` is not a valid description.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// libtorch could not save or load the weights.
    #[error("{path}: {source}")]
    Torch {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: tch::TchError,
    },
}

/// A TinyUNetFlow with its variables, normalisation and training tile shape.
#[derive(Debug)]
pub struct TrainedModel {
    vs: nn::VarStore,
    net: TinyUNetFlow,
    /// Size, normalisation and tile shape.
    pub info: ModelInfo,
}

impl TrainedModel {
    /// A network on `device` with PyTorch's default initialisation drawn from a ChaCha stream
    /// seeded with `seed` (see [`init_pytorch_default`]).
    pub fn new(info: ModelInfo, device: Device, seed: u64) -> Self {
        let vs = nn::VarStore::new(device);
        let net = TinyUNetFlow::new(&vs.root(), &info.model);
        init_pytorch_default(&vs, &mut ChaCha8Rng::seed_from_u64(seed));
        Self { vs, net, info }
    }

    /// The variables (for the optimiser and for saving).
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Writes `model.safetensors` and `model.json` into `dir` (which must exist).
    pub fn save(&self, dir: &Path) -> Result<(), CheckpointError> {
        let weights = dir.join(WEIGHTS_FILE);
        self.vs.save(&weights).map_err(|source| CheckpointError::Torch { path: weights, source })?;
        let info_path = dir.join(INFO_FILE);
        let json = serde_json::to_string_pretty(&self.info).map_err(|source| CheckpointError::Json { path: info_path.clone(), source })?;
        std::fs::write(&info_path, json).map_err(|source| CheckpointError::Io { path: info_path, source })
    }

    /// Loads a checkpoint folder written by [`TrainedModel::save`] onto `device`.
    pub fn load(dir: &Path, device: Device) -> Result<Self, CheckpointError> {
        let info_path = dir.join(INFO_FILE);
        let text = std::fs::read_to_string(&info_path).map_err(|source| CheckpointError::Io { path: info_path.clone(), source })?;
        let info: ModelInfo = serde_json::from_str(&text).map_err(|source| CheckpointError::Json { path: info_path, source })?;
        let mut model = Self::new(info, device, 0);
        let weights = dir.join(WEIGHTS_FILE);
        model.vs.load(&weights).map_err(|source| CheckpointError::Torch { path: weights, source })?;
        Ok(model)
    }

    /// Sets the output convolution to zero, so the untrained field is zero and integration returns x0
    /// (with a bicubic x0: the bicubic baseline) until training moves it.
    pub fn zero_output_layer(&self) {
        let vars = self.vs.variables();
        tch::no_grad(|| {
            for (name, v) in &vars {
                if name.starts_with("out_conv.") {
                    let _ = v.shallow_clone().zero_();
                }
            }
        });
    }

    /// Copies of all variables, by name (to keep the best weights during training).
    pub fn snapshot(&self) -> Vec<(String, Tensor)> {
        let mut vars: Vec<_> = self.vs.variables().into_iter().map(|(k, v)| (k, v.detach().copy())).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    /// Restores variables saved by [`TrainedModel::snapshot`].
    pub fn restore(&self, snapshot: &[(String, Tensor)]) {
        let vars = self.vs.variables();
        tch::no_grad(|| {
            for (name, saved) in snapshot {
                if let Some(v) = vars.get(name) {
                    let mut v = v.shallow_clone();
                    v.copy_(saved);
                }
            }
        });
    }
}

impl VelocityField for TrainedModel {
    fn velocity(&self, x_t: &Tensor, x0: &Tensor, t: &Tensor) -> Tensor {
        self.net.forward(x_t, x0, t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn save_load_round_trip_gives_the_same_velocity() {
        let info = ModelInfo {
            model: ModelConfig { base: 4, t_ch: 8, center_heights: true },
            normalizer: Normalizer { mean_m: 1e-9, std_m: 2e-9 },
            tile_rows: 8,
            tile_cols: 8,
        };
        let a = TrainedModel::new(info, Device::Cpu, 1);
        let dir = std::env::temp_dir().join(format!("afm-spark-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        a.save(&dir).unwrap();
        let b = TrainedModel::load(&dir, Device::Cpu).unwrap();
        assert_eq!(b.info, info);
        let x = Tensor::randn([2, 1, 8, 8], (Kind::Float, Device::Cpu));
        let t = Tensor::from_slice(&[0.1f32, 0.9]);
        let diff = (a.velocity(&x, &x, &t) - b.velocity(&x, &x, &t)).abs().max().double_value(&[]);
        assert_eq!(diff, 0.0);
        assert!(TrainedModel::load(&dir.join("missing"), Device::Cpu).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
