//! `afm-spark bench`: the speed figures of the pieces that matter — one simulated 512² frame, the
//! indicators and selection on a 512² frame, one training step of the dry-run and paper models, and
//! the reconstruction of a 512² frame — each the median of repeated runs, with the machine's cores —
//! and once, the demo's whole model stage (training with validation, reconstruction, guard).
//! Benchmarks live here, never in timed tests.

use afm_spark::config::RunSpec;
use afm_spark::device::{device_name, DeviceChoice};
use afm_spark::model::{ModelInfo, TrainedModel};
use afm_spark::reconstruct::{reconstruct, MeasuredPatch};
use afm_spark::select::{select_on_lr, SelectOptions};
use afm_spark::train::{train, Normalizer, TilePair, TrainConfig};
use anyhow::Context;
use clap::Args;
use ndarray::Array2;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `afm-spark bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Repetitions of each measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
    /// Where the models run: auto, cpu or cuda.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
    /// Also time the paper-sized model's 512² reconstruction (minutes on a CPU).
    #[arg(long)]
    pub paper_reconstruct: bool,
    /// Dry-run config (model sizes, reconstruction settings) to time.
    #[arg(long, default_value = "configs/dry-run.toml")]
    pub dry_run_config: PathBuf,
    /// Paper config to time.
    #[arg(long, default_value = "configs/paper.toml")]
    pub paper_config: PathBuf,
    /// Skip the demo's model stage (training and reconstruction at the dry run's sizes, about a minute).
    #[arg(long)]
    pub skip_demo_model: bool,
    /// Also write the figures as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Figure {
    name: String,
    median_ms: f64,
    runs: usize,
    note: String,
}

fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn time_ms(repeat: usize, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let mut v = Vec::with_capacity(repeat);
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        f()?;
        v.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median_ms(v))
}

/// A terraced test image: steps with sharp edges plus texture.
fn test_image(n: usize) -> Array2<f32> {
    Array2::from_shape_fn((n, n), |(r, c)| {
        let (x, y) = (c as f32 / n as f32, r as f32 / n as f32);
        ((x * 7.0 + y * 3.0).floor() * 0.4 + (x * 60.0).sin() * 0.05 + (y * 45.0).cos() * 0.05) * 1e-9
    })
}

fn pairs(n_pairs: usize, tile: usize) -> Vec<TilePair> {
    let img = test_image(tile * 8);
    (0..n_pairs)
        .map(|k| {
            let (r, c) = ((k / 8) * tile, (k % 8) * tile);
            let x1 = img.slice(ndarray::s![r..r + tile, c..c + tile]).to_owned();
            let x0 = x1.mapv(|v| v * 0.9);
            TilePair { x0, x1 }
        })
        .collect()
}

fn train_step_ms(cfg: &TrainConfig, device: tch::Device, steps: usize) -> anyhow::Result<f64> {
    let mut cfg = cfg.clone();
    cfg.max_steps = steps;
    cfg.time_budget_s = None;
    cfg.eval_interval_steps = steps.max(1);
    let data = pairs(20, 64);
    let norm = Normalizer::from_lr(test_image(128).view())?;
    let out = train(&data, norm, &cfg, device, None, &mut |_| {})?;
    Ok(out.mean_step_ms)
}

fn reconstruct_ms(spec: &RunSpec, device: tch::Device, repeat: usize) -> anyhow::Result<f64> {
    let cfg = &spec.config.train;
    let tile = spec.config.frame.hr_points / spec.config.select.grid;
    let x0 = test_image(512);
    let info = ModelInfo { model: cfg.model_config(), normalizer: Normalizer::from_lr(x0.view())?, tile_rows: tile, tile_cols: tile };
    let model = TrainedModel::new(info, device, 1);
    let patches: Vec<MeasuredPatch> = Vec::new();
    time_ms(repeat, || {
        std::hint::black_box(reconstruct(&model, x0.view(), &patches, &spec.config.reconstruct)?);
        Ok(())
    })
}

/// The demo's model stage, timed once: the dry run's picks on a 512² test surface (LR = HR[::f, ::f]),
/// levelled and paired as a run does, then training with validation by reconstruction, the whole
/// reconstruction and the guard, with the dry-run config's settings. Returns (ms, steps trained).
fn demo_model_stage_ms(spec: &RunSpec, device: tch::Device) -> anyhow::Result<(f64, usize)> {
    use afm_spark::offline::{pair_input, pair_selection, ImagePair, LrGeometry};
    use afm_spark::pipeline::{prepare, prepare_config, train_and_reconstruct};
    use afm_spark::select::Tiling;
    let c = &spec.config;
    let dir = std::env::temp_dir().join(format!("afm-spark-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let hr = test_image(c.frame.hr_points);
    let f = c.lr.decimation.max(1);
    let lr = hr.slice(ndarray::s![..;f, ..;f]).to_owned();
    let (hr_path, lr_path) = (dir.join("hr.npy"), dir.join("lr.npy"));
    afm_spark::io::npy::write_array(&hr_path, &hr)?;
    afm_spark::io::npy::write_array(&lr_path, &lr)?;
    let pair = ImagePair::load(&hr_path, &lr_path, None, LrGeometry::Strided)?;
    let opts = SelectOptions::from_section(&c.select, c.run.seed);
    let (selection, _) = pair_selection(&pair, &opts, &c.level)?;
    let tiling = Tiling::new(opts.grid, pair.hr.raster.lines, pair.hr.raster.points);
    let rects: Vec<_> = selection.picks.iter().map(|&t| tiling.rect(t)).collect();
    let prepared = prepare(&pair_input(&pair, &rects, &selection.picks), &prepare_config(spec))?;
    let t = Instant::now();
    let (outcome, _) = train_and_reconstruct(&prepared, &c.train, &c.reconstruct, device, &dir.join("model"), None, &mut |_| {})?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let _ = std::fs::remove_dir_all(&dir);
    Ok((ms, outcome.training.as_ref().map_or(0, |r| r.steps)))
}

/// Runs every benchmark and prints the table.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let device = args.device.resolve()?;
    let dry = RunSpec::load(&args.dry_run_config)?;
    let paper = RunSpec::load(&args.paper_config)?;
    let mut figures = Vec::new();
    let mut add = |name: &str, ms: f64, runs: usize, note: String| {
        println!("{name:<48} {ms:>12.2} ms   ({note})");
        figures.push(Figure { name: name.into(), median_ms: ms, runs, note });
    };
    println!("afm-spark bench — {cores} cores, device {}, median of {} runs", device_name(device), args.repeat);

    let mut frame_ms = Vec::new();
    for _ in 0..args.repeat.max(1) {
        let r = afm_sim::bench::one_frame(512, 4000).context("simulated frame")?;
        frame_ms.push(r.frame_s * 1e3);
    }
    add("simulate one 512² frame (4000 updates/line, T+R)", median_ms(frame_ms), args.repeat, "all effects on, one core".into());

    let lr = test_image(128);
    let opts = SelectOptions { grid: 8, n_select: 20, ..SelectOptions::default() };
    let ms = time_ms(args.repeat, || {
        std::hint::black_box(select_on_lr(lr.view(), None, &opts)?);
        Ok(())
    })?;
    add("indicators + farthest-first on a 128² LR (8×8, 20 picks)", ms, args.repeat, "the LR's own pixels".into());

    for (name, spec, steps) in [("dry-run", &dry, 20usize), ("paper", &paper, 3)] {
        let c = &spec.config.train;
        let ms = train_step_ms(c, device, steps)?;
        let batch = c.batch_size.map(|b| b.to_string()).unwrap_or_else(|| "18 (full)".into());
        let crop = c.crop_px.map(|p| format!("{p}²")).unwrap_or_else(|| "64²".into());
        add(
            &format!("training step, {name} model"),
            ms,
            steps,
            format!("base {}, t_ch {}, batch {batch} × k_t {}, {crop}", c.base, c.t_ch, c.k_t),
        );
    }
    let r = dry.config.reconstruct.clone();
    let ms = reconstruct_ms(&dry, device, args.repeat.min(3))?;
    let tile = r.tile_px.unwrap_or(dry.config.frame.hr_points / dry.config.select.grid);
    let stride = r.stride_px.unwrap_or(tile / 3);
    add("reconstruct 512², dry-run model", ms, args.repeat.min(3), format!("{tile}² windows, stride {stride}, {} Euler steps", r.steps));
    if args.paper_reconstruct {
        let ms = reconstruct_ms(&paper, device, 1)?;
        add(
            "reconstruct 512², paper model",
            ms,
            1,
            format!("base {}, {} Euler steps", paper.config.train.base, paper.config.reconstruct.steps),
        );
    }
    if !args.skip_demo_model {
        let (ms, steps) = demo_model_stage_ms(&dry, device)?;
        add(
            "demo model stage: train + validate + reconstruct",
            ms,
            1,
            format!(
                "dry-run config, {} picks, {steps} steps, {} held out, 512² reconstruction",
                dry.config.select.n_select, dry.config.train.n_val
            ),
        );
    }
    if let Some(path) = &args.json {
        let doc = serde_json::json!({ "cores": cores, "device": device_name(device), "figures": figures });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
