//! What acquisition hands to the training worker — every frame once it is journaled, and, for active
//! picking, requests for the next pick — what the worker hands back (its latest reconstruction, for
//! the live view), and the engine's side of an active pick: ask, check the answer against the plan,
//! fall back to farthest-first when no usable answer comes.

use crate::io::session::PatchRecord;
use afm_drivers::Frame;
use crossbeam::channel::Sender;
use ndarray::Array2;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use tracing::warn;

/// The worker's latest reconstruction of the whole HR grid, for `live.png`.
#[derive(Debug, Clone)]
pub struct LatestReconstruction {
    /// The reconstruction with the measured patches pasted, on the HR grid, in the channel's unit.
    pub image: Array2<f32>,
    /// Optimiser steps of the model that made it.
    pub steps: usize,
    /// Patches that model was trained on.
    pub patches: usize,
}

/// Both directions between acquisition and the training worker.
#[derive(Debug, Clone)]
pub struct WorkerLink {
    /// Frames and pick requests, in journal order.
    pub sender: Sender<Journaled>,
    /// The worker's latest reconstruction (None until it has one).
    pub latest: Arc<Mutex<Option<LatestReconstruction>>>,
}

impl WorkerLink {
    /// A copy of the latest reconstruction, if any.
    pub fn latest(&self) -> Option<LatestReconstruction> {
        self.latest.lock().ok().and_then(|g| g.clone())
    }
}

/// A frame as it is journaled (or found in the session on resume), or a request, for work that goes
/// on while acquisition does (training and active picking on a worker thread).
#[derive(Debug)]
pub enum Journaled {
    /// The LR frame.
    Lr(Box<Frame>),
    /// One HR patch.
    Patch(Box<PatchRecord>),
    /// Active picking: decide the tile of pick `order`.
    NextPick(PickRequest),
}

/// A request for the tile of one active pick. Everything journaled before it has reached the worker
/// already (one channel, in order), so the answer depends only on the patches before it.
#[derive(Debug)]
pub struct PickRequest {
    /// Position of the pick in the pick order (0 = first).
    pub order: usize,
    /// Tiles picked so far in pick order (scanned or being scanned): never picked again.
    pub picked: Vec<usize>,
    /// Where the answer goes: the tile, or `None` when the worker has no model to decide with.
    pub reply: oneshot::Sender<Option<usize>>,
}

/// Hands `item` to the worker, if any; the channel is unbounded, so acquisition never waits.
pub(super) fn hand_over(worker: Option<&WorkerLink>, item: impl FnOnce() -> Journaled) {
    if let Some(link) = worker {
        let _ = link.sender.send(item());
    }
}

/// Asks the worker (if any) for pick `order`; the answer is awaited later, while the scan before it runs.
pub(super) fn request_pick(worker: Option<&WorkerLink>, order: usize, picked: &[usize]) -> Option<oneshot::Receiver<Option<usize>>> {
    let tx = &worker?.sender;
    let (reply, answer) = oneshot::channel();
    tx.send(Journaled::NextPick(PickRequest { order, picked: picked.to_vec(), reply })).ok()?;
    Some(answer)
}

/// The tile of active pick `order`: the worker's answer when it is a tile that may be picked
/// (`eligible`, inside the instrument's limits) and is not picked yet, else the next tile of the
/// farthest-first order `fallback` not picked yet (with a warning saying why).
pub(super) async fn await_pick(
    answer: Option<oneshot::Receiver<Option<usize>>>,
    order: usize,
    picked: &[usize],
    eligible: &[bool],
    fallback: &[usize],
) -> Option<usize> {
    let usable = |t: usize| eligible.get(t).copied().unwrap_or(false) && !picked.contains(&t);
    let why = match answer {
        None => "no training worker".to_string(),
        Some(rx) => match rx.await {
            Ok(Some(t)) if usable(t) => return Some(t),
            Ok(Some(t)) => format!("the model chose tile {t}, which is picked already or outside the limits"),
            Ok(None) => "no model yet".to_string(),
            Err(_) => "the training worker stopped".to_string(),
        },
    };
    let next = fallback.iter().copied().find(|&t| usable(t)).or_else(|| (0..eligible.len()).find(|&t| usable(t)));
    warn!("active pick {}: {why}; taking the next farthest-first tile {next:?}", order + 1);
    next
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_usable_answer_is_taken_and_anything_else_falls_back_to_farthest_first() {
        let eligible = [true, true, false, true, true];
        let fallback = [0, 4, 1, 3];
        let answered = |t: Option<usize>| {
            let (tx, rx) = oneshot::channel();
            tx.send(t).unwrap();
            Some(rx)
        };
        assert_eq!(await_pick(answered(Some(3)), 2, &[0, 4], &eligible, &fallback).await, Some(3));
        // already picked, outside the limits, no model, no worker, a worker gone: the next ff tile
        assert_eq!(await_pick(answered(Some(4)), 2, &[0, 4], &eligible, &fallback).await, Some(1));
        assert_eq!(await_pick(answered(Some(2)), 2, &[0, 4], &eligible, &fallback).await, Some(1));
        assert_eq!(await_pick(answered(None), 2, &[0, 4], &eligible, &fallback).await, Some(1));
        assert_eq!(await_pick(None, 2, &[0, 4, 1], &eligible, &fallback).await, Some(3));
        let (tx, rx) = oneshot::channel::<Option<usize>>();
        drop(tx);
        assert_eq!(await_pick(Some(rx), 2, &[0, 4, 1, 3], &eligible, &fallback).await, None);
    }
}
