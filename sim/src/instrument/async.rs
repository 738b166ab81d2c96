//! The asynchronous `Instrument` implementation: the physics runs on tokio's blocking pool, and with
//! `realtime = true` the scan then sleeps out its instrument time, interruptible by `abort()`.

use super::{lock, SimulatedAfm};
use afm_drivers::{Frame, Instrument, InstrumentError, InstrumentLimits, InstrumentState, InstrumentStatus, ScanRequest};
use async_trait::async_trait;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[async_trait]
impl Instrument for SimulatedAfm {
    fn name(&self) -> String {
        "simulator".into()
    }

    async fn limits(&self) -> Result<InstrumentLimits, InstrumentError> {
        Ok(self.core.limits.clone())
    }

    async fn scan(&self, request: &ScanRequest) -> Result<Frame, InstrumentError> {
        let _busy = self.acquire()?;
        let mut abort_rx = self.abort_tx.subscribe();
        let plan = self.prepare(request)?;
        let started = Instant::now();
        let (core, progress, req, rx) = (self.core.clone(), self.progress.clone(), request.clone(), abort_rx.clone());
        let task_plan = plan.clone();
        let result = tokio::task::spawn_blocking(move || core.compute(&req, &task_plan, &rx, &progress))
            .await
            .map_err(|e| InstrumentError::Instrument { code: "sim-task".into(), message: format!("scan thread failed: {e}") })?;
        if result.is_ok() && self.core.config.realtime {
            let scale = self.core.config.time_scale;
            *lock(&self.progress.realtime) = Some((started, plan.timing.move_s + plan.timing.settle_s, request.line_rate_hz));
            let remaining = Duration::from_secs_f64((plan.timing.total_s * scale).clamp(0.0, 1e9)).saturating_sub(started.elapsed());
            tokio::select! {
                _ = tokio::time::sleep(remaining) => {}
                _ = abort_rx.changed() => {
                    let spent = (started.elapsed().as_secs_f64() / scale).min(plan.timing.total_s);
                    self.advance(spent, plan.start_m, plan.creep);
                    return Err(InstrumentError::Aborted(format!(
                        "simulator: aborted {spent:.3} s into a {:.3} s scan", plan.timing.total_s
                    )));
                }
            }
        }
        self.finish(request, plan, result)
    }

    async fn abort(&self) -> Result<(), InstrumentError> {
        self.abort_now();
        Ok(())
    }

    async fn status(&self) -> Result<InstrumentStatus, InstrumentError> {
        let state = if self.busy.load(Ordering::Acquire) {
            let lines = self.progress.lines.load(Ordering::Relaxed);
            let computed = self.progress.lines_done.load(Ordering::Relaxed);
            // In real time, report the line the instrument clock has reached, not the computed one.
            let line = match *lock(&self.progress.realtime) {
                Some((t0, pre_s, rate_hz)) => {
                    let instrument_s = t0.elapsed().as_secs_f64() / self.core.config.time_scale;
                    (((instrument_s - pre_s) * rate_hz).max(0.0) as usize).min(lines)
                }
                None => computed,
            };
            InstrumentState::Scanning { line, lines }
        } else {
            InstrumentState::Idle
        };
        Ok(InstrumentStatus { backend: self.name(), state })
    }
}
