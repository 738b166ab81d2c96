//! `XopLink`: calls Igor functions through ZeroMQ-XOP's ROUTER, one at a time, from a DEALER socket
//! (the pure-Rust `zeromq` crate; frames `[empty][payload]`). Each call is refused before sending if
//! over the XOP's 1024-byte cap, tagged with a fresh `messageID`, and given a deadline; replies that
//! arrive after their call gave up are recognised by `messageID` and dropped. After
//! `rebuild_after_timeouts` consecutive timeouts the socket is dropped and a new one connected (a new
//! identity, nothing queued). Counts what crosses the wire for the wire-cost report.

use super::xop::{encode_request, Param, Reply, ResultValue, XopError};
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::Mutex;
use tracing::{debug, warn};
use zeromq::{DealerSocket, Socket, SocketOptions, SocketRecv, SocketSend, ZmqMessage};

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LinkError {
    /// No reply before the deadline.
    #[error("{function} on {endpoint}: no reply within {after_s:.1} s")]
    Timeout {
        /// The function called.
        function: String,
        /// The XOP's address.
        endpoint: String,
        /// The deadline, seconds.
        after_s: f64,
    },
    /// The socket could not connect or failed.
    #[error("{endpoint}: {reason}")]
    Disconnected {
        /// The XOP's address.
        endpoint: String,
        /// What happened.
        reason: String,
    },
    /// Refused before sending, an XOP error code, or an unreadable reply.
    #[error(transparent)]
    Xop(#[from] XopError),
}

/// What crossed the link so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkStats {
    /// Calls answered.
    pub calls: u64,
    /// Wall-clock time spent in answered calls, seconds.
    pub call_s: f64,
    /// Request bytes sent.
    pub bytes_out: u64,
    /// Reply bytes received (late ones included).
    pub bytes_in: u64,
    /// Calls that timed out.
    pub timeouts: u64,
    /// Late replies dropped by `messageID`.
    pub late_replies: u64,
    /// Sockets rebuilt.
    pub rebuilds: u64,
}

struct SocketState {
    socket: Option<DealerSocket>,
    consecutive_timeouts: u32,
}

/// A link to one ZeroMQ-XOP server.
pub struct XopLink {
    endpoint: String,
    rebuild_after_timeouts: u32,
    connect_timeout: Duration,
    state: Mutex<SocketState>,
    next_id: AtomicU64,
    id_prefix: String,
    stats: StdMutex<LinkStats>,
}

impl std::fmt::Debug for XopLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XopLink").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

impl XopLink {
    /// A link to `endpoint` (`tcp://host:port`) that connects on first use.
    pub fn new(endpoint: &str, connect_timeout: Duration, rebuild_after_timeouts: u32) -> Self {
        let now_ms = crate::frame::unix_now_s() * 1e3;
        Self {
            endpoint: endpoint.to_string(),
            rebuild_after_timeouts: rebuild_after_timeouts.max(1),
            connect_timeout,
            state: Mutex::new(SocketState { socket: None, consecutive_timeouts: 0 }),
            next_id: AtomicU64::new(1),
            id_prefix: format!("afm-{}-{:x}", std::process::id(), now_ms as u64),
            stats: StdMutex::new(LinkStats::default()),
        }
    }

