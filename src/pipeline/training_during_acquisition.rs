//! Training while the instrument scans: a worker thread receives every frame once it is journaled
//! (crossbeam channel; the acquisition task never waits for it), levels and registers what has
//! arrived, and trains in short chunks on the patches so far, each chunk starting from the last
//! chunk's weights. The patches the final validation will hold out (the same pick positions) are
//! never trained on here. After the last patch the closed loop runs a short final phase from these
//! weights on every patch, with validation and the guard as usual.
//!
//! What the worker trains is not reproducible to the bit: how many steps fall between two patches
//! depends on the machine. Runs whose scans take no real time (the simulator without `realtime`)
//! therefore train after acquisition, as before.
//!
//! The same worker answers active picking's requests for the next tile: it first makes sure the
//! current model has trained at least `[select.active] steps_per_pick` steps on the patches so far,
//! then decides ([`decide_next_pick`]). Started only to pick (`train_freely` false), it trains on
//! requests alone, so its picks are reproducible; the run then trains its model after acquisition.

use super::active_picking::{decide_next_pick, TileBook};
use super::closed_loop::{journal_input, prepare_config};
use super::model_stage::reconstruct_only;
use super::model_stage::{held_out_positions, with_fitted_input_filter};
use super::prepare::{Piece, Prepared};
use super::PipelineError;
use crate::config::RunSpec;
use crate::engine::{selection_from_lr, Journaled, LatestReconstruction, PickRequest, ProgressEvent, WorkerLink};
use crate::io::session::PatchRecord;
use crate::model::TrainedModel;
use crate::plan::AcquisitionPlan;
use crate::select::IndicatorRow;
use crate::train::{train_from, Normalizer, TilePair, TrainConfig};
use crossbeam::channel::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

/// Optimiser steps per chunk: new patches join the training set between chunks.
const CHUNK_STEPS: usize = 25;

/// What the worker leaves for the final phase.
pub struct WarmStart {
    /// The weights trained so far (the EMA's when the config averages).
    pub model: TrainedModel,
    /// Optimiser steps run during acquisition.
    pub steps: usize,
    /// Patches the last chunk trained on.
    pub n_train: usize,
    /// Wall time spent training, seconds.
    pub train_s: f64,
}

/// The running worker.
pub struct TrainingWorker {
    link: Option<WorkerLink>,
    handle: Option<JoinHandle<Result<Option<WarmStart>, PipelineError>>>,
}

impl TrainingWorker {
    /// Starts the worker for `spec`'s run on `plan`, training on `device`: continuously while frames
    /// arrive when `train_freely`, else only when a pick is requested. Its progress (steps, patches)
    /// goes to `events` after every chunk.
    pub fn start(spec: &RunSpec, plan: &AcquisitionPlan, device: tch::Device, events: &Sender<ProgressEvent>, train_freely: bool) -> Self {
        let (sender, receiver) = crossbeam::channel::unbounded();
        let latest = Arc::new(Mutex::new(None));
        let (spec, plan, events, published) = (spec.clone(), plan.clone(), events.clone(), latest.clone());
        let handle = std::thread::Builder::new()
            .name("afm-spark-training".into())
            .spawn(move || {
                let mut worker = Worker::new(&spec, &plan, device, &events, published);
                worker.run(&receiver, train_freely)
            })
            .ok();
        if handle.is_none() {
            tracing::warn!("the training thread could not start: training after acquisition");
        }
        Self { link: Some(WorkerLink { sender, latest }), handle }
    }

    /// Where acquisition hands its journaled frames and pick requests, and finds the worker's latest
    /// reconstruction.
    pub fn link(&self) -> Option<&WorkerLink> {
        self.link.as_ref().filter(|_| self.handle.is_some())
    }

    /// Tells the worker acquisition is over and waits for its last chunk. `None` (with a warning)
    /// when it trained nothing or failed: the final phase then trains from scratch.
    pub fn finish(mut self) -> Option<WarmStart> {
        self.link = None; // disconnects the channel: the worker's signal to stop
        let handle = self.handle.take()?;
        match handle.join() {
            Ok(Ok(warm)) => warm,
            Ok(Err(e)) => {
                tracing::warn!("training during acquisition failed ({e}): training after acquisition instead");
                None
            }
            Err(_) => {
                tracing::warn!("the training thread panicked: training after acquisition instead");
                None
            }
        }
    }
}

