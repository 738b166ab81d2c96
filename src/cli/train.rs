//! `afm-spark train --hr FILE --lr FILE`: the original `run.py` on our model — picks tiles on the LR,
//! trains one TinyUNetFlow per patch count of `--n-list` on the HR file's pixels under the first n
//! picks ("acquired" as the closed loop would have scanned them), and reconstructs and scores each
//! against the whole HR image.

use super::progress::spawn_display;
use super::select::{Interp, SelectFlags};
use afm_spark::device::DeviceChoice;
use afm_spark::engine::ProgressEvent;
use afm_spark::offline::{train_models, ConfigSections, ImagePair, LrGeometry, ModelResult, TrainOptions};
use afm_spark::reconstruct::ReconstructConfig;
use afm_spark::train::TrainConfig;
use afm_spark::upsample::Interpolation;
use anyhow::{bail, Context};
use clap::Args;
use std::path::PathBuf;
use tracing::{info, warn};

/// Arguments of `afm-spark train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The HR image: ground truth, and the source of the "acquired" patches (.ibw, .gwy, .h5 or .npy).
    #[arg(long, value_name = "FILE")]
    pub hr: PathBuf,
    /// The LR image of the same area (.ibw, .gwy, .h5 or .npy).
    #[arg(long, value_name = "FILE")]
    pub lr: PathBuf,
    /// Channel of .ibw/.gwy/.h5 files, by label (HeightRetrace) or name (Height); default: the first
    /// height channel. A .npy has only one.
    #[arg(long, value_name = "NAME")]
    pub channel: Option<String>,
    /// Where the LR pixels lie on the HR grid. auto: the files' own scan regions when both carry them
    /// (.ibw, .gwy, .h5), else "strided": the LR is taken to be HR[::f, ::f] with f = HR size / LR size, so
    /// LR pixel k sits on HR pixel f·k (how the original scripts' .npy pairs were made). corner: the LR
    /// covered the same area with its first and last pixels on the edges (an instrument's LR scan).
    #[arg(long, value_enum, default_value_t = LrGeometry::Auto)]
    pub lr_geometry: LrGeometry,
    /// Take [train], [reconstruct], [select], [lr] model_input and [run] seed/device from this run
    /// configuration (e.g. configs/dry-run.toml); the options below override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Patch counts, comma-separated: one model per count, trained on the first n picks, in
    /// OUT/n<count>/ [default: --n-select].
    #[arg(long, value_delimiter = ',', value_name = "N,N,…")]
    pub n_list: Vec<usize>,
    /// Tile selection (the picks are made on the LR, as the closed loop does).
    #[command(flatten)]
    pub select: SelectFlags,
    /// Training preset, used when no --config gives [train] (and instead of it when given): "cpu" (the
    /// dry-run setting: a small network on mini-batches of crops, a fixed number of steps) or "paper"
    /// (the original: base 64, full batch, lr 1e-4) [default: paper on CUDA, cpu otherwise].
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Channels of the network's first level (64 in the original).
    #[arg(long)]
    pub base: Option<i64>,
    /// Width of the time embedding (128 in the original).
    #[arg(long)]
    pub t_ch: Option<i64>,
    /// t-samples per patch and step (the original's --K_t).
    #[arg(long)]
    pub k_t: Option<usize>,
    /// Training patches per optimiser step (0 = all: full batch).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Adam learning rate.
    #[arg(long, value_name = "RATE")]
    pub learning_rate: Option<f64>,
    /// Upper bound on optimiser steps per model.
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Safety cap on each model's training wall time, seconds (budgets are steps: --max-steps).
    #[arg(long, value_name = "S")]
    pub time_budget_s: Option<f64>,
    /// Acquired patches held out to validate by reconstruction (at most n − 1 per model).
    #[arg(long)]
    pub n_val: Option<usize>,
    /// Euler steps of the reconstruction after training (the original's --steps_infer).
    #[arg(long)]
    pub steps_infer: Option<usize>,
    /// Tiles integrated together in the reconstruction.
    #[arg(long)]
    pub infer_batch_size: Option<usize>,
    /// How the LR is brought onto the HR grid as the model input x0 [default: bicubic, or the
    /// config's [lr] model_input].
    #[arg(long, value_enum)]
    pub model_input: Option<Interp>,
    /// Accepted for compatibility with run.py, but has NO effect: mixed precision is not implemented
    /// here (tch); training always runs in float32, on CPU and CUDA alike.
    #[arg(long)]
    pub amp: bool,
    /// Where the model runs: auto (CUDA when available), cpu or cuda [default: auto, or the config's].
    #[arg(long, value_enum)]
    pub device: Option<DeviceChoice>,
    /// Output folder [default: runs/<unix time>/]. An existing checkpoint is never overwritten.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Training presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// Small network, mini-batches of crops, a fixed number of steps: fast on a CPU.
    Cpu,
    /// The original AFM-SPARK hyper-parameters (for a GPU).
    Paper,
}

