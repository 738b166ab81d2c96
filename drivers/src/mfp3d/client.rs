//! `Mfp3dClient`: the MFP-3D (or any bridge) as an [`Instrument`] over TCP or a serial line.
//!
//! It connects lazily, authenticates with `hello` (the token is never logged) and keeps one connection
//! on which requests are multiplexed by id, so `abort()` can be called while `scan()` is waiting — from
//! another task, through the shared `&self`. A scan is watched by heartbeat: if the bridge says nothing
//! for `heartbeat_misses` heartbeat intervals, the client sends `abort`, drops the connection and
//! reports `Timeout`. A lost connection is `Disconnected`, an unreadable reply `Protocol`; after either,
//! the next request opens a fresh connection.

use super::connection::{Connection, Inbound, Pending};
use super::payload::FramePayload;
use super::protocol::{AbortResult, HelloResult, ReplyBody, RequestBody, ScanResult, DEFAULT_MAX_REPLY_LINE_BYTES};
use super::token::BridgeToken;
use super::transport::Endpoint;
use crate::error::InstrumentError;
use crate::frame::Frame;
use crate::instrument::{Instrument, InstrumentLimits, InstrumentStatus, ScanRequest};
use async_trait::async_trait;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

/// How a client reaches and watches a bridge.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// Where the bridge is.
    pub endpoint: Endpoint,
    /// Longest wait for connecting, for `hello`, and for the reply to any request but `scan`.
    pub request_timeout: Duration,
    /// A scan fails with `Timeout` after this many heartbeat intervals without a message.
    pub heartbeat_misses: u32,
    /// Longest reply line accepted, bytes.
    pub max_reply_line_bytes: usize,
}

impl ClientConfig {
    /// Defaults for `endpoint`: 10 s request timeout, 3 missed heartbeats, 128 MiB replies.
    pub fn new(endpoint: Endpoint) -> Self {
        Self { endpoint, request_timeout: Duration::from_secs(10), heartbeat_misses: 3, max_reply_line_bytes: DEFAULT_MAX_REPLY_LINE_BYTES }
    }
}

/// A live, authenticated connection and what `hello` told us.
struct Session {
    connection: Arc<Connection>,
    hello: HelloResult,
}

/// An [`Instrument`] behind a bridge.
pub struct Mfp3dClient {
    config: ClientConfig,
    token: BridgeToken,
    payload: Arc<dyn FramePayload>,
    session: Mutex<Option<Arc<Session>>>,
}

