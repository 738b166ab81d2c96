//! `SimulatedAfm`: the digital twin behind the [`afm_drivers::Instrument`] trait. It owns the ground
//! truth surface, the tip-dilated surface (computed once), the scanner state (clock, position and
//! creep history), the known truth of every scan it performed, and the abort signal. Scans compute
//! on a blocking thread and only sleep when `realtime` is set.

mod r#async;
mod timing;
mod truth;

pub use timing::{ScanTiming, ScannerState};
pub use truth::ScanTruth;

use crate::config::SimConfig;
use crate::error::SimError;
use crate::physics::scan::{scan_frame, ScanImages, Stopped};
use crate::physics::CreepState;
use crate::surface::Surface;
use afm_drivers::frame::unix_now_s;
use afm_drivers::{ChannelImage, Frame, InstrumentError, InstrumentLimits, Raster, ScanRegion, ScanRequest};
use ndarray::Array2;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use timing::{plan, Plan};
use tokio::sync::watch;

/// The channels the simulator records: the z command and the oscillation amplitude, both metres.
pub const CHANNELS: [&str; 2] = ["Height", "Amplitude"];

/// Most pixels one scan may hold (guards memory against absurd requests).
const MAX_PIXELS: usize = 1 << 26;

/// The immutable part of the simulator, shared with blocking scan threads.
#[derive(Debug)]
struct Core {
    surface: Surface,
    tip_surface: Surface,
    /// The resolved lead-in time of every line, seconds.
    overscan_s: f64,
    config: SimConfig,
    limits: InstrumentLimits,
}

/// Progress of the scan in flight, for `status()`.
#[derive(Debug, Default)]
struct Progress {
    lines_done: AtomicUsize,
    lines: AtomicUsize,
    /// While a real-time scan sleeps: when it started, its move + settle time (s), its line rate (Hz).
    realtime: Mutex<Option<(std::time::Instant, f64, f64)>>,
}

/// A simulated atomic force microscope scanning a [`Surface`] with the physics of a [`SimConfig`].
pub struct SimulatedAfm {
    core: Arc<Core>,
    state: Mutex<ScannerState>,
    /// The known truth of every scan that returned a frame, in order.
    truths: Mutex<Vec<ScanTruth>>,
    busy: AtomicBool,
    abort_tx: watch::Sender<u64>,
    progress: Arc<Progress>,
}

impl std::fmt::Debug for SimulatedAfm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedAfm")
            .field("surface", &self.core.surface.raster())
            .field("region", self.core.surface.region())
            .field("state", &*lock(&self.state))
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Clears the busy flag when a scan ends, however it ends.
struct BusyGuard<'a>(&'a AtomicBool, &'a Progress);
impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        *lock(&self.1.realtime) = None;
        self.0.store(false, Ordering::Release);
    }
}

impl SimulatedAfm {
    /// A simulator over `surface` (ground truth) with `config`. Validates the config and computes the
    /// tip-dilated surface once.
    pub fn new(surface: Surface, config: SimConfig) -> Result<Self, SimError> {
        config.validate()?;
        let tip_surface = config.physics.tip.dilate(&surface)?;
        let limits = config.instrument_limits(&surface);
        let (lo, hi) = tip_surface.height_range_m();
        let overscan_s = config.physics.overscan_for_s(hi - lo);
        let (abort_tx, _) = watch::channel(0u64);
        let state = initial_state(&surface);
        Ok(Self {
            core: Arc::new(Core { surface, tip_surface, overscan_s, config, limits }),
            state: Mutex::new(state),
            truths: Mutex::new(Vec::new()),
            busy: AtomicBool::new(false),
            abort_tx,
            progress: Arc::new(Progress::default()),
        })
    }

    /// The ground-truth surface.
    pub fn surface(&self) -> &Surface {
        &self.core.surface
    }

    /// The surface as the configured tip records it (the ground truth when the tip is off).
    pub fn tip_surface(&self) -> &Surface {
        &self.core.tip_surface
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.core.config
    }

    /// The lead-in (overscan) time of every line, seconds: the configured value or the automatic one.
    pub fn overscan_s(&self) -> f64 {
        self.core.overscan_s
    }

    /// The limits `limits()` reports.
    pub fn instrument_limits(&self) -> &InstrumentLimits {
        &self.core.limits
    }

    /// The clean ground truth of a scan of `region` with `raster`: the surface sampled at the pixel
    /// positions with the configured interpolation — no tip, feedback, noise, drift or bow.
    /// `[line, point]`, metres.
    pub fn ground_truth(&self, region: &ScanRegion, raster: &Raster) -> Array2<f32> {
        self.core.surface.resample(region, raster, self.core.config.physics.interpolation)
    }

