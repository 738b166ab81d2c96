//! `BridgeServer`: serves the bridge protocol for any [`Instrument`] over TCP or a serial line — the
//! Rust twin of `drivers/mfp3d/igor/AfmSparkBridge.ipf`, used as `afm-spark serve-sim` with the
//! simulator behind it. Same ops, same errors, same events as the Igor bridge:
//! token required; one scan at a time (a second → `busy`); `heartbeat` every interval and `progress`
//! when the line count changes while a frame scans; `abort` stops it at once; the instrument's status
//! is polled no more often than `status_poll_interval`. Binds 127.0.0.1 unless told otherwise.

use super::payload::FramePayload;
use super::protocol::{ErrorBody, ErrorCode, Reply, DEFAULT_MAX_REQUEST_LINE_BYTES};
use super::serial::SerialLink;
use super::session::run_session;
use super::token::BridgeToken;
use super::transport::{BridgeIo, DEFAULT_BRIDGE_PORT};
use crate::error::InstrumentError;
use crate::instrument::{Instrument, InstrumentStatus};
use futures_util::SinkExt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::codec::FramedWrite;
use tracing::{info, warn};

/// How a bridge server behaves.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The token clients must present in `hello`.
    pub token: BridgeToken,
    /// TCP address to listen on (default 127.0.0.1:7341).
    pub bind: SocketAddr,
    /// Must be `true` to listen on anything but a loopback address.
    pub allow_non_loopback: bool,
    /// Interval between heartbeats while a frame scans (default 1 s).
    pub heartbeat_interval: Duration,
    /// Shortest interval between two polls of the instrument's status (default 250 ms).
    pub status_poll_interval: Duration,
    /// Longest request line accepted, bytes.
    pub max_request_line_bytes: usize,
    /// Most TCP clients served at once (default 4); more are told `busy` and closed.
    pub max_connections: usize,
}

impl ServerConfig {
    /// Defaults with `token`: loopback port 7341, 1 s heartbeats, status polled at most every 250 ms.
    pub fn new(token: BridgeToken) -> Self {
        Self {
            token,
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_BRIDGE_PORT),
            allow_non_loopback: false,
            heartbeat_interval: Duration::from_secs(1),
            status_poll_interval: Duration::from_millis(250),
            max_request_line_bytes: DEFAULT_MAX_REQUEST_LINE_BYTES,
            max_connections: 4,
        }
    }
}

/// The scan in flight.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ActiveScan {
    /// The session that asked for it.
    pub(crate) session: u64,
    /// Its request id.
    pub(crate) request_id: u64,
}

/// State shared by every session of one server.
pub(crate) struct Shared {
    pub(crate) instrument: Arc<dyn Instrument>,
    pub(crate) payload: Arc<dyn FramePayload>,
    pub(crate) config: ServerConfig,
    active: Mutex<Option<ActiveScan>>,
    status_cache: tokio::sync::Mutex<Option<(Instant, InstrumentStatus)>>,
    next_session: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Claims the scan slot, or returns the scan that holds it.
    pub(crate) fn try_start(&self, scan: ActiveScan) -> Result<(), ActiveScan> {
        let mut slot = lock(&self.active);
        match *slot {
            Some(running) => Err(running),
            None => {
                *slot = Some(scan);
                Ok(())
            }
        }
    }

    /// The scan in flight, if any.
    pub(crate) fn active(&self) -> Option<ActiveScan> {
        *lock(&self.active)
    }

    /// Frees the slot if `scan` still holds it.
    pub(crate) fn finish(&self, scan: ActiveScan) {
        let mut slot = lock(&self.active);
        if slot.is_some_and(|s| s.session == scan.session && s.request_id == scan.request_id) {
            *slot = None;
        }
    }

    /// A new session number.
    pub(crate) fn new_session(&self) -> u64 {
        self.next_session.fetch_add(1, Ordering::SeqCst)
    }

    /// The instrument's status, polled at most once per `status_poll_interval` (rate limit shared by
    /// `status` requests and progress reporting).
    pub(crate) async fn polled_status(&self) -> Result<InstrumentStatus, InstrumentError> {
        let mut cache = self.status_cache.lock().await;
        if let Some((at, status)) = cache.as_ref() {
            if at.elapsed() < self.config.status_poll_interval {
                return Ok(status.clone());
            }
        }
        let limit = self.config.status_poll_interval.max(Duration::from_millis(50)) * 4;
        let status = tokio::time::timeout(limit, self.instrument.status())
            .await
            .map_err(|_| InstrumentError::Timeout { operation: "instrument status".into(), after_s: limit.as_secs_f64() })??;
        *cache = Some((Instant::now(), status.clone()));
        Ok(status)
    }
}

/// A TCP listener the bridge has bound, not yet serving.
#[derive(Debug)]
pub struct BoundBridge {
    listener: TcpListener,
    local_addr: SocketAddr,
}

