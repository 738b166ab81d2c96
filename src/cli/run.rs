//! `afm-spark run`: the closed loop — LR frame, picks, HR patches (journaled), then training and
//! reconstruction — writing everything of the run into one folder.

use super::progress::{human_s, spawn_display};
use afm_spark::backend;
use afm_spark::config::RunSpec;
use afm_spark::engine::{acquire, ProgressEvent};
use afm_spark::io::session::Session;
use afm_spark::plan::AcquisitionPlan;
use afm_spark::report::{AcquisitionMetrics, MetricsReport, Timing};
use anyhow::{bail, Context};
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Instant;
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
    /// Real-surface replay: this real HR image (.ibw, pyNSID .h5, .npy) becomes the simulator's
    /// surface with its physical size, and the frame is set to cover it on its own pixel grid.
    #[arg(long, value_name = "FILE", conflicts_with = "resume")]
    pub ground_truth: Option<PathBuf>,
    /// Channel of --ground-truth (e.g. HeightRetrace; default: the first height channel).
    #[arg(long, value_name = "NAME", requires = "ground_truth")]
    pub channel: Option<String>,
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
    let started = Instant::now();
    let (spec, session, dir) = prepare(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    let connected = backend::connect(&spec, Some(&session))?;
    let peripherals = backend::peripherals(&spec)?;
    let instrument = connected.instrument.clone();
    let (tx, rx) = crossbeam::channel::unbounded::<ProgressEvent>();
    let display = spawn_display(rx, quiet);
    let result = runtime.block_on(async {
        let microscope = backend::microscope(instrument.clone(), &spec).await?;
        let plan = AcquisitionPlan::build(&spec, microscope.limits())?;
        let out = acquire(&microscope, &peripherals, &spec, &plan, &session, &tx).await?;
        anyhow::Ok((plan, out))
    });
    let (plan, outcome) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = tx.send(ProgressEvent::Finished);
            let _ = display.join();
            return Err(e.context(format!("run folder {}: every frame acquired so far is in session.h5; continue with --resume", dir.display())));
        }
    };
    let acquire_s = started.elapsed().as_secs_f64();
    let acc = &outcome.accounting;
    info!(
        "acquired LR + {} patches: instrument time {} of a full HR frame's {} ({:.1} %)",
        acc.n_patches,
        human_s(acc.plan_s),
        human_s(acc.full_hr_s),
        100.0 * acc.fraction
    );
    let acquisition = AcquisitionMetrics::new(acc, outcome.measured_instrument_s, &outcome.selection.picks);
    let mut report = MetricsReport {
        psnr: None,
        ssim: None,
        acquisition,
        timing: Timing { acquire_s, total_s: acquire_s, ..Default::default() },
        device: "cpu".into(),
        stage: "acquisition only".into(),
    };
    let _ = (&plan, &connected.surface);
    if !args.acquire_only {
        info!("training and reconstruction are not wired in yet: the run ends after acquisition");
    }
    let _ = tx.send(ProgressEvent::Finished);
    let _ = display.join();
    report.timing.total_s = started.elapsed().as_secs_f64();
    let metrics_path = dir.join("metrics.json");
    report.write(&metrics_path).with_context(|| format!("writing {}", metrics_path.display()))?;
    session.write_metrics(&serde_json::to_string(&report)?)?;
    println!("run folder: {}", dir.display());
    println!(
        "acquisition: {} patches, {} of instrument time = {:.1} % of a full HR frame ({})",
        acc.n_patches,
        human_s(acc.plan_s),
        100.0 * acc.fraction,
        human_s(acc.full_hr_s)
    );
    Ok(())
}
