//! `afm-spark run`: the closed loop — LR frame, picks, HR patches (journaled), then training and
//! reconstruction — writing everything of the run into one folder. Ctrl-C or SIGTERM tells the
//! instrument to abort the frame in flight, leaves the journal as it is (every finished frame is
//! already committed) and exits non-zero with the command that resumes the run.

use super::progress::{human_s, spawn_display};
use afm_spark::config::RunSpec;
use afm_spark::engine::ProgressEvent;
use afm_spark::folder_lock::{FolderLock, RUN_LOCK_FILE};
use afm_spark::io::session::Session;
use afm_spark::pipeline::{run_closed_loop, RunOptions};
use afm_spark::report::MetricsReport;
use anyhow::{bail, Context};
use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;
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
    /// Train after the last patch, even where the config trains during acquisition (for comparison).
    #[arg(long)]
    pub sequential: bool,
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

/// Loads the spec and opens (or creates) the run folder and its session, holding the folder's lock:
/// two processes resuming one session (or a resumption beside the run still going) would each
/// replace the session file with their own copy, losing the other's patches, and command one
/// instrument twice.
fn prepare(args: &RunArgs) -> anyhow::Result<(RunSpec, Session, PathBuf, FolderLock)> {
    if let Some(session_path) = &args.resume {
        // Reading the session first names a missing or foreign file; nothing is written before the lock.
        let session = Session::open(session_path)?;
        let dir = session_path.parent().filter(|d| !d.as_os_str().is_empty()).map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        let lock = FolderLock::acquire(&dir, RUN_LOCK_FILE, "run")?;
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
        info!("resuming {}", session_path.display());
        return Ok((spec, session, dir, lock));
    }
    let Some(cfg) = &args.config else { bail!("give --config FILE (or --resume SESSION.h5)") };
    let mut spec = RunSpec::load(cfg)?;
    if let Some(truth) = &args.ground_truth {
        let mut config = spec.config.clone();
        afm_spark::config::RunSpec::replay(&mut config, truth, args.channel.as_deref())?;
        spec = RunSpec::from_config(config, cfg).context("the configuration with the replayed surface")?;
    }
    let dir = args.out.clone().unwrap_or_else(timestamp_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let lock = FolderLock::acquire(&dir, RUN_LOCK_FILE, "run")?;
    let toml = spec.to_toml()?;
    let session = Session::create(&dir.join("session.h5"), &toml, &spec.hash())?;
    std::fs::write(dir.join("config.toml"), &toml).with_context(|| format!("writing {}", dir.join("config.toml").display()))?;
    Ok((spec, session, dir, lock))
}

/// What a user reads after an interruption: where the data are and how to go on.
fn resume_hint(signal: &str, session_path: &Path) -> String {
    format!(
        "interrupted by {signal}: the instrument was told to abort the frame in flight; every frame acquired before is in {}; continue with: afm-spark run --resume {}",
        session_path.display(),
        session_path.display()
    )
}

/// Watches for SIGINT/SIGTERM on a thread of its own. On a signal: records it in `caught`, aborts every
/// instrument the run built, and — if the run has not ended 5 s later (e.g. it was training) — prints
/// the resume hint, removes the run folder's lock (`lock_path`) and exits with 128 + the signal number.
fn spawn_interrupt_watcher(session_path: PathBuf, lock_path: PathBuf, caught: Arc<AtomicI32>) {
    let spawned = std::thread::Builder::new().name("interrupts".into()).spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
                tracing::warn!("cannot watch for Ctrl-C/SIGTERM: an interruption will not abort the instrument");
                return;
            };
            let (number, name) = tokio::select! {
                _ = int.recv() => (2, "SIGINT (Ctrl-C)"),
                _ = term.recv() => (15, "SIGTERM"),
            };
            caught.store(number, Ordering::SeqCst);
            eprintln!("{name}: aborting the instrument…");
            let acknowledged = afm_spark::backend::abort_all_on_interrupt(Duration::from_secs(3)).await;
            info!(acknowledged, "abort sent after {name}");
            tokio::time::sleep(Duration::from_secs(5)).await;
            eprintln!("error: {}", resume_hint(name, &session_path));
            let _ = std::fs::remove_file(&lock_path);
            std::process::exit(128 + number);
        });
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch for Ctrl-C/SIGTERM ({e}): an interruption will not abort the instrument");
    }
}

