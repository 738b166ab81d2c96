//! `FakeXop`: a faithful stand-in for Igor Pro running ZeroMQ-XOP with afm-spark's procedures
//! (`AfmSparkXop.ipf`), backed by any [`Instrument`] (the simulator for `afm-spark serve-sim`, the mock
//! in tests).
//!
//! What it shares with the real thing, as read in the XOP's source: a ROUTER socket (identity
//! `zeromq xop: router`) that drops a peer sending a frame over 1024 bytes; requests checked the way
//! `RequestInterface`/`CallFunctionOperation` check them, with the same error codes and messages (parse
//! errors answered at once without a `messageID`); number parameters rounded to 15 significant digits;
//! calls executed one at a time in arrival order (Igor's main thread); replies pretty-printed with an
//! indent of 4; waves serialised like `SerializeWave`; a PUB socket with the XOP's 5-s heartbeat and the
//! raw-layer messages of `zeromq_pub_send_multi`. What it shares with the procedures: the functions and
//! their documents, scans running in the background, progress polled at most 4 times a second, and the
//! ping-loss watchdog that stops a frame and logs a line containing `watchdog`.
//!
//! Faults can be injected (lost replies, slow replies, PUB gaps, a returned region shifted by some
//! pixels) through [`Faults`].

use super::spark::{self, AbortDoc, Envelope, HelloDoc, JobState, PingDoc, SparkErrorCode, StatusDoc};
use super::token::BridgeToken;
use super::wave::{channel_wave, to_xop_json, PubMeta, Sample, WaveHeader, WaveOut, PUB_FRAME_TOPIC};
use super::xop::{codes, number_param_text, MAX_MESSAGE_ID_LEN, MAX_REQUEST_BYTES, PUB_HEARTBEAT_TOPIC, REQUEST_VERSION, ROUTER_IDENTITY};
use super::zmtp::{read_message, write_message, ZmtpError, ZmtpServerConn};
use crate::error::InstrumentError;
use crate::frame::{unix_now_s, Frame};
use crate::ibw::asylum_note_entries;
use crate::instrument::{Directions, Instrument, InstrumentLimits, InstrumentState, ScanRequest};
use crate::{Raster, ScanRegion};
use bytes::Bytes;
use serde::Serialize;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use zeromq::{PubSocket, Socket, SocketSend, ZmqMessage};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Faults to inject. Each counter applies to the next that many occasions.
#[derive(Debug, Default)]
pub struct Faults {
    lose_replies: AtomicU32,
    slow_replies: AtomicU32,
    slow_reply_ms: AtomicU64,
    pub_gaps: AtomicU32,
    region_offset_px: Mutex<f64>,
}

fn take_one(counter: &AtomicU32) -> bool {
    counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

impl Faults {
    /// The next `n` replies are executed but never sent.
    pub fn lose_next_replies(&self, n: u32) {
        self.lose_replies.store(n, Ordering::SeqCst);
    }

    /// The next `n` calls take `delay` before they execute (blocking every other call, like Igor).
    pub fn slow_next_replies(&self, n: u32, delay: Duration) {
        self.slow_reply_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
        self.slow_replies.store(n, Ordering::SeqCst);
    }

    /// The next `n` layers are not published (the sequence number still advances).
    pub fn skip_next_pub_layers(&self, n: u32) {
        self.pub_gaps.store(n, Ordering::SeqCst);
    }

    /// Every returned frame's centre is shifted by `px` pixels along x (drift/creep as the instrument
    /// reports it).
    pub fn set_region_offset_px(&self, px: f64) {
        *lock(&self.region_offset_px) = px;
    }

    /// Applies one `KEY=VALUE` setting: `lose-replies=N`, `slow-replies=N`, `slow-reply-s=SECONDS`,
    /// `pub-gaps=N`, `region-offset-px=PX`.
    pub fn apply(&self, setting: &str) -> Result<(), InstrumentError> {
        let bad = |why: &str| InstrumentError::out_of_range("--fault", setting.to_string(), why.to_string());
        let (key, value) = setting.split_once('=').ok_or_else(|| bad("KEY=VALUE"))?;
        let count = || value.trim().parse::<u32>().map_err(|_| bad("a whole number"));
        let seconds = || value.trim().parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0).ok_or_else(|| bad("seconds ≥ 0"));
        match key.trim() {
            "lose-replies" => self.lose_next_replies(count()?),
            "slow-replies" => self.slow_replies.store(count()?, Ordering::SeqCst),
            "slow-reply-s" => self.slow_reply_ms.store((seconds()? * 1e3) as u64, Ordering::SeqCst),
            "pub-gaps" => self.skip_next_pub_layers(count()?),
            "region-offset-px" => {
                let px = value.trim().parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| bad("a finite number of pixels"))?;
                self.set_region_offset_px(px)
            }
            _ => return Err(bad("one of lose-replies, slow-replies, slow-reply-s, pub-gaps, region-offset-px")),
        }
        Ok(())
    }
}

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// The token `Spark_Hello` accepts.
    pub token: BridgeToken,
    /// ROUTER address, `tcp://host:port` (port 0: any free port).
    pub bind: String,
    /// PUB address (none: no PUB socket, every channel is fetched with `Spark_GetChannel`).
    pub pub_bind: Option<String>,
    /// Must be true to bind anything but loopback.
    pub allow_non_loopback: bool,
    /// A job without a ping for this long is stopped.
    pub watchdog: Duration,
    /// The background task's period; the instrument's status is polled at most this often (≥ 250 ms: ≤ 4 Hz).
    pub poll_interval: Duration,
}

