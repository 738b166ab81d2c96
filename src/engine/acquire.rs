//! Acquisition: LR frame → indicators and farthest-first picks → HR patches in pick order, each frame
//! journaled (flushed, atomically committed) before the next request goes out. On resume, whatever the
//! session already holds is kept as it is and skipped.

use super::events::ProgressEvent;
use super::live_view::write_live_view;
use super::worker_link::{await_pick, hand_over, request_pick, Journaled, WorkerLink};
use crate::config::RunSpec;
use crate::io::session::{PatchRecord, SelectionRecord, Session, SessionError};
use crate::pipeline::ChannelKind;
use crate::plan::accounting::{end_position_m, move_and_settle_s};
use crate::plan::{AcquisitionPlan, TimeAccounting};
use crate::select::{select_on_lr, SelectOptions, SelectionError, SelectionStrategy};
use afm_drivers::peripherals::{Peripheral, Reading};
use afm_drivers::{Frame, InstrumentError, Microscope, ScanDirection};
use crossbeam::channel::Sender;
use ndarray::{Array2, Axis};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tracing::{info, warn};

/// Why acquisition stopped.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The instrument failed a scan (after the configured retries).
    #[error("{stage} failed: {source}")]
    Scan {
        /// Which scan, e.g. "patch 5/20 (tile 37)".
        stage: String,
        /// The instrument's error.
        #[source]
        source: InstrumentError,
    },
    /// The session file could not be written or read.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// No valid selection could be made.
    #[error("tile selection: {0}")]
    Selection(#[from] SelectionError),
    /// A frame lacks the configured channel.
    #[error("{stage}: the instrument returned no {channel} channel (got: {got})")]
    MissingChannel {
        /// Which scan.
        stage: String,
        /// The configured channel.
        channel: String,
        /// What came back.
        got: String,
    },
    /// The session's stored picks do not match this plan.
    #[error("session {path}: {reason}")]
    Inconsistent {
        /// The session file.
        path: String,
        /// What does not match.
        reason: String,
    },
}

/// Everything acquisition produced.
#[derive(Debug, Clone)]
pub struct AcquisitionOutcome {
    /// The LR frame.
    pub lr: Frame,
    /// Indicators, eligibility and every pick made (active picks included), in pick order.
    pub selection: SelectionRecord,
    /// Every patch, in pick order.
    pub patches: Vec<PatchRecord>,
    /// The plan's instrument-time accounting.
    pub accounting: TimeAccounting,
    /// Instrument time the frames report, summed, seconds.
    pub measured_instrument_s: f64,
    /// How many scans this call performed (the rest came from the session).
    pub scans_now: usize,
}

