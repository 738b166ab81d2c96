//! Every hyper-parameter of training, as one serde struct (TOML/JSON, unknown keys rejected). The
//! defaults are the original AFM-SPARK settings (DESIGN.md §2); `TrainConfig::cpu_dry_run` is the
//! measured fast CPU setting.

use crate::model::ModelConfig;
use serde::{Deserialize, Serialize};

/// Training hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Channels of the network's first level (64 in the original).
    pub base: i64,
    /// Width of the time embedding (128 in the original).
    pub t_ch: i64,
    /// t-samples drawn per pair and step (`K_t`); with `t_grid_steps = n` at most n (more would
    /// repeat a time).
    pub k_t: usize,
    /// Train only at the times the reconstruction's Euler sampler visits, t = k/n for k = 0 … n − 1
    /// with n = `[reconstruct] steps` (which it must equal). With n = 1 every sample sits at t = 0,
    /// x_t = x0, which is all a one-step reconstruction ever evaluates: the network learns the one
    /// jump from the LR to the HR. `None` (the default; measured better on real data, README
    /// "Results"): t ~ U[0, 1), flow matching as the original, whose other times regularise the jump.
    pub t_grid_steps: Option<usize>,
    /// Weight of the L1 loss on the finite-difference gradient of the one-jump estimate x̂1.
    pub lambda_grad: f64,
    /// Weight of the L1 loss on the 5-point Laplacian of x̂1.
    pub lambda_lap: f64,
    /// Adam learning rate (the peak, with a schedule).
    pub lr: f64,
    /// How the learning rate evolves over the run.
    pub lr_schedule: LrSchedule,
    /// Global gradient-norm clip (PyTorch `clip_grad_norm_`).
    pub clip_grad_norm: f64,
    /// Upper bound on optimiser steps.
    pub max_steps: usize,
    /// Pairs per step; `None` = full batch (every training pair each step).
    pub batch_size: Option<usize>,
    /// Train on random square crops of this side (pixels, divisible by 4) instead of whole tiles;
    /// `None` = whole tiles.
    pub crop_px: Option<usize>,
    /// Stop when the validation loss has not improved for this many steps (checked at evaluations).
    pub patience_steps: usize,
    /// Steps between validation evaluations (and loss-history rows).
    pub eval_interval_steps: usize,
    /// Acquired patches held out to validate by reconstruction (model selection and the guard),
    /// spread evenly over the pick order (never just the last picks); they are still pasted into the
    /// output. 0: no validation (the guard then keeps the fair baseline).
    pub n_val: usize,
    /// Decay of an exponential moving average of the weights (e.g. 0.99); the average is what is
    /// validated and kept. `None`: the raw weights.
    pub ema_decay: Option<f64>,
    /// Randomly reverse the line order (slow axis) of training pairs; never flips along the fast axis.
    pub flip_slow_axis: bool,
    /// Start with the output convolution at zero (the untrained network is the zero field, so the
    /// reconstruction starts at x0); `false` = PyTorch's default initialisation everywhere, as the original.
    pub zero_init_output: bool,
    /// Seed of the run's random stream (weights, batches, t-samples, crops, flips); also passed to
    /// `tch::manual_seed`.
    pub seed: u64,
    /// Safety cap on training wall time, seconds; `None` = no cap. Budgets are steps (`max_steps`):
    /// results never depend on machine load unless this cap is hit, which the run reports.
    pub time_budget_s: Option<f64>,
    /// Train on a worker thread while the instrument scans, from the first patches on (closed-loop
    /// runs whose scans take real time: an instrument, or the simulator with `realtime`); `false`
    /// (or `run --sequential`): train after the last patch.
    pub during_acquisition: bool,
    /// After the last patch, when training ran during acquisition: this many steps on every patch,
    /// starting from the weights trained so far, validated as usual (replaces `max_steps`).
    pub final_steps: usize,
    /// Cross-fitting: train two networks, each on every other trainable piece and validated on the
    /// other's; the guard then sees every piece held out once (not `n_val` of them) and the run
    /// delivers the mean of the two reconstructions. Twice the training time. Ignored when training
    /// continues from weights trained during acquisition, or with fewer than 4 trainable pieces.
    pub cross_fit: bool,
    /// Half-width (pixels of the HR grid) of the learned linear input filter
    /// ([`crate::linear_input`]): a (2r + 1)² kernel fitted by least squares on the training pieces,
    /// from the fair baseline to what they measured, makes the network's input and the anchor's
    /// reference, so the network learns only what a linear filter cannot. 0: off (the original).
    #[serde(skip_serializing_if = "is_zero")]
    pub input_filter_radius_px: usize,
    /// The network sees each window's heights relative to the window's mean
    /// ([`ModelConfig::center_heights`]): its velocity does not depend on the absolute height.
    /// `false`: absolute heights (the original).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub center_heights: bool,
}