impl FakeConfig {
    /// Loopback port 5670, no PUB, 5 s watchdog, 250 ms poll.
    pub fn new(token: BridgeToken) -> Self {
        Self {
            token,
            bind: "tcp://127.0.0.1:5670".into(),
            pub_bind: None,
            allow_non_loopback: false,
            watchdog: Duration::from_secs(5),
            poll_interval: Duration::from_millis(250),
        }
    }
}

/// What the fake has seen.
#[derive(Debug, Default)]
pub struct FakeStats {
    /// Calls executed.
    pub calls: AtomicU64,
    /// Frames started.
    pub frames_started: AtomicU64,
    /// Peers dropped for an oversize message.
    pub oversize_disconnects: AtomicU64,
    /// Frames stopped by the watchdog.
    pub watchdog_stops: AtomicU64,
    /// Frames stopped by `Spark_Abort`.
    pub aborts: AtomicU64,
    /// Refused `Spark_Hello`s.
    pub refused_hellos: AtomicU64,
}

/// A `tcp://host:port` endpoint as a socket address.
pub fn parse_tcp_endpoint(endpoint: &str) -> Result<SocketAddr, InstrumentError> {
    let rest = endpoint
        .strip_prefix("tcp://")
        .ok_or_else(|| InstrumentError::out_of_range("ZeroMQ endpoint", endpoint.to_string(), "tcp://HOST:PORT (the XOP serves TCP)"))?;
    let rest = if rest.starts_with("localhost:") { rest.replacen("localhost", "127.0.0.1", 1) } else { rest.to_string() };
    rest.parse().map_err(|e| InstrumentError::out_of_range("ZeroMQ endpoint", format!("{endpoint} ({e})"), "tcp://IP:PORT"))
}

struct Job {
    id: String,
    owner: String,
    request: ScanRequest,
    labels: Vec<String>,
    state: JobState,
    started: Instant,
    last_ping: Instant,
    line: usize,
    elapsed_s: f64,
    message: String,
    waves: HashMap<String, (WaveHeader, Vec<Sample>)>,
}

impl Job {
    fn doc(&self) -> StatusDoc {
        StatusDoc {
            ok: true,
            job: self.id.clone(),
            state: self.state,
            line: self.line,
            lines: self.request.raster.lines,
            elapsed_s: if matches!(self.state, JobState::Scanning) { self.started.elapsed().as_secs_f64() } else { self.elapsed_s },
            path: if self.state == JobState::Done { format!("fake:{}.ibw", self.id) } else { String::new() },
            channels: if self.state == JobState::Done { self.labels.clone() } else { Vec::new() },
            message: self.message.clone(),
        }
    }

    fn running(&self) -> bool {
        matches!(self.state, JobState::Scanning | JobState::Saving)
    }
}

#[derive(Default)]
struct Procs {
    session: Option<String>,
    job: Option<Job>,
}

struct Call {
    identity: Bytes,
    message_id: Option<String>,
    name: String,
    params: Vec<String>,
}

enum Outcome {
    Doc(String),
    Wave(Option<(WaveHeader, Vec<Sample>)>),
}