/// Runs the closed loop.
pub fn run(args: RunArgs, quiet: bool) -> anyhow::Result<()> {
    let (mut spec, session, dir, lock) = prepare(&args)?;
    let caught = Arc::new(AtomicI32::new(0));
    spawn_interrupt_watcher(session.path().to_path_buf(), lock.path().to_path_buf(), caught.clone());
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
    let options = RunOptions { acquire_only: args.acquire_only, no_model: false, sequential: args.sequential };
    let result = run_closed_loop(&spec, &session, &dir, options, &tx);
    let _ = tx.send(ProgressEvent::Finished);
    let _ = display.join();
    let signal = caught.load(Ordering::SeqCst);
    if signal != 0 {
        let name = if signal == 15 { "SIGTERM" } else { "SIGINT (Ctrl-C)" };
        let why = result.err().map(|e| format!(" ({e})")).unwrap_or_default();
        eprintln!("error: {}{why}", resume_hint(name, session.path()));
        drop(lock);
        std::process::exit(128 + signal);
    }
    let report = result
        .with_context(|| format!("run folder {}: every frame acquired so far is in session.h5; continue with --resume", dir.display()))?;
    print_summary(&dir, &report);
    Ok(())
}

fn print_summary(dir: &Path, r: &MetricsReport) {
    println!("run folder: {}", dir.display());
    if let Some(a) = &r.acquisition {
        println!(
            "acquisition: {} patches, {} of instrument time = {:.1} % of a full HR frame ({})",
            a.n_patches,
            human_s(a.plan_s),
            100.0 * a.fraction,
            human_s(a.full_hr_s)
        );
    }
    let shifts: Vec<f64> =
        r.registration.iter().map(|g| g.registration.shift_frame_px[0].hypot(g.registration.shift_frame_px[1])).collect();
    if !shifts.is_empty() {
        let ambiguous = r.registration.iter().filter(|g| g.registration.ambiguous).count();
        println!(
            "registration ({}): {} patches, shift up to {:.2} HR px (mean {:.2}), {ambiguous} ambiguous; levelling {}",
            r.registration_channel,
            shifts.len(),
            shifts.iter().copied().fold(0.0, f64::max),
            shifts.iter().sum::<f64>() / shifts.len() as f64,
            r.level_mode
        );
    }
    if let (Some(output), Some(reason)) = (r.output, &r.output_reason) {
        println!("output: {} — {reason}", output.describe());
    }
    if let Some(q) = &r.quality {
        let (p, s) = (&q.psnr, &q.ssim);
        println!("quality vs ground truth          PSNR whole / unacquired (dB)   SSIM whole / unacquired");
        let mut rows = vec![("delivered (sr.npy)", p.delivered, s.delivered)];
        if let (Some(ps), Some(ss), Some(pu), Some(su)) = (p.sr, s.sr, p.sr_unpasted, s.sr_unpasted) {
            rows.push(("SR (patches pasted)", ps, ss));
            rows.push(("SR (inference only)", pu, su));
        }
        rows.extend([
            ("fair baseline (patches pasted)", p.fair_baseline, s.fair_baseline),
            ("bicubic", p.bicubic, s.bicubic),
            ("nearest", p.nearest, s.nearest),
        ]);
        for (name, ps, ss) in rows {
            println!("  {name:<30} {:>8.2} / {:>8.2}              {:.4} / {:.4}", ps.whole, ps.unacquired, ss.whole, ss.unacquired);
        }
    }
    if r.stage == "reconstructed" {
        let steps = r.training.as_ref().map(|t| format!(" ({} steps, {:.1} ms/step)", t.steps, t.step_ms)).unwrap_or_default();
        println!(
            "timing: acquisition {:.1} s, levelling+registration {:.1} s, training {:.1} s{steps} on {}, reconstruction {:.1} s, total {:.1} s",
            r.timing.acquire_s, r.timing.prepare_s, r.timing.train_s, r.device, r.timing.reconstruct_s, r.timing.total_s
        );
        if let Some(ready) = r.timing.ready_after_last_patch_s {
            println!("ready {ready:.1} s after the last patch (levelling, registration, training, reconstruction)");
        }
    } else {
        println!("stopped after acquisition (--acquire-only)");
    }
}
