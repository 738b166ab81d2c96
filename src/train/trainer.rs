//! The training loop: seeded (weights, batches, crops, flips and t-samples all come from one ChaCha
//! stream seeded with `seed`, independent of tch's global RNG), Adam with global-norm clipping,
//! mini-batches or full batch, an optional exponential moving average (EMA) of the weights, and model
//! selection by a caller-given **validation score** (in the pipeline: the reconstruction gain over the
//! fair baseline on held-out acquired patches, integrated exactly as inference does — velocity MSE is
//! not reconstruction error). The best-scoring weights are kept; early stopping waits `patience_steps`
//! for an improvement. Budgets are counted in steps, so a result never depends on machine load; the
//! optional wall-time budget is only a safety cap.

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

/// Progress reported after every step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainProgress {
    /// Steps done.
    pub step: usize,
    /// The step limit.
    pub max_steps: usize,
    /// Loss of this step's batch.
    pub train_loss: f64,
    /// Latest validation score, if any validation has run.
    pub val_score: Option<f64>,
    /// Best validation score so far.
    pub best_val_score: Option<f64>,
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
    /// `time_budget_s` used up (the safety cap).
    TimeBudget,
}

/// The result of a training run.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The network with the kept weights: the best validation score's (the last ones, or their EMA,
    /// without validation).
    pub model: TrainedModel,
    /// One row per validation.
    pub history: LossHistory,
    /// Optimiser steps run.
    pub steps: usize,
    /// Step of the kept weights.
    pub best_step: usize,
    /// Validation score of the kept weights.
    pub best_val_score: Option<f64>,
    /// The whole validation of the kept weights.
    pub best_validation: Option<Validation>,
    /// Mean wall time of one optimiser step (batch, forward, backward, update), milliseconds.
    pub mean_step_ms: f64,
    /// Total training wall time including validations, seconds.
    pub train_s: f64,
    /// Why it stopped.
    pub stop: StopReason,
}

/// What a validation found: the score that selects the weights (the PSNR gain over the fair baseline
/// on held-out patches, dB; higher is better) and the two PSNRs behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Validation {
    /// The selection score, dB.
    pub gain_db: f64,
    /// PSNR of SR on the held-out pixels, dB.
    pub psnr_sr_db: f64,
    /// PSNR of the fair baseline on the same pixels, dB.
    pub psnr_fair_db: f64,
    /// The smallest gain of any single held-out patch, dB (the guard asks every patch to agree).
    pub worst_gain_db: f64,
    /// How sure the gain is: Student's t of the fair baseline's minus SR's squared error, paired over
    /// blocks of the held-out pixels (large: the gain holds block after block; near 0: it is noise).
    pub gain_t: f64,
}

/// Validates the model being trained; called every `eval_interval_steps`.
pub type Validator<'a> = dyn FnMut(&TrainedModel) -> Validation + 'a;

/// An exponential moving average of a model's weights.
struct Ema {
    decay: f64,
    weights: Vec<(String, Tensor)>,
}

impl Ema {
    fn new(model: &TrainedModel, decay: f64) -> Self {
        Self { decay, weights: model.snapshot() }
    }

    fn update(&mut self, model: &TrainedModel) {
        tch::no_grad(|| {
            let current = model.var_store().variables();
            for (name, avg) in &mut self.weights {
                if let Some(w) = current.get(name.as_str()) {
                    let updated = &*avg * self.decay + w * (1.0 - self.decay);
                    avg.copy_(&updated);
                }
            }
        });
    }
}

/// Trains TinyUNetFlow on `pairs` (x0 = LR on the HR grid, x1 = HR patch, in the image's unit);
/// `normalizer` must come from the LR frame. `validate` (when given) scores the weights — the EMA
/// weights with `cfg.ema_decay` — and the best-scoring ones are kept.
pub fn train(
    pairs: &[TilePair],
    normalizer: Normalizer,
    cfg: &TrainConfig,
    device: Device,
    validate: Option<&mut Validator<'_>>,
    progress: &mut dyn FnMut(TrainProgress),
) -> Result<TrainOutcome, TrainError> {
    train_from(pairs, normalizer, cfg, device, None, validate, progress)
}