impl std::fmt::Debug for Mfp3dClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mfp3dClient").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Mfp3dClient {
    /// A client that connects on first use.
    pub fn new(config: ClientConfig, token: BridgeToken, payload: Arc<dyn FramePayload>) -> Self {
        Self { config, token, payload, session: Mutex::new(None) }
    }

    /// A client that connects and authenticates now.
    pub async fn connect(config: ClientConfig, token: BridgeToken, payload: Arc<dyn FramePayload>) -> Result<Self, InstrumentError> {
        let client = Self::new(config, token, payload);
        client.session().await?;
        Ok(client)
    }

    /// What the bridge said in `hello` (connecting if needed).
    pub async fn hello(&self) -> Result<HelloResult, InstrumentError> {
        Ok(self.session().await?.hello.clone())
    }

    /// Closes the connection; the next request opens a new one.
    pub async fn disconnect(&self) {
        if let Some(s) = self.session.lock().await.take() {
            s.connection.kill();
        }
    }

    fn endpoint(&self) -> String {
        self.config.endpoint.to_string()
    }

    fn timeout_error(&self, what: &str, after: Duration) -> InstrumentError {
        InstrumentError::Timeout { operation: format!("{what} on {}", self.endpoint()), after_s: after.as_secs_f64() }
    }

    /// The live session, opening and authenticating a new one if there is none.
    async fn session(&self) -> Result<Arc<Session>, InstrumentError> {
        let mut slot = self.session.lock().await;
        if let Some(s) = slot.as_ref().filter(|s| s.connection.is_alive()) {
            return Ok(s.clone());
        }
        *slot = None;
        let t = self.config.request_timeout;
        let session = tokio::time::timeout(t, self.open_session()).await.map_err(|_| self.timeout_error("connect and hello", t))??;
        info!(endpoint = %self.endpoint(), bridge = %session.hello.bridge, backend = %session.hello.backend, "bridge connected");
        let session = Arc::new(session);
        *slot = Some(session.clone());
        Ok(session)
    }

    async fn open_session(&self) -> Result<Session, InstrumentError> {
        let io = self
            .config
            .endpoint
            .open(self.config.request_timeout)
            .await
            .map_err(|e| InstrumentError::Disconnected { endpoint: self.endpoint(), reason: format!("cannot connect: {e}") })?;
        let connection = Arc::new(Connection::start(io, self.endpoint(), self.config.max_reply_line_bytes));
        let pending = connection.send(RequestBody::Hello { token: Some(self.token.clone()) }).await?;
        let hello: HelloResult = self.await_result(&connection, pending, "hello").await?;
        Ok(Session { connection, hello })
    }

    /// Waits for the final reply to a non-scan request and decodes its result.
    async fn await_result<T: DeserializeOwned>(&self, conn: &Connection, mut pending: Pending, op: &str) -> Result<T, InstrumentError> {
        let t = self.config.request_timeout;
        let deadline = tokio::time::Instant::now() + t;
        loop {
            let msg = match tokio::time::timeout_at(deadline, pending.inbox.recv()).await {
                Err(_) => {
                    conn.kill();
                    return Err(self.timeout_error(op, t));
                }
                Ok(None) => return Err(conn.disconnected("connection closed")),
                Ok(Some(m)) => m,
            };
            match msg {
                Inbound::Failed(e) => return Err(e),
                Inbound::Message(ReplyBody::Ok { result }) => return self.decode_result(result, op),
                Inbound::Message(ReplyBody::Error(e)) => return Err(e.into_error(&self.endpoint())),
                Inbound::Message(_) => {} // progress/heartbeat for a quick request: keep waiting
            }
        }
    }

    fn decode_result<T: DeserializeOwned>(&self, result: serde_json::Value, op: &str) -> Result<T, InstrumentError> {
        serde_json::from_value(result).map_err(|e| InstrumentError::Protocol(format!("{op} result from {}: {e}", self.endpoint())))
    }

    /// Sends a quick request and waits for its result.
    async fn call<T: DeserializeOwned>(&self, body: RequestBody) -> Result<T, InstrumentError> {
        let op = body.op();
        let session = self.session().await?;
        let pending = session.connection.send(body).await?;
        self.await_result(&session.connection, pending, op).await
    }

    /// Waits for a scan's reply, resetting the heartbeat watchdog on every message.
    async fn await_scan(&self, session: &Session, mut pending: Pending, request: &ScanRequest) -> Result<Frame, InstrumentError> {
        let interval = Duration::from_secs_f64(session.hello.heartbeat_interval_s.clamp(0.01, 3600.0));
        let watchdog = interval * self.config.heartbeat_misses.max(1);
        let started = Instant::now();
        loop {
            let msg = match tokio::time::timeout(watchdog, pending.inbox.recv()).await {
                Err(_) => {
                    warn!("no message from {} for {:.1} s during a scan; aborting", self.endpoint(), watchdog.as_secs_f64());
                    if let Ok(p) = session.connection.send(RequestBody::Abort).await {
                        drop(p); // best effort: the bridge also aborts when the connection drops
                    }
                    session.connection.kill();
                    return Err(InstrumentError::Timeout {
                        operation: format!(
                            "{} (no heartbeat from {} for {:.1} s)",
                            request.describe(),
                            self.endpoint(),
                            watchdog.as_secs_f64()
                        ),
                        after_s: started.elapsed().as_secs_f64(),
                    });
                }
                Ok(None) => return Err(session.connection.disconnected("connection closed during a scan")),
                Ok(Some(m)) => m,
            };
            match msg {
                Inbound::Failed(e) => return Err(e),
                Inbound::Message(ReplyBody::Heartbeat { elapsed_s }) => debug!(elapsed_s, "bridge heartbeat"),
                Inbound::Message(ReplyBody::Progress { line, lines }) => debug!(line, lines, "scan progress"),
                Inbound::Message(ReplyBody::Error(e)) => return Err(e.into_error(&self.endpoint())),
                Inbound::Message(ReplyBody::Ok { result }) => {
                    let result: ScanResult = self.decode_result(result, "scan")?;
                    return self.decode_payload(&session.hello, &result);
                }
            }
        }
    }

    fn decode_payload(&self, hello: &HelloResult, result: &ScanResult) -> Result<Frame, InstrumentError> {
        if result.format != self.payload.format() {
            return Err(InstrumentError::Data(format!(
                "bridge sent a {} payload, this client decodes {} (hello said {})",
                result.format,
                self.payload.format(),
                hello.payload_format
            )));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(result.payload_b64.as_bytes())
            .map_err(|e| InstrumentError::Data(format!("scan payload is not base64: {e}")))?;
        self.payload.decode(&bytes)
    }
}

#[async_trait]
impl Instrument for Mfp3dClient {
    fn name(&self) -> String {
        format!("mfp3d@{}", self.endpoint())
    }

    async fn limits(&self) -> Result<InstrumentLimits, InstrumentError> {
        Ok(self.session().await?.hello.limits.clone())
    }

    async fn scan(&self, request: &ScanRequest) -> Result<Frame, InstrumentError> {
        let session = self.session().await?;
        let pending = session.connection.send(RequestBody::Scan(request.clone())).await?;
        self.await_scan(&session, pending, request).await
    }

    async fn abort(&self) -> Result<(), InstrumentError> {
        let result: AbortResult = self.call(RequestBody::Abort).await?;
        debug!(was_scanning = result.was_scanning, "abort acknowledged");
        Ok(())
    }

    async fn status(&self) -> Result<InstrumentStatus, InstrumentError> {
        self.call(RequestBody::Status).await
    }
}