/// The training pairs among the frames so far (the trainable pieces except those at the pick positions
/// the final validation holds out), and the prepared data they come from.
fn pairs_so_far(
    spec: &RunSpec,
    plan: &AcquisitionPlan,
    lr: &afm_drivers::Frame,
    patches: &[PatchRecord],
    held_out: &[usize],
) -> Result<(Vec<TilePair>, Normalizer, Prepared), PipelineError> {
    let input = journal_input(spec, plan, lr, patches).map_err(|e| PipelineError::NoTraining(e.to_string()))?;
    let prepared = super::prepare(&input, &prepare_config(spec))?;
    // Trainable pieces split by whether the final validation holds their pick out.
    let held_out_piece = |piece: &Piece| patches.get(piece.frame).is_some_and(|p| held_out.contains(&p.pick_order));
    let (held, fit_on): (Vec<usize>, Vec<usize>) =
        (0..prepared.pieces.len()).filter(|&i| prepared.pieces[i].trainable).partition(|&i| held_out_piece(&prepared.pieces[i]));
    // The input filter as the final phase fits and checks it, on the pieces so far.
    let (train, reconstruct) = (&spec.config.train, &spec.config.reconstruct);
    let prepared = with_fitted_input_filter(&prepared, &fit_on, &held, train, reconstruct)?.fitted.map_or(prepared, |f| f.prepared);
    let pairs = fit_on.iter().map(|&i| prepared.pieces[i].training_pair()).collect();
    Ok((pairs, prepared.normalizer()?, prepared))
}

/// The worker's state: the frames so far, what they prepare to, and the model trained on them.
struct Worker<'a> {
    spec: &'a RunSpec,
    plan: &'a AcquisitionPlan,
    device: tch::Device,
    events: &'a Sender<ProgressEvent>,
    held_out: Vec<usize>,
    lr: Option<afm_drivers::Frame>,
    patches: Vec<PatchRecord>,
    /// New frames arrived since the pairs were made.
    stale: bool,
    pairs: Vec<TilePair>,
    normalizer: Option<Normalizer>,
    prepared: Option<Prepared>,
    model: Option<TrainedModel>,
    steps: usize,
    /// Steps trained since the training set last changed.
    steps_on_this_set: usize,
    chunk: u64,
    train_s: f64,
    /// The LR frame's indicator rows (for active picking's blend).
    rows: Option<Vec<IndicatorRow>>,
    /// Where the latest reconstruction goes (for the live view).
    published: Arc<Mutex<Option<LatestReconstruction>>>,
    /// The current training set has a published reconstruction.
    published_this_set: bool,
}

impl<'a> Worker<'a> {
    fn new(
        spec: &'a RunSpec,
        plan: &'a AcquisitionPlan,
        device: tch::Device,
        events: &'a Sender<ProgressEvent>,
        published: Arc<Mutex<Option<LatestReconstruction>>>,
    ) -> Self {
        Self {
            spec,
            plan,
            device,
            events,
            held_out: held_out_positions(spec.n_patches(), spec.config.train.n_val),
            lr: None,
            patches: Vec::new(),
            stale: false,
            pairs: Vec::new(),
            normalizer: None,
            prepared: None,
            model: None,
            steps: 0,
            steps_on_this_set: 0,
            chunk: 0,
            train_s: 0.0,
            rows: None,
            published,
            published_this_set: false,
        }
    }

