//! One whole closed-loop run as a library call (used by `afm-spark run` and `afm-spark eval`):
//! connect the backend, plan, acquire (journaled), train, reconstruct, score, and write the run folder.

use super::{train_and_reconstruct, write_outputs, PipelineError};
use crate::backend::{self, BackendError};
use crate::config::RunSpec;
use crate::engine::{acquire, EngineError, ProgressEvent};
use crate::io::session::{Session, SessionError};
use crate::plan::{AcquisitionPlan, PlanError};
use crate::report::{AcquisitionMetrics, MethodScores, MetricsReport, Timing, TrainingSummary};
use crossbeam::channel::Sender;
use std::path::Path;
use std::time::Instant;
use thiserror::Error;

/// Why a run stopped.
#[derive(Debug, Error)]
pub enum RunError {
    /// The instrument could not be set up.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The plan is impossible within the instrument's limits.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Acquisition failed (everything acquired before is journaled).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Training, reconstruction or scoring failed.
    #[error(transparent)]
    Model(#[from] PipelineError),
    /// The session file failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The async runtime could not start, or a report could not be written.
    #[error("{0}")]
    Io(String),
}

/// What to do after acquisition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunOptions {
    /// Stop after acquisition.
    pub acquire_only: bool,
}

/// Runs the closed loop for `spec` into the run folder `dir` (holding `session`), resuming whatever
/// the session already has. Returns the report also written to `dir/metrics.json`.
pub fn run_closed_loop(
    spec: &RunSpec,
    session: &Session,
    dir: &Path,
    options: RunOptions,
    events: &Sender<ProgressEvent>,
) -> Result<MetricsReport, RunError> {
    let started = Instant::now();
    let connected = backend::connect(spec, Some(session))?;
    let peripherals = backend::peripherals(spec)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| RunError::Io(format!("starting the async runtime: {e}")))?;
    let (plan, acq) = runtime.block_on(async {
        let microscope = backend::microscope(connected.instrument.clone(), spec).await?;
        let plan = AcquisitionPlan::build(spec, microscope.limits())?;
        let acq = acquire(&microscope, &peripherals, spec, &plan, session, events).await?;
        Ok::<_, RunError>((plan, acq))
    })?;
    drop(runtime);
    let acquire_s = started.elapsed().as_secs_f64();
    let mut report = MetricsReport {
        psnr: None,
        ssim: None,
        acquisition: AcquisitionMetrics::new(&acq.accounting, acq.measured_instrument_s, &acq.selection.picks),
        timing: Timing { acquire_s, ..Default::default() },
        device: "none".into(),
        stage: "acquisition only".into(),
        training: None,
    };
    if !options.acquire_only {
        if let Some(n) = spec.config.run.threads {
            tch::set_num_threads(n as i32);
        }
        let truth = match &connected.surface {
            Some(surface) => {
                let _ = events.send(ProgressEvent::Stage("ground truth".into()));
                Some(backend::simulated_ground_truth(spec, surface)?)
            }
            None => None,
        };
        let stage = train_and_reconstruct(spec, &plan, &acq, truth.as_ref(), &dir.join("model"), events)?;
        session.write_checkpoint_path(&dir.join("model"))?;
        let picks: Vec<_> = acq.patches.iter().map(|p| p.rect).collect();
        write_outputs(dir, session, &stage, truth.as_ref(), &picks)?;
        if let Some(q) = &stage.quality {
            let (psnr, ssim) = MethodScores::from_quality(q);
            report.psnr = Some(psnr);
            report.ssim = Some(ssim);
        }
        report.timing.train_s = stage.train_s;
        report.timing.train_step_ms = stage.train_step_ms;
        report.timing.reconstruct_s = stage.reconstruct_s;
        report.device = stage.device.clone();
        report.stage = "reconstructed".into();
        report.training = Some(TrainingSummary { steps: stage.train_steps, stop: stage.stop });
    }
    report.timing.total_s = started.elapsed().as_secs_f64();
    let path = dir.join("metrics.json");
    report.write(&path).map_err(|e| RunError::Io(format!("writing {}: {e}", path.display())))?;
    session.write_metrics(&serde_json::to_string(&report).map_err(|e| RunError::Io(e.to_string()))?)?;
    Ok(report)
}