impl BoundBridge {
    /// Binds `addr` for a bridge (or a relay) in front of `backend`. A non-loopback address is refused
    /// unless `allow_non_loopback`. Logs the address and whether it is loopback.
    pub async fn bind(addr: SocketAddr, allow_non_loopback: bool, backend: &str) -> Result<Self, InstrumentError> {
        if !addr.ip().is_loopback() && !allow_non_loopback {
            return Err(InstrumentError::out_of_range(
                "bridge bind address",
                addr.to_string(),
                "a loopback address (set allow_non_loopback to listen elsewhere)",
            ));
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| InstrumentError::Disconnected { endpoint: addr.to_string(), reason: format!("cannot listen: {e}") })?;
        let local_addr =
            listener.local_addr().map_err(|e| InstrumentError::Disconnected { endpoint: addr.to_string(), reason: e.to_string() })?;
        let bound = Self { listener, local_addr };
        if bound.is_loopback() {
            info!(%backend, "{}", bound.describe());
        } else {
            warn!(%backend, "{}", bound.describe());
        }
        Ok(bound)
    }

    /// Accepts the next TCP client.
    pub(crate) async fn accept(&self) -> io::Result<(tokio::net::TcpStream, SocketAddr)> {
        self.listener.accept().await
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether only this machine can reach the bridge.
    pub fn is_loopback(&self) -> bool {
        self.local_addr.ip().is_loopback()
    }

    /// The startup log line: the address and whether it is loopback.
    pub fn describe(&self) -> String {
        if self.is_loopback() {
            format!("afm-spark bridge listening on {} (loopback only)", self.local_addr)
        } else {
            format!("afm-spark bridge listening on {} (NOT loopback: reachable from other machines)", self.local_addr)
        }
    }
}

/// A bridge server in front of one instrument. Cheap to clone.
#[derive(Clone)]
pub struct BridgeServer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for BridgeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeServer").field("config", &self.shared.config).finish_non_exhaustive()
    }
}

impl BridgeServer {
    /// A server for `instrument`, sending frames encoded by `payload`.
    pub fn new(instrument: Arc<dyn Instrument>, payload: Arc<dyn FramePayload>, config: ServerConfig) -> Self {
        let shared = Shared {
            instrument,
            payload,
            config,
            active: Mutex::new(None),
            status_cache: tokio::sync::Mutex::new(None),
            next_session: AtomicU64::new(1),
        };
        Self { shared: Arc::new(shared) }
    }

    /// Binds `config.bind`. A non-loopback address is refused unless `allow_non_loopback` is set.
    /// Logs the address and whether it is loopback.
    pub async fn bind(&self) -> Result<BoundBridge, InstrumentError> {
        let c = &self.shared.config;
        BoundBridge::bind(c.bind, c.allow_non_loopback, &self.shared.instrument.name()).await
    }

    /// Accepts TCP clients until the future is dropped; dropping it closes every connection (and
    /// aborts the scan in flight).
    pub async fn serve_tcp(&self, bound: BoundBridge) -> io::Result<()> {
        let permits = Arc::new(Semaphore::new(self.shared.config.max_connections.max(1)));
        let mut sessions = JoinSet::new();
        loop {
            tokio::select! {
                accepted = bound.accept() => {
                    let (stream, peer) = accepted?;
                    stream.set_nodelay(true)?;
                    match permits.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let shared = self.shared.clone();
                            sessions.spawn(async move {
                                if let Err(e) = run_session(shared, stream, peer.to_string()).await {
                                    info!(%peer, "bridge session ended: {e}");
                                }
                                drop(permit);
                            });
                        }
                        Err(_) => {
                            warn!(%peer, "bridge connection refused: too many clients");
                            let mut w = FramedWrite::new(stream, super::codec::BridgeCodec::new(usize::MAX));
                            let busy = Reply::error(None, ErrorBody::new(ErrorCode::Busy, "too many clients connected"));
                            let _ = w.send(super::codec::to_line(&busy)).await;
                        }
                    }
                }
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            }
        }
    }

    /// Serves one client on an already open byte stream (a serial line, a test pipe) until it ends.
    pub async fn serve_io<T: BridgeIo>(&self, io: T, peer: &str) -> io::Result<()> {
        run_session(self.shared.clone(), io, peer.to_string()).await
    }

    /// Serves the protocol on the serial device `path` at `baud_rate` until the line fails.
    pub async fn serve_serial(&self, path: &str, baud_rate: u32) -> io::Result<()> {
        let (p, baud) = (path.to_string(), baud_rate);
        let link = tokio::task::spawn_blocking(move || SerialLink::open(&p, baud)).await.map_err(|e| io::Error::other(e.to_string()))??;
        info!(backend = %self.shared.instrument.name(), "afm-spark bridge serving on serial {path} at {baud_rate} baud");
        self.serve_io(link, &format!("serial:{path}")).await
    }
}