struct Shared {
    instrument: Arc<dyn Instrument>,
    config: FakeConfig,
    faults: Faults,
    stats: FakeStats,
    procs: Mutex<Procs>,
    limits: tokio::sync::Mutex<Option<InstrumentLimits>>,
    peers: Mutex<HashMap<Bytes, mpsc::UnboundedSender<Vec<u8>>>>,
    publisher: tokio::sync::Mutex<Option<PubSocket>>,
    pub_address: Mutex<String>,
    pub_seq: AtomicU64,
    next_peer: AtomicU64,
}

/// The fake XOP. Cheap to clone.
#[derive(Clone)]
pub struct FakeXop {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FakeXop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeXop").field("config", &self.shared.config).finish_non_exhaustive()
    }
}

/// The bound sockets, not yet serving.
pub struct BoundFake {
    listener: TcpListener,
    /// The ROUTER's address, `tcp://ip:port`.
    pub address: String,
    /// The PUB socket's address, if any.
    pub pub_address: Option<String>,
}

impl std::fmt::Debug for BoundFake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundFake").field("address", &self.address).field("pub_address", &self.pub_address).finish()
    }
}

#[derive(Serialize)]
struct ErrorCodeOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    msg: Option<&'a str>,
    value: i64,
}

#[derive(Serialize)]
struct ResultOut<T> {
    #[serde(rename = "type")]
    kind: &'static str,
    value: T,
}

#[derive(Serialize)]
struct ReplyOut<'a, T> {
    #[serde(rename = "errorCode")]
    error_code: ErrorCodeOut<'a>,
    #[serde(rename = "messageID", skip_serializing_if = "Option::is_none")]
    message_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<ResultOut<T>>,
}

fn error_reply(code: i64, message_id: Option<&str>) -> Vec<u8> {
    let r: ReplyOut<'_, ()> =
        ReplyOut { error_code: ErrorCodeOut { msg: Some(codes::message(code)), value: code }, message_id, result: None };
    to_xop_json(&r).unwrap_or_default()
}

/// What the XOP does with an incoming payload before Igor sees it: the call, or the error code.
fn parse_request(payload: &[u8]) -> Result<(Option<String>, String, Vec<String>), i64> {
    let doc: serde_json::Value = serde_json::from_slice(payload).map_err(|_| codes::REQ_INVALID_JSON_OBJECT)?;
    let version = doc.get("version").and_then(|v| if v.is_i64() || v.is_u64() { v.as_i64() } else { None });
    if version != Some(REQUEST_VERSION) {
        return Err(codes::REQ_INVALID_VERSION);
    }
    let message_id = match doc.get("messageID") {
        None => None,
        Some(serde_json::Value::String(s)) if !s.is_empty() && s.len() <= MAX_MESSAGE_ID_LEN => Some(s.clone()),
        Some(_) => return Err(codes::REQ_INVALID_MESSAGEID),
    };
    let call = doc.get("CallFunction").and_then(|c| c.as_object()).ok_or(codes::REQ_INVALID_OPERATION)?;
    if call.len() != 1 && call.len() != 2 {
        return Err(codes::REQ_INVALID_OPERATION_FORMAT);
    }
    let name = call.get("name").and_then(|n| n.as_str()).ok_or(codes::REQ_INVALID_OPERATION_FORMAT)?.to_string();
    if name.is_empty() {
        return Err(codes::REQ_NON_EXISTING_FUNCTION);
    }
    let params = match call.get("params") {
        None if call.len() != 1 => return Err(codes::REQ_INVALID_OPERATION_FORMAT),
        None => Vec::new(),
        Some(p) => {
            let items = p.as_array().ok_or(codes::REQ_INVALID_PARAM_FORMAT)?;
            items
                .iter()
                .map(|e| match e {
                    serde_json::Value::String(s) => Ok(s.clone()),
                    serde_json::Value::Number(n) => Ok(number_param_text(n.as_f64().unwrap_or(f64::NAN))),
                    serde_json::Value::Bool(b) => Ok(if *b { "1".to_string() } else { "0".to_string() }),
                    _ => Err(codes::REQ_INVALID_PARAM_FORMAT),
                })
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    Ok((message_id, name, params))
}

/// Parameter kinds of our procedures: `S` string, `V` variable.
fn signature(name: &str) -> Option<&'static [char]> {
    Some(match name {
        spark::HELLO => &['S'],
        spark::START_FRAME => &['S'; 12],
        spark::STATUS => &['S', 'S'],
        spark::ABORT => &['S'],
        spark::PING => &['S', 'V'],
        spark::GET_CHANNEL => &['S', 'S', 'S'],
        _ => return None,
    })
}

fn doc<T: Serialize>(value: &T) -> Outcome {
    Outcome::Doc(serde_json::to_string(value).unwrap_or_default())
}

fn failure(code: SparkErrorCode, message: impl Into<String>) -> Outcome {
    doc(&Envelope::failure(code, message))
}

fn random_key() -> String {
    let a = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(a ^ (unix_now_s() * 1e9) as u64);
    format!("{a:016x}{:016x}", h.finish())
}

/// The note Asylum would write for `frame` (our own time keys left out: the real software has none).
fn asylum_note(frame: &Frame) -> String {
    asylum_note_entries(frame)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("AfmSpark"))
        .map(|(k, v)| format!("{k}: {v}\r"))
        .collect()
}