    /// What a perfect instrument with this tip would record: the tip-dilated surface at the pixel
    /// positions (no feedback, noise, drift or bow). `[line, point]`, metres.
    pub fn tip_image(&self, region: &ScanRegion, raster: &Raster) -> Array2<f32> {
        self.core.tip_surface.resample(region, raster, self.core.config.physics.interpolation)
    }

    /// Where the scanner stands now (clock, position and creep history).
    pub fn scanner_state(&self) -> ScannerState {
        lock(&self.state).clone()
    }

    /// Restores the scanner state, e.g. when resuming a run (the clock drives drift, the creep
    /// history creep).
    pub fn set_scanner_state(&self, state: ScannerState) {
        *lock(&self.state) = state;
    }

    /// The state a freshly created simulator reaches by scanning `frames` in order (each frame's
    /// region, raster and line rate; the clock advances by its `instrument_time_s`): the clock, the
    /// tip position and the creep history an uninterrupted run had after them. Restore it with
    /// [`SimulatedAfm::set_scanner_state`] to resume a journaled run exactly. Scans that returned no
    /// frame (aborted) are not in a journal and so not replayed.
    pub fn state_after<'a>(&self, frames: impl IntoIterator<Item = &'a Frame>) -> ScannerState {
        self.replay(frames).0
    }

    /// The known truth each of `frames` had, when a freshly created simulator with this config
    /// scanned them in this order (as [`SimulatedAfm::state_after`] replays them): for a run's
    /// journaled frames (LR, then the patches in acquisition order), the same records
    /// [`SimulatedAfm::scan_truths`] gave during the run, resumed or not.
    pub fn truths_of<'a>(&self, frames: impl IntoIterator<Item = &'a Frame>) -> Vec<ScanTruth> {
        self.replay(frames).1
    }

    fn replay<'a>(&self, frames: impl IntoIterator<Item = &'a Frame>) -> (ScannerState, Vec<ScanTruth>) {
        let mut state = initial_state(&self.core.surface);
        let mut truths = Vec::new();
        for frame in frames {
            let plan = plan(&state, &frame.region, &frame.raster, frame.line_rate_hz, &self.core.config);
            state =
                ScannerState { clock_s: state.clock_s + frame.instrument_time_s, x_m: plan.end_m.0, y_m: plan.end_m.1, creep: plan.creep };
            truths.push(plan.truth);
        }
        (state, truths)
    }

    /// The instrument time `request` would cost from the current scanner position.
    pub fn timing_for(&self, request: &ScanRequest) -> ScanTiming {
        self.plan(request).timing
    }

    /// The known truth a scan of `request` would have if it ran now (from the current state): the
    /// sample's displacement per line (see [`ScanTruth`] for the convention).
    pub fn truth_for(&self, request: &ScanRequest) -> ScanTruth {
        self.plan(request).truth
    }

    /// The known truth of every scan that returned a frame since the simulator was created (or since
    /// [`SimulatedAfm::take_scan_truths`]), in scan order: entry `k` belongs to the `k`-th frame.
    pub fn scan_truths(&self) -> Vec<ScanTruth> {
        lock(&self.truths).clone()
    }

    /// Returns the recorded truths (as [`SimulatedAfm::scan_truths`]) and forgets them.
    pub fn take_scan_truths(&self) -> Vec<ScanTruth> {
        std::mem::take(&mut *lock(&self.truths))
    }

    fn plan(&self, request: &ScanRequest) -> Plan {
        plan(&self.scanner_state(), &request.region, &request.raster, request.line_rate_hz, &self.core.config)
    }

    /// Scans `request` on the calling thread and returns the frame. Never sleeps (even with
    /// `realtime`), advances the instrument clock, and stops with `Aborted` if [`SimulatedAfm::abort_now`]
    /// is called from another thread meanwhile. Like every backend it does not check the limits —
    /// that is `Microscope`'s job — only what it needs to compute (non-empty raster, known channels).
    pub fn scan_blocking(&self, request: &ScanRequest) -> Result<Frame, InstrumentError> {
        let _busy = self.acquire()?;
        let abort_rx = self.abort_tx.subscribe();
        let plan = self.prepare(request)?;
        let result = self.core.compute(request, &plan, &abort_rx, &self.progress);
        self.finish(request, plan, result)
    }

    /// Aborts the scan in flight, if any (synchronous form of `Instrument::abort`). Idempotent.
    pub fn abort_now(&self) {
        self.abort_tx.send_modify(|g| *g = g.wrapping_add(1));
    }

    fn acquire(&self) -> Result<BusyGuard<'_>, InstrumentError> {
        if self.busy.swap(true, Ordering::AcqRel) {
            return Err(InstrumentError::Busy("simulator: a scan is already in flight".into()));
        }
        Ok(BusyGuard(&self.busy, &self.progress))
    }

    /// Checks what the computation needs and plans the scan's timing.
    fn prepare(&self, request: &ScanRequest) -> Result<Plan, InstrumentError> {
        let (raster, r) = (request.raster, request.region);
        if raster.points == 0 || raster.lines == 0 || raster.points.saturating_mul(raster.lines) > MAX_PIXELS {
            return Err(InstrumentError::out_of_range(
                "raster",
                format!("{} × {}", raster.points, raster.lines),
                format!("1 … {MAX_PIXELS} pixels"),
            ));
        }
        if !(request.line_rate_hz.is_finite() && request.line_rate_hz > 0.0) {
            return Err(InstrumentError::out_of_range("line rate", format!("{} Hz", request.line_rate_hz), "> 0 Hz"));
        }
        let geometry = [r.center_x_m, r.center_y_m, r.width_m, r.height_m, r.angle_deg];
        if geometry.iter().any(|v| !v.is_finite()) || r.width_m < 0.0 || r.height_m < 0.0 {
            return Err(InstrumentError::out_of_range("scan region", format!("{r:?}"), "finite, non-negative size"));
        }
        if let Some(unknown) = request.channels.iter().find(|c| !CHANNELS.contains(&c.as_str())) {
            return Err(InstrumentError::Unsupported { backend: "simulator".into(), capability: format!("channel {unknown:?}") });
        }
        self.progress.lines.store(raster.lines, Ordering::Relaxed);
        self.progress.lines_done.store(0, Ordering::Relaxed);
        *lock(&self.progress.realtime) = None;
        Ok(self.plan(request))
    }

    /// Advances the scanner state by what the scan cost and builds the frame (or the abort error).
    fn finish(&self, request: &ScanRequest, plan: Plan, result: Result<ScanImages, Stopped>) -> Result<Frame, InstrumentError> {
        match result {
            Ok(images) => {
                self.advance(plan.timing.total_s, plan.end_m, plan.creep);
                lock(&self.truths).push(plan.truth);
                Ok(self.core.frame(request, images, plan.timing.total_s))
            }
            Err(stopped) => {
                let t = &plan.timing;
                let spent = t.move_s + t.settle_s + stopped.lines_done as f64 / request.line_rate_hz;
                self.advance(spent.min(t.total_s), plan.start_m, plan.creep);
                Err(InstrumentError::Aborted(format!("simulator: aborted after {} of {} lines", stopped.lines_done, request.raster.lines)))
            }
        }
    }

    /// Advances the clock by `spent_s` and leaves the tip at `position_m` with the creep history of
    /// the scan's move (the move happened, whether or not the scan completed).
    fn advance(&self, spent_s: f64, position_m: (f64, f64), creep: CreepState) {
        let mut s = lock(&self.state);
        s.clock_s += spent_s;
        (s.x_m, s.y_m) = position_m;
        s.creep = creep;
    }
}