/// The configured channel of a frame, as `[line, point]` data: the mean of the trace and retrace
/// passes when both were recorded (their feedback lags point in opposite directions and cancel to
/// first order, and the noise drops by √2), else the one pass there is.
pub fn channel_data(frame: &Frame, channel: &str, stage: &str) -> Result<Array2<f32>, EngineError> {
    let trace = frame.channel(channel, ScanDirection::Trace);
    let retrace = frame.channel(channel, ScanDirection::Retrace);
    match (trace, retrace) {
        (Some(t), Some(r)) if t.data.dim() == r.data.dim() => Ok((&t.data + &r.data) * 0.5),
        (Some(c), _) | (None, Some(c)) => Ok(c.data.clone()),
        (None, None) => Err(EngineError::MissingChannel {
            stage: stage.into(),
            channel: channel.into(),
            got: frame.channels.iter().map(|c| c.label()).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// Indicators and picks from an LR frame: the configured channel, levelled, tiled on its own pixels
/// (LR tile k covers the plan's HR tile k).
/// For the `active` strategy these are its farthest-first seed picks only; the later picks are
/// decided during acquisition and journaled with their patches.
pub fn selection_from_lr(spec: &RunSpec, plan: &AcquisitionPlan, lr: &Frame) -> Result<SelectionRecord, EngineError> {
    selection_with(spec, plan, lr, |_| {})
}

/// [`selection_from_lr`] with the options changed by `adjust`.
fn selection_with(
    spec: &RunSpec,
    plan: &AcquisitionPlan,
    lr: &Frame,
    adjust: impl FnOnce(&mut SelectOptions),
) -> Result<SelectionRecord, EngineError> {
    let channel = &spec.config.frame.channel;
    let data = channel_data(lr, channel, "LR frame")?;
    let levelled = spec.config.level.apply(data.view(), ChannelKind::of(channel).is_height()).data;
    let mut opts = SelectOptions::from_section(&spec.config.select, spec.config.run.seed);
    adjust(&mut opts);
    let eligible = plan.eligible();
    let sel = select_on_lr(levelled.view(), Some(&eligible), &opts)?;
    let mut indicators = Array2::<f64>::zeros((0, 5));
    for r in &sel.rows {
        let _ = indicators.push_row(ndarray::ArrayView1::from(&r.values()));
    }
    debug_assert_eq!(indicators.len_of(Axis(0)), sel.rows.len());
    Ok(SelectionRecord { indicators, eligible: sel.eligible, picks: sel.picks })
}

/// Reads every peripheral (each bounded to 5 s). A failing peripheral is logged and skipped: a
/// thermometer must never cost an acquisition.
pub async fn read_peripherals(peripherals: &[Arc<dyn Peripheral>]) -> Vec<Reading> {
    let mut out = Vec::new();
    for p in peripherals {
        match tokio::time::timeout(Duration::from_secs(5), p.read()).await {
            Ok(Ok(r)) => out.extend(r),
            Ok(Err(e)) => warn!("peripheral {}: {e}", p.name()),
            Err(_) => warn!("peripheral {}: no answer within 5 s", p.name()),
        }
    }
    out
}

fn send(events: &Sender<ProgressEvent>, e: ProgressEvent) {
    let _ = events.send(e);
}

/// Refreshes the run folder's `live.png` (next to the session file); a failure is logged, never fatal.
fn refresh_live_view(
    session: &Session,
    spec: &RunSpec,
    plan: &AcquisitionPlan,
    lr: &Frame,
    picks: &[afm_drivers::PixelRect],
    patches: &[PatchRecord],
    worker: Option<&WorkerLink>,
) {
    let Some(dir) = session.path().parent() else { return };
    let latest = worker.and_then(WorkerLink::latest);
    if let Err(e) = write_live_view(dir, spec, plan, lr, picks, patches, latest.as_ref()) {
        warn!("live view not refreshed: {e}");
    }
}

/// Runs the acquisition part of the plan, resuming from whatever `session` already holds. The
/// `peripherals` are read after every frame and journaled with it; the run folder's `live.png` is
/// refreshed after the picks and after every patch.
pub async fn acquire(
    microscope: &Microscope,
    peripherals: &[Arc<dyn Peripheral>],
    spec: &RunSpec,
    plan: &AcquisitionPlan,
    session: &Session,
    events: &Sender<ProgressEvent>,
) -> Result<AcquisitionOutcome, EngineError> {
    acquire_with(microscope, peripherals, spec, plan, session, events, None).await
}

/// [`acquire`], handing every frame to the training `worker` once it is in the session (the stored ones
/// on resume).
pub async fn acquire_with(
    microscope: &Microscope,
    peripherals: &[Arc<dyn Peripheral>],
    spec: &RunSpec,
    plan: &AcquisitionPlan,
    session: &Session,
    events: &Sender<ProgressEvent>,
    worker: Option<&WorkerLink>,
) -> Result<AcquisitionOutcome, EngineError> {
    let n = spec.n_patches();
    let mut scans_now = 0;
    // Worst case before picks are known: n of the slowest eligible tiles. Refined once picks exist.
    let lr_cost = plan.lr.line_time_s() + move_and_settle_s(plan, (plan.hr_region.center_x_m, plan.hr_region.center_y_m), &plan.lr);
    let per_patch_estimate =
        plan.tiles.iter().filter(|t| t.refusal.is_none()).map(|t| t.request.line_time_s() + plan.settle_s).fold(0.0, f64::max);
    send(events, ProgressEvent::PlanReady { scans: 1 + n, instrument_s: lr_cost + n as f64 * per_patch_estimate });

    send(events, ProgressEvent::Stage("LR frame".into()));
    let lr = match session.lr()? {
        Some(lr) => {
            info!("LR frame already in {}", session.path().display());
            send(events, ProgressEvent::Skipped { label: "LR frame".into(), instrument_s: lr_cost });
            lr
        }
        None => {
            send(
                events,
                ProgressEvent::ScanStarted { label: "LR frame".into(), remaining_instrument_s: lr_cost + n as f64 * per_patch_estimate },
            );
            let frame = microscope.scan(&plan.lr).await.map_err(|source| EngineError::Scan { stage: "LR frame".into(), source })?;
            channel_data(&frame, &spec.config.frame.channel, "LR frame")?;
            session.write_lr(&frame, &read_peripherals(peripherals).await)?;
            scans_now += 1;
            send(
                events,
                ProgressEvent::ScanFinished { label: "LR frame".into(), planned_s: lr_cost, instrument_time_s: frame.instrument_time_s },
            );
            frame
        }
    };

    hand_over(worker, || Journaled::Lr(Box::new(lr.clone())));
    send(events, ProgressEvent::Stage("selection".into()));
    let fresh = selection_from_lr(spec, plan, &lr)?;
    let selection = match session.selection()? {
        Some(stored) => {
            if stored.picks != fresh.picks {
                return Err(EngineError::Inconsistent {
                    path: session.path().display().to_string(),
                    reason: format!(
                        "stored picks {:?} differ from the picks {:?} this config makes from the stored LR frame",
                        stored.picks, fresh.picks
                    ),
                });
            }
            stored
        }
        None => {
            session.write_selection(&fresh)?;
            fresh
        }
    };
    let active = spec.config.select.strategy == SelectionStrategy::Active;
    if active {
        info!(picks = ?selection.picks, "farthest-first seed picks (a model decides the rest during acquisition)");
    } else {
        info!(picks = ?selection.picks, "picks");
    }
    // Active picking falls back to farthest-first when the model cannot answer.
    let fallback =
        if active { selection_with(spec, plan, &lr, |o| o.strategy = SelectionStrategy::FarthestFirst)?.picks } else { Vec::new() };
    let n_total = if active { n } else { selection.picks.len() };

    send(events, ProgressEvent::Stage("HR patches".into()));
    let mut done = session.patches()?;
    done.sort_by_key(|p| p.pick_order);
    // The picks so far: the selection's, then (active) the tiles of the patches journaled after them.
    let mut picks = selection.picks.clone();
    for p in &done {
        let fits = match picks.get(p.pick_order) {
            Some(&t) => t == p.tile_index,
            None => {
                active
                    && p.pick_order == picks.len()
                    && p.pick_order < n_total
                    && selection.eligible.get(p.tile_index).copied().unwrap_or(false)
                    && !picks.contains(&p.tile_index)
            }
        };
        if !fits {
            return Err(EngineError::Inconsistent {
                path: session.path().display().to_string(),
                reason: format!(
                    "journaled patch {} is tile {}, the picks so far say {:?}",
                    p.pick_order,
                    p.tile_index,
                    picks.get(p.pick_order)
                ),
            });
        }
        if p.pick_order == picks.len() {
            picks.push(p.tile_index);
        }
    }
    for p in &done {
        hand_over(worker, || Journaled::Patch(Box::new(p.clone())));
    }
    let rects =
        |picks: &[usize]| -> Vec<afm_drivers::PixelRect> { picks.iter().filter_map(|&t| plan.tiles.get(t).map(|c| c.rect)).collect() };
    refresh_live_view(session, spec, plan, &lr, &rects(&picks[..done.len().min(picks.len())]), &done, worker);
    // Instrument time ahead: the known picks as planned, each undecided one at the slowest tile's cost.
    let planned_total = |picks: &[usize]| {
        let a = plan.accounting(picks);
        a.patch_s.iter().sum::<f64>() + a.moves_s + n_total.saturating_sub(picks.len()) as f64 * per_patch_estimate
    };
    let (mut spent, mut pending) = (0.0, None);
    let mut pos = end_position_m(&plan.lr);
    for order in 0..n_total {
        if order == picks.len() {
            // An active pick: asked for while the scan before it ran (or now, first after a resume).
            let answer = match pending.take() {
                Some((o, answer)) if o == order => answer,
                _ => request_pick(worker, order, &picks),
            };
            let eligible_count = selection.eligible.iter().filter(|&&e| e).count();
            let tile = await_pick(answer, order, &picks, &selection.eligible, &fallback).await.ok_or(EngineError::Selection(
                SelectionError::TooManyPicks { requested: n_total, eligible: eligible_count, tiles: selection.eligible.len() },
            ))?;
            tracing::debug!("active pick {}: tile {tile}", order + 1);
            picks.push(tile);
        }
        let tile = picks[order];
        let cand = &plan.tiles[tile];
        let planned_s = cand.request.line_time_s() + move_and_settle_s(plan, pos, &cand.request);
        pos = end_position_m(&cand.request);
        let label = format!("patch {}/{} (tile {})", order + 1, n_total, tile);
        if done.iter().any(|p| p.pick_order == order) {
            send(events, ProgressEvent::Skipped { label, instrument_s: planned_s });
            spent += planned_s;
            continue;
        }
        // Active picking: the next pick is decided while this scan runs.
        if active && order + 1 < n_total && order + 1 == picks.len() {
            pending = Some((order + 1, request_pick(worker, order + 1, &picks)));
        }
        send(events, ProgressEvent::ScanStarted { label: label.clone(), remaining_instrument_s: planned_total(&picks) - spent });
        let frame = microscope.scan(&cand.request).await.map_err(|source| EngineError::Scan { stage: label.clone(), source })?;
        channel_data(&frame, &spec.config.frame.channel, &label)?;
        let readings = read_peripherals(peripherals).await;
        let record = PatchRecord { pick_order: order, tile_index: tile, rect: cand.rect, frame, readings };
        session.append_patch(&record)?;
        scans_now += 1;
        hand_over(worker, || Journaled::Patch(Box::new(record.clone())));
        send(events, ProgressEvent::ScanFinished { label, planned_s, instrument_time_s: record.frame.instrument_time_s });
        spent += planned_s;
        done.push(record);
        refresh_live_view(session, spec, plan, &lr, &rects(&picks[..done.len().min(picks.len())]), &done, worker);
    }
    done.sort_by_key(|p| p.pick_order);
    let measured_instrument_s = lr.instrument_time_s + done.iter().map(|p| p.frame.instrument_time_s).sum::<f64>();
    let accounting = plan.accounting(&picks);
    let selection = SelectionRecord { picks, ..selection };
    Ok(AcquisitionOutcome { lr, selection, patches: done, accounting, measured_instrument_s, scans_now })
}