impl FakeXop {
    /// A fake in front of `instrument`.
    pub fn new(instrument: Arc<dyn Instrument>, config: FakeConfig) -> Self {
        let shared = Shared {
            instrument,
            config,
            faults: Faults::default(),
            stats: FakeStats::default(),
            procs: Mutex::new(Procs::default()),
            limits: tokio::sync::Mutex::new(None),
            peers: Mutex::new(HashMap::new()),
            publisher: tokio::sync::Mutex::new(None),
            pub_address: Mutex::new(String::new()),
            pub_seq: AtomicU64::new(0),
            next_peer: AtomicU64::new(1),
        };
        Self { shared: Arc::new(shared) }
    }

    /// The faults to inject.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// What the fake has seen.
    pub fn stats(&self) -> &FakeStats {
        &self.shared.stats
    }

    /// Binds the ROUTER (and PUB) addresses; a non-loopback one is refused unless allowed. Logs them.
    pub async fn bind(&self) -> Result<BoundFake, InstrumentError> {
        let c = &self.shared.config;
        let addr = parse_tcp_endpoint(&c.bind)?;
        let check = |a: SocketAddr, what: &str| {
            if !a.ip().is_loopback() && !c.allow_non_loopback {
                return Err(InstrumentError::out_of_range(
                    what,
                    a.to_string(),
                    "a loopback address (the XOP has no authentication: use an SSH tunnel, or allow non-loopback explicitly)",
                ));
            }
            Ok(())
        };
        check(addr, "fake XOP bind address")?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| InstrumentError::Disconnected { endpoint: c.bind.clone(), reason: format!("cannot listen: {e}") })?;
        let local = listener.local_addr().map_err(|e| InstrumentError::Disconnected { endpoint: c.bind.clone(), reason: e.to_string() })?;
        let address = format!("tcp://{local}");
        let mut pub_address = None;
        if let Some(pub_bind) = &c.pub_bind {
            check(parse_tcp_endpoint(pub_bind)?, "fake XOP PUB address")?;
            let mut socket = PubSocket::new();
            let bound = socket
                .bind(pub_bind)
                .await
                .map_err(|e| InstrumentError::Disconnected { endpoint: pub_bind.clone(), reason: format!("cannot bind PUB: {e}") })?;
            let text = bound.to_string();
            *lock(&self.shared.pub_address) = text.clone();
            *self.shared.publisher.lock().await = Some(socket);
            pub_address = Some(text);
        }
        let scope = if local.ip().is_loopback() { "loopback only" } else { "NOT loopback: anyone who reaches it can call any procedure" };
        info!(backend = %self.shared.instrument.name(), "fake ZeroMQ-XOP serving on {address} ({scope}); PUB {}", pub_address.as_deref().unwrap_or("off"));
        Ok(BoundFake { listener, address, pub_address })
    }

    /// Serves until the future is dropped (which closes every connection and stops the frame in flight).
    pub async fn serve(&self, bound: BoundFake) -> std::io::Result<()> {
        let (calls_tx, calls_rx) = mpsc::unbounded_channel::<Call>();
        let worker = tokio::spawn(worker(self.shared.clone(), calls_rx));
        let background = tokio::spawn(background(self.shared.clone()));
        let heartbeat = tokio::spawn(heartbeat(self.shared.clone()));
        let _guard = AbortOnDrop(vec![worker, background, heartbeat], self.shared.clone());
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = bound.listener.accept() => {
                    let (stream, peer) = accepted?;
                    stream.set_nodelay(true)?;
                    connections.spawn(connection(self.shared.clone(), stream, peer, calls_tx.clone()));
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    }
}

struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>, Arc<Shared>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
        // The fake going away stops the frame, as Igor quitting would.
        let running = lock(&self.1.procs).job.as_ref().is_some_and(Job::running);
        if running {
            let instrument = self.1.instrument.clone();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = instrument.abort().await;
                });
            }
        }
    }
}

