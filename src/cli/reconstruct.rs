//! `afm-spark reconstruct --weights DIR --hr FILE --lr FILE`: the original `Inference.py` — loads a
//! checkpoint (or every `n<N>/` checkpoint of a training output folder), reconstructs the whole HR
//! image from the LR by sliding-window Euler integration, pastes the model's acquired patches back,
//! and scores SR and the bicubic/nearest baselines against the HR file. Writes into `DIR/inference/`.

use super::select::{interp_name, Interp};
use super::train::{device, reconstruct_config};
use afm_drivers::PixelRect;
use afm_spark::linear_input::InputFilter;
use afm_spark::model::TrainedModel;
use afm_spark::offline::{
    find_checkpoints, pair_input, score_and_write, AcquiredTiles, ConfigSections, ImagePair, LrGeometry, OfflineError,
};
use afm_spark::pipeline::{prepare, reconstruct_mean, PrepareConfig, CROSS_FIT_SECOND_DIR};
use afm_spark::report::MetricsReport;
use afm_spark::upsample::Interpolation;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `afm-spark reconstruct`.
#[derive(Debug, Args)]
pub struct ReconstructArgs {
    /// A checkpoint folder (model.safetensors + model.json), or a `train` output folder: then every
    /// n<N>/ checkpoint in it is used.
    #[arg(long, value_name = "DIR")]
    pub weights: PathBuf,
    /// The HR image the reconstruction is scored against (and its acquired patches pasted from).
    #[arg(long, value_name = "FILE")]
    pub hr: PathBuf,
    /// The LR image to reconstruct from.
    #[arg(long, value_name = "FILE")]
    pub lr: PathBuf,
    /// Channel of .ibw/.gwy/.h5 files (default: the first height channel).
    #[arg(long, value_name = "NAME")]
    pub channel: Option<String>,
    /// Where the LR pixels lie on the HR grid [default: as in training (acquired.json), else auto —
    /// see `afm-spark train --help`].
    #[arg(long, value_enum)]
    pub lr_geometry: Option<LrGeometry>,
    /// How the LR is brought onto the HR grid as the model input [default: as in training].
    #[arg(long, value_enum)]
    pub model_input: Option<Interp>,
    /// Take [reconstruct] (stride, seam, window floor …) and [run] device from this run configuration.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Euler steps from t = 0 to 1 (the original's --steps_infer) [default: 10].
    #[arg(long)]
    pub steps_infer: Option<usize>,
    /// Tiles integrated together [default: 64].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Where the model runs: auto (CUDA when available), cpu or cuda.
    #[arg(long, value_enum)]
    pub device: Option<afm_spark::device::DeviceChoice>,
    /// Output folder [default: DIR/inference/, with one n<N>/ per checkpoint of a training folder].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Reconstructs with every checkpoint found and prints the scores.
pub fn run(args: ReconstructArgs) -> anyhow::Result<()> {
    let sections = match &args.config {
        Some(path) => ConfigSections::load(path)?,
        None => ConfigSections::default(),
    };
    let device = device(args.device, &sections)?;
    let cfg = reconstruct_config(&sections, args.steps_infer, args.batch_size);
    cfg.validate()?;
    let checkpoints = find_checkpoints(&args.weights)?;
    let root = args.out.clone().unwrap_or_else(|| args.weights.join("inference"));
    let mut rows = Vec::new();
    // The HR/LR pair, loaded once and again only when a checkpoint was trained with another geometry
    // or tile grid.
    let mut loaded: Option<((LrGeometry, Option<usize>), ImagePair)> = None;
    for ck in &checkpoints {
        let model =
            TrainedModel::load(&ck.dir, device).map_err(|e| OfflineError::Checkpoint { path: ck.dir.clone(), why: e.to_string() })?;
        let acquired = AcquiredTiles::read(&ck.dir)?;
        let geometry = args.lr_geometry.or(acquired.as_ref().map(|a| a.lr_geometry)).unwrap_or_default();
        let model_input =
            args.model_input.map(Interpolation::from).or(acquired.as_ref().map(|a| a.model_input)).unwrap_or(Interpolation::Bicubic);
        // Trained on the part of the HR file its grid could tile: the same part again.
        let key = (geometry, acquired.as_ref().map(|a| a.grid));
        let pair = match loaded.take() {
            Some((k, pair)) if k == key => &loaded.insert((k, pair)).1,
            _ => {
                let pair = ImagePair::load(&args.hr, &args.lr, args.channel.as_deref(), geometry)?;
                let pair = match key.1 {
                    Some(grid) => pair.cut_for_grid(grid)?,
                    None => pair,
                };
                &loaded.insert((key, pair)).1
            }
        };
        let (rects, picks) = match &acquired {
            Some(a) => {
                if (a.hr_points, a.hr_lines, a.hr_crop) != (pair.hr.raster.points, pair.hr.raster.lines, pair.hr_crop) {
                    let part = |c: Option<PixelRect>| c.map(|c| format!(" from point {}, line {}", c.col, c.row)).unwrap_or_default();
                    return Err(OfflineError::invalid(
                        format!("--hr {}", args.hr.display()),
                        format!("{}×{} px{}", pair.hr.raster.points, pair.hr.raster.lines, part(pair.hr_crop)),
                        format!("the model was trained on {}×{} px{} of its HR image", a.hr_points, a.hr_lines, part(a.hr_crop)),
                    )
                    .into());
                }
                (a.rects.clone(), a.tiles.clone())
            }
            None => {
                println!(
                    "{}: no acquired.json (not made by `afm-spark train`): nothing pasted back, 'unacquired' = whole image",
                    ck.dir.display()
                );
                (Vec::new(), Vec::new())
            }
        };
        let out = if ck.name.is_empty() { root.clone() } else { root.join(&ck.name) };
        let level = sections.level.unwrap_or_default();
        let prepare_cfg = PrepareConfig { level, register: sections.register_for(pair), model_input };
        let prepared =
            prepare(&pair_input(pair, &rects, &picks), &prepare_cfg).map_err(|e| OfflineError::stage("levelling and registration", e))?;
        // A model trained with a learned input filter saved it beside its weights: its input is the filtered fair baseline.
        let filter = InputFilter::load(&ck.dir).map_err(|e| OfflineError::Checkpoint { path: ck.dir.clone(), why: e.to_string() })?;
        let prepared = match &filter {
            Some(f) => prepared.with_input_filter(f).map_err(|e| OfflineError::stage("the input filter", e))?,
            None => prepared,
        };
        // A cross-fitted run left its second network beside the first: the run delivered their mean.
        let second_dir = ck.dir.join(CROSS_FIT_SECOND_DIR);
        let second = match second_dir.is_dir() {
            true => Some(
                TrainedModel::load(&second_dir, device)
                    .map_err(|e| OfflineError::Checkpoint { path: second_dir.clone(), why: e.to_string() })?,
            ),
            false => None,
        };
        let models: Vec<&TrainedModel> = std::iter::once(&model).chain(second.as_ref()).collect();
        let outcome = reconstruct_mean(&prepared, &models, &cfg).map_err(|e| OfflineError::stage("reconstruction", e))?;
        let metrics = score_and_write(pair, &prepared, &outcome, &level, cfg.seam_px, &out)?;
        println!(
            "{}: {} → {} ({}×{} px, x0 {}, {}, {} Euler steps, {:.1} s on {})",
            if ck.name.is_empty() { "checkpoint" } else { &ck.name },
            ck.dir.display(),
            out.display(),
            pair.hr.raster.points,
            pair.hr.raster.lines,
            interp_name(model_input),
            pair.describe_geometry(),
            cfg.steps,
            outcome.reconstruct_s,
            outcome.device
        );
        rows.push((if ck.name.is_empty() { "model".to_string() } else { ck.name.clone() }, picks.len(), metrics));
    }
    print_scores(&rows);
    Ok(())
}

fn print_scores(rows: &[(String, usize, MetricsReport)]) {
    println!(
        "{:<8} {:>8} {:<24} {:>10} {:>12}   {:>8} {:>12}",
        "model", "patches", "method", "PSNR whole", "PSNR unacq.", "SSIM", "SSIM unacq."
    );
    for (name, n, m) in rows {
        let Some(q) = &m.quality else { continue };
        let (p, s) = (&q.psnr, &q.ssim);
        let mut methods = vec![("SR (patches pasted)", p.delivered, s.delivered)];
        if let (Some(pu), Some(su)) = (p.sr_unpasted, s.sr_unpasted) {
            methods.push(("SR (inference only)", pu, su));
        }
        methods.extend([
            ("fair baseline", p.fair_baseline, s.fair_baseline),
            ("bicubic", p.bicubic, s.bicubic),
            ("nearest", p.nearest, s.nearest),
        ]);
        for (method, p, s) in methods {
            println!("{name:<8} {n:>8} {method:<24} {:>10.2} {:>12.2}   {:>8.4} {:>12.4}", p.whole, p.unacquired, s.whole, s.unacquired);
        }
    }
}
