//! Offline training on an HR/LR file pair, the closed loop's steps on files: pick tiles on the LR
//! (brought onto the HR grid), take the HR file's pixels under the first n picks as the "acquired"
//! patches, train one TinyUNetFlow per n of `n_list` (like the original `run.py`), and reconstruct and
//! score each against the whole HR image. Layout of the output folder:
//!
//! ```text
//! OUT/options.json     what was run (files, geometry, selection, training, reconstruction settings)
//! OUT/selection.csv    indicator table with pick order
//! OUT/picks.png        picks over the LR on the HR grid
//! OUT/summary.csv      one row per model: n, steps, PSNR/SSIM of SR, bicubic, nearest (unacquired)
//! OUT/n<N>/            checkpoint (model.safetensors, model.json, train_config.json), loss.csv,
//!                      loss.png, acquired.json, and the evaluation (sr.npy … panels.png, metrics.json)
//! ```

use super::acquired::{cut, AcquiredTiles};
use super::evaluate::{evaluate, EvaluationSetup, OfflineMetrics, TrainingInfo};
use super::inputs::ImagePair;
use super::selection::{picks_png, select_tiles_on_grid, selection_csv, SelectOptions, TileSelection};
use super::OfflineError;
use crate::model::WEIGHTS_FILE;
use crate::reconstruct::ReconstructConfig;
use crate::train::{pairs_from_patches, save_artifacts, train, Normalizer, TrainConfig, TrainProgress};
use crate::upsample::Interpolation;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What `train_models` writes at the top of the output folder.
pub const OPTIONS_FILE: &str = "options.json";
/// The indicator table.
pub const SELECTION_CSV_FILE: &str = "selection.csv";
/// One row per trained model.
pub const SUMMARY_CSV_FILE: &str = "summary.csv";

/// What to train and how.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainOptions {
    /// Patch counts: one model is trained on the first n picks for every n.
    pub n_list: Vec<usize>,
    /// Tile selection on the LR.
    #[serde(skip)]
    pub select: SelectOptions,
    /// Training hyper-parameters (`n_val` is lowered to n − 1 for a model with few patches).
    pub train: TrainConfig,
    /// Sliding-window reconstruction for the evaluation.
    pub reconstruct: ReconstructConfig,
    /// How the LR is brought onto the HR grid as the model input x0.
    pub model_input: Interpolation,
    /// Where the model runs.
    #[serde(skip)]
    pub device: tch::Device,
    /// Whether `--amp` was given. It has no effect: mixed precision is not implemented, training
    /// always runs in float32 (recorded so that nobody believes otherwise).
    pub amp_requested: bool,
}

/// One trained model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelResult {
    /// Patches it was trained with (training + held out).
    pub n: usize,
    /// Its folder.
    pub dir: PathBuf,
    /// Its evaluation.
    pub metrics: OfflineMetrics,
}

#[derive(Serialize)]
struct OptionsRecord<'a> {
    hr: String,
    lr: String,
    hr_channel: &'a str,
    lr_channel: &'a str,
    lr_geometry: String,
    grid: usize,
    n_select: usize,
    strategy: &'a str,
    select_upsample: Interpolation,
    weights: crate::select::SelectionWeights,
    texture_cutoff_fraction_of_nyquist: f64,
    seed: u64,
    picks: &'a [usize],
    #[serde(flatten)]
    options: &'a TrainOptions,
    device: &'a str,
    precision: &'a str,
}

fn check(pair: &ImagePair, opts: &TrainOptions) -> Result<usize, OfflineError> {
    let hr = pair.hr_raster();
    let grid = opts.select.grid;
    opts.select.validate(hr.lines, hr.points)?;
    if hr.points % grid != 0 || hr.lines % grid != 0 || (hr.points / grid) % 4 != 0 || (hr.lines / grid) % 4 != 0 {
        return Err(OfflineError::invalid(
            "--grid",
            grid,
            format!(
                "the HR image is {}×{} px: training needs equal tiles whose sides are multiples of 4 (HR size / grid = {}×{})",
                hr.points,
                hr.lines,
                hr.points as f64 / grid as f64,
                hr.lines as f64 / grid as f64
            ),
        ));
    }
    let tile = (hr.points / grid).min(hr.lines / grid);
    if let Some(c) = opts.train.crop_px.filter(|&c| c > tile) {
        return Err(OfflineError::invalid(
            "train.crop_px",
            c,
            format!("larger than the {tile} px tiles; lower it or use a smaller --grid"),
        ));
    }
    let n_picks = opts.select.n_picks();
    if opts.n_list.is_empty() {
        return Err(OfflineError::invalid("--n-list", "(empty)", "give at least one patch count"));
    }
    for &n in &opts.n_list {
        if n == 0 || n > n_picks {
            return Err(OfflineError::invalid("--n-list", n, format!("every patch count must be 1 … {n_picks} (--n-select)")));
        }
    }
    Ok(n_picks)
}

