//! `afm-spark fuse --overview FILE --zoom FILE [--zoom FILE …]`: the pipeline on a lab's existing
//! data — registers each zoom inside the overview, trains on the zoom tiles, reconstructs the
//! overview's whole area at the zooms' pitch; `--score K` holds out each of K folds of the zoom tiles
//! in turn and scores SR against the fair baseline on them.

use super::progress::spawn_display;
use super::train::{device, reconstruct_config};
use afm_spark::engine::ProgressEvent;
use afm_spark::offline::fuse::{fuse, fuse_training, FuseOptions, CROSS_FIT_BY_DEFAULT};
use afm_spark::offline::ConfigSections;
use afm_spark::register::RegisterConfig;
use afm_spark::upsample::Interpolation;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `afm-spark fuse`.
#[derive(Debug, Args)]
pub struct FuseArgs {
    /// The overview (.ibw, pyNSID .h5 or .gwy with its scan geometry).
    #[arg(long, value_name = "FILE")]
    pub overview: PathBuf,
    /// A zoom scanned inside the overview (repeat for several).
    #[arg(long, value_name = "FILE", required = true)]
    pub zoom: Vec<PathBuf>,
    /// Channel, by label (AmplitudeRetrace) or name (Amplitude); default: the first height channel.
    #[arg(long, value_name = "NAME")]
    pub channel: Option<String>,
    /// Register the zooms in this channel of the same files (label or name), e.g. DeflectionRetrace for
    /// a flat film's height [default: [register] channel of --config, else the fused channel].
    #[arg(long, value_name = "NAME")]
    pub register_channel: Option<String>,
    /// Take [train], [reconstruct], [level], [register], [lr] model_input and [run] device from this run
    /// configuration [default: the CPU dry-run training setting].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Side of the training tiles cut from the zooms, zoom pixels (multiple of 4).
    #[arg(long, default_value_t = 64)]
    pub tile_px: usize,
    /// Hold out each of K folds of the zoom tiles in turn, train on the rest and score SR and the fair
    /// baseline on the held-out pixels (folds/<k>/ and metrics.json).
    #[arg(long, value_name = "K")]
    pub score: Option<usize>,
    /// Cross-fit: two networks, each trained on every other zoom tile and validated on the other's,
    /// their mean delivered, so that the guard sees every tile held out once instead of a few. Twice
    /// the training time, which an offline fusion can afford; real zoom tiles disagree with the
    /// overview tile by tile far more than a few of them can show. Overrides `[train] cross_fit` of
    /// --config; `--cross-fit false`: one network.
    #[arg(long, value_name = "BOOL", default_value_t = CROSS_FIT_BY_DEFAULT, action = clap::ArgAction::Set)]
    pub cross_fit: bool,
    /// Where the model runs: auto, cpu or cuda.
    #[arg(long, value_enum)]
    pub device: Option<afm_spark::device::DeviceChoice>,
    /// Output folder (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// The options `fuse` runs with: `--config`'s sections (or the CPU dry-run training), then the flags.
fn fuse_options(args: &FuseArgs) -> anyhow::Result<FuseOptions> {
    let sections = match &args.config {
        Some(path) => ConfigSections::load(path)?,
        None => ConfigSections::default(),
    };
    let register = sections.register.clone().unwrap_or_default();
    Ok(FuseOptions {
        channel: args.channel.clone(),
        tile_px: args.tile_px,
        level: sections.level.unwrap_or_default(),
        register: RegisterConfig { channel: args.register_channel.clone().or(register.channel), ..register },
        train: fuse_training(sections.train.clone(), args.tile_px, args.cross_fit),
        reconstruct: reconstruct_config(&sections, None, None),
        model_input: sections.lr.as_ref().map(|l| l.model_input).unwrap_or(Interpolation::Bicubic),
        device: device(args.device, &sections)?,
        score_folds: args.score,
    })
}

/// Fuses and prints the registration and scores.
pub fn run(args: FuseArgs, quiet: bool) -> anyhow::Result<()> {
    let opts = fuse_options(&args)?;
    let (tx, rx) = crossbeam::channel::unbounded::<ProgressEvent>();
    let display = spawn_display(rx, quiet);
    let result = fuse(&args.overview, &args.zoom, &opts, &args.out, &mut |fold, p| {
        if p.step == 1 {
            let what = fold.map(|k| format!("fold {k}: training")).unwrap_or_else(|| "training on every zoom tile".into());
            let _ = tx.send(ProgressEvent::Stage(what));
        }
        let _ = tx.send(ProgressEvent::Training { step: p.step, max_steps: p.max_steps, loss: p.train_loss, val_gain_db: p.val_score });
    });
    let _ = tx.send(ProgressEvent::Finished);
    let _ = display.join();
    let report = result.with_context(|| format!("fuse into {}", args.out.display()))?;
    for z in &report.zooms {
        println!(
            "zoom {}: metadata centre at overview px ({:.2}, {:.2}); registered in {}: shift ({:+.2}, {:+.2}) overview px, peak {:.3}, ratio {:.2}{}",
            z.file.display(),
            z.metadata_center_overview_px[0],
            z.metadata_center_overview_px[1],
            report.run.registration_channel,
            z.shift_overview_px[0],
            z.shift_overview_px[1],
            z.peak,
            z.peak_ratio,
            if z.ambiguous { " (ambiguous: not trained on)" } else { "" }
        );
    }
    if let Some(reason) = &report.run.output_reason {
        println!("whole overview: {reason}");
    }
    for f in &report.folds {
        println!(
            "fold {}: {} held-out px, delivered {:?}: PSNR SR {:.2} dB vs fair {:.2} dB ({:+.2}), SSIM {:.4} vs {:.4}",
            f.fold,
            f.pixels,
            f.output,
            f.psnr_sr_db,
            f.psnr_fair_db,
            f.psnr_sr_db - f.psnr_fair_db,
            f.ssim_sr,
            f.ssim_fair
        );
        if !f.output_reason.is_empty() {
            println!("  fold {}: {}", f.fold, f.output_reason);
        }
    }
    if let Some(m) = &report.mean {
        println!(
            "mean over {} folds: PSNR SR {:.2} dB vs fair {:.2} dB ({:+.2}), SSIM {:.4} vs {:.4}",
            report.folds.len(),
            m.psnr_sr_db,
            m.psnr_fair_db,
            m.psnr_sr_db - m.psnr_fair_db,
            m.ssim_sr,
            m.ssim_fair
        );
    }
    println!("output: {}", args.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        fuse: FuseArgs,
    }

    fn options(extra: &[&str]) -> FuseOptions {
        let base = ["fuse", "--overview", "o.h5", "--zoom", "z.h5", "--out", "out", "--device", "cpu"];
        let args = Cli::try_parse_from(base.iter().chain(extra).copied()).expect("arguments parse").fuse;
        fuse_options(&args).expect("options")
    }

    #[test]
    fn fusing_cross_fits_unless_told_otherwise() {
        assert!(options(&[]).train.cross_fit);
        assert!(!options(&["--cross-fit", "false"]).train.cross_fit);
        // the flag, not the config's [train] cross_fit, decides: the dry run's is false, the replay's true
        for (config, in_file) in [("configs/dry-run.toml", false), ("configs/replay.toml", true)] {
            let file = ConfigSections::load(std::path::Path::new(config)).expect("shipped config");
            assert_eq!(file.train.expect("[train]").cross_fit, in_file, "{config}");
            assert!(options(&["--config", config]).train.cross_fit, "{config}");
            assert!(!options(&["--config", config, "--cross-fit", "false"]).train.cross_fit, "{config}");
        }
        assert!(Cli::try_parse_from(["fuse", "--overview", "o", "--zoom", "z", "--out", "d", "--cross-fit", "maybe"]).is_err());
    }
}
