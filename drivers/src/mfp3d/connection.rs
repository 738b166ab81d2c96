//! One live connection from a client to a bridge, multiplexed by request id: a writer task sends
//! request lines, a reader task routes every reply and event to the request waiting for that id. So
//! `abort` can travel on the same connection while a `scan` is waiting for its frame.
//!
//! Failure policy: end of stream or an I/O error fails every waiting request with `Disconnected`; an
//! unreadable or oversize reply fails them with `Protocol`. Either way the connection is marked dead
//! and the client opens a new one for its next request.

use super::codec::{parse_reply, to_line, BridgeCodec, LineError};
use super::protocol::{ReplyBody, Request, RequestBody, PROTOCOL_VERSION};
use super::transport::BoxedIo;
use crate::error::InstrumentError;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::codec::{FramedRead, FramedWrite};
use tracing::{debug, warn};

/// What a waiting request receives.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A reply or event for this request.
    Message(ReplyBody),
    /// The connection failed; no more messages will come.
    Failed(InstrumentError),
}

type Routes = Arc<Mutex<HashMap<u64, mpsc::UnboundedSender<Inbound>>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A connection to a bridge.
#[derive(Debug)]
pub(crate) struct Connection {
    endpoint: String,
    outgoing: mpsc::Sender<String>,
    routes: Routes,
    alive: Arc<AtomicBool>,
    next_id: AtomicU64,
    tasks: [JoinHandle<()>; 2],
}

impl Drop for Connection {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A request registered on a connection; unregisters itself when dropped (e.g. when the caller's
/// future is cancelled by a timeout), so late replies are dropped instead of piling up.
pub(crate) struct Pending {
    pub(crate) id: u64,
    pub(crate) inbox: mpsc::UnboundedReceiver<Inbound>,
    routes: Routes,
}

impl Drop for Pending {
    fn drop(&mut self) {
        lock(&self.routes).remove(&self.id);
    }
}

impl Connection {
    /// Starts the reader and writer tasks on `io`.
    pub(crate) fn start(io: BoxedIo, endpoint: String, max_reply_line_bytes: usize) -> Self {
        let (read_half, write_half) = tokio::io::split(io);
        let routes: Routes = Arc::new(Mutex::new(HashMap::new()));
        let alive = Arc::new(AtomicBool::new(true));
        let (tx, mut rx) = mpsc::channel::<String>(16);
        let mut sink = FramedWrite::new(write_half, BridgeCodec::new(usize::MAX));
        let writer_alive = alive.clone();
        let writer = tokio::spawn(async move {
            // A blank line first: it ends any partial line an earlier client left on a serial line
            // (the bridge ignores blank lines).
            let mut first = Some(String::new());
            loop {
                let line = match first.take() {
                    Some(l) => l,
                    None => match rx.recv().await {
                        Some(l) => l,
                        None => break,
                    },
                };
                if let Err(e) = sink.send(line).await {
                    debug!("bridge write failed: {e}");
                    writer_alive.store(false, Ordering::SeqCst);
                    break;
                }
            }
        });
        let stream = FramedRead::new(read_half, BridgeCodec::new(max_reply_line_bytes));
        let reader = tokio::spawn(read_loop(stream, routes.clone(), alive.clone(), endpoint.clone()));
        Self { endpoint, outgoing: tx, routes, alive, next_id: AtomicU64::new(1), tasks: [reader, writer] }
    }

    /// Whether the connection can still carry requests.
    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst) && !self.outgoing.is_closed()
    }

    /// Marks the connection dead (the client will open a new one).
    pub(crate) fn kill(&self) {
        self.alive.store(false, Ordering::SeqCst);
    }

    /// Sends `body` as a new request and returns the handle its replies arrive on.
    pub(crate) async fn send(&self, body: RequestBody) -> Result<Pending, InstrumentError> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (tx, inbox) = mpsc::unbounded_channel();
        lock(&self.routes).insert(id, tx);
        let pending = Pending { id, inbox, routes: self.routes.clone() };
        let line = to_line(&Request { v: PROTOCOL_VERSION, id, body });
        if !self.is_alive() || self.outgoing.send(line).await.is_err() {
            self.kill();
            return Err(self.disconnected("connection closed before the request was sent"));
        }
        Ok(pending)
    }

    /// A `Disconnected` error for this endpoint.
    pub(crate) fn disconnected(&self, reason: &str) -> InstrumentError {
        InstrumentError::Disconnected { endpoint: self.endpoint.clone(), reason: reason.to_string() }
    }
}

async fn read_loop<R>(mut stream: FramedRead<R, BridgeCodec>, routes: Routes, alive: Arc<AtomicBool>, endpoint: String)
where
    R: tokio::io::AsyncRead + Unpin,
{
    let failure = loop {
        match stream.next().await {
            None => {
                break InstrumentError::Disconnected { endpoint, reason: "the bridge closed the connection".into() };
            }
            Some(Err(e)) => break InstrumentError::Disconnected { endpoint, reason: format!("read failed: {e}") },
            Some(Ok(Err(LineError::Oversize { max_bytes }))) => {
                break InstrumentError::Protocol(format!("reply from {endpoint} longer than {max_bytes} bytes"));
            }
            Some(Ok(Err(e))) => break InstrumentError::Protocol(format!("reply from {endpoint}: {e}")),
            Some(Ok(Ok(line))) => match parse_reply(&line) {
                Err(e) => break InstrumentError::Protocol(format!("{endpoint}: {e}")),
                Ok(reply) => {
                    let route = reply.id.and_then(|id| lock(&routes).get(&id).cloned());
                    match route {
                        Some(tx) => {
                            let _ = tx.send(Inbound::Message(reply.body));
                        }
                        None if reply.id.is_none() => {
                            // An error about no request in particular (an unreadable line, a relay
                            // refusing the connection): it concerns everything waiting.
                            if let ReplyBody::Error(e) = reply.body {
                                break e.into_error(&endpoint);
                            }
                        }
                        None => debug!("reply for unknown request {:?} ignored", reply.id),
                    }
                }
            },
        }
    };
    alive.store(false, Ordering::SeqCst);
    let waiting: Vec<_> = lock(&routes).drain().collect();
    if !waiting.is_empty() {
        warn!("bridge connection failed with {} request(s) waiting: {failure}", waiting.len());
    }
    for (_, tx) in waiting {
        let _ = tx.send(Inbound::Failed(failure.clone()));
    }
}