async fn connection(shared: Arc<Shared>, stream: tokio::net::TcpStream, peer: SocketAddr, calls: mpsc::UnboundedSender<Call>) {
    let n = shared.next_peer.fetch_add(1, Ordering::Relaxed) as u32;
    let mut generated = vec![0u8];
    generated.extend_from_slice(&n.to_be_bytes());
    let conn =
        match ZmtpServerConn::accept(stream, "ROUTER", ROUTER_IDENTITY.as_bytes(), &["DEALER", "REQ", "ROUTER"], Bytes::from(generated))
            .await
        {
            Ok(c) => c,
            Err(e) => {
                info!(%peer, "ZMTP handshake failed: {e}");
                return;
            }
        };
    let identity = conn.identity.clone();
    debug!(%peer, peer_type = %conn.peer_type, "peer connected");
    let (mut rd, mut wr) = tokio::io::split(conn.into_stream());
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    lock(&shared.peers).insert(identity.clone(), tx);
    let writer = tokio::spawn(async move {
        while let Some(payload) = rx.recv().await {
            if write_message(&mut wr, &[b"", &payload]).await.is_err() {
                break;
            }
        }
    });
    loop {
        match read_message(&mut rd, MAX_REQUEST_BYTES).await {
            Ok(frames) => inbound(&shared, &identity, frames, &calls),
            Err(e @ ZmtpError::TooLarge { .. }) => {
                shared.stats.oversize_disconnects.fetch_add(1, Ordering::SeqCst);
                warn!(%peer, "disconnecting the peer: {e}");
                break;
            }
            Err(e) => {
                debug!(%peer, "peer gone: {e}");
                break;
            }
        }
    }
    lock(&shared.peers).remove(&identity);
    writer.abort();
}

fn send_reply(shared: &Shared, identity: &Bytes, payload: Vec<u8>) {
    match lock(&shared.peers).get(identity) {
        Some(tx) => {
            let _ = tx.send(payload);
        }
        None => warn!("reply dropped: the peer is gone (ROUTER_MANDATORY: host unreachable)"),
    }
}

/// The XOP's receiving thread: frames must be `[empty][payload]`; unreadable requests are answered at once.
fn inbound(shared: &Shared, identity: &Bytes, frames: Vec<Bytes>, calls: &mpsc::UnboundedSender<Call>) {
    let [empty, payload] = frames.as_slice() else {
        warn!("INVALID_MESSAGE_FORMAT: {} frames after the identity (expected [empty][payload]); ignored", frames.len());
        return;
    };
    if !empty.is_empty() {
        warn!("INVALID_MESSAGE_FORMAT: the delimiter frame is not empty; ignored");
        return;
    }
    match parse_request(payload) {
        Err(code) => send_reply(shared, identity, error_reply(code, None)),
        Ok((message_id, name, params)) => {
            let _ = calls.send(Call { identity: identity.clone(), message_id, name, params });
        }
    }
}

/// Igor's main thread: one call at a time, in arrival order.
async fn worker(shared: Arc<Shared>, mut calls: mpsc::UnboundedReceiver<Call>) {
    while let Some(call) = calls.recv().await {
        shared.stats.calls.fetch_add(1, Ordering::SeqCst);
        if take_one(&shared.faults.slow_replies) {
            let delay = Duration::from_millis(shared.faults.slow_reply_ms.load(Ordering::SeqCst));
            warn!("fault injection: {} takes {:.1} s", call.name, delay.as_secs_f64());
            tokio::time::sleep(delay).await;
        }
        let id = call.message_id.as_deref();
        let reply = match signature(&call.name) {
            None => error_reply(codes::REQ_NON_EXISTING_FUNCTION, id),
            Some(kinds) if call.params.len() < kinds.len() => error_reply(codes::REQ_TOO_FEW_FUNCTION_PARAMS, id),
            Some(kinds) if call.params.len() > kinds.len() => error_reply(codes::REQ_TOO_MANY_FUNCTION_PARAMS, id),
            Some(kinds) if kinds.iter().zip(&call.params).any(|(k, p)| *k == 'V' && p.trim().parse::<f64>().is_err()) => {
                error_reply(codes::REQ_INVALID_PARAM_FORMAT, id)
            }
            Some(_) => {
                let outcome = execute(&shared, &call.name, &call.params).await;
                let ok = ErrorCodeOut { msg: None, value: codes::REQ_SUCCESS };
                let bytes = match outcome {
                    Outcome::Doc(text) => {
                        to_xop_json(&ReplyOut { error_code: ok, message_id: id, result: Some(ResultOut { kind: "string", value: text }) })
                    }
                    Outcome::Wave(w) => {
                        let value = w.as_ref().map(|(h, s)| WaveOut::new(h, s));
                        to_xop_json(&ReplyOut { error_code: ok, message_id: id, result: Some(ResultOut { kind: "wave", value }) })
                    }
                };
                bytes.unwrap_or_else(|_| error_reply(codes::REQ_UNKNOWN_ERROR, id))
            }
        };
        if take_one(&shared.faults.lose_replies) {
            warn!("fault injection: the reply to {} ({}) is lost", call.name, id.unwrap_or("-"));
            continue;
        }
        send_reply(&shared, &call.identity, reply);
    }
}

