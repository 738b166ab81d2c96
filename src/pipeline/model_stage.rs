//! The model stages: training on the acquired pieces with validation by reconstruction on held-out
//! pieces (spread over the pick order), the sliding-window reconstruction of the whole HR grid, and the
//! **guard**: when SR does not beat the fair baseline on the held-out pieces, the run delivers the fair
//! baseline with the measured pieces pasted, and says so (DESIGN.md §1.5).

use super::block_correlation::{correlated_t, t_needed, BlockGrid, CorrelatedT};
use super::prepare::{Piece, Prepared};
use super::PipelineError;
use crate::device::device_name;
use crate::linear_input::InputFilter;
use crate::model::{TrainedModel, VelocityField};
use crate::reconstruct::{anchor_low_frequencies, paste_patches, reconstruct_with, sigma_on_grid, ReconstructConfig};
use crate::train::{
    save_artifacts, train_from, LossHistory, Normalizer, StopReason, TilePair, TrainConfig, TrainOutcome, TrainProgress, Validation,
};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;
use tch::Device;

/// What the run delivers as its reconstruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputChoice {
    /// The model's reconstruction with the measured pieces pasted.
    Sr,
    /// The fair baseline run through the learned input filter, with the measured pieces pasted: the
    /// filter alone beat the fair baseline on every piece left out of its fit one at a time, and SR
    /// did not beat the filter.
    FilteredBaseline,
    /// The fair baseline with the measured pieces pasted (SR did not beat it on held-out pieces).
    Baseline,
}

impl OutputChoice {
    /// Its name in reports and `metrics.json`: `sr`, `filtered_baseline` or `baseline`.
    pub fn name(self) -> &'static str {
        match self {
            OutputChoice::Sr => "sr",
            OutputChoice::FilteredBaseline => "filtered_baseline",
            OutputChoice::Baseline => "baseline",
        }
    }

    /// What it is, for a person: "SR", "filtered fair baseline" or "fair baseline".
    pub fn describe(self) -> &'static str {
        match self {
            OutputChoice::Sr => "SR",
            OutputChoice::FilteredBaseline => "filtered fair baseline",
            OutputChoice::Baseline => "fair baseline",
        }
    }
}

/// How training went, as reports carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// Optimiser steps run.
    pub steps: usize,
    /// Step of the kept weights.
    pub best_step: usize,
    /// Why training stopped.
    pub stop: StopReason,
    /// Training wall time, seconds.
    pub train_s: f64,
    /// Mean optimiser step, milliseconds.
    pub step_ms: f64,
    /// Pieces trained on.
    pub n_train: usize,
    /// Pieces held out for validation (indices into the pieces, i.e. the pick order for patches).
    pub held_out: Vec<usize>,
    /// PSNR gain of SR over the fair baseline on the held-out pieces with the kept weights, dB.
    pub val_gain_db: Option<f64>,
    /// The smallest gain of any one held-out piece with the kept weights, dB.
    pub val_worst_gain_db: Option<f64>,
    /// The gain of every held-out piece with the kept weights, dB (in the order of `held_out`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub val_piece_gains_db: Vec<f64>,
    /// Student's t of that gain over blocks of the held-out pixels (how sure it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_gain_t: Option<f64>,
    /// That gain over the blocks with the correlation of neighbouring blocks allowed for: what the
    /// guard weighs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_blocks: Option<CorrelatedT>,
    /// The learned input filter's gain over the fair baseline, each trainable piece predicted by the
    /// filter fitted on the others, dB (absent when the filter is off or could not be tested).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_filter_gain_db: Option<f64>,
    /// Student's t of that gain over blocks of those pieces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_filter_gain_t: Option<f64>,
    /// Student's t of that gain over the pieces themselves (their gains in mean squared error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_filter_piece_t: Option<f64>,
    /// Whether the filtered fair baseline was sure enough patch by patch to be delivered (absent when
    /// the filter was not used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_filter_deliverable: Option<bool>,
    /// Whether the filter passed that test and was used (absent when it was off or not tested).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_filter_used: Option<bool>,
    /// Steps trained during acquisition, before the final phase (absent when training ran after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub during_acquisition_steps: Option<usize>,
    /// The validation history (one row per validation).
    #[serde(skip)]
    pub history: LossHistory,
}

/// The model half of a run, on the HR grid.
#[derive(Debug, Clone)]
pub struct ModelOutcome {
    /// What is delivered.
    pub output: OutputChoice,
    /// Why (one line for the summary).
    pub reason: String,
    /// The delivered image: SR or the fair baseline, measured pieces pasted.
    pub delivered: Array2<f32>,
    /// The model's reconstruction with the pieces pasted (also when the guard rejected it).
    pub sr: Array2<f32>,
    /// The model's reconstruction before pasting: the mean of the reconstruction and of the
    /// reconstruction of the slow-axis-flipped input flipped back (test-time averaging).
    pub sr_unpasted: Array2<f32>,
    /// Per-pixel uncertainty of the reconstruction: half the difference between those two passes
    /// (the network's disagreement with itself), in the channel's unit; 0 where a patch was measured.
    pub uncertainty: Array2<f32>,
    /// Training, when the model was trained here.
    pub training: Option<TrainingRecord>,
    /// Reconstruction wall time, seconds.
    pub reconstruct_s: f64,
    /// "cpu" or "cuda".
    pub device: String,
}

/// The pieces held out for validation: `n_val` of the `n` trainable ones, spread evenly over their
/// order (with 20 picks and 4 held out: the 3rd, 8th, 13th and 18th).
pub fn held_out_positions(n: usize, n_val: usize) -> Vec<usize> {
    let k = n_val.min(n.saturating_sub(1));
    (0..k).map(|i| ((i as f64 + 0.5) * n as f64 / k as f64).floor() as usize).collect()
}

/// The squared errors of SR and of the fair baseline on held-out pieces, gathered piece by piece
/// (possibly by several networks, each on the pieces it did not see) and pooled into a [`Validation`].
struct HeldOutErrors {
    se_sr: f64,
    se_fair: f64,
    n: usize,
    lo: f64,
    hi: f64,
    /// Each piece's gain, dB.
    piece_gains_db: Vec<f64>,
    /// Each piece's mean squared error of the fair baseline minus that of SR (the gain in the unit²).
    piece_se_gains: Vec<f64>,
    /// Squared errors (SR, fair) summed per block of every piece; the guard's t pairs them block by block.
    block_se: Vec<(f64, f64)>,
    /// Where each piece's blocks lie in `block_se`.
    grids: Vec<BlockGrid>,
}

impl HeldOutErrors {
    fn new() -> Self {
        Self {
            se_sr: 0.0,
            se_fair: 0.0,
            n: 0,
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
            piece_gains_db: Vec::new(),
            piece_se_gains: Vec::new(),
            block_se: Vec::new(),
            grids: Vec::new(),
        }
    }