fn train_config(args: &TrainArgs, sections: &ConfigSections, cuda: bool, tile_px: usize) -> TrainConfig {
    let preset = match (&sections.train, args.preset) {
        (Some(_), None) => None,
        (_, Some(p)) => Some(p),
        (None, None) if cuda => Some(Preset::Paper),
        (None, None) => Some(Preset::Cpu),
    };
    let mut cfg = match (preset, &sections.train) {
        (Some(Preset::Paper), _) => TrainConfig::default(),
        (Some(Preset::Cpu), _) => TrainConfig::cpu_dry_run(),
        (None, Some(t)) => t.clone(),
        (None, None) => TrainConfig::default(),
    };
    // A preset's crop is a suggestion; a crop written in a config is checked (and refused if too big).
    if let Some(c) = preset.and_then(|_| cfg.whole_tiles_if_crop_exceeds(tile_px)) {
        info!("tiles are {tile_px} px: training on whole tiles instead of the preset's {c} px crops");
    }
    cfg.base = args.base.unwrap_or(cfg.base);
    cfg.t_ch = args.t_ch.unwrap_or(cfg.t_ch);
    cfg.k_t = args.k_t.unwrap_or(cfg.k_t);
    if let Some(b) = args.batch_size {
        cfg.batch_size = (b > 0).then_some(b);
    }
    cfg.lr = args.learning_rate.unwrap_or(cfg.lr);
    cfg.max_steps = args.max_steps.unwrap_or(cfg.max_steps);
    if let Some(s) = args.time_budget_s {
        cfg.time_budget_s = Some(s);
    }
    cfg.n_val = args.n_val.unwrap_or(cfg.n_val);
    if let Some(seed) = sections.run.as_ref().map(|r| r.seed).filter(|_| sections.train.is_none()) {
        cfg.seed = seed;
    }
    info!(
        "training ({}): base {}, t_ch {}, k_t {}, t {}, lr {}, batch {}, crop {}, at most {} steps{}, n_val {}",
        match preset {
            Some(Preset::Cpu) => "cpu preset",
            Some(Preset::Paper) => "paper preset",
            None => "[train] of the config",
        },
        cfg.base,
        cfg.t_ch,
        cfg.k_t,
        cfg.t_grid_steps.map(|n| format!("on the {n}-step sampler's grid")).unwrap_or_else(|| "~ U[0, 1)".into()),
        cfg.lr,
        cfg.batch_size.map(|b| b.to_string()).unwrap_or_else(|| "all".into()),
        cfg.crop_px.map(|c| format!("{c} px")).unwrap_or_else(|| "whole tiles".into()),
        cfg.max_steps,
        cfg.time_budget_s.map(|b| format!(" or {b} s")).unwrap_or_default(),
        cfg.n_val
    );
    cfg
}

/// The reconstruction settings: the config's `[reconstruct]` (or the defaults), then the flags.
pub fn reconstruct_config(sections: &ConfigSections, steps: Option<usize>, batch_size: Option<usize>) -> ReconstructConfig {
    let mut cfg = sections.reconstruct.clone().unwrap_or_default();
    cfg.steps = steps.unwrap_or(cfg.steps);
    cfg.batch_size = batch_size.unwrap_or(cfg.batch_size);
    cfg
}

/// The device: the flag, else the config's `[run] device`, else auto.
pub fn device(flag: Option<DeviceChoice>, sections: &ConfigSections) -> anyhow::Result<tch::Device> {
    let choice = flag.or(sections.run.as_ref().map(|r| r.device)).unwrap_or_default();
    Ok(choice.resolve()?)
}

fn timestamp_dir() -> PathBuf {
    PathBuf::from("runs").join(format!("{}", afm_drivers::frame::unix_now_s() as i64))
}

