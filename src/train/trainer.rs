//! The training loop: seeded (weights, batches, crops, flips and t-samples all come from one ChaCha
//! stream seeded with `seed`, independent of tch's global RNG), Adam with global-norm clipping, mini-batches or full batch, periodic
//! evaluation on held-out acquired pairs, early stopping that keeps the best weights, an optional
//! wall-time budget, and a progress callback.

use super::config::TrainConfig;
use super::history::{LossHistory, LossRecord};
use super::loss::{flow_matching_loss, LossWeights};
use super::normalize::Normalizer;
use super::pairs::{check_pairs, draw_batch, BatchSpec, PairError, PairTensors, TilePair};
use super::TrainError;
use crate::model::{ModelInfo, TrainedModel};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;
use tch::nn::OptimizerConfig;
use tch::{nn, Device, Tensor};

/// t-samples per held-out pair at evaluation: fixed at (j + ½)/4, so the validation loss is
/// deterministic.
const VAL_T_SAMPLES: usize = 4;

/// Progress reported after every step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainProgress {
    /// Steps done.
    pub step: usize,
    /// The step limit.
    pub max_steps: usize,
    /// Loss of this step's batch.
    pub train_loss: f64,
    /// Latest validation loss, if any evaluation has run.
    pub val_loss: Option<f64>,
    /// Best validation loss so far.
    pub best_val_loss: Option<f64>,
    /// Wall time since training started, seconds.
    pub elapsed_s: f64,
}

/// Why training stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// `max_steps` reached.
    MaxSteps,
    /// No validation improvement for `patience_steps`.
    EarlyStop,
    /// `time_budget_s` used up.
    TimeBudget,
}

/// The result of a training run.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The network, with the best validation weights restored (the last weights without held-out pairs).
    pub model: TrainedModel,
    /// One row per evaluation.
    pub history: LossHistory,
    /// Optimiser steps run.
    pub steps: usize,
    /// Step of the kept weights.
    pub best_step: usize,
    /// Validation loss of the kept weights.
    pub best_val_loss: Option<f64>,
    /// Mean wall time of one optimiser step (batch, forward, backward, update), milliseconds.
    pub mean_step_ms: f64,
    /// Total training wall time including evaluations, seconds.
    pub train_s: f64,
    /// Why it stopped.
    pub stop: StopReason,
}