    /// Reconstructs `pieces` with `field` as inference does, each piece alone in one window (its x0,
    /// the same Euler steps, the low-frequency anchor over the piece), and adds their errors and those
    /// of the fair baseline. The whole frame's reconstruction also blends overlapping windows with
    /// their context and averages a flipped pass; measured on the suite's 20 farthest-first and
    /// uniform replays, it scores the held-out pieces 0.11 dB higher on average, and a guard judging
    /// it instead changed 3 of 20 outputs for a mean −0.006 dB (`docs/results/gap-checks/`), so this
    /// cheaper figure, run at every validation, also serves the guard.
    fn add(
        &mut self,
        field: &dyn VelocityField,
        normalizer: &Normalizer,
        pieces: &[&Piece],
        lr_pitch_m: (f64, f64),
        cfg: &ReconstructConfig,
        device: Device,
    ) -> Result<(), PipelineError> {
        for p in pieces {
            let tile = p.x0.dim();
            let rec =
                reconstruct_with(field, normalizer, tile, p.x0.view(), &[], &ReconstructConfig { tile_px: None, ..cfg.clone() }, device)?;
            let sigma = sigma_on_grid(cfg.lr_anchor_sigma_lr_px, lr_pitch_m, p.image.pitch_m());
            let inferred = anchor_low_frequencies(rec.inferred_m.view(), p.reference.view(), sigma);
            self.add_prediction(p, inferred.view(), lr_pitch_m);
        }
        Ok(())
    }

    /// Adds the errors of `prediction` (on the piece's own pixels) and of the fair baseline on `p`.
    fn add_prediction(&mut self, p: &Piece, prediction: ndarray::ArrayView2<f32>, lr_pitch_m: (f64, f64)) {
        let tile = p.image.data.dim();
        let (mut piece_sr, mut piece_fair) = (0.0f64, 0.0f64);
        let block = guard_block_px(lr_pitch_m, p.image.pitch_m());
        let cols = tile.1.div_ceil(block.1);
        let first_block = self.block_se.len();
        let rows = tile.0.div_ceil(block.0);
        self.block_se.resize(first_block + rows * cols, (0.0, 0.0));
        self.grids.push(BlockGrid { first: first_block, rows, cols });
        for (((r, c), &sr), (&fair, &truth)) in prediction.indexed_iter().zip(p.fair.iter().zip(p.image.data.iter())) {
            let t = truth as f64;
            let (e_sr, e_fair) = ((sr as f64 - t).powi(2), (fair as f64 - t).powi(2));
            piece_sr += e_sr;
            piece_fair += e_fair;
            let sums = &mut self.block_se[first_block + (r / block.0) * cols + c / block.1];
            (sums.0, sums.1) = (sums.0 + e_sr, sums.1 + e_fair);
            self.lo = self.lo.min(t);
            self.hi = self.hi.max(t);
            self.n += 1;
        }
        (self.se_sr, self.se_fair) = (self.se_sr + piece_sr, self.se_fair + piece_fair);
        self.piece_gains_db.push(10.0 * (piece_fair / piece_sr).log10());
        self.piece_se_gains.push((piece_fair - piece_sr) / p.image.data.len().max(1) as f64);
    }

    /// What the guard weighs (nothing when no piece was added).
    fn evidence(&self) -> Evidence {
        let gains = self.block_gains();
        let v = (self.n > 0).then(|| self.validation_over(&gains));
        Evidence {
            gain_db: v.map(|v| v.gain_db),
            worst_gain_db: v.map(|v| v.worst_gain_db),
            gain_t: v.map(|v| v.gain_t),
            blocks: v.map(|v| correlated_t(&gains, &self.grids, v.gain_t)),
            piece_gains_db: self.piece_gains_db.clone(),
            piece_t: (self.piece_se_gains.len() >= 2).then(|| paired_t(&self.piece_se_gains)),
        }
    }

    /// The pooled validation of everything added: PSNR of SR and of the fair baseline over all the
    /// pixels (data range of the measured pieces), the pooled gain, the smallest gain of any one
    /// piece, dB, and the t of the gain over blocks.
    fn validation(&self) -> Validation {
        self.validation_over(&self.block_gains())
    }

    /// [`Self::validation`] with the blocks' gains ([`Self::block_gains`]) already at hand.
    fn validation_over(&self, block_gains: &[f64]) -> Validation {
        let psnr = |se: f64| 10.0 * ((self.hi - self.lo).powi(2) / (se / self.n.max(1) as f64)).log10();
        Validation {
            gain_db: 10.0 * (self.se_fair / self.se_sr).log10(),
            psnr_sr_db: psnr(self.se_sr),
            psnr_fair_db: psnr(self.se_fair),
            worst_gain_db: self.piece_gains_db.iter().copied().fold(f64::INFINITY, f64::min),
            gain_t: paired_t(block_gains),
        }
    }

    /// Each block's squared error of the fair baseline minus that of SR.
    fn block_gains(&self) -> Vec<f64> {
        self.block_se.iter().map(|(sr, fair)| fair - sr).collect()
    }
}

/// Side of the blocks over which the guard compares SR's and the fair baseline's errors, LR pixels:
/// about the shortest distance over which the errors of an upsampling stay alike, at any decimation
/// and tile size. Where they stay alike further (an edge, a relief smeared by the fast scan), the
/// guard measures how alike neighbouring blocks are and counts them for fewer ([`correlated_t`]).
pub const GUARD_BLOCK_LR_PX: f64 = 2.0;

/// The guard's blocks on a grid of pitch `pitch_m` (rows, columns): `GUARD_BLOCK_LR_PX` LR pixels,
/// at least 2 pixels.
pub fn guard_block_px(lr_pitch_m: (f64, f64), pitch_m: (f64, f64)) -> (usize, usize) {
    let (r, c) = sigma_on_grid(GUARD_BLOCK_LR_PX, lr_pitch_m, pitch_m);
    let side = |px: f64| if px.is_finite() { (px.round() as usize).max(2) } else { 2 };
    (side(r), side(c))
}

/// Student's t of the mean of `d` (mean ÷ its standard error); ±∞ when every value is the same and
/// not 0, 0 with fewer than two values or all zero.
pub fn paired_t(d: &[f64]) -> f64 {
    let n = d.len() as f64;
    if d.len() < 2 {
        return 0.0;
    }
    let mean = d.iter().sum::<f64>() / n;
    let var = d.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let se = (var / n).sqrt();
    if se > 0.0 {
        mean / se
    } else if mean != 0.0 {
        mean.signum() * f64::INFINITY
    } else {
        0.0
    }
}