    /// Takes in whatever arrived, answers pick requests, and (when `train_freely`) trains one chunk
    /// at a time, until the channel closes.
    fn run(&mut self, receiver: &Receiver<Journaled>, train_freely: bool) -> Result<Option<WarmStart>, PipelineError> {
        loop {
            // Block while there is nothing to train on (or training waits for requests).
            if !train_freely || self.pairs.is_empty() {
                match receiver.recv() {
                    Ok(item) => self.take(item)?,
                    Err(_) => break,
                }
            }
            let mut closed = false;
            loop {
                match receiver.try_recv() {
                    Ok(item) => self.take(item)?,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            // Once every patch is in, the final phase takes over: stop now rather than prepare and
            // train a chunk that would only delay it.
            if closed || (train_freely && self.patches.len() >= self.spec.n_patches()) {
                break;
            }
            if train_freely {
                self.refresh();
                if !self.pairs.is_empty() {
                    self.train_chunk(CHUNK_STEPS)?;
                    // One reconstruction per training set, after its first chunk, for the live view.
                    if !self.published_this_set {
                        let _ = self.reconstruct_and_publish();
                    }
                }
            }
        }
        tracing::info!("trained {} steps on {} patches during acquisition ({:.1} s)", self.steps, self.pairs.len(), self.train_s);
        let (steps, n_train, train_s) = (self.steps, self.pairs.len(), self.train_s);
        Ok(self.model.take().map(|model| WarmStart { model, steps, n_train, train_s }))
    }

    /// Takes one message: a frame joins the set; a pick request is answered now.
    fn take(&mut self, item: Journaled) -> Result<(), PipelineError> {
        match item {
            Journaled::Lr(frame) => {
                if self.spec.config.select.active.indicator_blend > 0.0 {
                    self.rows = selection_from_lr(self.spec, self.plan, &frame).ok().map(|s| {
                        s.indicators
                            .rows()
                            .into_iter()
                            .map(|r| IndicatorRow { mean: r[0], std: r[1], grad: r[2], lap: r[3], texture: r[4] })
                            .collect()
                    });
                }
                self.lr = Some(*frame);
                self.stale = true;
            }
            Journaled::Patch(p) => {
                self.patches.push(*p);
                self.patches.sort_by_key(|p| p.pick_order);
                self.stale = true;
            }
            Journaled::NextPick(request) => self.answer(request)?,
        }
        Ok(())
    }

    /// Remakes the training pairs when new frames arrived.
    fn refresh(&mut self) {
        if !self.stale {
            return;
        }
        self.stale = false;
        let Some(lr) = &self.lr else { return };
        (self.pairs, self.normalizer, self.prepared) = match pairs_so_far(self.spec, self.plan, lr, &self.patches, &self.held_out) {
            Ok((p, n, prepared)) => (p, Some(n), Some(prepared)),
            Err(e) => {
                tracing::debug!("training during acquisition waits: {e}");
                (Vec::new(), None, None)
            }
        };
        self.steps_on_this_set = 0;
        self.published_this_set = false;
    }

    /// Reconstructs the HR grid with the current model and publishes it for the live view; returns
    /// the uncertainty map. `None` (logged) when there is no model yet or reconstruction fails.
    fn reconstruct_and_publish(&mut self) -> Option<ndarray::Array2<f32>> {
        let (Some(prepared), Some(model)) = (&self.prepared, &self.model) else { return None };
        match reconstruct_only(prepared, model, &self.spec.config.reconstruct) {
            Ok(outcome) => {
                let latest = LatestReconstruction { image: outcome.sr, steps: self.steps, patches: self.pairs.len() };
                if let Ok(mut slot) = self.published.lock() {
                    *slot = Some(latest);
                }
                self.published_this_set = true;
                Some(outcome.uncertainty)
            }
            Err(e) => {
                tracing::warn!("reconstruction during acquisition failed: {e}");
                None
            }
        }
    }

    /// Trains `steps` steps on the pairs so far, from the last chunk's weights.
    fn train_chunk(&mut self, steps: usize) -> Result<(), PipelineError> {
        let (Some(norm), false) = (self.normalizer, self.pairs.is_empty()) else { return Ok(()) };
        let cfg = &self.spec.config.train;
        let chunk_cfg = TrainConfig {
            max_steps: steps,
            eval_interval_steps: steps,
            time_budget_s: None,
            n_val: 0,
            seed: cfg.seed.wrapping_add(self.chunk),
            lr_schedule: crate::train::LrSchedule::Constant,
            ..cfg.clone()
        };
        let t = Instant::now();
        let out = train_from(&self.pairs, norm, &chunk_cfg, self.device, self.model.as_ref(), None, &mut |_| {})?;
        self.train_s += t.elapsed().as_secs_f64();
        self.steps += out.steps;
        self.steps_on_this_set += out.steps;
        self.chunk += 1;
        self.model = Some(out.model);
        let _ = self.events.send(ProgressEvent::TrainingWhileScanning { steps: self.steps, patches: self.pairs.len() });
        Ok(())
    }

    /// Answers a pick request: trains up to `steps_per_pick` steps on the set as it is, reconstructs
    /// (publishing the result for the live view), then decides. A decision that cannot be made (no
    /// pairs yet, a failed reconstruction) answers `None`, and acquisition takes the next
    /// farthest-first tile.
    fn answer(&mut self, request: PickRequest) -> Result<(), PipelineError> {
        self.refresh();
        let active = self.spec.config.select.active;
        while !self.pairs.is_empty() && self.steps_on_this_set < active.steps_per_pick {
            self.train_chunk(CHUNK_STEPS.min(active.steps_per_pick - self.steps_on_this_set))?;
        }
        let uncertainty = if self.pairs.is_empty() { None } else { self.reconstruct_and_publish() };
        let decision = uncertainty.and_then(|uncertainty| {
            let rects: Vec<_> = self.plan.tiles.iter().map(|t| t.rect).collect();
            let eligible = self.plan.eligible();
            let no_rows = Vec::new();
            let tiles = TileBook {
                rects: &rects,
                eligible: &eligible,
                rows: self.rows.as_ref().unwrap_or(&no_rows),
                weights: &self.spec.config.select.weights,
            };
            decide_next_pick(&uncertainty, &tiles, &request.picked, &active)
        });
        if let Some((tile, u)) = decision {
            tracing::info!(
                "active pick {}: tile {tile} (mean uncertainty {u:.3e}; model of {} steps on {} patches)",
                request.order + 1,
                self.steps,
                self.pairs.len()
            );
        }
        let _ = request.reply.send(decision.map(|(t, _)| t));
        Ok(())
    }
}