async fn limits(shared: &Shared) -> Result<InstrumentLimits, InstrumentError> {
    let mut slot = shared.limits.lock().await;
    if let Some(l) = slot.as_ref() {
        return Ok(l.clone());
    }
    let l = shared.instrument.limits().await?;
    *slot = Some(l.clone());
    Ok(l)
}

fn session_ok(procs: &Procs, session: &str) -> bool {
    procs.session.as_deref().is_some_and(|s| !session.is_empty() && s == session)
}

const STALE: &str = "unknown or replaced session: say Spark_Hello again";

async fn execute(shared: &Arc<Shared>, name: &str, p: &[String]) -> Outcome {
    match name {
        spark::HELLO => hello(shared, &p[0]).await,
        spark::START_FRAME => start_frame(shared, p).await,
        spark::STATUS => {
            let procs = lock(&shared.procs);
            if !session_ok(&procs, &p[0]) {
                return failure(SparkErrorCode::Unauthorized, STALE);
            }
            match (&procs.job, p[1].as_str()) {
                (Some(job), want) if want.is_empty() || want == job.id => doc(&job.doc()),
                (None, "") => doc(&StatusDoc {
                    ok: true,
                    job: String::new(),
                    state: JobState::Idle,
                    line: 0,
                    lines: 0,
                    elapsed_s: 0.0,
                    path: String::new(),
                    channels: Vec::new(),
                    message: String::new(),
                }),
                (_, want) => failure(SparkErrorCode::UnknownJob, format!("no job {want} (only the last job is kept)")),
            }
        }
        spark::ABORT => {
            let stopped = {
                let mut procs = lock(&shared.procs);
                if !session_ok(&procs, &p[0]) {
                    return failure(SparkErrorCode::Unauthorized, STALE);
                }
                match procs.job.as_mut().filter(|j| j.running()) {
                    Some(job) => {
                        job.state = JobState::Aborted;
                        job.elapsed_s = job.started.elapsed().as_secs_f64();
                        job.message = "aborted by Spark_Abort".into();
                        Some(job.id.clone())
                    }
                    None => None,
                }
            };
            if let Some(job) = &stopped {
                shared.stats.aborts.fetch_add(1, Ordering::SeqCst);
                info!(job = %job, "Spark_Abort: stopping the frame (StopScan)");
                if let Err(e) = shared.instrument.abort().await {
                    warn!("StopScan failed: {e}");
                }
            }
            doc(&AbortDoc { ok: true, was_scanning: stopped.is_some(), job: stopped.unwrap_or_default() })
        }
        spark::PING => {
            let mut procs = lock(&shared.procs);
            if !session_ok(&procs, &p[0]) {
                return failure(SparkErrorCode::Unauthorized, STALE);
            }
            let seq = p[1].trim().parse::<f64>().unwrap_or(f64::NAN);
            let session = p[0].clone();
            let fed = match procs.job.as_mut().filter(|j| j.running() && j.owner == session) {
                Some(job) => {
                    job.last_ping = Instant::now();
                    true
                }
                None => false,
            };
            doc(&PingDoc { ok: true, seq, fed })
        }
        spark::GET_CHANNEL => {
            let procs = lock(&shared.procs);
            if !session_ok(&procs, &p[0]) {
                return Outcome::Wave(None);
            }
            let wave = procs.job.as_ref().filter(|j| j.id == p[1] && j.state == JobState::Done).and_then(|j| j.waves.get(&p[2])).cloned();
            Outcome::Wave(wave)
        }
        _ => failure(SparkErrorCode::BadParams, format!("no procedure {name}")),
    }
}

