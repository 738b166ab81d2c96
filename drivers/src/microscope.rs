//! `Microscope`: the one place that owns policy around any backend — every request is validated
//! against the instrument's limits before anything moves, each scan gets a timeout (on expiry the
//! backend is told to abort and the caller gets `Timeout`), only configured error kinds are retried,
//! and every call is traced.

use crate::error::{ErrorKind, InstrumentError};
use crate::frame::Frame;
use crate::instrument::{Instrument, InstrumentLimits, InstrumentStatus, ScanRequest};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// Timeouts and retries applied to every scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MicroscopePolicy {
    /// A scan may take `timeout_factor × its line time + timeout_margin_s` before it is aborted.
    pub timeout_factor: f64,
    /// Fixed allowance added to every scan's timeout (moves, settling, transfer), seconds.
    pub timeout_margin_s: f64,
    /// How many times a failed scan is retried (0: never).
    pub retries: u32,
    /// Which error kinds are retried; anything else fails at once.
    pub retry_on: Vec<ErrorKind>,
    /// Pause before a retry, seconds.
    pub retry_delay_s: f64,
}

impl Default for MicroscopePolicy {
    fn default() -> Self {
        Self {
            timeout_factor: 1.5,
            timeout_margin_s: 60.0,
            retries: 1,
            retry_on: vec![ErrorKind::Timeout, ErrorKind::Disconnected, ErrorKind::Busy],
            retry_delay_s: 1.0,
        }
    }
}

impl MicroscopePolicy {
    /// The time `request` is allowed to take before it is aborted.
    pub fn timeout_for(&self, request: &ScanRequest) -> Duration {
        let s = self.timeout_factor * request.line_time_s() + self.timeout_margin_s;
        Duration::from_secs_f64(s.clamp(0.0, 1e9))
    }
}

/// A backend wrapped in policy. Cheap to clone; clones share the backend.
#[derive(Clone)]
pub struct Microscope {
    backend: Arc<dyn Instrument>,
    limits: InstrumentLimits,
    policy: MicroscopePolicy,
}

impl Microscope {
    /// Wraps `backend`, reading its limits once.
    pub async fn new(backend: Arc<dyn Instrument>, policy: MicroscopePolicy) -> Result<Self, InstrumentError> {
        let limits = backend.limits().await?;
        info!(backend = %backend.name(), ?limits, "microscope connected");
        Ok(Self { backend, limits, policy })
    }

    /// Wraps `backend` with limits given by the caller (which must not exceed the backend's own:
    /// use this to narrow the safe range, never to widen it).
    pub async fn with_limits(
        backend: Arc<dyn Instrument>,
        policy: MicroscopePolicy,
        narrower: InstrumentLimits,
    ) -> Result<Self, InstrumentError> {
        let own = backend.limits().await?;
        let limits = intersect_limits(&own, &narrower);
        info!(backend = %backend.name(), ?limits, "microscope connected with narrowed limits");
        Ok(Self { backend, limits, policy })
    }

    /// The limits every request is checked against.
    pub fn limits(&self) -> &InstrumentLimits {
        &self.limits
    }

    /// The policy in force.
    pub fn policy(&self) -> &MicroscopePolicy {
        &self.policy
    }

    /// The backend's name.
    pub fn backend_name(&self) -> String {
        self.backend.name()
    }

    /// Checks a request against the limits without sending it.
    pub fn validate(&self, request: &ScanRequest) -> Result<(), InstrumentError> {
        self.limits.check(request)
    }