/// Trains and evaluates every model of the n-list.
pub fn run(args: TrainArgs, quiet: bool) -> anyhow::Result<()> {
    let sections = match &args.config {
        Some(path) => ConfigSections::load(path)?,
        None => ConfigSections::default(),
    };
    let device = device(args.device, &sections)?;
    let cuda = matches!(device, tch::Device::Cuda(_));
    if args.amp {
        warn!(
            "--amp has no effect: mixed precision is not implemented in afm-spark (tch); training runs in float32 on {}",
            afm_spark::device::device_name(device)
        );
    }
    let select = args.select.options(&sections);
    let pair = ImagePair::load(&args.hr, &args.lr, args.channel.as_deref(), args.lr_geometry)?;
    let (hr_file, lr_file) = (pair.hr.raster, pair.lr.raster);
    let pair = pair.cut_for_grid(select.grid)?;
    let hr = pair.hr_raster();
    let tile_px = (hr.points / select.grid.max(1)).min(hr.lines / select.grid.max(1));
    let reconstruct = reconstruct_config(&sections, args.steps_infer, args.infer_batch_size);
    reconstruct.validate()?;
    let train = train_config(&args, &sections, cuda, tile_px);
    train.validate()?;
    train.check_sampler(reconstruct.steps)?;
    let model_input =
        args.model_input.map(Interpolation::from).or(sections.lr.as_ref().map(|l| l.model_input)).unwrap_or(Interpolation::Bicubic);
    let n_list = if args.n_list.is_empty() { vec![select.n_picks()] } else { args.n_list.clone() };
    let level = sections.level.unwrap_or_default();
    let register = sections.register_for(&pair);
    let opts = TrainOptions { n_list, select, train, reconstruct, model_input, level, register, device, amp_requested: args.amp };
    let out_dir = args.out_dir.clone().unwrap_or_else(timestamp_dir);
    println!("HR           {} ({}, {}×{} px)", pair.hr.path.display(), pair.hr.channel, hr_file.points, hr_file.lines);
    println!("LR           {} ({}, {}×{} px)", pair.lr.path.display(), pair.lr.channel, lr_file.points, lr_file.lines);
    println!("geometry     {}", pair.describe_geometry());
    if let Some(c) = pair.hr_crop {
        println!(
            "part         HR points {}…{}, lines {}…{}: {}×{} px, the centred part --grid {} cuts into equal tiles of a multiple of 4 px ({})",
            c.col,
            c.col + c.cols - 1,
            c.row,
            c.row + c.rows - 1,
            c.cols,
            c.rows,
            opts.select.grid,
            match pair.geometry {
                LrGeometry::Strided => format!("LR {}×{} px on it", pair.lr.raster.points, pair.lr.raster.lines),
                _ => "the LR, whole, placed over it as over the file".into(),
            }
        );
    }
    if !opts.register.enabled {
        // without a [register] section only a decimated LR turns it off (`register_for`)
        let why = if sections.register.is_none() {
            "the LR is the HR's own decimation, so every patch lies exactly where it is cut ([register] in --config turns it on)"
        } else {
            "[register] enabled = false"
        };
        println!("registration off: {why}");
    }

    let (tx, rx) = crossbeam::channel::unbounded::<ProgressEvent>();
    let display = spawn_display(rx, quiet);
    let result = train_models(&pair, &opts, &out_dir, &mut |_, p| {
        let _ = tx.send(ProgressEvent::Training { step: p.step, max_steps: p.max_steps, loss: p.train_loss, val_gain_db: p.val_score });
    });
    let _ = tx.send(ProgressEvent::Finished);
    let _ = display.join();
    let (selection, results) = result.with_context(|| format!("output folder {}", out_dir.display()))?;
    if results.is_empty() {
        bail!("no model was trained");
    }
    let picks: Vec<String> = selection.picks.iter().map(|t| t.to_string()).collect();
    println!(
        "picks        {} ({} tiles of {}×{}): {}",
        picks.len(),
        selection.tiling.len(),
        opts.select.grid,
        opts.select.grid,
        picks.join(", ")
    );
    print_results(&results);
    println!("output       {}", out_dir.display());
    Ok(())
}

fn print_results(results: &[ModelResult]) {
    println!(
        "  model  steps  output    held-out gain   PSNR unacquired (dB): delivered / SR / fair baseline / bicubic   SSIM: delivered / fair"
    );
    for r in results {
        let m = &r.metrics;
        let t = m.training.as_ref();
        let output = m.output.map(|o| o.name().to_string()).unwrap_or_default();
        let gain = t.and_then(|t| t.val_gain_db).map(|g| format!("{g:+.2} dB")).unwrap_or_else(|| "–".into());
        let Some(q) = &m.quality else { continue };
        let (p, s) = (&q.psnr, &q.ssim);
        println!(
            "  {:<6} {:>5}  {output:<9} {gain:>13}   {:>6.2} / {:>6.2} / {:>6.2} / {:>6.2}                      {:.4} / {:.4}",
            format!("n{}", r.n),
            t.map_or(0, |t| t.steps),
            p.delivered.unacquired,
            p.sr.map_or(f64::NAN, |s| s.unacquired),
            p.fair_baseline.unacquired,
            p.bicubic.unacquired,
            s.delivered.unacquired,
            s.fair_baseline.unacquired
        );
        if let Some(reason) = &m.output_reason {
            println!("         {reason}");
        }
    }
}