/// serde's skip test for a field whose 0 is its old, implicit value (older configs hash alike).
fn is_zero(v: &usize) -> bool {
    *v == 0
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            base: 64,
            t_ch: 128,
            k_t: 4,
            t_grid_steps: None,
            lambda_grad: 0.1,
            lambda_lap: 0.05,
            lr: 1e-4,
            lr_schedule: LrSchedule::Constant,
            clip_grad_norm: 1.0,
            max_steps: 10_000,
            batch_size: None,
            crop_px: None,
            patience_steps: 800,
            eval_interval_steps: 10,
            n_val: 2,
            ema_decay: None,
            flip_slow_axis: false,
            zero_init_output: false,
            seed: 0,
            time_budget_s: None,
            during_acquisition: true,
            final_steps: 50,
            cross_fit: false,
            input_filter_radius_px: 0,
            center_heights: false,
        }
    }
}

/// Learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// `lr` throughout (the original).
    #[default]
    Constant,
    /// `lr · ½(1 + cos(π·p))`, p = steps / `max_steps`.
    Cosine,
}

impl LrSchedule {
    /// The rate at progress `p` ∈ [0, 1] for peak `lr`.
    pub fn rate(self, lr: f64, p: f64) -> f64 {
        match self {
            LrSchedule::Constant => lr,
            LrSchedule::Cosine => lr * 0.5 * (1.0 + (std::f64::consts::PI * p.clamp(0.0, 1.0)).cos()),
        }
    }
}

/// A hyper-parameter out of its range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("train.{field} = {value}: {why}")]
pub struct ConfigError {
    /// The offending field.
    pub field: &'static str,
    /// Its value, as written.
    pub value: String,
    /// What is expected.
    pub why: &'static str,
}

impl TrainConfig {
    /// The CPU setting of the dry run: base 16, t_ch 32, k_t 2, mini-batches of 8 random 32-px crops
    /// with slow-axis flips, lr 1e-3 with cosine decay over 1000 steps, 4 patches held out to validate
    /// by reconstruction, an EMA (0.99) of the weights. A fixed number of steps, no wall-time budget.
    pub fn cpu_dry_run() -> Self {
        Self {
            base: 16,
            t_ch: 32,
            k_t: 2,
            lr: 1e-3,
            lr_schedule: LrSchedule::Cosine,
            max_steps: 1_000,
            batch_size: Some(8),
            crop_px: Some(32),
            patience_steps: 600,
            eval_interval_steps: 25,
            n_val: 4,
            ema_decay: Some(0.99),
            flip_slow_axis: true,
            input_filter_radius_px: 3,
            center_heights: true,
            ..Self::default()
        }
    }

    /// Checks that the training times match a reconstruction of `euler_steps` steps; the error
    /// names both fields.
    pub fn check_sampler(&self, euler_steps: usize) -> Result<(), ConfigError> {
        match self.t_grid_steps {
            Some(n) if n != euler_steps => Err(ConfigError {
                field: "t_grid_steps",
                value: n.to_string(),
                why: "must equal [reconstruct] steps: the network would be trained at times the reconstruction never visits",
            }),
            _ => Ok(()),
        }
    }

    /// The t-samples drawn per pair and step: `k_t`, at most `t_grid_steps`.
    pub fn samples_per_pair(&self) -> usize {
        self.t_grid_steps.map_or(self.k_t, |n| self.k_t.min(n))
    }

    /// One training time: on the sampler's grid with `t_grid_steps`, else uniform on [0, 1).
    pub fn draw_t(&self, rng: &mut impl rand::Rng) -> f32 {
        match self.t_grid_steps {
            Some(n) => rng.random_range(0..n) as f32 / n as f32,
            None => rng.random::<f32>(),
        }
    }

    /// The network size.
    pub fn model_config(&self) -> ModelConfig {
        ModelConfig { base: self.base, t_ch: self.t_ch, center_heights: self.center_heights }
    }

    /// Trains on whole tiles when the crop does not fit tiles whose shorter side is `tile_side_px`
    /// (a crop chosen for another image size, e.g. a base config replayed on a non-square image).
    /// Returns the crop it dropped, if any, so that the caller can say so.
    pub fn whole_tiles_if_crop_exceeds(&mut self, tile_side_px: usize) -> Option<usize> {
        let dropped = self.crop_px.filter(|&c| c > tile_side_px);
        if dropped.is_some() {
            self.crop_px = None;
        }
        dropped
    }

