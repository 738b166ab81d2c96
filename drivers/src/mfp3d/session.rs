//! One client session of the bridge server: reads request lines, enforces `hello` first, answers
//! `status`/`abort` at once and runs a `scan` as a task that streams heartbeats and progress and
//! ends with the frame. If the session ends (client gone, server stopped) while its scan runs, the
//! instrument is told to abort.

use super::codec::{parse_request, to_line, BridgeCodec, LineError};
use super::protocol::{AbortResult, ErrorBody, ErrorCode, HelloResult, Reply, ReplyBody, RequestBody, ScanResult};
use super::server::{ActiveScan, Shared};
use super::transport::BridgeIo;
use crate::error::InstrumentError;
use crate::instrument::{InstrumentState, ScanRequest};
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use std::io;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::codec::{FramedRead, FramedWrite};
use tracing::{debug, info, warn};

/// Aborts a task when dropped.
struct AbortOnDrop(JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Per-session state. Dropping it (normally or because the server task was cancelled) aborts the
/// instrument if this session's scan is still running, then cancels the scan task.
struct Session {
    shared: Arc<Shared>,
    id: u64,
    peer: String,
    authenticated: bool,
    out: mpsc::Sender<Reply>,
    scan_task: Option<AbortOnDrop>,
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.shared.active().is_some_and(|a| a.session == self.id) {
            warn!(peer = %self.peer, "client gone while its scan runs: aborting the scan");
            let instrument = self.shared.instrument.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    if let Err(e) = instrument.abort().await {
                        warn!("abort after client loss failed: {e}");
                    }
                });
            }
        }
    }
}

/// Serves one client on `io` until it disconnects.
pub(crate) async fn run_session<T: BridgeIo>(shared: Arc<Shared>, io: T, peer: String) -> io::Result<()> {
    let (read_half, write_half) = tokio::io::split(io);
    let mut lines = FramedRead::new(read_half, BridgeCodec::new(shared.config.max_request_line_bytes));
    let (out, mut out_rx) = mpsc::channel::<Reply>(64);
    let mut sink = FramedWrite::new(write_half, BridgeCodec::new(usize::MAX));
    let _writer = AbortOnDrop(tokio::spawn(async move {
        while let Some(reply) = out_rx.recv().await {
            if let Err(e) = sink.send(to_line(&reply)).await {
                debug!("bridge write failed: {e}");
                break;
            }
        }
    }));
    let id = shared.new_session();
    debug!(%peer, session = id, "bridge session started");
    let mut session = Session { shared, id, peer, authenticated: false, out, scan_task: None };
    while let Some(item) = lines.next().await {
        match item? {
            Ok(line) if line.trim().is_empty() => {} // blank lines flush a partial line; ignored
            Ok(line) => session.handle_line(&line).await,
            Err(e @ LineError::Oversize { .. }) | Err(e @ LineError::NotUtf8) => {
                warn!(peer = %session.peer, "unreadable request: {e}");
                session.send(Reply::error(None, ErrorBody::new(ErrorCode::Protocol, e.to_string()))).await;
            }
        }
    }
    debug!(peer = %session.peer, "bridge client closed the connection");
    Ok(())
}

impl Session {
    async fn send(&self, reply: Reply) {
        let _ = self.out.send(reply).await;
    }

    async fn handle_line(&mut self, line: &str) {
        let request = match parse_request(line) {
            Ok(r) => r,
            Err(bad) => {
                warn!(peer = %self.peer, "bad request: {}", bad.error.message);
                return self.send(Reply::error(bad.id, *bad.error)).await;
            }
        };
        let id = request.id;
        match request.body {
            RequestBody::Hello { token } => self.hello(id, token).await,
            _ if !self.authenticated => {
                warn!(peer = %self.peer, op = request.body.op(), "request before a successful hello refused");
                self.send(Reply::error(Some(id), ErrorBody::new(ErrorCode::Unauthorized, "send hello with the bridge token first"))).await;
            }
            RequestBody::Status => {
                let reply = match self.shared.polled_status().await {
                    Ok(status) => Reply::ok(id, &status),
                    Err(e) => Reply::error(Some(id), ErrorBody::from_error(&e)),
                };
                self.send(reply).await;
            }
            RequestBody::Abort => self.abort(id).await,
            RequestBody::Scan(req) => self.scan(id, req).await,
        }
    }