/// Trains on the trainable pieces of `prepared`, keeps the weights that reconstruct the held-out
/// pieces best, reconstructs the whole HR grid and applies the guard. The checkpoint and loss files
/// go to `model_dir`. SR is delivered when it beats the fair baseline on the held-out pieces by more
/// than `recon_cfg.guard_min_gain_db` pooled and no piece loses more than
/// `recon_cfg.guard_max_patch_loss_db`. Training starts from `init`'s weights when given (training
/// that ran during acquisition), else from a fresh initialisation; with `train_cfg.cross_fit` (and no
/// `init`) two networks are cross-fitted instead ([`cross_fit_and_reconstruct`]). Without a trainable
/// piece nothing is trained: the fair baseline with the measured pieces is delivered, and no model
/// returned.
pub fn train_and_reconstruct(
    prepared: &Prepared,
    train_cfg: &TrainConfig,
    recon_cfg: &ReconstructConfig,
    device: Device,
    model_dir: &Path,
    init: Option<&TrainedModel>,
    progress: &mut dyn FnMut(TrainProgress),
) -> Result<(ModelOutcome, Option<TrainedModel>), PipelineError> {
    train_cfg.check_sampler(recon_cfg.steps).map_err(crate::train::TrainError::from)?;
    let trainable: Vec<(usize, &Piece)> = prepared.pieces.iter().enumerate().filter(|(_, p)| p.trainable).collect();
    if trainable.is_empty() {
        // Nothing the network could learn from without learning a misalignment: the measurement is
        // still worth delivering, as the fair baseline with the pieces pasted.
        let reason = "no acquired piece can be trained on (none, or every registration was ambiguous): delivering the fair baseline with the measured patches";
        tracing::warn!("{reason}");
        return Ok((baseline_outcome(prepared, recon_cfg, device, reason)?, None));
    }
    if train_cfg.cross_fit && init.is_none() && trainable.len() >= MIN_CROSS_FIT_PIECES {
        // one input filter for both networks, fitted on every trainable piece
        let all: Vec<usize> = trainable.iter().map(|(i, _)| *i).collect();
        let test = filtered_for_model(prepared, &all, &[], train_cfg, recon_cfg, model_dir)?;
        let filtered = test.fitted.as_ref();
        let prepared = filtered.map_or(prepared, |f| &f.prepared);
        let trainable: Vec<(usize, &Piece)> = prepared.pieces.iter().enumerate().filter(|(_, p)| p.trainable).collect();
        let (mut result, model) =
            cross_fit_and_reconstruct(prepared, &trainable, train_cfg, recon_cfg, device, model_dir, filtered, progress)?;
        test.record(&mut result);
        return Ok((result, Some(model)));
    }
    let held = held_out_positions(trainable.len(), train_cfg.n_val);
    let pieces_where = |held_out: bool| -> Vec<usize> {
        trainable.iter().enumerate().filter(|(k, _)| held.contains(k) == held_out).map(|(_, (i, _))| *i).collect()
    };
    let (held_pieces, fit_on) = (pieces_where(true), pieces_where(false));
    let test = filtered_for_model(prepared, &fit_on, &held_pieces, train_cfg, recon_cfg, model_dir)?;
    let filtered = test.fitted.as_ref();
    let prepared = filtered.map_or(prepared, |f| &f.prepared);
    let trainable: Vec<(usize, &Piece)> = prepared.pieces.iter().enumerate().filter(|(_, p)| p.trainable).collect();
    let (val, fit): (Vec<_>, Vec<_>) = trainable.iter().enumerate().partition(|(k, _)| held.contains(k));
    let pairs: Vec<TilePair> = fit.iter().map(|(_, (_, p))| p.training_pair()).collect();
    let val_pieces: Vec<&Piece> = val.iter().map(|(_, (_, p))| *p).collect();
    let normalizer = prepared.normalizer()?;
    let outcome = train_validated(prepared, &normalizer, &pairs, &val_pieces, train_cfg, recon_cfg, device, init, progress)?;
    save_artifacts(model_dir, &outcome, train_cfg)?;
    let mut errors = HeldOutErrors::new();
    errors.add(&outcome.model, &normalizer, &val_pieces, prepared.lr.pitch_m(), recon_cfg, device)?;
    let record = training_record(&outcome, pairs.len(), val.iter().map(|(_, (i, _))| *i).collect(), errors);
    let mut result = deliver(prepared, &[&outcome.model], record, recon_cfg, 0.0, "SR", filtered)?;
    test.record(&mut result);
    Ok((result, Some(outcome.model)))
}

/// A learned input filter in use: the prepared data it filters, and what shows that it helps.
pub struct FittedInputFilter {
    /// The prepared data with the network's input and the anchor's reference run through `filter`.
    pub prepared: Prepared,
    /// The filter, fitted on the training pieces only.
    pub filter: InputFilter,
    /// Every checked piece predicted by the filter fitted on the other checked pieces (index, prediction).
    left_out: Vec<(usize, Array2<f32>)>,
    /// The guard's evidence from those predictions, on every checked piece.
    check: Evidence,
    /// Whether the filtered fair baseline may be delivered ([`filter_delivery_test`]): Ok, or why not.
    delivery: Result<(), String>,
}

impl FittedInputFilter {
    /// The errors of the left-out predictions on the pieces `on`.
    fn errors_on(&self, on: &[usize]) -> HeldOutErrors {
        left_out_errors(&self.prepared, &self.left_out, Some(on))
    }
}

/// The errors of left-out predictions `(piece index, prediction)` of `prepared`'s pieces against what
/// they measured, and of the fair baseline, on the pieces `on` (all of them when None).
fn left_out_errors(prepared: &Prepared, left_out: &[(usize, Array2<f32>)], on: Option<&[usize]>) -> HeldOutErrors {
    let mut held = HeldOutErrors::new();
    for (i, prediction) in left_out.iter().filter(|(i, _)| on.is_none_or(|on| on.contains(i))) {
        if let Some(piece) = prepared.pieces.get(*i) {
            held.add_prediction(piece, prediction.view(), prepared.lr.pitch_m());
        }
    }
    held
}

/// With `[train] input_filter_radius_px` > 0: the input filter fitted on the pieces `fit_on` (never
/// the network's held-out ones) and `prepared` with the network's input and anchor run through it.
/// It is used only when it passes the guard's own test against the fair baseline (pooled gain above
/// `guard_filter_min_gain_db`, t above `guard_min_t`, at most a quarter of the pieces clearly losing) on
/// every piece of `fit_on` and `held_out`, each predicted by the filter fitted on the others (leave
/// one piece out: every piece is evidence, none is judged by a fit that saw it). None when the filter is off, cannot be
/// fitted (too few pixels) or fails that test (a channel whose LR a linear filter cannot improve
/// keeps the fair baseline as the network's input).
pub fn with_fitted_input_filter(
    prepared: &Prepared,
    fit_on: &[usize],
    held_out: &[usize],
    train_cfg: &TrainConfig,
    recon_cfg: &ReconstructConfig,
) -> Result<FilterTest, PipelineError> {
    let radius = train_cfg.input_filter_radius_px;
    if radius == 0 {
        return Ok(FilterTest::default());
    }
    // in the pieces' own order, each piece's data computed once for the check and the fit
    let mut check_on: Vec<usize> = fit_on.iter().chain(held_out).copied().collect();
    check_on.sort_unstable();
    let samples = prepared.input_filter_samples(&check_on, radius)?;
    let left_out = samples.left_out();
    let check = left_out_errors(prepared, &left_out, None).evidence();
    let (choice, reason) = filter_guard(&check, recon_cfg);
    if choice != OutputChoice::Sr {
        tracing::info!("input filter not used: {reason}");
        return Ok(FilterTest { refused: Some(check), fitted: None });
    }
    let filter = match samples.fit(fit_on) {
        Ok(filter) => filter,
        Err(e) => {
            tracing::warn!("{e}: the network's input is the fair baseline");
            return Ok(FilterTest::default());
        }
    };
    let delivery = filter_delivery_test(&check, recon_cfg);
    if let Err(why) = &delivery {
        tracing::info!("the filtered fair baseline will not be delivered: {why}");
    }
    let fitted = FittedInputFilter { prepared: prepared.with_input_filter(&filter)?, filter, left_out, check, delivery };
    tracing::info!("input filter used as the network's input: {reason}");
    Ok(FilterTest { refused: None, fitted: Some(fitted) })
}

/// What became of the input filter for one model: used (it passed its left-out test and was fitted),
/// refused by that test (with the test's evidence, for the record), or neither (off, or not testable).
#[derive(Default)]
pub struct FilterTest {
    /// The left-out test's evidence when the filter failed it.
    refused: Option<Evidence>,
    /// The filter and the prepared data run through it, when it is used.
    pub fitted: Option<FittedInputFilter>,
}

