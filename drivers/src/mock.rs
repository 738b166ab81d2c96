//! `MockInstrument`: a scripted backend for tests. It returns queued responses (frames, errors,
//! delays, or a scan held in flight until aborted or released), synthesises a frame from the request's
//! physical coordinates when nothing is queued, and records every call it receives.

use crate::error::InstrumentError;
use crate::frame::{unix_now_s, ChannelImage, Frame};
use crate::instrument::{Instrument, InstrumentLimits, InstrumentState, InstrumentStatus, ScanRequest};
use async_trait::async_trait;
use ndarray::Array2;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// One scripted reaction to a `scan` call.
#[derive(Debug, Clone)]
pub enum MockResponse {
    /// Return this frame.
    Frame(Box<Frame>),
    /// Return a frame synthesised from the request (see [`MockInstrument::synthesize`]).
    Synthesize,
    /// Fail with this error.
    Error(InstrumentError),
    /// Wait this long, then react as the inner response says (abort still interrupts).
    Delay(Duration, Box<MockResponse>),
    /// Stay in flight until `abort()` (→ `Aborted`) or `release()` (→ synthesised frame).
    Hold,
}

/// A call the mock received.
#[derive(Debug, Clone, PartialEq)]
pub enum MockCall {
    /// `limits()`.
    Limits,
    /// `scan(request)`.
    Scan(ScanRequest),
    /// `abort()`.
    Abort,
    /// `status()`.
    Status,
}

/// The value the synthesised height channel takes at a scanner position, metres.
pub type HeightField = dyn Fn(f64, f64) -> f64 + Send + Sync;

/// A scripted instrument for tests.
pub struct MockInstrument {
    limits: InstrumentLimits,
    script: Mutex<VecDeque<MockResponse>>,
    calls: Mutex<Vec<MockCall>>,
    aborted: Notify,
    released: Notify,
    in_flight: Mutex<bool>,
    field: Arc<HeightField>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MockInstrument {
    /// A mock with these limits, an empty script and a smooth default height field.
    pub fn new(limits: InstrumentLimits) -> Self {
        Self {
            limits,
            script: Mutex::new(VecDeque::new()),
            calls: Mutex::new(Vec::new()),
            aborted: Notify::new(),
            released: Notify::new(),
            in_flight: Mutex::new(false),
            field: Arc::new(|x, y| 1e-9 * ((x * 2e6).sin() + (y * 3e6).cos())),
        }
    }

    /// Generous limits for tests: 100 µm scanner, 1…4096 px, 0.01…100 Hz, channel "Height".
    pub fn default_limits() -> InstrumentLimits {
        InstrumentLimits {
            max_scan_size_m: 100e-6,
            x_range_m: (-50e-6, 50e-6),
            y_range_m: (-50e-6, 50e-6),
            points_range: (1, 4096),
            lines_range: (1, 4096),
            line_rate_range_hz: (0.01, 100.0),
            max_tip_speed_m_per_s: None,
            channels: vec!["Height".into()],
        }
    }

    /// Replaces the height field frames are synthesised from (scanner x, y in metres → metres).
    pub fn with_field(mut self, field: impl Fn(f64, f64) -> f64 + Send + Sync + 'static) -> Self {
        self.field = Arc::new(field);
        self
    }

    /// Queues a response for a later `scan` call (first in, first out).
    pub fn push(&self, response: MockResponse) {
        lock(&self.script).push_back(response);
    }

    /// Every call received so far, in order.
    pub fn calls(&self) -> Vec<MockCall> {
        lock(&self.calls).clone()
    }

    /// The scan requests received so far, in order.
    pub fn scan_calls(&self) -> Vec<ScanRequest> {
        self.calls().into_iter().filter_map(|c| if let MockCall::Scan(r) = c { Some(r) } else { None }).collect()
    }

    /// Lets a held scan finish with a synthesised frame.
    pub fn release(&self) {
        self.released.notify_one();
    }

    /// Whether a scan is in flight right now.
    pub fn is_scanning(&self) -> bool {
        *lock(&self.in_flight)
    }

    /// A frame for `request` whose "Height" samples the mock's field at each pixel's scanner position.
    pub fn synthesize(&self, request: &ScanRequest) -> Frame {
        let raster = request.raster;
        let data = Array2::from_shape_fn((raster.lines, raster.points), |(row, col)| {
            let (x, y) = request.region.pixel_position_m(&raster, col as f64, row as f64);
            (self.field)(x, y) as f32
        });
        let channels = request
            .directions
            .list()
            .iter()
            .map(|&direction| ChannelImage { name: "Height".into(), direction, unit: "m".into(), data: data.clone() })
            .collect();
        Frame {
            region: request.region,
            raster,
            line_rate_hz: request.line_rate_hz,
            channels,
            instrument_time_s: request.line_time_s(),
            acquired_at_unix_s: unix_now_s(),
        }
    }

    async fn respond(&self, request: &ScanRequest, response: MockResponse) -> Result<Frame, InstrumentError> {
        let mut response = response;
        loop {
            match response {
                MockResponse::Frame(f) => return Ok(*f),
                MockResponse::Synthesize => return Ok(self.synthesize(request)),
                MockResponse::Error(e) => return Err(e),
                MockResponse::Delay(d, inner) => {
                    tokio::select! {
                        _ = tokio::time::sleep(d) => response = *inner,
                        _ = self.aborted.notified() => return Err(InstrumentError::Aborted("mock: aborted during delay".into())),
                    }
                }
                MockResponse::Hold => {
                    tokio::select! {
                        _ = self.released.notified() => return Ok(self.synthesize(request)),
                        _ = self.aborted.notified() => return Err(InstrumentError::Aborted("mock: held scan aborted".into())),
                    }
                }
            }
        }
    }
}

struct InFlight<'a>(&'a Mutex<bool>);
impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        *lock(self.0) = false;
    }
}

#[async_trait]
impl Instrument for MockInstrument {
    fn name(&self) -> String {
        "mock".into()
    }

    async fn limits(&self) -> Result<InstrumentLimits, InstrumentError> {
        lock(&self.calls).push(MockCall::Limits);
        Ok(self.limits.clone())
    }

    async fn scan(&self, request: &ScanRequest) -> Result<Frame, InstrumentError> {
        lock(&self.calls).push(MockCall::Scan(request.clone()));
        {
            let mut busy = lock(&self.in_flight);
            if *busy {
                return Err(InstrumentError::Busy("mock: a scan is already in flight".into()));
            }
            *busy = true;
        }
        let _guard = InFlight(&self.in_flight);
        let response = lock(&self.script).pop_front().unwrap_or(MockResponse::Synthesize);
        self.respond(request, response).await
    }

    async fn abort(&self) -> Result<(), InstrumentError> {
        lock(&self.calls).push(MockCall::Abort);
        if self.is_scanning() {
            self.aborted.notify_one();
        }
        Ok(())
    }

    async fn status(&self) -> Result<InstrumentStatus, InstrumentError> {
        lock(&self.calls).push(MockCall::Status);
        let state = if self.is_scanning() { InstrumentState::Scanning { line: 0, lines: 0 } } else { InstrumentState::Idle };
        Ok(InstrumentStatus { backend: self.name(), state })
    }
}
