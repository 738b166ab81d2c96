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

use super::closed_loop::{journal_input, prepare_config};
use super::model_stage::held_out_positions;
use super::PipelineError;
use crate::config::RunSpec;
use crate::engine::{Journaled, ProgressEvent};
use crate::io::session::PatchRecord;
use crate::model::TrainedModel;
use crate::plan::AcquisitionPlan;
use crate::train::{train_from, Normalizer, TilePair, TrainConfig};
use crossbeam::channel::{Receiver, Sender, TryRecvError};
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
    sender: Option<Sender<Journaled>>,
    handle: Option<JoinHandle<Result<Option<WarmStart>, PipelineError>>>,
}

impl TrainingWorker {
    /// Starts the worker for `spec`'s run on `plan`, training on `device`.
    /// Its progress (steps, patches) goes to `events` after every chunk.
    pub fn start(spec: &RunSpec, plan: &AcquisitionPlan, device: tch::Device, events: &Sender<ProgressEvent>) -> Self {
        let (sender, receiver) = crossbeam::channel::unbounded();
        let (spec, plan, events) = (spec.clone(), plan.clone(), events.clone());
        let handle = std::thread::Builder::new()
            .name("afm-spark-training".into())
            .spawn(move || train_while_scanning(&receiver, &spec, &plan, device, &events))
            .ok();
        if handle.is_none() {
            tracing::warn!("the training thread could not start: training after acquisition");
        }
        Self { sender: Some(sender), handle }
    }

    /// Where acquisition hands its journaled frames.
    pub fn sender(&self) -> Option<&Sender<Journaled>> {
        self.sender.as_ref().filter(|_| self.handle.is_some())
    }

    /// Tells the worker acquisition is over and waits for its last chunk. `None` (with a warning)
    /// when it trained nothing or failed: the final phase then trains from scratch.
    pub fn finish(mut self) -> Option<WarmStart> {
        self.sender = None; // disconnects the channel: the worker's signal to stop
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

/// The training pairs among the frames so far: the trainable pieces except those at the pick
/// positions the final validation holds out.
fn pairs_so_far(
    spec: &RunSpec,
    plan: &AcquisitionPlan,
    lr: &afm_drivers::Frame,
    patches: &[PatchRecord],
    held_out: &[usize],
) -> Result<(Vec<TilePair>, Normalizer), PipelineError> {
    let input = journal_input(spec, plan, lr, patches).map_err(|e| PipelineError::NoTraining(e.to_string()))?;
    let prepared = super::prepare(&input, &prepare_config(spec))?;
    let pairs = prepared
        .pieces
        .iter()
        .filter(|piece| piece.trainable && patches.get(piece.frame).is_some_and(|p| !held_out.contains(&p.pick_order)))
        .map(|piece| piece.training_pair())
        .collect();
    Ok((pairs, prepared.normalizer()?))
}

/// The worker's loop: take in whatever arrived, train one chunk, repeat until the channel closes.
fn train_while_scanning(
    receiver: &Receiver<Journaled>,
    spec: &RunSpec,
    plan: &AcquisitionPlan,
    device: tch::Device,
    events: &Sender<ProgressEvent>,
) -> Result<Option<WarmStart>, PipelineError> {
    let cfg = &spec.config.train;
    let held_out = held_out_positions(spec.n_patches(), cfg.n_val);
    let (mut lr, mut patches) = (None, Vec::<PatchRecord>::new());
    let (mut pairs, mut normalizer) = (Vec::new(), None);
    let (mut model, mut steps, mut chunk, mut train_s) = (None::<TrainedModel>, 0usize, 0u64, 0.0f64);
    let mut changed = false;
    fn absorb(item: Journaled, lr: &mut Option<afm_drivers::Frame>, patches: &mut Vec<PatchRecord>) {
        match item {
            Journaled::Lr(frame) => *lr = Some(*frame),
            Journaled::Patch(p) => {
                patches.push(*p);
                patches.sort_by_key(|p| p.pick_order);
            }
        }
    }
    loop {
        // Wait while there is nothing to train on, then take in everything that has arrived.
        if pairs.is_empty() {
            match receiver.recv() {
                Ok(item) => {
                    absorb(item, &mut lr, &mut patches);
                    changed = true;
                }
                Err(_) => break,
            }
        }
        let mut closed = false;
        loop {
            match receiver.try_recv() {
                Ok(item) => {
                    absorb(item, &mut lr, &mut patches);
                    changed = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        if closed {
            break;
        }
        if changed {
            changed = false;
            if let Some(lr) = &lr {
                (pairs, normalizer) = match pairs_so_far(spec, plan, lr, &patches, &held_out) {
                    Ok((p, n)) => (p, Some(n)),
                    Err(e) => {
                        tracing::debug!("training during acquisition waits: {e}");
                        (Vec::new(), None)
                    }
                };
            }
        }
        let (Some(norm), false) = (normalizer, pairs.is_empty()) else { continue };
        let chunk_cfg = TrainConfig {
            max_steps: CHUNK_STEPS,
            eval_interval_steps: CHUNK_STEPS,
            time_budget_s: None,
            n_val: 0,
            seed: cfg.seed.wrapping_add(chunk),
            lr_schedule: crate::train::LrSchedule::Constant,
            ..cfg.clone()
        };
        let t = Instant::now();
        let out = train_from(&pairs, norm, &chunk_cfg, device, model.as_ref(), None, &mut |_| {})?;
        train_s += t.elapsed().as_secs_f64();
        steps += out.steps;
        chunk += 1;
        model = Some(out.model);
        let _ = events.send(ProgressEvent::TrainingWhileScanning { steps, patches: pairs.len() });
    }
    tracing::info!("trained {steps} steps on {} patches during acquisition ({train_s:.1} s)", pairs.len());
    Ok(model.map(|model| WarmStart { model, steps, n_train: pairs.len(), train_s }))
}