    /// Validates, then acquires one frame with timeout and retries.
    pub async fn scan(&self, request: &ScanRequest) -> Result<Frame, InstrumentError> {
        self.validate(request)?;
        let timeout = self.policy.timeout_for(request);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            info!(backend = %self.backend.name(), attempt, timeout_s = timeout.as_secs_f64(), "{}", request.describe());
            let result = match tokio::time::timeout(timeout, self.backend.scan(request)).await {
                Ok(r) => r,
                Err(_) => {
                    warn!("{} timed out after {:.1} s; aborting", request.describe(), timeout.as_secs_f64());
                    if let Err(e) = self.backend.abort().await {
                        warn!("abort after timeout failed: {e}");
                    }
                    Err(InstrumentError::Timeout { operation: request.describe(), after_s: timeout.as_secs_f64() })
                }
            };
            match result {
                Ok(frame) => {
                    let d = region_difference_px(request, &frame);
                    if d > REGION_TOLERANCE_PX || frame.raster != request.raster {
                        let returned =
                            ScanRequest { region: frame.region, raster: frame.raster, line_rate_hz: frame.line_rate_hz, ..request.clone() };
                        warn!(
                            difference_px = d,
                            "{}: the instrument returned {}; the returned region differs from the request by {d:.2} px; the frame is recorded where the instrument says it is",
                            request.describe(),
                            returned.describe()
                        );
                    }
                    return Ok(frame);
                }
                Err(e) if attempt <= self.policy.retries && self.policy.retry_on.contains(&e.kind()) => {
                    warn!("attempt {attempt} failed ({e}); retrying in {:.1} s", self.policy.retry_delay_s);
                    tokio::time::sleep(Duration::from_secs_f64(self.policy.retry_delay_s.max(0.0))).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Stops the scan in flight (idempotent).
    pub async fn abort(&self) -> Result<(), InstrumentError> {
        info!(backend = %self.backend.name(), "abort");
        self.backend.abort().await
    }

    /// The backend's status.
    pub async fn status(&self) -> Result<InstrumentStatus, InstrumentError> {
        self.backend.status().await
    }
}

/// A returned region further than this from the request (in pixels of the requested pitch) is logged.
pub const REGION_TOLERANCE_PX: f64 = 0.1;

/// How far the region a frame reports lies from the requested one, in pixels of the requested pitch:
/// the largest of the centre shift along x and y, the size differences, and the displacement of a
/// corner caused by an angle difference.
pub fn region_difference_px(request: &ScanRequest, frame: &Frame) -> f64 {
    let (a, b) = (&request.region, &frame.region);
    let (px, py) = a.pitch_m(&request.raster);
    let in_px = |d: f64, pitch: f64| {
        if pitch > 0.0 {
            d.abs() / pitch
        } else if d == 0.0 {
            0.0
        } else {
            f64::INFINITY
        }
    };
    let half_diagonal_m = 0.5 * a.width_m.hypot(a.height_m);
    let corner_m = (b.angle_deg - a.angle_deg).to_radians().abs() * half_diagonal_m;
    [
        in_px(b.center_x_m - a.center_x_m, px),
        in_px(b.center_y_m - a.center_y_m, py),
        in_px(b.width_m - a.width_m, px),
        in_px(b.height_m - a.height_m, py),
        in_px(corner_m, px.min(py).max(f64::MIN_POSITIVE)),
    ]
    .into_iter()
    .fold(0.0, f64::max)
}

/// The tighter of two sets of limits, field by field.
pub fn intersect_limits(a: &InstrumentLimits, b: &InstrumentLimits) -> InstrumentLimits {
    let rf = |x: (f64, f64), y: (f64, f64)| (x.0.max(y.0), x.1.min(y.1));
    let ru = |x: (usize, usize), y: (usize, usize)| (x.0.max(y.0), x.1.min(y.1));
    InstrumentLimits {
        max_scan_size_m: a.max_scan_size_m.min(b.max_scan_size_m),
        x_range_m: rf(a.x_range_m, b.x_range_m),
        y_range_m: rf(a.y_range_m, b.y_range_m),
        points_range: ru(a.points_range, b.points_range),
        lines_range: ru(a.lines_range, b.lines_range),
        line_rate_range_hz: rf(a.line_rate_range_hz, b.line_rate_range_hz),
        max_tip_speed_m_per_s: match (a.max_tip_speed_m_per_s, b.max_tip_speed_m_per_s) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        },
        channels: a.channels.iter().filter(|c| b.channels.contains(c)).cloned().collect(),
    }
}