    async fn hello(&mut self, id: u64, token: Option<super::token::BridgeToken>) {
        let ok = token.as_ref().is_some_and(|t| self.shared.config.token.matches(t));
        self.authenticated = ok;
        if !ok {
            warn!(peer = %self.peer, presented = token.is_some(), "hello refused: wrong or missing token");
            return self.send(Reply::error(Some(id), ErrorBody::new(ErrorCode::Unauthorized, "wrong or missing token"))).await;
        }
        let reply = match self.shared.instrument.limits().await {
            Ok(limits) => {
                info!(peer = %self.peer, "client authenticated");
                Reply::ok(
                    id,
                    &HelloResult {
                        bridge: format!("afm-spark-bridge {}", env!("CARGO_PKG_VERSION")),
                        backend: self.shared.instrument.name(),
                        limits,
                        heartbeat_interval_s: self.shared.config.heartbeat_interval.as_secs_f64(),
                        max_request_line_bytes: self.shared.config.max_request_line_bytes,
                        payload_format: self.shared.payload.format().to_string(),
                    },
                )
            }
            Err(e) => Reply::error(Some(id), ErrorBody::from_error(&e)),
        };
        self.send(reply).await;
    }

    async fn abort(&mut self, id: u64) {
        let Some(active) = self.shared.active() else {
            return self.send(Reply::ok(id, &AbortResult { was_scanning: false })).await;
        };
        info!(peer = %self.peer, scan = active.request_id, "abort requested");
        let reply = match self.shared.instrument.abort().await {
            Ok(()) => Reply::ok(id, &AbortResult { was_scanning: true }),
            Err(e) => Reply::error(Some(id), ErrorBody::from_error(&e)),
        };
        self.send(reply).await;
    }

    async fn scan(&mut self, id: u64, request: ScanRequest) {
        let active = ActiveScan { session: self.id, request_id: id };
        if let Err(running) = self.shared.try_start(active) {
            let msg = format!("a scan (request {}) is already running", running.request_id);
            return self.send(Reply::error(Some(id), ErrorBody::new(ErrorCode::Busy, msg))).await;
        }
        let checked = match self.shared.instrument.limits().await {
            Ok(limits) => limits.check(&request),
            Err(e) => Err(e),
        };
        if let Err(e) = checked {
            self.shared.finish(active);
            return self.send(Reply::error(Some(id), ErrorBody::from_error(&e))).await;
        }
        info!(peer = %self.peer, request = id, "{}", request.describe());
        let (shared, out) = (self.shared.clone(), self.out.clone());
        self.scan_task = Some(AbortOnDrop(tokio::spawn(run_scan(shared, active, request, out))));
    }
}

/// Frees the scan slot when the scan task ends or is cancelled.
struct SlotGuard(Arc<Shared>, ActiveScan);
impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.finish(self.1);
    }
}

/// Runs one frame: heartbeats every interval, progress when the polled line count changes, then the
/// frame (encoded and base64'd off the async threads) or the error.
async fn run_scan(shared: Arc<Shared>, active: ActiveScan, request: ScanRequest, out: mpsc::Sender<Reply>) {
    let _slot = SlotGuard(shared.clone(), active);
    let id = active.request_id;
    let started = Instant::now();
    let every = shared.config.heartbeat_interval.max(std::time::Duration::from_millis(10));
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_line = None;
    let scan = shared.instrument.scan(&request);
    tokio::pin!(scan);
    let result = loop {
        tokio::select! {
            r = &mut scan => break r,
            _ = beat.tick() => {
                let elapsed_s = started.elapsed().as_secs_f64();
                let _ = out.send(Reply::new(Some(id), ReplyBody::Heartbeat { elapsed_s })).await;
                if let Ok(status) = shared.polled_status().await {
                    if let InstrumentState::Scanning { line, lines } = status.state {
                        if lines > 0 && last_line != Some(line) {
                            last_line = Some(line);
                            let _ = out.send(Reply::new(Some(id), ReplyBody::Progress { line, lines })).await;
                        }
                    }
                }
            }
        }
    };
    let reply = match result {
        Ok(frame) => match encode(&shared, frame).await {
            Ok(result) => Reply::ok(id, &result),
            Err(e) => Reply::error(Some(id), ErrorBody::from_error(&e)),
        },
        Err(e) => {
            info!(request = id, "scan ended: {e}");
            Reply::error(Some(id), ErrorBody::from_error(&e))
        }
    };
    let _ = out.send(reply).await;
}

async fn encode(shared: &Shared, frame: crate::frame::Frame) -> Result<ScanResult, InstrumentError> {
    let payload = shared.payload.clone();
    tokio::task::spawn_blocking(move || {
        let bytes = payload.encode(&frame)?;
        let format = payload.format().to_string();
        Ok(ScanResult { format, payload_b64: base64::engine::general_purpose::STANDARD.encode(bytes) })
    })
    .await
    .map_err(|e| InstrumentError::Data(format!("encoding the frame failed: {e}")))?
}