impl FilterTest {
    /// Writes the filter's left-out test, and whether it passed, into the training record of `result`
    /// (nothing when the filter was off or not testable).
    fn record(&self, result: &mut ModelOutcome) {
        let (check, used) = match (&self.fitted, &self.refused) {
            (Some(fitted), _) => (&fitted.check, true),
            (None, Some(check)) => (check, false),
            (None, None) => return,
        };
        if let Some(record) = result.training.as_mut() {
            (record.input_filter_gain_db, record.input_filter_gain_t, record.input_filter_used) = (check.gain_db, check.gain_t, Some(used));
            record.input_filter_piece_t = check.piece_t;
            record.input_filter_deliverable = self.fitted.as_ref().map(|f| f.delivery.is_ok());
        }
    }
}

/// [`with_fitted_input_filter`] for the final model: the filter is saved beside its weights in
/// `model_dir`, where `reconstruct` finds it.
fn filtered_for_model(
    prepared: &Prepared,
    fit_on: &[usize],
    held_out: &[usize],
    train_cfg: &TrainConfig,
    recon_cfg: &ReconstructConfig,
    model_dir: &Path,
) -> Result<FilterTest, PipelineError> {
    let test = with_fitted_input_filter(prepared, fit_on, held_out, train_cfg, recon_cfg)?;
    let Some(fitted) = &test.fitted else {
        // a filter left by an earlier model in the same folder must not be applied to this one
        let stale = model_dir.join(crate::linear_input::INPUT_FILTER_FILE);
        if stale.exists() {
            std::fs::remove_file(&stale).map_err(|e| PipelineError::Output(format!("{}: {e}", stale.display())))?;
        }
        return Ok(test);
    };
    std::fs::create_dir_all(model_dir).map_err(|e| PipelineError::Output(format!("{}: {e}", model_dir.display())))?;
    fitted.filter.save(model_dir).map_err(|e| PipelineError::Output(e.to_string()))?;
    tracing::info!(
        "input filter: {0}×{0} taps fitted on {1} px of {2} pieces",
        fitted.filter.side(),
        fitted.filter.fitted_px,
        fit_on.len()
    );
    Ok(test)
}

/// The outcome without a model: the fair baseline with the measured pieces pasted, delivered for
/// `reason` (SR is the same image, so scores "had SR been delivered" equal the baseline's).
fn baseline_outcome(
    prepared: &Prepared,
    recon_cfg: &ReconstructConfig,
    device: Device,
    reason: &str,
) -> Result<ModelOutcome, PipelineError> {
    let pasted = prepared.fair_pasted(recon_cfg.seam_px)?;
    Ok(ModelOutcome {
        output: OutputChoice::Baseline,
        reason: reason.to_string(),
        delivered: pasted.clone(),
        sr: pasted,
        sr_unpasted: prepared.fair.clone(),
        uncertainty: Array2::zeros(prepared.fair.dim()),
        training: None,
        reconstruct_s: 0.0,
        device: device_name(device).to_string(),
    })
}

/// What a training run and the errors `held` of its kept weights on the held-out pieces give the
/// record (no validation figures when nothing was held out).
fn training_record(outcome: &TrainOutcome, n_train: usize, held_out: Vec<usize>, held: HeldOutErrors) -> TrainingRecord {
    let evidence = held.evidence();
    TrainingRecord {
        steps: outcome.steps,
        best_step: outcome.best_step,
        stop: outcome.stop,
        train_s: outcome.train_s,
        step_ms: outcome.mean_step_ms,
        n_train,
        held_out,
        val_gain_db: evidence.gain_db,
        val_worst_gain_db: evidence.worst_gain_db,
        val_piece_gains_db: evidence.piece_gains_db,
        val_gain_t: evidence.gain_t,
        val_blocks: evidence.blocks,
        input_filter_gain_db: None,
        input_filter_gain_t: None,
        input_filter_piece_t: None,
        input_filter_deliverable: None,
        input_filter_used: None,
        during_acquisition_steps: None,
        history: outcome.history.clone(),
    }
}

/// Applies the guard to `record` (at most `losing_share` of the held-out pieces may lose clearly) and
/// reconstructs with the mean of `models`: SR, or — when the guard refuses it — the fair baseline
/// with the measured pieces. With an input `filter` in use whose delivery test passed, the rung
/// between them is the filtered fair baseline: delivered when SR fails the guard, or when the filter
/// alone does at least as well as SR on SR's own held-out pieces. `what` names the reconstruction in
/// the reason.
#[allow(clippy::too_many_arguments)]
fn deliver(
    prepared: &Prepared,
    models: &[&TrainedModel],
    record: TrainingRecord,
    recon_cfg: &ReconstructConfig,
    losing_share: f64,
    what: &str,
    filter: Option<&FittedInputFilter>,
) -> Result<ModelOutcome, PipelineError> {
    let rung = filter.map(|f| FilterRung {
        check: &f.check,
        on_same: f.errors_on(&record.held_out).evidence().gain_db,
        delivery: f.delivery.as_ref().map_err(String::as_str).copied(),
    });
    let (output, reason) = choose_output(&record.evidence(), rung, recon_cfg, losing_share, what);
    let mut result = reconstruct_mean(prepared, models, recon_cfg)?;
    match output {
        OutputChoice::Sr => {}
        // with a filter in use, the prepared data's reference is the filtered fair baseline
        OutputChoice::FilteredBaseline => {
            result.delivered = paste_patches(prepared.reference.view(), &prepared.measured(), recon_cfg.seam_px)?
        }
        OutputChoice::Baseline => result.delivered = prepared.fair_pasted(recon_cfg.seam_px)?,
    }
    (result.output, result.reason, result.training) = (output, reason, Some(record));
    Ok(result)
}

/// An input filter in use, as the choice of the delivered rung sees it.
struct FilterRung<'a> {
    /// Its evidence on every piece left out of its fit.
    check: &'a Evidence,
    /// Its pooled gain on SR's own held-out pieces, dB.
    on_same: Option<f64>,
    /// Its delivery test ([`filter_delivery_test`]): Ok, or why the filtered baseline may not be delivered.
    delivery: Result<(), &'a str>,
}

/// The delivered rung: the guard's choice between SR (its held-out `evidence`) and the fair
/// baseline, or — with an input `filter` in use that passed its delivery test — the filtered fair
/// baseline, when SR fails the guard or the filter alone does at least as well on the same pieces.
/// A filter that failed its delivery test was only the network's input: SR stands or falls by its
/// own guard, and the reason says why the filter alone was not delivered. With the reason.
fn choose_output(
    evidence: &Evidence,
    filter: Option<FilterRung<'_>>,
    recon_cfg: &ReconstructConfig,
    losing_share: f64,
    what: &str,
) -> (OutputChoice, String) {
    let (output, reason) = guard(evidence, recon_cfg, losing_share, what);
    let Some(FilterRung { check, on_same, delivery }) = filter else {
        return (output, reason);
    };
    if let Err(why) = delivery {
        return match output {
            OutputChoice::Sr => (output, reason),
            _ => (output, format!("{reason}; not the filtered fair baseline either: {why}")),
        };
    }
    match (output, evidence.gain_db, on_same) {
        (OutputChoice::Sr, Some(sr), Some(alone)) if alone >= sr => (
            OutputChoice::FilteredBaseline,
            format!(
                "{what} ({sr:+.2} dB) does not beat the input filter alone ({alone:+.2} dB) on the same {} held-out patches: \
                 delivering the filtered fair baseline with the measured patches",
                evidence.piece_gains_db.len()
            ),
        ),
        (OutputChoice::Sr, ..) => (output, reason),
        _ => (
            OutputChoice::FilteredBaseline,
            format!(
                "{reason} — but the input filter alone gives {:+.2} dB (t = {:.1} over blocks, {:.1} over patches) over the fair baseline on the {} patches \
                 each left out of its fit: delivering the filtered fair baseline with the measured patches instead",
                check.gain_db.unwrap_or(f64::NAN),
                check.gain_t.unwrap_or(f64::NAN),
                check.piece_t.unwrap_or(f64::NAN),
                check.piece_gains_db.len()
            ),
        ),
    }
}

