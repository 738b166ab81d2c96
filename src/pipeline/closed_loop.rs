//! The closed loop as a library call (used by `afm-spark run` and `afm-spark eval`): connect the
//! backend, plan, acquire (journaled), then the pipeline — level, register, train with validation by
//! reconstruction, reconstruct under the guard, score against the ground truth where one exists —
//! and write the run folder. This front end adds only how frames arrive: from an instrument.

use super::input::{HrFrameInput, PipelineInput, RegistrationImages};
use super::model_stage::train_and_reconstruct;
use super::motion::{MotionLog, ScanTiming};
use super::outputs::write_outputs;
use super::prepare::{prepare, PrepareConfig};
use super::scoring::score_against;
use super::training_during_acquisition::TrainingWorker;
use super::PipelineError;
use crate::backend::{self, BackendError};
use crate::config::RunSpec;
use crate::engine::{acquire_with, channel_data, AcquisitionOutcome, EngineError, ProgressEvent};
use crate::geo_image::GeoImage;
use crate::ground_truth;
use crate::io::session::PatchRecord;
use crate::io::session::{Session, SessionError};
use crate::plan::{AcquisitionPlan, PlanError};
use crate::report::{AcquisitionMetrics, MetricsReport, Timing};
use crate::train::TrainConfig;
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
    /// Levelling, registration, training, reconstruction or scoring failed.
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
    /// Level, register, place and score the patches, but train no model: the run delivers the fair
    /// baseline with the patches pasted (the full-scan reference of `eval`).
    pub no_model: bool,
    /// Train after the last patch even where `[train] during_acquisition` would train while scanning.
    pub sequential: bool,
}

/// Whether the run's scans take real time (an instrument, or the simulator in real time): only then
/// is there time to train during acquisition.
pub fn scans_take_real_time(spec: &RunSpec) -> bool {
    spec.config.instrument.backend != crate::config::Backend::Simulator || spec.config.simulator.realtime
}

/// The pipeline's input from an acquisition: the LR frame and every patch with the geometry the
/// instrument returned (the requested region beside it).
pub fn closed_loop_input(spec: &RunSpec, plan: &AcquisitionPlan, acq: &AcquisitionOutcome) -> Result<PipelineInput, EngineError> {
    journal_input(spec, plan, &acq.lr, &acq.patches)
}

/// `channel` of `frame` (the mean of its trace and retrace when both were recorded) with the frame's
/// geometry; `label` names the frame in the error when the channel is missing.
fn channel_image(frame: &afm_drivers::Frame, channel: &str, label: &str) -> Result<GeoImage, EngineError> {
    let data = channel_data(frame, channel, label)?;
    let unit = frame.channel_any(channel).map(|c| c.unit.clone()).unwrap_or_default();
    Ok(GeoImage { data, region: frame.region, raster: frame.raster, unit })
}

/// The pipeline's input from the LR frame and the patches journaled so far (in pick order).
pub fn journal_input(
    spec: &RunSpec,
    plan: &AcquisitionPlan,
    lr: &afm_drivers::Frame,
    patches: &[PatchRecord],
) -> Result<PipelineInput, EngineError> {
    let channel = &spec.config.frame.channel;
    let image = |frame: &afm_drivers::Frame, label: &str| channel_image(frame, channel, label);
    let lr_image = image(lr, "LR frame")?;
    let n = spec.n_patches();
    let frames = patches
        .iter()
        .map(|p| {
            let label = format!("patch {}/{n} (tile {})", p.pick_order + 1, p.tile_index);
            let requested = plan.tiles.get(p.tile_index).map(|t| t.request.region);
            Ok(HrFrameInput::whole(label.clone(), image(&p.frame, &label)?, requested))
        })
        .collect::<Result<Vec<_>, EngineError>>()?;
    let motion = Some(motion_log(spec, plan, lr, patches));
    let register_on = match spec.config.register.channel.as_deref().filter(|c| c != channel) {
        Some(other) => {
            let frames = patches
                .iter()
                .map(|p| channel_image(&p.frame, other, &format!("patch {}/{n} (tile {}), [register] channel", p.pick_order + 1, p.tile_index)))
                .collect::<Result<Vec<_>, EngineError>>()?;
            Some(RegistrationImages { channel: other.to_string(), lr: channel_image(lr, other, "LR frame, [register] channel")?, frames })
        }
        None => None,
    };
    Ok(PipelineInput {
        lr: lr_image,
        channel: channel.clone(),
        hr_region: plan.hr_region,
        hr_raster: plan.hr_raster,
        frames,
        motion,
        register_on,
    })
}

/// The instrument clock of every frame, from the frames' own reported instrument times in
/// acquisition order (each covers the move, the settling and the lines): a frame's move ends
/// `settle_s` before its lines start, and its middle is half its line time before its end.
fn motion_log(spec: &RunSpec, plan: &AcquisitionPlan, lr: &afm_drivers::Frame, patches: &[PatchRecord]) -> MotionLog {
    let settle_s = spec.config.instrument.settle_s;
    let mut clock_s = 0.0;
    let mut timing = |frame: &afm_drivers::Frame, commanded: &afm_drivers::ScanRegion| {
        clock_s += frame.instrument_time_s;
        let lines_s = frame.raster.lines as f64 / frame.line_rate_hz.max(f64::MIN_POSITIVE);
        ScanTiming {
            mid_clock_s: clock_s - 0.5 * lines_s,
            lines_s,
            move_end_clock_s: clock_s - lines_s - settle_s,
            commanded_center_m: (commanded.center_x_m, commanded.center_y_m),
        }
    };
    let lr = timing(lr, &plan.lr.region);
    let frames =
        patches.iter().map(|p| timing(&p.frame, &plan.tiles.get(p.tile_index).map_or(p.frame.region, |t| t.request.region))).collect();
    MotionLog { lr, frames }
}