    /// Checks every range; the error names the field and value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, value: String, why| Err(ConfigError { field, value, why });
        if self.base < 1 {
            return err("base", self.base.to_string(), "must be ≥ 1");
        }
        if self.t_ch < 1 {
            return err("t_ch", self.t_ch.to_string(), "must be ≥ 1");
        }
        if self.k_t < 1 {
            return err("k_t", self.k_t.to_string(), "must be ≥ 1");
        }
        if self.t_grid_steps == Some(0) {
            return err("t_grid_steps", "0".into(), "must be ≥ 1 (the reconstruction's Euler steps; omit it for t ~ U[0, 1))");
        }
        if self.final_steps < 1 {
            return err("final_steps", self.final_steps.to_string(), "must be ≥ 1");
        }
        for (field, v) in [("lambda_grad", self.lambda_grad), ("lambda_lap", self.lambda_lap)] {
            if !(v >= 0.0 && v.is_finite()) {
                return err(field, v.to_string(), "must be a finite number ≥ 0");
            }
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return err("lr", self.lr.to_string(), "must be a finite number > 0");
        }
        if self.clip_grad_norm.is_nan() || self.clip_grad_norm <= 0.0 {
            return err("clip_grad_norm", self.clip_grad_norm.to_string(), "must be > 0");
        }
        if self.max_steps < 1 {
            return err("max_steps", self.max_steps.to_string(), "must be ≥ 1");
        }
        if self.batch_size == Some(0) {
            return err("batch_size", "0".into(), "must be ≥ 1 (omit it for full batch)");
        }
        if let Some(c) = self.crop_px {
            if c < 4 || c % 4 != 0 {
                return err("crop_px", c.to_string(), "must be a positive multiple of 4");
            }
        }
        if self.eval_interval_steps < 1 {
            return err("eval_interval_steps", self.eval_interval_steps.to_string(), "must be ≥ 1");
        }
        if let Some(d) = self.ema_decay {
            if !(d > 0.0 && d < 1.0) {
                return err("ema_decay", d.to_string(), "must lie in (0, 1) (omit it for no averaging)");
            }
        }
        if let Some(b) = self.time_budget_s {
            if b.is_nan() || b <= 0.0 {
                return err("time_budget_s", b.to_string(), "must be > 0 (omit it for no limit)");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_originals_and_unknown_keys_are_rejected() {
        let c = TrainConfig::default();
        assert_eq!((c.base, c.t_ch, c.k_t, c.lr, c.batch_size), (64, 128, 4, 1e-4, None));
        assert!(c.validate().is_ok() && TrainConfig::cpu_dry_run().validate().is_ok());
        let parsed: TrainConfig = serde_json::from_str(r#"{"base": 16, "lr": 0.001}"#).unwrap();
        assert_eq!((parsed.base, parsed.lr, parsed.k_t), (16, 1e-3, 4));
        assert!(serde_json::from_str::<TrainConfig>(r#"{"bsae": 16}"#).is_err());
        assert_eq!(LrSchedule::Cosine.rate(1e-3, 0.0), 1e-3);
        assert!((LrSchedule::Cosine.rate(1e-3, 0.5) - 5e-4).abs() < 1e-15);
        assert!(LrSchedule::Cosine.rate(1e-3, 1.0).abs() < 1e-15);
        assert_eq!(LrSchedule::Constant.rate(1e-3, 0.7), 1e-3);
        let bad = TrainConfig { crop_px: Some(30), ..c };
        assert_eq!(bad.validate().unwrap_err().field, "crop_px");
    }

    #[test]
    fn training_times_sit_on_the_samplers_grid() {
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
        let one = TrainConfig { t_grid_steps: Some(1), ..TrainConfig::cpu_dry_run() };
        assert_eq!((one.t_grid_steps, one.samples_per_pair()), (Some(1), 1));
        assert!((0..100).all(|_| one.draw_t(&mut rng) == 0.0));
        let four = TrainConfig { k_t: 8, t_grid_steps: Some(4), ..one.clone() };
        assert_eq!(four.samples_per_pair(), 4);
        let drawn: std::collections::BTreeSet<u32> = (0..200).map(|_| (four.draw_t(&mut rng) * 4.0).to_bits()).collect();
        assert_eq!(drawn, [0.0f32, 1.0, 2.0, 3.0].iter().map(|v| v.to_bits()).collect());
        let ts: Vec<f32> = (0..200).map(|_| TrainConfig::default().draw_t(&mut rng)).collect();
        assert!(ts.iter().all(|t| (0.0..1.0).contains(t)) && ts.iter().filter(|&&t| t > 0.5).count() > 50);
        let err = one.check_sampler(10).unwrap_err();
        assert_eq!((err.field, err.value.as_str()), ("t_grid_steps", "1"));
        assert!(one.check_sampler(1).is_ok() && TrainConfig::default().check_sampler(10).is_ok());
        assert_eq!(TrainConfig { t_grid_steps: Some(0), ..one }.validate().unwrap_err().field, "t_grid_steps");
    }
}