/// Picks tiles on the LR of `pair`, then trains and evaluates one model per n of `opts.n_list` into
/// `out_dir` (see the module docs). Refuses to overwrite a checkpoint. `progress` gets (n, step).
pub fn train_models(
    pair: &ImagePair,
    opts: &TrainOptions,
    out_dir: &Path,
    progress: &mut dyn FnMut(usize, TrainProgress),
) -> Result<(TileSelection, Vec<ModelResult>), OfflineError> {
    check(pair, opts)?;
    for &n in &opts.n_list {
        let weights = out_dir.join(format!("n{n}")).join(WEIGHTS_FILE);
        if weights.exists() {
            return Err(OfflineError::output(&weights, "a checkpoint is already there; choose another --out-dir"));
        }
    }
    let geometry = |e: crate::upsample::GridMapError| OfflineError::stage("placing the LR on the HR grid", e);
    let lr = pair.lr.data.view();
    let for_selection = pair.map.resample(lr, opts.select.upsample).map_err(geometry)?;
    let selection = select_tiles_on_grid(for_selection.view(), &opts.select)?;
    let x0 = pair.map.resample(lr, opts.model_input).map_err(geometry)?;
    let normalizer = Normalizer::from_lr(lr).map_err(|e| OfflineError::stage(format!("normalising by {}", pair.lr.path.display()), e))?;

    std::fs::create_dir_all(out_dir).map_err(|e| OfflineError::output(out_dir, e))?;
    let record = OptionsRecord {
        hr: pair.hr.path.display().to_string(),
        lr: pair.lr.path.display().to_string(),
        hr_channel: &pair.hr.channel,
        lr_channel: &pair.lr.channel,
        lr_geometry: pair.describe_geometry(),
        grid: opts.select.grid,
        n_select: opts.select.n_select,
        strategy: opts.select.strategy.name(),
        select_upsample: opts.select.upsample,
        weights: opts.select.weights,
        texture_cutoff_fraction_of_nyquist: opts.select.texture.cutoff_fraction_of_nyquist,
        seed: opts.select.seed,
        picks: &selection.picks,
        options: opts,
        device: crate::device::device_name(opts.device),
        precision: "float32 (mixed precision / --amp is not implemented)",
    };
    write_text(&out_dir.join(OPTIONS_FILE), &(serde_json::to_string_pretty(&record).unwrap_or_default() + "\n"))?;
    write_text(&out_dir.join(SELECTION_CSV_FILE), &selection_csv(&selection))?;
    let title = format!("LR on the HR grid: {} picks", selection.picks.len());
    picks_png(&out_dir.join("picks.png"), for_selection.view(), &selection, &title)?;

    let hr = pair.hr.data.view();
    let mut results = Vec::new();
    for &n in &opts.n_list {
        let dir = out_dir.join(format!("n{n}"));
        let picks = &selection.picks[..n];
        let patches: Vec<_> = picks.iter().map(|&t| cut(hr, selection.tiling.rect(t))).collect();
        let pairs = pairs_from_patches(x0.view(), &patches).map_err(|e| OfflineError::stage(format!("training pairs n{n}"), e))?;
        let cfg = TrainConfig { n_val: opts.train.n_val.min(n - 1), ..opts.train.clone() };
        if cfg.n_val < opts.train.n_val {
            tracing::warn!("n{n}: {n} patches cannot hold out n_val = {}; holding out {} for early stopping", opts.train.n_val, cfg.n_val);
        }
        tracing::info!("n{n}: training on {} acquired patches, {} held out", n - cfg.n_val, cfg.n_val);
        let outcome = train(&pairs, normalizer, &cfg, opts.device, &mut |p| progress(n, p))
            .map_err(|e| OfflineError::stage(format!("training n{n}"), e))?;
        save_artifacts(&dir, &outcome, &cfg).map_err(|e| OfflineError::output(&dir, e))?;
        AcquiredTiles {
            hr_points: pair.hr.raster.points,
            hr_lines: pair.hr.raster.lines,
            grid: opts.select.grid,
            tiles: picks.to_vec(),
            rects: patches.iter().map(|p| p.rect).collect(),
            n_val: cfg.n_val,
            lr_geometry: pair.geometry,
            model_input: opts.model_input,
        }
        .write(&dir)?;
        let training = TrainingInfo {
            steps: outcome.steps,
            stop: outcome.stop,
            train_s: outcome.train_s,
            train_step_ms: outcome.mean_step_ms,
            n_train: n - cfg.n_val,
            n_val: cfg.n_val,
        };
        let setup = EvaluationSetup {
            model_input: opts.model_input,
            patches: &patches,
            picks,
            reconstruct: &opts.reconstruct,
            training: Some(training),
        };
        let evaluation = evaluate(&outcome.model, pair, &setup, &dir)?;
        results.push(ModelResult { n, dir, metrics: evaluation.metrics });
    }
    write_text(&out_dir.join(SUMMARY_CSV_FILE), &summary_csv(&results))?;
    Ok((selection, results))
}

fn write_text(path: &Path, text: &str) -> Result<(), OfflineError> {
    std::fs::write(path, text).map_err(|e| OfflineError::output(path, e))
}

/// `n,steps,stop,train_s,psnr_sr_unacquired,psnr_bicubic_unacquired,…` — one row per model.
fn summary_csv(results: &[ModelResult]) -> String {
    let mut out = String::from(
        "n,steps,train_s,psnr_sr_whole,psnr_sr_unacquired,psnr_bicubic_unacquired,psnr_nearest_unacquired,\
         ssim_sr_unacquired,ssim_bicubic_unacquired,ssim_nearest_unacquired\n",
    );
    for r in results {
        let (p, s) = (&r.metrics.psnr, &r.metrics.ssim);
        let (steps, train_s) = r.metrics.training.map(|t| (t.steps, t.train_s)).unwrap_or((0, 0.0));
        let _ = writeln!(
            out,
            "{},{steps},{train_s:.2},{:.4},{:.4},{:.4},{:.4},{:.5},{:.5},{:.5}",
            r.n,
            p.sr.whole,
            p.sr.unacquired,
            p.bicubic.unacquired,
            p.nearest.unacquired,
            s.sr.unacquired,
            s.bicubic.unacquired,
            s.nearest.unacquired
        );
    }
    out
}