/// Fewer trainable pieces than this: no cross-fitting (each network would train on one piece).
pub const MIN_CROSS_FIT_PIECES: usize = 4;

/// Subfolder of the model folder for the second cross-fitted network.
pub const CROSS_FIT_SECOND_DIR: &str = "cross_fit_b";

/// The pieces of `(index, piece)` pairs.
fn pieces_of<'a>(indexed: &[(usize, &'a Piece)]) -> Vec<&'a Piece> {
    indexed.iter().map(|(_, p)| *p).collect()
}

/// Cross-fitting: two networks, one trained on the even, one on the odd positions of the pick order,
/// each keeping the weights that reconstruct the other's pieces best. The guard pools every piece,
/// each reconstructed by the network that did not see it; the delivered reconstruction is the mean of
/// the two networks' (by convexity its squared error is at most the mean of theirs, pixel by pixel).
/// The first network goes to `model_dir`, the second to `model_dir/cross_fit_b`.
#[allow(clippy::too_many_arguments)]
fn cross_fit_and_reconstruct(
    prepared: &Prepared,
    trainable: &[(usize, &Piece)],
    train_cfg: &TrainConfig,
    recon_cfg: &ReconstructConfig,
    device: Device,
    model_dir: &Path,
    filter: Option<&FittedInputFilter>,
    progress: &mut dyn FnMut(TrainProgress),
) -> Result<(ModelOutcome, TrainedModel), PipelineError> {
    let half = |parity: usize| -> Vec<(usize, &Piece)> {
        trainable.iter().enumerate().filter(|(k, _)| k % 2 == parity).map(|(_, &p)| p).collect()
    };
    let halves = [half(0), half(1)];
    let normalizer = prepared.normalizer()?;
    let mut outcomes = Vec::with_capacity(2);
    for (h, dir) in [(0usize, model_dir.to_path_buf()), (1, model_dir.join(CROSS_FIT_SECOND_DIR))] {
        let pairs: Vec<TilePair> = halves[h].iter().map(|(_, p)| p.training_pair()).collect();
        let outcome =
            train_validated(prepared, &normalizer, &pairs, &pieces_of(&halves[1 - h]), train_cfg, recon_cfg, device, None, progress)?;
        save_artifacts(&dir, &outcome, train_cfg)?;
        outcomes.push(outcome);
    }
    let (a, b) = (&outcomes[0], &outcomes[1]);
    // Every piece held out once: the first half by the second network, the second half by the first.
    let mut held = HeldOutErrors::new();
    held.add(&b.model, &normalizer, &pieces_of(&halves[0]), prepared.lr.pitch_m(), recon_cfg, device)?;
    held.add(&a.model, &normalizer, &pieces_of(&halves[1]), prepared.lr.pitch_m(), recon_cfg, device)?;
    let record = TrainingRecord {
        steps: a.steps + b.steps,
        train_s: a.train_s + b.train_s,
        step_ms: 0.5 * (a.mean_step_ms + b.mean_step_ms),
        ..training_record(a, halves[0].len().max(halves[1].len()), trainable.iter().map(|(i, _)| *i).collect(), held)
    };
    tracing::info!(
        "cross-fitted: {} + {} steps (kept {} and {}); held out by the other network {:+.2} / {:+.2} dB",
        a.steps,
        b.steps,
        a.best_step,
        b.best_step,
        b.best_val_score.unwrap_or(f64::NAN),
        a.best_val_score.unwrap_or(f64::NAN)
    );
    let result = deliver(
        prepared,
        &[&a.model, &b.model],
        record,
        recon_cfg,
        CROSS_FIT_MAX_LOSING_SHARE,
        "SR (the mean of two cross-fitted networks)",
        filter,
    )?;
    let model = outcomes.swap_remove(0).model;
    Ok((result, model))
}