async fn hello(shared: &Arc<Shared>, token: &str) -> Outcome {
    let presented = BridgeToken::new(token.to_string());
    if !presented.as_ref().is_ok_and(|t| shared.config.token.matches(t)) {
        shared.stats.refused_hellos.fetch_add(1, Ordering::SeqCst);
        warn!("Spark_Hello refused: wrong or missing token");
        return failure(SparkErrorCode::Unauthorized, "wrong or missing token");
    }
    let limits = match limits(shared).await {
        Ok(l) => l,
        Err(e) => return failure(SparkErrorCode::Instrument, format!("limits: {e}")),
    };
    let session = random_key();
    lock(&shared.procs).session = Some(session.clone());
    info!("Spark_Hello: new session (a previous one is replaced)");
    doc(&HelloDoc {
        ok: true,
        spark: spark::SPARK_PROTOCOL,
        session,
        backend: format!("afm-spark fake ZeroMQ-XOP ({})", shared.instrument.name()),
        limits,
        watchdog_s: shared.config.watchdog.as_secs_f64(),
        poll_hz: 1.0 / shared.config.poll_interval.as_secs_f64().max(0.25),
        pub_address: lock(&shared.pub_address).clone(),
    })
}

async fn start_frame(shared: &Arc<Shared>, p: &[String]) -> Outcome {
    let limits = match limits(shared).await {
        Ok(l) => l,
        Err(e) => return failure(SparkErrorCode::Instrument, format!("limits: {e}")),
    };
    // Igor's str2num: NaN when unreadable.
    let num = |i: usize| p[i].trim().parse::<f64>().unwrap_or(f64::NAN);
    let count = |i: usize| p[i].trim().parse::<usize>().ok();
    let (Some(points), Some(lines)) = (count(7), count(8)) else {
        return failure(SparkErrorCode::BadParams, format!("points {:?} / lines {:?} are not whole numbers", p[7], p[8]));
    };
    let Some(directions) = Directions::from_name(&p[11]) else {
        return failure(SparkErrorCode::BadParams, format!("directions {:?} (trace, retrace or both)", p[11]));
    };
    let request = ScanRequest {
        region: ScanRegion { center_x_m: num(2), center_y_m: num(3), width_m: num(4), height_m: num(5), angle_deg: num(6) },
        raster: Raster::new(points, lines),
        line_rate_hz: num(9),
        channels: p[10].split(';').filter(|c| !c.is_empty()).map(str::to_string).collect(),
        directions,
    };
    if let Err(e) = limits.check(&request) {
        return failure(SparkErrorCode::OutOfRange, e.to_string());
    }
    let job_id = p[1].clone();
    let doc_now = {
        let mut procs = lock(&shared.procs);
        if !session_ok(&procs, &p[0]) {
            return failure(SparkErrorCode::Unauthorized, STALE);
        }
        if let Some(j) = procs.job.as_ref().filter(|j| j.running()) {
            return failure(SparkErrorCode::Busy, format!("job {} is still running", j.id));
        }
        if job_id.is_empty() || procs.job.as_ref().is_some_and(|j| j.id == job_id) {
            return failure(SparkErrorCode::BadParams, format!("job id {job_id:?} is empty or already used"));
        }
        let job = Job {
            id: job_id.clone(),
            owner: p[0].clone(),
            labels: spark::labels(&request.channels, request.directions),
            request: request.clone(),
            state: JobState::Scanning,
            started: Instant::now(),
            last_ping: Instant::now(),
            line: 0,
            elapsed_s: 0.0,
            message: String::new(),
            waves: HashMap::new(),
        };
        let d = job.doc();
        procs.job = Some(job);
        d
    };
    shared.stats.frames_started.fetch_add(1, Ordering::SeqCst);
    info!(job = %job_id, "Spark_StartFrame: {}", request.describe());
    let s = shared.clone();
    tokio::spawn(async move { run_job(s, job_id, request).await });
    doc(&doc_now)
}

