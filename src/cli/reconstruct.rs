//! `afm-spark reconstruct --weights DIR --hr FILE --lr FILE`: the original `Inference.py` — loads a
//! checkpoint (or every `n<N>/` checkpoint of a training output folder), reconstructs the whole HR
//! image from the LR by sliding-window Euler integration, pastes the model's acquired patches back,
//! and scores SR and the bicubic/nearest baselines against the HR file. Writes into `DIR/inference/`.

use super::select::{interp_name, Interp};
use super::train::{device, reconstruct_config};
use afm_spark::model::TrainedModel;
use afm_spark::offline::{
    evaluate, find_checkpoints, AcquiredTiles, ConfigSections, EvaluationSetup, ImagePair, LrGeometry, OfflineError, OfflineMetrics,
};
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
    // The HR/LR pair, loaded once and again only when a checkpoint was trained with another geometry.
    let mut loaded: Option<(LrGeometry, ImagePair)> = None;
    for ck in &checkpoints {
        let model =
            TrainedModel::load(&ck.dir, device).map_err(|e| OfflineError::Checkpoint { path: ck.dir.clone(), why: e.to_string() })?;
        let acquired = AcquiredTiles::read(&ck.dir)?;
        let geometry = args.lr_geometry.or(acquired.as_ref().map(|a| a.lr_geometry)).unwrap_or_default();
        let model_input =
            args.model_input.map(Interpolation::from).or(acquired.as_ref().map(|a| a.model_input)).unwrap_or(Interpolation::Bicubic);
        let pair = match loaded.take() {
            Some((g, pair)) if g == geometry => &loaded.insert((g, pair)).1,
            _ => &loaded.insert((geometry, ImagePair::load(&args.hr, &args.lr, args.channel.as_deref(), geometry)?)).1,
        };
        let patches = match &acquired {
            Some(a) => a.patches(pair.hr.data.view(), &pair.hr.path)?,
            None => {
                println!(
                    "{}: no acquired.json (not made by `afm-spark train`): nothing pasted back, 'unacquired' = whole image",
                    ck.dir.display()
                );
                Vec::new()
            }
        };
        let picks = acquired.as_ref().map(|a| a.tiles.clone()).unwrap_or_default();
        let out = if ck.name.is_empty() { root.clone() } else { root.join(&ck.name) };
        let setup = EvaluationSetup { model_input, patches: &patches, picks: &picks, reconstruct: &cfg, training: None };
        let evaluation = evaluate(&model, pair, &setup, &out)?;
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
            evaluation.metrics.reconstruct_s,
            evaluation.metrics.device
        );
        rows.push((if ck.name.is_empty() { "model".to_string() } else { ck.name.clone() }, evaluation.metrics));
    }
    print_scores(&rows);
    Ok(())
}

fn print_scores(rows: &[(String, OfflineMetrics)]) {
    println!(
        "{:<8} {:>8} {:<22} {:>10} {:>12}   {:>8} {:>12}",
        "model", "patches", "method", "PSNR whole", "PSNR unacq.", "SSIM", "SSIM unacq."
    );
    for (name, m) in rows {
        for (method, p, s) in [
            ("SR (patches pasted)", m.psnr.sr, m.ssim.sr),
            ("SR (inference only)", m.psnr.sr_unpasted, m.ssim.sr_unpasted),
            ("bicubic", m.psnr.bicubic, m.ssim.bicubic),
            ("nearest", m.psnr.nearest, m.ssim.nearest),
        ] {
            println!(
                "{name:<8} {:>8} {method:<22} {:>10.2} {:>12.2}   {:>8.4} {:>12.4}",
                m.n_patches, p.whole, p.unacquired, s.whole, s.unacquired
            );
        }
    }
}