    /// The XOP's address.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// What crossed the link so far.
    pub fn stats(&self) -> LinkStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self, f: impl FnOnce(&mut LinkStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn disconnected(&self, reason: impl Into<String>) -> LinkError {
        LinkError::Disconnected { endpoint: self.endpoint.clone(), reason: reason.into() }
    }

    async fn connect(&self) -> Result<DealerSocket, LinkError> {
        let mut options = SocketOptions::default();
        options.connect_timeout(self.connect_timeout);
        let mut socket = DealerSocket::with_options(options);
        match tokio::time::timeout(self.connect_timeout + Duration::from_millis(200), socket.connect(&self.endpoint)).await {
            Ok(Ok(())) => Ok(socket),
            Ok(Err(e)) => Err(self.disconnected(format!(
                "cannot connect ({e}); is Igor serving (zeromq_server_bind + zeromq_handler_start) or the SSH tunnel up?"
            ))),
            Err(_) => Err(self.disconnected(format!("cannot connect within {:.1} s", self.connect_timeout.as_secs_f64()))),
        }
    }

    /// Drops the socket; the next call connects a new one.
    pub async fn reset(&self) {
        self.state.lock().await.socket = None;
    }

    /// Calls `function` with `params` and waits at most `deadline` for its reply.
    pub async fn call(&self, function: &str, params: &[Param], deadline: Duration) -> Result<ResultValue, LinkError> {
        let id = format!("{}-{}", self.id_prefix, self.next_id.fetch_add(1, Ordering::Relaxed));
        let payload = encode_request(&id, function, params)?;
        let started = Instant::now();
        let until = tokio::time::Instant::now() + deadline;
        let mut state = self.state.lock().await;
        if state.socket.is_none() {
            state.socket = Some(self.connect().await?);
        }
        let sent_bytes = payload.len() as u64;
        let mut message = ZmqMessage::from(Bytes::new());
        message.push_back(Bytes::from(payload));
        let send_result = match state.socket.as_mut() {
            Some(socket) => tokio::time::timeout_at(until, socket.send(message)).await,
            None => return Err(self.disconnected("no socket")),
        };
        match send_result {
            Ok(Ok(())) => self.bump(|s| s.bytes_out += sent_bytes),
            Ok(Err(e)) => {
                state.socket = None;
                return Err(self.disconnected(format!("sending {function}: {e}")));
            }
            Err(_) => return Err(self.timed_out(&mut state, function, deadline)),
        }
        loop {
            let received = match state.socket.as_mut() {
                Some(socket) => tokio::time::timeout_at(until, socket.recv()).await,
                None => return Err(self.disconnected("no socket")),
            };
            let message = match received {
                Err(_) => return Err(self.timed_out(&mut state, function, deadline)),
                Ok(Err(e)) => {
                    state.socket = None;
                    return Err(self.disconnected(format!("waiting for {function}: {e}")));
                }
                Ok(Ok(m)) => m,
            };
            let frames = message.into_vec();
            self.bump(|s| s.bytes_in += frames.iter().map(|f| f.len() as u64).sum::<u64>());
            // The ROUTER sends [empty][payload]; tolerate a missing delimiter.
            let Some(payload) = frames.last() else { continue };
            let reply = match Reply::parse(payload) {
                Ok(r) => r,
                Err(e) => {
                    warn!("{}: unreadable message while waiting for {function}: {e}", self.endpoint);
                    continue;
                }
            };
            match reply.message_id.as_deref() {
                Some(m) if m != id => {
                    debug!(message_id = m, "dropping a late reply");
                    self.bump(|s| s.late_replies += 1);
                    continue;
                }
                _ => {} // ours, or an error about an unreadable request (the XOP cannot echo its id)
            }
            state.consecutive_timeouts = 0;
            drop(state);
            self.bump(|s| {
                s.calls += 1;
                s.call_s += started.elapsed().as_secs_f64();
            });
            return Ok(reply.into_result(function)?);
        }
    }

    fn timed_out(&self, state: &mut SocketState, function: &str, deadline: Duration) -> LinkError {
        state.consecutive_timeouts += 1;
        self.bump(|s| s.timeouts += 1);
        if state.consecutive_timeouts >= self.rebuild_after_timeouts {
            warn!(
                "{}: {} consecutive timeouts; rebuilding the socket (late replies to the old one are lost)",
                self.endpoint, state.consecutive_timeouts
            );
            state.socket = None;
            state.consecutive_timeouts = 0;
            self.bump(|s| s.rebuilds += 1);
        }
        LinkError::Timeout { function: function.to_string(), endpoint: self.endpoint.clone(), after_s: deadline.as_secs_f64() }
    }
}