/// The scan of one job, in the background (Igor: the AR scan, watched by the background task).
async fn run_job(shared: Arc<Shared>, job_id: String, request: ScanRequest) {
    let result = shared.instrument.scan(&request).await;
    let mut publish = Vec::new();
    {
        let mut procs = lock(&shared.procs);
        let Some(job) = procs.job.as_mut().filter(|j| j.id == job_id) else { return };
        match result {
            Ok(mut frame) if job.state == JobState::Scanning => {
                job.state = JobState::Saving;
                let offset_px = *lock(&shared.faults.region_offset_px);
                if offset_px != 0.0 {
                    let (px, _) = frame.region.pitch_m(&frame.raster);
                    frame.region.center_x_m += offset_px * px;
                }
                let note = asylum_note(&frame);
                let modified = frame.acquired_at_unix_s as i64;
                for ch in &frame.channels {
                    let label = ch.label();
                    let wave = channel_wave(ch, &frame.region, &frame.raster, note.clone(), modified);
                    publish.push((label.clone(), wave.clone()));
                    job.waves.insert(label, wave);
                }
                job.elapsed_s = frame.instrument_time_s;
                job.line = frame.raster.lines;
                job.state = JobState::Done;
                info!(job = %job_id, "frame saved ({} channels)", job.waves.len());
            }
            Ok(_) => {} // stopped meanwhile (abort or watchdog): the state says so already
            Err(e) => {
                if job.running() {
                    job.state = if matches!(e, InstrumentError::Aborted(_)) { JobState::Aborted } else { JobState::Failed };
                    job.message = e.to_string();
                    job.elapsed_s = job.started.elapsed().as_secs_f64();
                }
                info!(job = %job_id, "frame ended: {e}");
            }
        }
    }
    publish_layers(&shared, &job_id, publish).await;
}

async fn publish_layers(shared: &Shared, job_id: &str, layers: Vec<(String, (WaveHeader, Vec<Sample>))>) {
    let mut publisher = shared.publisher.lock().await;
    let Some(socket) = publisher.as_mut() else { return };
    for (label, (header, samples)) in layers {
        let seq = shared.pub_seq.fetch_add(1, Ordering::SeqCst) + 1;
        if take_one(&shared.faults.pub_gaps) {
            warn!("fault injection: PUB layer {label} of job {job_id} (seq {seq}) not published");
            continue;
        }
        let meta = PubMeta { job: job_id.to_string(), channel: label, seq, wave: header };
        let Ok(meta) = serde_json::to_vec(&meta) else { continue };
        let raw: Vec<u8> = samples.iter().flat_map(|s| s.0.to_le_bytes()).collect();
        let mut message = ZmqMessage::from(Bytes::from_static(PUB_FRAME_TOPIC.as_bytes()));
        message.push_back(Bytes::from(meta));
        message.push_back(Bytes::from(raw));
        if let Err(e) = socket.send(message).await {
            warn!("PUB send failed: {e}");
        }
    }
}

/// The XOP's heartbeat publisher: `["heartbeat", ""]` every 5 s while a PUB socket is bound.
async fn heartbeat(shared: Arc<Shared>) {
    loop {
        if let Some(socket) = shared.publisher.lock().await.as_mut() {
            let mut message = ZmqMessage::from(Bytes::from_static(PUB_HEARTBEAT_TOPIC.as_bytes()));
            message.push_back(Bytes::new());
            let _ = socket.send(message).await;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// The procedures' background task: the ping-loss watchdog and progress, polling the instrument at
/// most once per `poll_interval`.
async fn background(shared: Arc<Shared>) {
    let period = shared.config.poll_interval.max(Duration::from_millis(250));
    loop {
        tokio::time::sleep(period).await;
        let watchdog = shared.config.watchdog;
        let stop = {
            let mut procs = lock(&shared.procs);
            match procs.job.as_mut().filter(|j| j.state == JobState::Scanning) {
                Some(job) if job.last_ping.elapsed() > watchdog => {
                    let silent_s = job.last_ping.elapsed().as_secs_f64();
                    job.state = JobState::Aborted;
                    job.elapsed_s = job.started.elapsed().as_secs_f64();
                    job.message = format!("watchdog: no ping for {silent_s:.1} s (client lost); frame stopped");
                    Some((job.id.clone(), silent_s))
                }
                Some(_) => None,
                None => continue,
            }
        };
        if let Some((job, silent_s)) = stop {
            shared.stats.watchdog_stops.fetch_add(1, Ordering::SeqCst);
            warn!("watchdog: no ping for {silent_s:.1} s (limit {:.1} s): stopping job {job} (StopScan)", watchdog.as_secs_f64());
            if let Err(e) = shared.instrument.abort().await {
                warn!("watchdog StopScan failed: {e}");
            }
            continue;
        }
        if let Ok(status) = shared.instrument.status().await {
            if let InstrumentState::Scanning { line, .. } = status.state {
                if let Some(job) = lock(&shared.procs).job.as_mut().filter(|j| j.state == JobState::Scanning) {
                    job.line = line;
                }
            }
        }
    }
}