/// The preparing settings of a run.
pub fn prepare_config(spec: &RunSpec) -> PrepareConfig {
    let c = &spec.config;
    PrepareConfig { level: c.level, register: c.register.clone(), model_input: c.lr.model_input }
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
    if let Some(n) = spec.config.run.threads {
        tch::set_num_threads(n as i32);
    }
    let overlap = !options.acquire_only
        && !options.no_model
        && !options.sequential
        && spec.config.train.during_acquisition
        && scans_take_real_time(spec);
    // Active picking needs a model during acquisition whatever the rest of the run does.
    let active = spec.config.select.strategy == crate::select::SelectionStrategy::Active;
    let worker_device = if overlap || active { Some(spec.config.run.device.resolve().map_err(PipelineError::from)?) } else { None };
    let (plan, acq, worker) = runtime.block_on(async {
        let microscope = backend::microscope(connected.instrument.clone(), spec).await?;
        let plan = AcquisitionPlan::build(spec, microscope.limits())?;
        let worker = worker_device.map(|device| TrainingWorker::start(spec, &plan, device, events, overlap));
        let acq = acquire_with(&microscope, &peripherals, spec, &plan, session, events, worker.as_ref().and_then(|w| w.link())).await?;
        Ok::<_, RunError>((plan, acq, worker))
    })?;
    drop(runtime);
    let last_patch_journaled = Instant::now();
    // A worker that only picked (scans took no real time) leaves no warm start: the model is trained
    // after acquisition exactly as for any other strategy.
    let warm = worker.and_then(|w| {
        if overlap {
            let _ = events.send(ProgressEvent::Stage("training (final phase)".into()));
        }
        w.finish().filter(|_| overlap)
    });
    let acquisition = AcquisitionMetrics::new(&acq.accounting, acq.measured_instrument_s, &acq.selection.picks);
    let mut report = MetricsReport::new(Some(acquisition), Timing { acquire_s: started.elapsed().as_secs_f64(), ..Timing::default() });
    if !options.acquire_only {
        let _ = events.send(ProgressEvent::Stage("levelling and registration".into()));
        let t0 = Instant::now();
        let prepared = prepare(&closed_loop_input(spec, &plan, &acq)?, &prepare_config(spec))?;
        report.timing.prepare_s = t0.elapsed().as_secs_f64();
        let model = if options.no_model {
            None
        } else {
            let _ = events.send(ProgressEvent::Stage("training".into()));
            let device = spec.config.run.device.resolve().map_err(PipelineError::from)?;
            // After training during acquisition, a short final phase from those weights on every patch.
            let train_cfg = match &warm {
                Some(_) => TrainConfig { max_steps: spec.config.train.final_steps, ..spec.config.train.clone() },
                None => spec.config.train.clone(),
            };
            let init = warm.as_ref().map(|w| &w.model);
            let (mut outcome, model) =
                train_and_reconstruct(&prepared, &train_cfg, &spec.config.reconstruct, device, &dir.join("model"), init, &mut |p| {
                    let _ = events.send(ProgressEvent::Training {
                        step: p.step,
                        max_steps: p.max_steps,
                        loss: p.train_loss,
                        val_gain_db: p.val_score,
                    });
                })?;
            if let (Some(record), Some(w)) = (outcome.training.as_mut(), &warm) {
                record.during_acquisition_steps = Some(w.steps);
                tracing::info!(
                    "{} steps on {} patches during acquisition ({:.1} s), {} after the last patch",
                    w.steps,
                    w.n_train,
                    w.train_s,
                    record.steps
                );
            }
            if model.is_some() {
                session.write_checkpoint_path(&dir.join("model"))?;
            }
            tracing::info!("{}", outcome.reason);
            Some(outcome)
        };
        report.timing.ready_after_last_patch_s = Some(last_patch_journaled.elapsed().as_secs_f64());
        let truth = match &connected.surface {
            Some(surface) => {
                let _ = events.send(ProgressEvent::Stage("ground truth".into()));
                Some(ground_truth::simulated(spec, surface)?)
            }
            None => None,
        };
        let seam = spec.config.reconstruct.seam_px;
        let scored = truth.map(|t| score_against(&prepared, model.as_ref(), &t, &spec.config.level, seam)).transpose()?;
        let outlines: Vec<_> = prepared.measured().iter().map(|m| m.rect).collect();
        let note = [
            ("Run".to_string(), spec.config.run.name.clone()),
            ("Config".to_string(), spec.source.display().to_string()),
            ("Picks".to_string(), format!("{:?}", acq.selection.picks)),
            (
                "Source".to_string(),
                spec.config.simulator.surface_file.as_ref().map_or_else(|| "instrument".into(), |p| p.display().to_string()),
            ),
        ];
        write_outputs(dir, Some(session), &prepared, model.as_ref(), scored.as_ref().map(|s| &s.truth), &outlines, seam, &note)?;
        report.record(&prepared, model.as_ref(), scored.as_ref());
    }
    report.timing.total_s = started.elapsed().as_secs_f64();
    let path = dir.join("metrics.json");
    report.write(&path).map_err(|e| RunError::Io(format!("writing {}: {e}", path.display())))?;
    session.write_metrics(&serde_json::to_string(&report).map_err(|e| RunError::Io(e.to_string()))?)?;
    Ok(report)
}