/// [`train`], starting from the weights of `init` (a model of the same configuration, e.g. one
/// trained while the patches were still arriving) instead of a fresh initialisation.
pub fn train_from(
    pairs: &[TilePair],
    normalizer: Normalizer,
    cfg: &TrainConfig,
    device: Device,
    init: Option<&TrainedModel>,
    mut validate: Option<&mut Validator<'_>>,
    progress: &mut dyn FnMut(TrainProgress),
) -> Result<TrainOutcome, TrainError> {
    cfg.validate()?;
    let (tile_rows, tile_cols) = check_pairs(pairs, cfg.crop_px)?;
    if pairs.is_empty() {
        return Err(PairError::TooFew { got: 0, need: 1, n_val: 0 }.into());
    }
    tch::manual_seed(cfg.seed as i64);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let info = ModelInfo { model: cfg.model_config(), normalizer, tile_rows, tile_cols };
    let model = TrainedModel::new(info, device, rng.random());
    match init {
        Some(from) if from.info.model == model.info.model => model.restore(&from.snapshot()),
        Some(_) => {
            return Err(TrainError::Config(super::config::ConfigError {
                field: "base",
                value: "(warm start)".into(),
                why: "the starting weights come from a network of another size",
            }))
        }
        None if cfg.zero_init_output => model.zero_output_layer(),
        None => {}
    }
    let mut ema = cfg.ema_decay.map(|d| Ema::new(&model, d));
    let data = PairTensors::new(pairs, &normalizer, device);
    let mut opt = nn::Adam::default().build(model.var_store(), cfg.lr)?;
    let weights = LossWeights { lambda_grad: cfg.lambda_grad, lambda_lap: cfg.lambda_lap };
    let spec = BatchSpec { batch_size: cfg.batch_size, crop_px: cfg.crop_px, flip_slow_axis: cfg.flip_slow_axis };

    let start = Instant::now();
    let mut history = LossHistory::default();
    let (mut step_s, mut since_eval, mut loss_since_eval) = (0.0f64, 0usize, 0.0f64);
    let (mut best, mut best_step, mut snapshot, mut best_validation) = (None::<f64>, 0usize, None, None);
    let mut last_val = None;
    let mut stop = StopReason::MaxSteps;
    let mut step = 0;
    while step < cfg.max_steps {
        opt.set_lr(cfg.lr_schedule.rate(cfg.lr, step as f64 / cfg.max_steps as f64));
        step += 1;
        let t_step = Instant::now();
        let (x0, x1) = draw_batch(&data, &spec, &mut rng);
        let reps = cfg.samples_per_pair() as i64;
        let (x0, x1) = (x0.repeat([reps, 1, 1, 1]), x1.repeat([reps, 1, 1, 1]));
        let t: Vec<f32> = (0..x0.size()[0]).map(|_| cfg.draw_t(&mut rng)).collect();
        let t = Tensor::from_slice(&t).to_device(device);
        let loss = flow_matching_loss(&model, &x0, &x1, &t, weights);
        opt.backward_step_clip_norm(&loss.total, cfg.clip_grad_norm);
        if let Some(e) = ema.as_mut() {
            e.update(&model);
        }
        let train_loss = loss.total.double_value(&[]);
        step_s += t_step.elapsed().as_secs_f64();
        since_eval += 1;
        loss_since_eval += train_loss;

        let over_budget = cfg.time_budget_s.is_some_and(|b| start.elapsed().as_secs_f64() >= b);
        let last = step == cfg.max_steps || over_budget;
        if step % cfg.eval_interval_steps == 0 || last {
            // The weights being judged: the EMA's when there is one.
            let current = ema.as_ref().map(|e| {
                let live = model.snapshot();
                model.restore(&e.weights);
                live
            });
            let found = validate.as_mut().map(|v| v(&model));
            let val = found.map(|f| f.gain_db);
            if let Some(v) = val {
                if best.is_none_or(|b| v > b) {
                    (best, best_step, snapshot, best_validation) = (Some(v), step, Some(model.snapshot()), found);
                }
            }
            let judged = current.as_ref().map(|_| model.snapshot());
            if let Some(live) = current {
                model.restore(&live);
            }
            if last && validate.is_none() {
                // Without validation the kept weights are the final ones (their EMA when averaged).
                snapshot = judged.or_else(|| Some(model.snapshot()));
                best_step = step;
            }
            history.records.push(LossRecord {
                step,
                train_loss: loss_since_eval / since_eval as f64,
                val_gain_db: val,
                val_psnr_sr_db: found.map(|f| f.psnr_sr_db),
                val_psnr_fair_db: found.map(|f| f.psnr_fair_db),
                elapsed_s: start.elapsed().as_secs_f64(),
            });
            (since_eval, loss_since_eval, last_val) = (0, 0.0, val);
        }
        let elapsed_s = start.elapsed().as_secs_f64();
        progress(TrainProgress { step, max_steps: cfg.max_steps, train_loss, val_score: last_val, best_val_score: best, elapsed_s });
        if best.is_some() && step - best_step >= cfg.patience_steps {
            stop = StopReason::EarlyStop;
            break;
        }
        if over_budget {
            stop = StopReason::TimeBudget;
            break;
        }
    }
    if stop == StopReason::EarlyStop && validate.is_none() {
        best_step = step;
    }
    if let Some(s) = &snapshot {
        model.restore(s);
    }
    Ok(TrainOutcome {
        model,
        history,
        steps: step,
        best_step,
        best_val_score: best,
        best_validation,
        mean_step_ms: 1e3 * step_s / step.max(1) as f64,
        train_s: start.elapsed().as_secs_f64(),
        stop,
    })
}