/// A new simulator's state: clock 0, the tip and the scan offset at the surface's centre, no creep.
fn initial_state(surface: &Surface) -> ScannerState {
    let r = surface.region();
    ScannerState { clock_s: 0.0, x_m: r.center_x_m, y_m: r.center_y_m, creep: CreepState::at_offset(r.center_x_m, r.center_y_m) }
}

impl Core {
    /// Runs the physics for `request`, stopping when `abort_rx` sees an abort.
    fn compute(
        &self,
        request: &ScanRequest,
        plan: &Plan,
        abort_rx: &watch::Receiver<u64>,
        progress: &Progress,
    ) -> Result<ScanImages, Stopped> {
        let cfg = &self.config;
        let shift_m = |j: usize| plan.truth.line_shift_m(j);
        scan_frame(&self.tip_surface, &cfg.physics, cfg.seed, request, shift_m, self.overscan_s, |done| {
            progress.lines_done.store(done, Ordering::Relaxed);
            !abort_rx.has_changed().unwrap_or(true)
        })
    }

    /// The frame for `request` from its images: every requested channel in every requested direction.
    fn frame(&self, request: &ScanRequest, images: ScanImages, instrument_time_s: f64) -> Frame {
        let mut channels = Vec::new();
        for name in &request.channels {
            for &direction in request.directions.list() {
                let data = match (name.as_str(), direction) {
                    ("Amplitude", afm_drivers::ScanDirection::Trace) => images.amplitude_trace.clone(),
                    ("Amplitude", afm_drivers::ScanDirection::Retrace) => images.amplitude_retrace.clone(),
                    (_, afm_drivers::ScanDirection::Trace) => images.height_trace.clone(),
                    (_, afm_drivers::ScanDirection::Retrace) => images.height_retrace.clone(),
                };
                channels.push(ChannelImage { name: name.clone(), direction, unit: "m".into(), data });
            }
        }
        Frame {
            region: request.region,
            raster: request.raster,
            line_rate_hz: request.line_rate_hz,
            channels,
            instrument_time_s,
            acquired_at_unix_s: unix_now_s(),
        }
    }
}
