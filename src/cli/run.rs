//! `afm-spark run`: the closed loop — LR frame, picks, HR patches (journaled), then training and
//! reconstruction — writing everything of the run into one folder.

use super::progress::{human_s, spawn_display};
use afm_spark::backend;
use afm_spark::config::RunSpec;
use afm_spark::engine::ProgressEvent;
use afm_spark::io::session::Session;
use afm_spark::pipeline::{run_closed_loop, RunOptions};
use afm_spark::report::MetricsReport;
use anyhow::{bail, Context};
use clap::Args;
use std::path::{Path, PathBuf};
use tracing::info;

/// Arguments of `afm-spark run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run configuration (TOML), e.g. configs/dry-run.toml. With --resume, optional: it must then be
    /// the same configuration the session was started with.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Folder for everything the run writes (default runs/<timestamp>/). Must not already hold a session.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue a run that was interrupted: re-reads SESSION.h5 and acquires only what is missing.
    #[arg(long, value_name = "SESSION.h5", conflicts_with = "out")]
    pub resume: Option<PathBuf>,
    /// Stop after acquisition (no training, no reconstruction).
    #[arg(long)]
    pub acquire_only: bool,
    /// Real-surface replay: this real HR image (.ibw, .gwy, pyNSID .h5, .npy) becomes the simulator's
    /// surface with its physical size, and the frame is set to cover it on its own pixel grid.
    #[arg(long, value_name = "FILE", conflicts_with = "resume")]
    pub ground_truth: Option<PathBuf>,
    /// Channel of --ground-truth (e.g. HeightRetrace; default: the first height channel).
    #[arg(long, value_name = "NAME", requires = "ground_truth")]
    pub channel: Option<String>,
    /// Where the model runs: auto (CUDA when available), cpu or cuda. Overrides [run] device.
    #[arg(long, value_enum)]
    pub device: Option<afm_spark::device::DeviceChoice>,
    /// CPU threads for libtorch. Overrides [run] threads.
    #[arg(long)]
    pub threads: Option<usize>,
}

fn timestamp_dir() -> PathBuf {
    let secs = afm_drivers::frame::unix_now_s() as i64;
    PathBuf::from("runs").join(format!("{secs}"))
}

/// Loads the spec and opens (or creates) the session and run folder.
fn prepare(args: &RunArgs) -> anyhow::Result<(RunSpec, Session, PathBuf)> {
    if let Some(session_path) = &args.resume {
        let session = Session::open(session_path)?;
        let stored = session.config_toml()?;
        let spec = match &args.config {
            Some(cfg) => {
                let spec = RunSpec::load(cfg)?;
                let want = session.config_hash()?;
                if spec.hash() != want {
                    bail!(
                        "{} was started with a different configuration (hash {want}) than {} (hash {}); resume with the original config or start a new run",
                        session_path.display(),
                        cfg.display(),
                        spec.hash()
                    );
                }
                spec
            }
            None => RunSpec::from_toml(&stored, session_path).context("the configuration stored in the session")?,
        };
        let dir = session_path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        info!("resuming {}", session_path.display());
        return Ok((spec, session, dir));
    }
    let Some(cfg) = &args.config else { bail!("give --config FILE (or --resume SESSION.h5)") };
    let mut spec = RunSpec::load(cfg)?;
    if let Some(truth) = &args.ground_truth {
        let mut config = spec.config.clone();
        backend::replay_config(&mut config, truth, args.channel.as_deref())?;
        spec = RunSpec::from_config(config, cfg).context("the configuration with the replayed surface")?;
    }
    let dir = args.out.clone().unwrap_or_else(timestamp_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let toml = spec.to_toml()?;
    let session = Session::create(&dir.join("session.h5"), &toml, &spec.hash())?;
    std::fs::write(dir.join("config.toml"), &toml).with_context(|| format!("writing {}", dir.join("config.toml").display()))?;
    Ok((spec, session, dir))
}

/// Runs the closed loop.
pub fn run(args: RunArgs, quiet: bool) -> anyhow::Result<()> {
    let (mut spec, session, dir) = prepare(&args)?;
    // Device and threads change how fast the model runs, not what is acquired (they are not part of
    // the config's identity), so they may differ between a run and its resumption.
    if args.device.is_some() || args.threads.is_some() {
        let mut config = spec.config.clone();
        config.run.device = args.device.unwrap_or(config.run.device);
        config.run.threads = args.threads.or(config.run.threads);
        spec = RunSpec::from_config(config, &spec.source)?;
    }
    let (tx, rx) = crossbeam::channel::unbounded::<ProgressEvent>();
    let display = spawn_display(rx, quiet);
    let options = RunOptions { acquire_only: args.acquire_only };
    let result = run_closed_loop(&spec, &session, &dir, options, &tx);
    let _ = tx.send(ProgressEvent::Finished);
    let _ = display.join();
    let report = result
        .with_context(|| format!("run folder {}: every frame acquired so far is in session.h5; continue with --resume", dir.display()))?;
    print_summary(&dir, &report);
    Ok(())
}

fn print_summary(dir: &Path, r: &MetricsReport) {
    let a = &r.acquisition;
    println!("run folder: {}", dir.display());
    println!(
        "acquisition: {} patches, {} of instrument time = {:.1} % of a full HR frame ({})",
        a.n_patches,
        human_s(a.plan_s),
        100.0 * a.fraction,
        human_s(a.full_hr_s)
    );
    if let (Some(p), Some(s)) = (&r.psnr, &r.ssim) {
        println!("quality vs ground truth          PSNR whole / unacquired (dB)   SSIM whole / unacquired");
        for (name, ps, ss) in [
            ("SR (patches pasted)", p.sr, s.sr),
            ("SR (inference only)", p.sr_unpasted, s.sr_unpasted),
            ("bicubic", p.bicubic, s.bicubic),
            ("nearest", p.nearest, s.nearest),
        ] {
            println!("  {name:<28} {:>8.2} / {:>8.2}              {:.4} / {:.4}", ps.whole, ps.unacquired, ss.whole, ss.unacquired);
        }
    }
    if r.stage == "reconstructed" {
        println!(
            "timing: acquisition {:.1} s, training {:.1} s ({:.1} ms/step on {}), reconstruction {:.1} s, total {:.1} s",
            r.timing.acquire_s, r.timing.train_s, r.timing.train_step_ms, r.device, r.timing.reconstruct_s, r.timing.total_s
        );
    } else {
        println!("stopped after acquisition (--acquire-only)");
    }
}