/// Trains on `pairs` (from `init`'s weights when given), keeping the weights that reconstruct
/// `val_pieces` best (the last ones when there are none).
#[allow(clippy::too_many_arguments)]
fn train_validated(
    prepared: &Prepared,
    normalizer: &Normalizer,
    pairs: &[TilePair],
    val_pieces: &[&Piece],
    train_cfg: &TrainConfig,
    recon_cfg: &ReconstructConfig,
    device: Device,
    init: Option<&TrainedModel>,
    progress: &mut dyn FnMut(TrainProgress),
) -> Result<TrainOutcome, PipelineError> {
    let mut validation_error = None;
    let mut validator = |m: &TrainedModel| {
        let mut held = HeldOutErrors::new();
        match held.add(m, normalizer, val_pieces, prepared.lr.pitch_m(), recon_cfg, device) {
            Ok(()) => held.validation(),
            Err(e) => {
                validation_error.get_or_insert(e);
                Validation {
                    gain_db: f64::NEG_INFINITY,
                    psnr_sr_db: f64::NAN,
                    psnr_fair_db: f64::NAN,
                    worst_gain_db: f64::NEG_INFINITY,
                    gain_t: f64::NEG_INFINITY,
                }
            }
        }
    };
    let outcome = train_from(
        pairs,
        *normalizer,
        train_cfg,
        device,
        init,
        (!val_pieces.is_empty()).then_some(&mut validator as &mut crate::train::Validator<'_>),
        progress,
    )?;
    match validation_error {
        Some(e) => Err(e),
        None => Ok(outcome),
    }
}

/// With cross-fitting (every piece held out once) at most this share of the held-out pieces (rounded
/// down) may lose more than `guard_max_patch_loss_db` to the fair baseline — the worst of many pieces
/// lies further below their mean than the worst of the two or four a single network holds out, where
/// none may.
pub const CROSS_FIT_MAX_LOSING_SHARE: f64 = 0.25;

/// What the guard weighs: the pooled gain over the fair baseline on held-out pieces, the least gain
/// of any one, the t over blocks (None when nothing was held out) and the same with the correlation
/// of neighbouring blocks allowed for (None where the blocks are taken as independent), every
/// piece's gain, dB, and the t of the gain over the pieces themselves (None with fewer than two, or
/// where it is not weighed).
#[derive(Clone)]
struct Evidence {
    gain_db: Option<f64>,
    worst_gain_db: Option<f64>,
    gain_t: Option<f64>,
    blocks: Option<CorrelatedT>,
    piece_gains_db: Vec<f64>,
    piece_t: Option<f64>,
}

impl TrainingRecord {
    /// Its validation figures as the guard weighs them.
    fn evidence(&self) -> Evidence {
        Evidence {
            gain_db: self.val_gain_db,
            worst_gain_db: self.val_worst_gain_db,
            gain_t: self.val_gain_t,
            blocks: self.val_blocks,
            piece_gains_db: self.val_piece_gains_db.clone(),
            piece_t: None,
        }
    }
}

/// The input filter's test as the network's input, on its left-out evidence: the guard with
/// `guard_filter_min_gain_db` as the margin (the evidence of a fixed-size linear fit left out one
/// patch at a time is not a best of many) and a quarter of the patches allowed to lose clearly, its
/// blocks taken as independent. What the network makes of that input is judged by SR's own guard,
/// which allows for the blocks' correlation; delivering the filtered fair baseline itself needs
/// [`filter_delivery_test`] as well.
fn filter_guard(check: &Evidence, recon_cfg: &ReconstructConfig) -> (OutputChoice, String) {
    let cfg = ReconstructConfig { guard_min_gain_db: recon_cfg.guard_filter_min_gain_db, ..recon_cfg.clone() };
    let what = "the input filter alone (each patch predicted by the filter fitted on the others)";
    guard(&Evidence { blocks: None, ..check.clone() }, &cfg, CROSS_FIT_MAX_LOSING_SHARE, what)
}

/// Whether the filtered fair baseline, which passed [`filter_guard`], may be delivered: its gain must
/// be sure patch by patch as well as block by block — Student's t of the pieces' left-out gains in
/// mean squared error above [`piece_t_needed`]. The blocks are nearly independent only where the
/// errors decorrelate within 2 LR pixels; where the LR is smeared over a tile or more, a whole patch's
/// error moves together and its blocks count it many times over (measured: a filter passed at t = 2.2
/// over blocks, 0.62 over its 8 patches, and its filtered baseline lost 0.74 dB on the unacquired
/// region). The patches are the filter's independent evidence: each lies elsewhere on the sample and
/// is predicted by a fit without it. Ok, or why not.
fn filter_delivery_test(check: &Evidence, recon_cfg: &ReconstructConfig) -> Result<(), String> {
    let n = check.piece_gains_db.len();
    let needed = piece_t_needed(recon_cfg.guard_min_t, n);
    match check.piece_t {
        Some(t) if t > needed => Ok(()),
        t => Err(format!(
            "the input filter alone ({:+.2} dB, t = {:.1} over blocks) is not sure patch by patch: t = {:.1} over the {n} patches themselves, \
             {needed:.1} needed at {} degrees of freedom",
            check.gain_db.unwrap_or(f64::NAN),
            check.gain_t.unwrap_or(f64::NAN),
            t.unwrap_or(f64::NAN),
            n.saturating_sub(1)
        )),
    }
}

/// The t that a gain measured on `n_pieces` independent pieces must exceed to be as sure as a gain
/// at t = `min_t` over many samples: Student's t quantile, with n − 1 degrees of freedom, at the
/// normal distribution's one-sided confidence of `min_t` (2 → 97.7 %: 2.43 at 7 degrees of freedom,
/// 2.14 at 19). Infinite with fewer than two pieces (nothing can be sure).
pub fn piece_t_needed(min_t: f64, n_pieces: usize) -> f64 {
    t_needed(min_t, n_pieces.saturating_sub(1) as f64)
}

/// The guard: a pooled gain beyond the margin, sure block by block, and no held-out piece clearly
/// worse — or at most `losing_share` of them (a pooled gain over a few patches can hide content SR
/// gets wrong). Sure means: with the correlation of neighbouring blocks allowed for, when the
/// evidence carries it, the t above Student's quantile for the blocks' effective number; else the
/// t over blocks above `guard_min_t`. `what` names the reconstruction in the reason.
fn guard(evidence: &Evidence, recon_cfg: &ReconstructConfig, losing_share: f64, what: &str) -> (OutputChoice, String) {
    let (min_gain, max_loss, min_t) = (recon_cfg.guard_min_gain_db, recon_cfg.guard_max_patch_loss_db, recon_cfg.guard_min_t);
    let n_held = evidence.piece_gains_db.len();
    let losing = evidence.piece_gains_db.iter().filter(|&&g| g.is_nan() || g <= -max_loss).count();
    let allowed = (losing_share * n_held as f64).floor() as usize;
    let losers = match allowed {
        0 => String::new(),
        _ => format!(", {losing} of {n_held} below −{max_loss} dB, {allowed} allowed"),
    };
    let (sure, t) = match (evidence.blocks, evidence.gain_t) {
        (Some(b), _) => (
            b.is_sure(min_t),
            format!(
                "t = {:.1} over {} blocks of {GUARD_BLOCK_LR_PX} LR px, {:.1} allowing for neighbours alike by {:.2} down and {:.2} across \
                 (≈ {:.0} independent blocks, {:.1} needed)",
                b.t,
                b.n_blocks,
                b.t_effective,
                b.rho_down,
                b.rho_across,
                b.n_effective,
                b.needed(min_t)
            ),
        ),
        (None, t) => (t.is_some_and(|t| t > min_t), format!("t = {:.1} over blocks of {GUARD_BLOCK_LR_PX} LR px", t.unwrap_or(f64::NAN))),
    };
    match (evidence.gain_db, evidence.worst_gain_db) {
        (Some(g), Some(w)) if g > min_gain && losing <= allowed && sure => (
            OutputChoice::Sr,
            format!("{what} beats the fair baseline on {n_held} held-out patches ({g:+.2} dB pooled, {t}, {w:+.2} dB the least{losers})"),
        ),
        (Some(g), w) => (
            OutputChoice::Baseline,
            format!(
                "{what} does not clearly beat the fair baseline on {n_held} held-out patches ({g:+.2} dB pooled, {t}, \
                 {:+.2} dB the least{losers}): delivering the fair baseline with the measured patches",
                w.unwrap_or(f64::NAN)
            ),
        ),
        (None, _) => {
            (OutputChoice::Baseline, "no held-out patch to validate SR on: delivering the fair baseline with the measured patches".into())
        }
    }
}

/// Reconstructs the whole HR grid of `prepared` with `model` twice — as it is, and with its lines in
/// reverse order (the slow-axis flip the network was trained with), flipped back — delivers their
/// mean with the measured pieces pasted, and takes half their difference as the uncertainty map.
pub fn reconstruct_only(prepared: &Prepared, model: &TrainedModel, cfg: &ReconstructConfig) -> Result<ModelOutcome, PipelineError> {
    reconstruct_mean(prepared, &[model], cfg)
}

/// [`reconstruct_only`] with several networks (cross-fitted ones): the mean of their reconstructions,
/// and the mean of their uncertainty maps.
pub fn reconstruct_mean(prepared: &Prepared, models: &[&TrainedModel], cfg: &ReconstructConfig) -> Result<ModelOutcome, PipelineError> {
    let t0 = Instant::now();
    let Some(first) = models.first() else {
        return Err(PipelineError::NoTraining("no network to reconstruct with".into()));
    };
    let dim = prepared.x0.dim();
    let (mut sum, mut uncertainty) = (Array2::<f32>::zeros(dim), Array2::<f32>::zeros(dim));
    let flipped_x0 = prepared.x0.slice(ndarray::s![..;-1, ..]).to_owned();
    let acquired = &prepared.acquired;
    let share = 1.0 / models.len() as f32;
    for model in models {
        let tile = (model.info.tile_rows, model.info.tile_cols);
        let run = |x0: ndarray::ArrayView2<f32>| reconstruct_with(*model, &model.info.normalizer, tile, x0, &[], cfg, model.device());
        let straight = run(prepared.x0.view())?.inferred_m;
        let flipped = run(flipped_x0.view())?.inferred_m;
        let flipped = flipped.slice(ndarray::s![..;-1, ..]);
        ndarray::Zip::indexed(&mut sum).and(&mut uncertainty).for_each(|i, s, u| {
            *s += share * 0.5 * (straight[i] + flipped[i]);
            if !acquired[i] {
                *u += share * 0.5 * (straight[i] - flipped[i]).abs();
            }
        });
    }
    let sigma = sigma_on_grid(cfg.lr_anchor_sigma_lr_px, prepared.lr.pitch_m(), prepared.hr_region.pitch_m(&prepared.hr_raster));
    let sr_unpasted = anchor_low_frequencies(sum.view(), prepared.reference.view(), sigma);
    let sr = paste_patches(sr_unpasted.view(), &prepared.measured(), cfg.seam_px)?;
    Ok(ModelOutcome {
        output: OutputChoice::Sr,
        reason: "reconstructed with a given model (no validation)".into(),
        delivered: sr.clone(),
        sr,
        sr_unpasted,
        uncertainty,
        training: None,
        reconstruct_s: t0.elapsed().as_secs_f64(),
        device: device_name(first.device()).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_out_pieces_are_spread_over_the_pick_order() {
        assert_eq!(held_out_positions(20, 4), vec![2, 7, 12, 17]);
        assert_eq!(held_out_positions(8, 2), vec![2, 6]);
        assert_eq!(held_out_positions(3, 5), vec![0, 2]); // never all of them
        assert!(held_out_positions(1, 2).is_empty());
    }

    #[test]
    fn paired_t_separates_a_steady_gain_from_a_noisy_one() {
        // the same pooled gain, steady block after block or carried by one block
        let steady = [1.0, 1.2, 0.9, 1.1, 1.0, 0.8, 1.0, 1.0];
        let lucky = [8.0, -1.0, 1.0, -0.5, 0.5, -1.0, 1.0, 0.0];
        assert!((steady.iter().sum::<f64>() - lucky.iter().sum::<f64>()).abs() < 1e-12);
        assert!(paired_t(&steady) > 10.0, "{}", paired_t(&steady));
        assert!(paired_t(&lucky) < 1.5, "{}", paired_t(&lucky));
        assert!(paired_t(&steady.map(|v| -v)) < -10.0);
        assert_eq!(paired_t(&[3.0]), 0.0);
        assert_eq!(paired_t(&[2.0, 2.0]), f64::INFINITY);
        assert_eq!(paired_t(&[0.0, 0.0]), 0.0);
    }

    #[test]
    fn a_few_losing_pieces_are_tolerated_only_among_cross_fitted_ones() {
        let record = |gains: &[f64]| Evidence {
            gain_db: Some(1.0),
            worst_gain_db: Some(gains.iter().copied().fold(f64::INFINITY, f64::min)),
            gain_t: Some(5.0),
            blocks: None,
            piece_gains_db: gains.to_vec(),
            piece_t: None,
        };
        let cfg = ReconstructConfig::default(); // margin 0.5 dB, t 2, a patch may lose at most 0.5 dB
        let cross_fit = |gains: &[f64]| guard(&record(gains), &cfg, CROSS_FIT_MAX_LOSING_SHARE, "SR").0;
        let single = |gains: &[f64]| guard(&record(gains), &cfg, 0.0, "SR").0;
        // of the few patches a single network holds out, none may lose
        assert_eq!(single(&[2.0, -0.4]), OutputChoice::Sr);
        assert_eq!(single(&[2.0, -0.6]), OutputChoice::Baseline);
        assert_eq!(single(&[2.0, 1.0, 1.5, -0.6]), OutputChoice::Baseline);
        // of eight cross-fitted ones, two may, three may not; a patch without a figure counts as losing
        let eight = [2.0, 1.0, -3.0, 0.5, -1.0, 1.5, 0.2, 0.8];
        assert_eq!(cross_fit(&eight), OutputChoice::Sr);
        assert_eq!(single(&eight), OutputChoice::Baseline);
        assert_eq!(cross_fit(&[-0.7, 1.0, -3.0, 0.5, -1.0, 1.5, 0.2, 0.8]), OutputChoice::Baseline);
        assert_eq!(cross_fit(&[f64::NAN, 1.0, -3.0, 0.5, -1.0, 1.5, 0.2, 0.8]), OutputChoice::Baseline);
        // the reason says how many lost among many
        assert!(guard(&record(&eight), &cfg, CROSS_FIT_MAX_LOSING_SHARE, "SR").1.contains("2 of 8 below −0.5 dB, 2 allowed"));
    }

    #[test]
    fn the_filter_needs_a_sure_gain_but_no_selection_margin() {
        let evidence = |gain: f64, t: f64| Evidence {
            gain_db: Some(gain),
            worst_gain_db: Some(gain - 0.2),
            gain_t: Some(t),
            blocks: None,
            piece_gains_db: vec![gain - 0.2, gain, gain + 0.2, gain, gain, gain, gain, gain],
            piece_t: Some(t),
        };
        // SR's margin 0.5 dB, the filter's 0, t 2 for both
        let cfg = ReconstructConfig::default();
        // a sure +0.3 dB: the filter passes, SR with the same evidence would not
        assert_eq!(filter_guard(&evidence(0.3, 4.0), &cfg).0, OutputChoice::Sr);
        assert_eq!(guard(&evidence(0.3, 4.0), &cfg, CROSS_FIT_MAX_LOSING_SHARE, "SR").0, OutputChoice::Baseline);
        // an unsure gain, or none, is refused as before
        assert_eq!(filter_guard(&evidence(0.3, 1.5), &cfg).0, OutputChoice::Baseline);
        assert_eq!(filter_guard(&evidence(-0.1, 4.0), &cfg).0, OutputChoice::Baseline);
        // the margin is a setting
        let strict = ReconstructConfig { guard_filter_min_gain_db: 0.5, ..cfg };
        let (choice, reason) = filter_guard(&evidence(0.3, 4.0), &strict);
        assert_eq!(choice, OutputChoice::Baseline);
        assert!(reason.starts_with("the input filter alone") && reason.contains("+0.30 dB pooled"), "{reason}");
    }

    #[test]
    fn the_filtered_baseline_is_delivered_only_when_sure_patch_by_patch() {
        let cfg = ReconstructConfig::default(); // t 2
        let evidence = |block_t: f64, piece_t: Option<f64>, n: usize| Evidence {
            gain_db: Some(0.5),
            worst_gain_db: Some(0.1),
            gain_t: Some(block_t),
            blocks: None,
            piece_gains_db: vec![0.5; n],
            piece_t,
        };
        // sure over many blocks, so a fit input for the network, but the patches themselves scatter:
        // not deliverable, and the reason says why
        let scattered = evidence(6.0, Some(1.5), 8);
        assert_eq!(filter_guard(&scattered, &cfg).0, OutputChoice::Sr);
        let why = filter_delivery_test(&scattered, &cfg).unwrap_err();
        assert!(
            why.contains("not sure patch by patch") && why.contains("t = 1.5 over the 8 patches") && why.contains("7 degrees"),
            "{why}"
        );
        // the same t over patches is enough with many patches, not with few
        assert!(filter_delivery_test(&evidence(6.0, Some(2.3), 40), &cfg).is_ok());
        assert!(filter_delivery_test(&evidence(6.0, Some(2.3), 8), &cfg).is_err());
        assert!(filter_delivery_test(&evidence(6.0, Some(2.5), 8), &cfg).is_ok());
        // no t over patches (a single patch): nothing is sure
        assert!(filter_delivery_test(&evidence(6.0, None, 1), &cfg).is_err());
    }

    #[test]
    fn the_t_needed_over_few_pieces_is_students_quantile_at_the_same_confidence() {
        // t 2 is 97.7 % one-sided; Student's quantile there (checked by integrating the density
        // numerically): 2.429 at 7 degrees of freedom, 2.140 at 19
        assert!((piece_t_needed(2.0, 8) - 2.429).abs() < 0.002, "{}", piece_t_needed(2.0, 8));
        assert!((piece_t_needed(2.0, 20) - 2.140).abs() < 0.002, "{}", piece_t_needed(2.0, 20));
        // towards the normal distribution with many pieces; never below min_t
        assert!((piece_t_needed(2.0, 10_000) - 2.0).abs() < 0.01);
        assert!((2..200).all(|n| piece_t_needed(2.0, n) > 2.0 && piece_t_needed(2.0, n + 1) < piece_t_needed(2.0, n)));
        assert_eq!(piece_t_needed(2.0, 1), f64::INFINITY);
        assert_eq!(piece_t_needed(2.0, 0), f64::INFINITY);
    }

    #[test]
    fn the_filtered_baseline_is_the_rung_between_sr_and_the_fair_baseline() {
        let evidence = |gain: f64, t: f64, pieces: &[f64]| Evidence {
            gain_db: Some(gain),
            worst_gain_db: Some(pieces.iter().copied().fold(f64::INFINITY, f64::min)),
            gain_t: Some(t),
            blocks: None,
            piece_gains_db: pieces.to_vec(),
            piece_t: Some(t),
        };
        let cfg = ReconstructConfig::default();
        let filter = (evidence(1.2, 6.0, &[1.0, 1.5, 0.8, 1.4]), Some(1.1));
        let choose = |sr: &Evidence, f: Option<&(Evidence, Option<f64>)>| {
            choose_output(sr, f.map(|(check, on_same)| FilterRung { check, on_same: *on_same, delivery: Ok(()) }), &cfg, 0.0, "SR")
        };
        // SR passes the guard and beats the filter on its own held-out pieces: SR
        assert_eq!(choose(&evidence(2.0, 5.0, &[2.0, 2.0]), Some(&filter)).0, OutputChoice::Sr);
        // SR passes the guard but the filter alone does as well on those pieces: the filtered baseline
        let (choice, reason) = choose(&evidence(0.9, 5.0, &[0.9, 0.9]), Some(&filter));
        assert_eq!(choice, OutputChoice::FilteredBaseline);
        assert!(reason.contains("+0.90 dB") && reason.contains("+1.10 dB"), "{reason}");
        // SR fails the guard: the filtered baseline when a filter is in use, else the fair baseline
        let failing = evidence(0.2, 1.0, &[0.3, 0.1]);
        let (choice, reason) = choose(&failing, Some(&filter));
        assert_eq!(choice, OutputChoice::FilteredBaseline);
        assert!(reason.contains("+1.20 dB (t = 6.0 over blocks, 6.0 over patches)") && reason.contains("4 patches"), "{reason}");
        assert_eq!(choose(&failing, None).0, OutputChoice::Baseline);
        assert_eq!(choose(&evidence(2.0, 5.0, &[2.0, 2.0]), None).0, OutputChoice::Sr);
        // a filter that failed its delivery test was only the network's input: SR by its own guard,
        // else the fair baseline, and the reason says why not the filtered one
        let undeliverable = |sr: &Evidence| {
            let rung = FilterRung { check: &filter.0, on_same: filter.1, delivery: Err("not sure patch by patch") };
            choose_output(sr, Some(rung), &cfg, 0.0, "SR")
        };
        let (choice, reason) = undeliverable(&failing);
        assert_eq!(choice, OutputChoice::Baseline);
        assert!(reason.ends_with("not the filtered fair baseline either: not sure patch by patch"), "{reason}");
        assert_eq!(undeliverable(&evidence(0.9, 5.0, &[0.9, 0.9])).0, OutputChoice::Sr);
    }

    #[test]
    fn the_guard_counts_blocks_that_move_together_as_one() {
        let cfg = ReconstructConfig::default(); // margin 0.5 dB, t 2
        let grids: Vec<BlockGrid> = (0..2).map(|p| BlockGrid { first: 16 * p, rows: 4, cols: 4 }).collect();
        let wobble = |i: usize| 0.05 * ((i * 7919) % 13) as f64 - 0.3;
        let evidence = |block_gains: &[f64]| {
            let t = paired_t(block_gains);
            Evidence {
                gain_db: Some(2.0),
                worst_gain_db: Some(1.0),
                gain_t: Some(t),
                blocks: Some(correlated_t(block_gains, &grids, t)),
                piece_gains_db: vec![1.0, 3.0],
                piece_t: None,
            }
        };
        // two held-out patches, each 4 × 4 blocks of 2 LR px: a gain that holds block after block
        let steady: Vec<f64> = (0..32).map(|i| 1.0 + wobble(i)).collect();
        let (choice, reason) = guard(&evidence(&steady), &cfg, 0.0, "SR");
        assert_eq!(choice, OutputChoice::Sr, "{reason}");
        // a gain carried by one patch whose blocks all say the same: as sure over the blocks taken as
        // independent, but two patches' worth of evidence
        let one_patch: Vec<f64> = (0..32).map(|i| if i < 16 { 3.0 } else { 0.2 } + 0.1 * wobble(i)).collect();
        let plain = Evidence { blocks: None, ..evidence(&one_patch) };
        assert!(plain.gain_t.unwrap() > 6.0);
        assert_eq!(guard(&plain, &cfg, 0.0, "SR").0, OutputChoice::Sr);
        let (choice, reason) = guard(&evidence(&one_patch), &cfg, 0.0, "SR");
        assert_eq!(choice, OutputChoice::Baseline, "{reason}");
        assert!(reason.contains("over 32 blocks of 2 LR px") && reason.contains("≈ 2 independent blocks"), "{reason}");
        // the input filter's test as the network's input takes its blocks as independent
        assert_eq!(filter_guard(&evidence(&one_patch), &cfg).0, OutputChoice::Sr);
    }

    #[test]
    fn guard_blocks_are_two_lr_pixels_on_any_grid() {
        // decimation 4 and 3 (anisotropic LR pitch), a grid as fine as the LR, pitches unknown
        assert_eq!(guard_block_px((4e-9, 4e-9), (1e-9, 1e-9)), (8, 8));
        assert_eq!(guard_block_px((6e-9, 3e-9), (2e-9, 1e-9)), (6, 6));
        assert_eq!(guard_block_px((1e-9, 1e-9), (1e-9, 1e-9)), (2, 2));
        assert_eq!(guard_block_px((0.0, 1e-9), (1e-9, f64::NAN)), (2, 2));
    }
}
