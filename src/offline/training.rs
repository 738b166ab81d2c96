//! Offline training on an HR/LR file pair, the closed loop's steps on files: pick tiles on the
//! levelled LR, take the HR file's pixels under the first n picks as the "acquired" frames, and run
//! the pipeline (level, register, train with validation by reconstruction, reconstruct under the
//! guard, score against the whole HR image) once per n of `n_list`, like the original `run.py`.
//! Layout of the output folder:
//!
//! ```text
//! OUT/options.json     what was run (files, geometry, selection, training, reconstruction settings)
//! OUT/selection.csv    indicator table with pick order
//! OUT/picks.png        picks over the levelled LR
//! OUT/summary.csv      one row per model: n, steps, output, PSNR/SSIM of SR and the fair baseline
//! OUT/n<N>/            checkpoint (model.safetensors, model.json, train_config.json), loss.csv,
//!                      loss.png, acquired.json, and the run folder's files (sr.npy …, metrics.json)
//! ```

use super::acquired::AcquiredTiles;
use super::evaluate::{pair_input, score_and_write};
use super::inputs::{ImagePair, LrImage};
use super::selection::picks_png;
use super::OfflineError;
use crate::config::grid_cuts;
use crate::level::LevelConfig;
use crate::model::WEIGHTS_FILE;
use crate::pipeline::{prepare, train_and_reconstruct, ChannelKind, PrepareConfig};
use crate::reconstruct::ReconstructConfig;
use crate::register::RegisterConfig;
use crate::report::MetricsReport;
use crate::select::{select_on_lr, selection_csv, SelectOptions, TileSelection, Tiling};
use crate::train::{TrainConfig, TrainProgress};
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
    /// Sliding-window reconstruction.
    pub reconstruct: ReconstructConfig,
    /// How the LR is brought onto the HR grid as the model input x0.
    pub model_input: Interpolation,
    /// Levelling.
    pub level: LevelConfig,
    /// Registration.
    pub register: RegisterConfig,
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
    /// Its report.
    pub metrics: MetricsReport,
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
    weights: crate::select::SelectionWeights,
    texture_cutoff_fraction_of_lr_nyquist: f64,
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
    if opts.select.strategy == crate::select::SelectionStrategy::Active {
        return Err(OfflineError::invalid(
            "select.strategy",
            "active",
            "active picks are decided by a model while the instrument scans: use `afm-spark run` or `eval`",
        ));
    }
    opts.select.validate(pair.lr.raster.lines, pair.lr.raster.points).map_err(|why| OfflineError::stage("tile selection", why))?;
    if !(grid_cuts(hr.points, grid) && grid_cuts(hr.lines, grid)) {
        return Err(OfflineError::invalid(
            "--grid",
            grid,
            format!(
                "the HR image is {}×{} px: training needs equal tiles whose sides are multiples of 4 (HR size / grid = {:.2}×{:.2}), \
                 and no part of it is that large: use a smaller --grid",
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

/// The picks on the levelled LR of `pair` over its HR frame ([`ImagePair::lr_for_selection`]: tile k
/// of it covers HR tile k), and that LR, levelled.
pub fn pair_selection(pair: &ImagePair, opts: &SelectOptions, level: &LevelConfig) -> Result<(TileSelection, LrImage), OfflineError> {
    let lr = pair.lr_for_selection(opts.grid)?;
    let height = ChannelKind::of(&lr.channel).is_height();
    let levelled = LrImage { data: level.apply(lr.data.view(), height).data, ..lr };
    let sel = select_on_lr(levelled.data.view(), None, opts).map_err(|e| OfflineError::stage("tile selection", e))?;
    Ok((sel, levelled))
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
    let (selection, levelled_lr) = pair_selection(pair, &opts.select, &opts.level)?;
    let hr_tiling = Tiling::new(opts.select.grid, pair.hr.raster.lines, pair.hr.raster.points);
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
        weights: opts.select.weights,
        texture_cutoff_fraction_of_lr_nyquist: opts.select.texture.cutoff_fraction_of_nyquist,
        seed: opts.select.seed,
        picks: &selection.picks,
        options: opts,
        device: crate::device::device_name(opts.device),
        precision: "float32 (mixed precision / --amp is not implemented)",
    };
    write_text(&out_dir.join(OPTIONS_FILE), &(serde_json::to_string_pretty(&record).unwrap_or_default() + "\n"))?;
    write_text(&out_dir.join(SELECTION_CSV_FILE), &selection_csv(&selection))?;
    let title = format!("levelled LR: {} picks", selection.picks.len());
    let lr_rects: Vec<_> = selection.picks.iter().map(|&t| selection.tiling.rect(t)).collect();
    picks_png(&out_dir.join("picks.png"), &levelled_lr, levelled_lr.data.view(), &lr_rects, &title)?;

    let prepare_cfg = PrepareConfig { level: opts.level, register: opts.register.clone(), model_input: opts.model_input };
    let mut results = Vec::new();
    for &n in &opts.n_list {
        let dir = out_dir.join(format!("n{n}"));
        let picks = &selection.picks[..n];
        let rects: Vec<_> = picks.iter().map(|&t| hr_tiling.rect(t)).collect();
        let input = pair_input(pair, &rects, picks);
        let prepared = prepare(&input, &prepare_cfg).map_err(|e| OfflineError::stage(format!("levelling and registration n{n}"), e))?;
        let cfg = TrainConfig { n_val: opts.train.n_val.min(n - 1), ..opts.train.clone() };
        if cfg.n_val < opts.train.n_val {
            tracing::warn!("n{n}: {n} patches cannot hold out n_val = {}; holding out {}", opts.train.n_val, cfg.n_val);
        }
        tracing::info!("n{n}: training on {} acquired patches, {} held out for validation by reconstruction", n - cfg.n_val, cfg.n_val);
        std::fs::create_dir_all(&dir).map_err(|e| OfflineError::output(&dir, e))?;
        let (outcome, _) = train_and_reconstruct(&prepared, &cfg, &opts.reconstruct, opts.device, &dir, None, &mut |p| progress(n, p))
            .map_err(|e| OfflineError::stage(format!("training n{n}"), e))?;
        tracing::info!("n{n}: {}", outcome.reason);
        AcquiredTiles {
            hr_points: pair.hr.raster.points,
            hr_lines: pair.hr.raster.lines,
            grid: opts.select.grid,
            tiles: picks.to_vec(),
            rects,
            n_val: cfg.n_val,
            lr_geometry: pair.geometry,
            model_input: opts.model_input,
            hr_crop: pair.hr_crop,
        }
        .write(&dir)?;
        let metrics = score_and_write(pair, &prepared, &outcome, &opts.level, opts.reconstruct.seam_px, &dir)?;
        results.push(ModelResult { n, dir, metrics });
    }
    write_text(&out_dir.join(SUMMARY_CSV_FILE), &summary_csv(&results))?;
    Ok((selection, results))
}

fn write_text(path: &Path, text: &str) -> Result<(), OfflineError> {
    std::fs::write(path, text).map_err(|e| OfflineError::output(path, e))
}

/// `n,steps,output,…` — one row per model: PSNR/SSIM of the delivered image, the model's SR and the
/// fair baseline on the unacquired region.
fn summary_csv(results: &[ModelResult]) -> String {
    let mut out = String::from(
        "n,steps,train_s,output,val_gain_db,psnr_delivered_unacquired,psnr_sr_unacquired,psnr_fair_unacquired,psnr_bicubic_unacquired,\
         ssim_delivered_unacquired,ssim_fair_unacquired\n",
    );
    for r in results {
        let m = &r.metrics;
        let t = m.training.as_ref();
        let q = m.quality.as_ref();
        let p = |f: &dyn Fn(&crate::metrics::Quality) -> f64| q.map(|q| format!("{:.4}", f(q))).unwrap_or_default();
        let _ = writeln!(
            out,
            "{},{},{:.2},{},{},{},{},{},{},{},{}",
            r.n,
            t.map_or(0, |t| t.steps),
            t.map_or(0.0, |t| t.train_s),
            m.output.map(|o| o.name().to_string()).unwrap_or_default(),
            t.and_then(|t| t.val_gain_db).map(|g| format!("{g:.4}")).unwrap_or_default(),
            p(&|q| q.psnr.delivered.unacquired),
            p(&|q| q.psnr.sr.map_or(f64::NAN, |s| s.unacquired)),
            p(&|q| q.psnr.fair_baseline.unacquired),
            p(&|q| q.psnr.bicubic.unacquired),
            p(&|q| q.ssim.delivered.unacquired),
            p(&|q| q.ssim.fair_baseline.unacquired),
        );
    }
    out
}