/// Trains TinyUNetFlow on acquired `pairs` (x0 = LR on the HR grid, x1 = HR patch, metres). The last
/// `cfg.n_val` pairs are held out for early stopping; `normalizer` must come from the LR frame.
pub fn train(
    pairs: &[TilePair],
    normalizer: Normalizer,
    cfg: &TrainConfig,
    device: Device,
    progress: &mut dyn FnMut(TrainProgress),
) -> Result<TrainOutcome, TrainError> {
    cfg.validate()?;
    let (tile_rows, tile_cols) = check_pairs(pairs, cfg.crop_px)?;
    if pairs.len() < cfg.n_val + 1 {
        return Err(PairError::TooFew { got: pairs.len(), need: cfg.n_val + 1, n_val: cfg.n_val }.into());
    }
    tch::manual_seed(cfg.seed as i64);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let info = ModelInfo { model: cfg.model_config(), normalizer, tile_rows, tile_cols };
    let model = TrainedModel::new(info, device, rng.random());
    if cfg.zero_init_output {
        model.zero_output_layer();
    }
    let (train_pairs, val_pairs) = pairs.split_at(pairs.len() - cfg.n_val);
    let train_data = PairTensors::new(train_pairs, &normalizer, device);
    let val_data = (!val_pairs.is_empty()).then(|| PairTensors::new(val_pairs, &normalizer, device));
    let mut opt = nn::Adam::default().build(model.var_store(), cfg.lr)?;
    let weights = LossWeights { lambda_grad: cfg.lambda_grad, lambda_lap: cfg.lambda_lap };
    let spec = BatchSpec { batch_size: cfg.batch_size, crop_px: cfg.crop_px, flip_slow_axis: cfg.flip_slow_axis };

    let start = Instant::now();
    let mut history = LossHistory::default();
    let (mut step_s, mut since_eval, mut loss_since_eval) = (0.0f64, 0usize, 0.0f64);
    let (mut best, mut best_step, mut snapshot) = (None::<f64>, 0usize, None);
    let mut last_val = None;
    let mut stop = StopReason::MaxSteps;
    let mut step = 0;
    while step < cfg.max_steps {
        let progress_frac = cfg.time_budget_s.map_or(0.0, |b| start.elapsed().as_secs_f64() / b).max(step as f64 / cfg.max_steps as f64);
        opt.set_lr(cfg.lr_schedule.rate(cfg.lr, progress_frac));
        step += 1;
        let t_step = Instant::now();
        let (x0, x1) = draw_batch(&train_data, &spec, &mut rng);
        let (x0, x1) = (x0.repeat([cfg.k_t as i64, 1, 1, 1]), x1.repeat([cfg.k_t as i64, 1, 1, 1]));
        let t: Vec<f32> = (0..x0.size()[0]).map(|_| rng.random::<f32>()).collect(); // U[0, 1)
        let t = Tensor::from_slice(&t).to_device(device);
        let loss = flow_matching_loss(&model, &x0, &x1, &t, weights);
        opt.backward_step_clip_norm(&loss.total, cfg.clip_grad_norm);
        let train_loss = loss.total.double_value(&[]);
        step_s += t_step.elapsed().as_secs_f64();
        since_eval += 1;
        loss_since_eval += train_loss;

        let over_budget = cfg.time_budget_s.is_some_and(|b| start.elapsed().as_secs_f64() >= b);
        let last = step == cfg.max_steps || over_budget;
        if step % cfg.eval_interval_steps == 0 || last {
            let val = val_data.as_ref().map(|d| evaluate(&model, d, weights));
            history.records.push(LossRecord {
                step,
                train_loss: loss_since_eval / since_eval as f64,
                val_loss: val,
                elapsed_s: start.elapsed().as_secs_f64(),
            });
            (since_eval, loss_since_eval, last_val) = (0, 0.0, val);
            if let Some(v) = val {
                if best.is_none_or(|b| v < b) {
                    (best, best_step, snapshot) = (Some(v), step, Some(model.snapshot()));
                }
            }
        }
        let elapsed_s = start.elapsed().as_secs_f64();
        progress(TrainProgress { step, max_steps: cfg.max_steps, train_loss, val_loss: last_val, best_val_loss: best, elapsed_s });
        if best.is_some() && step - best_step >= cfg.patience_steps {
            stop = StopReason::EarlyStop;
            break;
        }
        if over_budget {
            stop = StopReason::TimeBudget;
            break;
        }
    }
    match &snapshot {
        Some(s) => model.restore(s),
        None => best_step = step,
    }
    Ok(TrainOutcome {
        model,
        history,
        steps: step,
        best_step,
        best_val_loss: best,
        mean_step_ms: 1e3 * step_s / step.max(1) as f64,
        train_s: start.elapsed().as_secs_f64(),
        stop,
    })
}

/// Loss on held-out pairs, whole tiles, t at (j + ½)/4 for each pair; no gradients.
pub fn evaluate(model: &TrainedModel, data: &PairTensors, weights: LossWeights) -> f64 {
    tch::no_grad(|| {
        let n = data.len() as i64;
        let k = VAL_T_SAMPLES as i64;
        let t: Vec<f32> = (0..k).flat_map(|j| std::iter::repeat_n((j as f32 + 0.5) / k as f32, n as usize)).collect();
        let t = Tensor::from_slice(&t).to_device(data.x0.device());
        let (x0, x1) = (data.x0.repeat([k, 1, 1, 1]), data.x1.repeat([k, 1, 1, 1]));
        flow_matching_loss(model, &x0, &x1, &t, weights).total.double_value(&[])
    })
}
