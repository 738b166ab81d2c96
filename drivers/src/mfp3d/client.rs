//! `Mfp3dXop`: the MFP-3D (or the fake XOP) as an [`Instrument`], driving afm-spark's Igor procedures
//! through ZeroMQ-XOP.
//!
//! A scan is a job: `Spark_StartFrame` returns at once; then `Spark_Status` every `status_interval` and
//! `Spark_Ping` every `ping_interval` (Igor stops the frame when pings stop for its watchdog time) until
//! the job is done; then each needed channel label — and only those — is taken from the PUB socket when
//! it arrived there, else fetched with `Spark_GetChannel`. The frame's region, raster and pitch are read
//! from the returned wave's scaling and note, never copied from the request. `abort()` (from another
//! task, e.g. on Ctrl-C) sends `Spark_Abort` and makes the waiting scan return `Aborted` at once.

use super::link::{LinkError, LinkStats, XopLink};
use super::spark::{self, AbortDoc, Envelope, HelloDoc, JobState, StatusDoc};
use super::token::BridgeToken;
use super::wave::{PubMeta, XopWave, PUB_FRAME_TOPIC};
use super::xop::{codes, Param, ResultValue, XopError};
use crate::error::InstrumentError;
use crate::frame::{unix_now_s, Frame};
use crate::instrument::{Instrument, InstrumentLimits, InstrumentState, InstrumentStatus, ScanRequest};
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Mutex};
use tracing::{debug, info, warn};
use zeromq::{Socket, SocketRecv, SubSocket};

/// How the client reaches and watches the XOP.
#[derive(Debug, Clone, PartialEq)]
pub struct XopClientConfig {
    /// The XOP's ROUTER, e.g. `tcp://127.0.0.1:5670`.
    pub address: String,
    /// The PUB socket to subscribe to; `None`: the address `Spark_Hello` reports (if any).
    pub pub_address: Option<String>,
    /// Take finished layers from the PUB socket when available.
    pub use_pub: bool,
    /// Deadline of every quick call (hello, start, status, ping, abort).
    pub call_timeout: Duration,
    /// Deadline of one `Spark_GetChannel` (a 512² channel is ~10 MB of JSON for Igor to write).
    pub fetch_timeout: Duration,
    /// Consecutive timeouts after which the socket is rebuilt.
    pub rebuild_after_timeouts: u32,
    /// Interval of `Spark_Ping` while a job runs.
    pub ping_interval: Duration,
    /// Interval of `Spark_Status` while a job runs.
    pub status_interval: Duration,
    /// How long to wait for a published layer after the job is done before fetching it.
    pub pub_wait: Duration,
    /// Consecutive failed calls during a job after which the link is declared lost.
    pub lost_after_failures: u32,
}

impl XopClientConfig {
    /// Defaults for `address`: 3 s calls, 60 s fetches, rebuild after 2 timeouts, 1 s pings, 0.5 s
    /// status, 2 s PUB wait, lost after 5 failed calls.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            pub_address: None,
            use_pub: true,
            call_timeout: Duration::from_secs(3),
            fetch_timeout: Duration::from_secs(60),
            rebuild_after_timeouts: 2,
            ping_interval: Duration::from_secs(1),
            status_interval: Duration::from_millis(500),
            pub_wait: Duration::from_secs(2),
            lost_after_failures: 5,
        }
    }
}

/// Where the wall-clock time of the scans went (besides the instrument's own time).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ScanOverhead {
    /// Frames acquired.
    pub frames: u64,
    /// Wall-clock time from `Spark_StartFrame` to the decoded frame, summed, seconds.
    pub wall_s: f64,
    /// Instrument time the frames report, summed, seconds.
    pub instrument_s: f64,
    /// Time in the `Spark_StartFrame` call (incl. a re-hello or a lost-reply probe), summed, seconds.
    pub start_s: f64,
    /// Time between the end of the scan and the saved frame ("saving" state), summed, seconds.
    pub save_wait_s: f64,
    /// Time moving the channels (PUB wait or `Spark_GetChannel`) and decoding them, summed, seconds.
    pub transfer_s: f64,
    /// Reply bytes received while moving the channels (the ROUTER side; PUB bytes are not counted).
    pub transfer_bytes: u64,
    /// Channels that came over PUB.
    pub pub_layers: u64,
    /// Channels fetched with `Spark_GetChannel` (PUB off, or a PUB gap).
    pub fetched_layers: u64,
}

impl ScanOverhead {
    /// Mean wall-clock time the link adds to a frame — the start call, the wait for the saved file and
    /// the transfer of its channels — seconds. (Status polling adds up to one `status_interval` of
    /// latency on top, which is a setting, not a cost of the wire.)
    pub fn mean_link_s(&self) -> f64 {
        if self.frames == 0 {
            0.0
        } else {
            (self.start_s + self.save_wait_s + self.transfer_s) / self.frames as f64
        }
    }
}

type PubCache = Arc<StdMutex<VecDeque<((String, String), XopWave)>>>;

/// Layers received on the PUB socket, newest last (at most 64 kept).
struct PubListener {
    cache: PubCache,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PubListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PubListener {
    async fn start(address: String, timeout: Duration) -> Result<Self, String> {
        let mut options = zeromq::SocketOptions::default();
        options.connect_timeout(timeout);
        let mut socket = SubSocket::with_options(options);
        match tokio::time::timeout(timeout, socket.connect(&address)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("cannot connect to PUB {address}: {e}")),
            Err(_) => return Err(format!("cannot connect to PUB {address} within {:.1} s", timeout.as_secs_f64())),
        }
        socket.subscribe(PUB_FRAME_TOPIC).await.map_err(|e| format!("subscribing on {address}: {e}"))?;
        let cache: PubCache = Arc::default();
        let sink = cache.clone();
        let task = tokio::spawn(async move {
            let mut last_seq: Option<u64> = None;
            while let Ok(message) = socket.recv().await {
                let frames = message.into_vec();
                let [topic, meta, raw, ..] = frames.as_slice() else {
                    warn!("PUB {address}: a message of {} frames (3 expected) ignored", frames.len());
                    continue;
                };
                if topic.as_ref() != PUB_FRAME_TOPIC.as_bytes() {
                    continue;
                }
                let meta: PubMeta = match serde_json::from_slice(meta) {
                    Ok(m) => m,
                    Err(e) => {
                        warn!("PUB {address}: unreadable layer metadata: {e}");
                        continue;
                    }
                };
                if let Some(prev) = last_seq.filter(|p| meta.seq != p + 1) {
                    warn!("PUB {address}: layer sequence jumped from {prev} to {} (gap)", meta.seq);
                }
                last_seq = Some(meta.seq);
                match XopWave::from_pub(&meta, raw) {
                    Ok(wave) => {
                        let mut c = sink.lock().unwrap_or_else(|p| p.into_inner());
                        c.push_back(((meta.job, meta.channel), wave));
                        while c.len() > 64 {
                            c.pop_front();
                        }
                    }
                    Err(e) => warn!("PUB {address}: layer {} of job {}: {e}", meta.channel, meta.job),
                }
            }
        });
        Ok(Self { cache, task })
    }

    fn take(&self, job: &str, label: &str) -> Option<XopWave> {
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let i = c.iter().position(|((j, l), _)| j == job && l == label)?;
        c.remove(i).map(|(_, w)| w)
    }
}

/// An [`Instrument`] behind ZeroMQ-XOP.
pub struct Mfp3dXop {
    config: XopClientConfig,
    token: BridgeToken,
    link: XopLink,
    hello: Mutex<Option<HelloDoc>>,
    publisher: Mutex<Option<PubListener>>,
    abort_tx: watch::Sender<u64>,
    jobs: AtomicU64,
    ping_seq: AtomicU64,
    last_job: StdMutex<Option<String>>,
    overhead: StdMutex<ScanOverhead>,
}

impl std::fmt::Debug for Mfp3dXop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mfp3dXop").field("config", &self.config).finish_non_exhaustive()
    }
}

fn lock<T>(m: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Mfp3dXop {
    /// A client that connects on first use.
    pub fn new(config: XopClientConfig, token: BridgeToken) -> Self {
        let link = XopLink::new(&config.address, config.call_timeout, config.rebuild_after_timeouts);
        let (abort_tx, _) = watch::channel(0);
        Self {
            config,
            token,
            link,
            hello: Mutex::new(None),
            publisher: Mutex::new(None),
            abort_tx,
            jobs: AtomicU64::new(0),
            ping_seq: AtomicU64::new(0),
            last_job: StdMutex::new(None),
            overhead: StdMutex::new(ScanOverhead::default()),
        }
    }

    /// The link (for its wire statistics).
    pub fn link_stats(&self) -> LinkStats {
        self.link.stats()
    }

    /// Where the scans' wall-clock time went.
    pub fn overhead(&self) -> ScanOverhead {
        *lock(&self.overhead)
    }

    fn endpoint(&self) -> &str {
        self.link.endpoint()
    }

    /// Calls any function through the link as it is (no session added): for tools and tests.
    pub async fn call_raw(&self, function: &str, params: &[Param], deadline: Duration) -> Result<ResultValue, LinkError> {
        self.link.call(function, params, deadline).await
    }

    /// The session key of the current hello (saying hello first if needed).
    pub async fn session_key(&self) -> Result<String, InstrumentError> {
        self.session().await
    }

    fn link_error(&self, e: LinkError) -> InstrumentError {
        match e {
            LinkError::Timeout { function, endpoint, after_s } => {
                InstrumentError::Timeout { operation: format!("{function} on {endpoint}"), after_s }
            }
            LinkError::Disconnected { endpoint, reason } => InstrumentError::Disconnected { endpoint, reason },
            LinkError::Xop(XopError::Call { function, code, message })
                if (codes::REQ_PROC_NOT_COMPILED..=codes::REQ_UNSUPPORTED_FUNC_RET).contains(&code) =>
            {
                InstrumentError::Protocol(format!(
                    "{function} on {}: XOP error {code} ({message}); are afm-spark's procedures (AfmSparkXop.ipf) loaded and compiled?",
                    self.endpoint()
                ))
            }
            LinkError::Xop(e) => InstrumentError::Protocol(format!("{}: {e}", self.endpoint())),
        }
    }

    /// Calls a procedure returning one of our JSON documents.
    async fn call_doc<T: serde::de::DeserializeOwned>(
        &self,
        function: &str,
        params: Vec<String>,
        deadline: Duration,
    ) -> Result<Result<T, Envelope>, InstrumentError> {
        let params: Vec<Param> = params.into_iter().map(Param::Str).collect();
        let result = self.link.call(function, &params, deadline).await.map_err(|e| self.link_error(e))?;
        let text = result.into_string(function).map_err(|e| self.link_error(e.into()))?;
        spark::parse_doc(&text, function)
    }

    /// Says hello (the token is never logged) and remembers the session; reuses it when there is one.
    pub async fn hello(&self) -> Result<HelloDoc, InstrumentError> {
        let mut slot = self.hello.lock().await;
        if let Some(h) = slot.as_ref() {
            return Ok(h.clone());
        }
        let doc: HelloDoc = match self.call_doc(spark::HELLO, vec![self.token.expose().to_string()], self.config.call_timeout).await? {
            Ok(d) => d,
            Err(env) => return Err(env.into_error(spark::HELLO, self.endpoint())),
        };
        if doc.spark != spark::SPARK_PROTOCOL {
            return Err(InstrumentError::Protocol(format!(
                "{} speaks afm-spark procedures v{}, this client v{}",
                self.endpoint(),
                doc.spark,
                spark::SPARK_PROTOCOL
            )));
        }
        info!(endpoint = %self.endpoint(), backend = %doc.backend, watchdog_s = doc.watchdog_s, pub_address = %doc.pub_address, "ZeroMQ-XOP connected");
        let pub_address = self.config.pub_address.clone().unwrap_or_else(|| doc.pub_address.clone());
        if self.config.use_pub && !pub_address.is_empty() {
            match PubListener::start(pub_address.clone(), self.config.call_timeout).await {
                Ok(l) => *self.publisher.lock().await = Some(l),
                Err(e) => warn!("{e}; every channel will be fetched with {}", spark::GET_CHANNEL),
            }
        }
        *slot = Some(doc.clone());
        Ok(doc)
    }

    async fn session(&self) -> Result<String, InstrumentError> {
        Ok(self.hello().await?.session)
    }

    /// Forgets the session (after `unauthorized`: Igor restarted, or another client said hello).
    async fn forget_session(&self) {
        *self.hello.lock().await = None;
    }

    async fn job_status(&self, session: &str, job: &str) -> Result<Result<StatusDoc, Envelope>, InstrumentError> {
        self.call_doc(spark::STATUS, vec![session.to_string(), job.to_string()], self.config.call_timeout).await
    }

    /// Starts `job`; a start whose reply was lost is recognised by asking for the job's status.
    async fn start(&self, request: &ScanRequest, job: &str) -> Result<StatusDoc, InstrumentError> {
        for attempt in 0..2 {
            let session = self.session().await?;
            let params = spark::start_params(&session, job, request);
            match self.call_doc::<StatusDoc>(spark::START_FRAME, params, self.config.call_timeout).await {
                Ok(Ok(doc)) => return Ok(doc),
                Ok(Err(env)) if env.error == Some(spark::SparkErrorCode::Unauthorized) && attempt == 0 => {
                    warn!("{}: session no longer valid ({}); saying hello again", self.endpoint(), env.message);
                    self.forget_session().await;
                }
                Ok(Err(env)) => return Err(env.into_error(spark::START_FRAME, self.endpoint())),
                Err(e @ InstrumentError::Timeout { .. }) => {
                    // Did the frame start anyway? The job id makes the start idempotent to ask about.
                    return match self.job_status(&session, job).await {
                        Ok(Ok(doc)) => {
                            info!(job, "the start reply was lost, but the job runs");
                            Ok(doc)
                        }
                        _ => Err(e),
                    };
                }
                Err(e) => return Err(e),
            }
        }
        Err(InstrumentError::Instrument { code: "unauthorized".into(), message: format!("{} refused a fresh session", self.endpoint()) })
    }

    /// Pings and polls until the job is done; returns its final status.
    async fn watch_job(&self, session: &str, job: &str, request: &ScanRequest) -> Result<(StatusDoc, f64), InstrumentError> {
        let mut abort_rx = self.abort_tx.subscribe();
        abort_rx.borrow_and_update();
        let start = tokio::time::Instant::now();
        let (mut next_ping, mut next_status) = (start, start + self.config.status_interval);
        let mut failures = 0u32;
        let mut saving_since: Option<Instant> = None;
        loop {
            let wake = next_ping.min(next_status);
            tokio::select! {
                changed = abort_rx.changed() => {
                    if changed.is_ok() {
                        return Err(InstrumentError::Aborted(format!("{} (job {job}) aborted on request", request.describe())));
                    }
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
            let now = tokio::time::Instant::now();
            if now >= next_ping {
                next_ping += self.config.ping_interval;
                let seq = self.ping_seq.fetch_add(1, Ordering::Relaxed);
                let params = vec![Param::Str(session.to_string()), Param::Num(seq as f64)];
                match self.link.call(spark::PING, &params, self.config.call_timeout).await {
                    Ok(_) => failures = 0,
                    Err(e) => {
                        failures += 1;
                        warn!("ping {seq} of job {job} failed: {e}");
                    }
                }
            }
            if now >= next_status {
                next_status += self.config.status_interval;
                match self.job_status(session, job).await {
                    Ok(Ok(doc)) => {
                        failures = 0;
                        match doc.state {
                            JobState::Done => {
                                let save_wait = saving_since.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
                                return Ok((doc, save_wait));
                            }
                            JobState::Aborted => {
                                return Err(InstrumentError::Aborted(format!("job {job} on {}: {}", self.endpoint(), doc.message)))
                            }
                            JobState::Failed => {
                                return Err(InstrumentError::Instrument {
                                    code: "frame_failed".into(),
                                    message: format!("job {job} on {}: {}", self.endpoint(), doc.message),
                                })
                            }
                            JobState::Saving => {
                                saving_since.get_or_insert_with(Instant::now);
                            }
                            JobState::Scanning | JobState::Idle => debug!(job, line = doc.line, lines = doc.lines, "scanning"),
                        }
                    }
                    Ok(Err(env)) => return Err(env.into_error(spark::STATUS, self.endpoint())),
                    Err(e) => {
                        failures += 1;
                        warn!("status of job {job} failed: {e}");
                    }
                }
            }
            if failures >= self.config.lost_after_failures {
                return Err(InstrumentError::Disconnected {
                    endpoint: self.endpoint().to_string(),
                    reason: format!("{failures} calls in a row failed during job {job} (Igor's watchdog stops the frame)"),
                });
            }
        }
    }

    /// One channel: from the PUB cache (waiting until `deadline`), else `Spark_GetChannel`.
    async fn channel_wave(&self, session: &str, job: &str, label: &str, deadline: Instant) -> Result<(XopWave, bool), InstrumentError> {
        if let Some(listener) = self.publisher.lock().await.as_ref() {
            loop {
                if let Some(w) = listener.take(job, label) {
                    return Ok((w, true));
                }
                if Instant::now() >= deadline {
                    warn!("PUB gap: {label} of job {job} did not arrive; fetching it with {}", spark::GET_CHANNEL);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let params = [Param::Str(session.into()), Param::Str(job.into()), Param::Str(label.into())];
        let result = self.link.call(spark::GET_CHANNEL, &params, self.config.fetch_timeout).await.map_err(|e| self.link_error(e))?;
        if result.kind != "wave" {
            return Err(InstrumentError::Protocol(format!("{} returned a {}, not a wave", spark::GET_CHANNEL, result.kind)));
        }
        let wave = XopWave::from_json(result.value.get()).map_err(|e| {
            InstrumentError::Data(format!(
                "{}({job}, {label}) on {}: {e} (wrong session, job not saved, or no such channel)",
                spark::GET_CHANNEL,
                self.endpoint()
            ))
        })?;
        Ok((wave, false))
    }

    async fn acquire(&self, request: &ScanRequest) -> Result<Frame, InstrumentError> {
        let started = Instant::now();
        let job = format!("j{:x}-{}", (unix_now_s() * 1e3) as u64, self.jobs.fetch_add(1, Ordering::Relaxed));
        *lock(&self.last_job) = Some(job.clone());
        let first = self.start(request, &job).await?;
        let start_s = started.elapsed().as_secs_f64();
        let session = self.session().await?;
        debug!(job, state = ?first.state, "frame started");
        let (done, save_wait_s) = self.watch_job(&session, &job, request).await?;
        let transfer_started = Instant::now();
        let bytes_before = self.link.stats().bytes_in;
        let labels = spark::labels(&request.channels, request.directions);
        let deadline = Instant::now() + self.config.pub_wait;
        let mut channels = Vec::with_capacity(labels.len());
        let mut geometry = None;
        let (mut via_pub, mut fetched) = (0u64, 0u64);
        let mut modified = None;
        for label in &labels {
            let (wave, from_pub) = self.channel_wave(&session, &job, label, deadline).await?;
            if from_pub {
                via_pub += 1;
            } else {
                fetched += 1;
            }
            let g = wave.header.geometry().map_err(|e| InstrumentError::Data(format!("{label} of job {job}: {e}")))?;
            if let Some(d) = &g.disagreement {
                warn!("{label} of job {job}: {d}");
            }
            match &geometry {
                None => geometry = Some(g),
                Some(first) if first.raster != g.raster || first.region != g.region => {
                    return Err(InstrumentError::Data(format!(
                        "job {job}: {label} is {:?} over {:?}, the first channel {:?} over {:?}",
                        g.raster, g.region, first.raster, first.region
                    )))
                }
                Some(_) => {}
            }
            modified = wave.header.date.as_ref().map(|d| d.modification).filter(|m| *m > 0).or(modified);
            channels.push(wave.channel(label).map_err(|e| InstrumentError::Data(format!("{label} of job {job}: {e}")))?);
        }
        let transfer_s = transfer_started.elapsed().as_secs_f64();
        let g = geometry.ok_or_else(|| InstrumentError::Data(format!("job {job}: no channel requested")))?;
        let frame = Frame {
            region: g.region,
            raster: g.raster,
            line_rate_hz: g.line_rate_hz.unwrap_or(request.line_rate_hz),
            channels,
            instrument_time_s: done.elapsed_s,
            acquired_at_unix_s: modified.map(|m| m as f64).unwrap_or_else(unix_now_s),
        };
        debug!(job, start_s, save_wait_s, transfer_s, via_pub, fetched, "frame decoded");
        let mut o = lock(&self.overhead);
        o.frames += 1;
        o.wall_s += started.elapsed().as_secs_f64();
        o.instrument_s += done.elapsed_s;
        o.start_s += start_s;
        o.save_wait_s += save_wait_s;
        o.transfer_s += transfer_s;
        o.transfer_bytes += self.link.stats().bytes_in.saturating_sub(bytes_before);
        o.pub_layers += via_pub;
        o.fetched_layers += fetched;
        Ok(frame)
    }
}

#[async_trait]
impl Instrument for Mfp3dXop {
    fn name(&self) -> String {
        format!("mfp3d-xop@{}", self.endpoint())
    }

    async fn limits(&self) -> Result<InstrumentLimits, InstrumentError> {
        Ok(self.hello().await?.limits)
    }

    async fn scan(&self, request: &ScanRequest) -> Result<Frame, InstrumentError> {
        self.acquire(request).await
    }

    async fn abort(&self) -> Result<(), InstrumentError> {
        // Spark_Abort first, then wake the waiting scan: once the scan has returned `Aborted`, the
        // instrument has been told (a process that exits on that error must not beat the abort).
        let session = self.hello.lock().await.as_ref().map(|h| h.session.clone());
        let result = match session {
            None => Ok(()), // never connected: nothing can be running for us
            Some(session) => match self.call_doc::<AbortDoc>(spark::ABORT, vec![session], self.config.call_timeout).await {
                Ok(Ok(doc)) => {
                    info!(was_scanning = doc.was_scanning, job = %doc.job, "Spark_Abort acknowledged");
                    Ok(())
                }
                Ok(Err(env)) => Err(env.into_error(spark::ABORT, self.endpoint())),
                Err(e) => Err(e),
            },
        };
        self.abort_tx.send_modify(|g| *g = g.wrapping_add(1));
        result
    }

    async fn status(&self) -> Result<InstrumentStatus, InstrumentError> {
        let session = self.session().await?;
        let job = lock(&self.last_job).clone().unwrap_or_default();
        let state = match self.job_status(&session, &job).await? {
            Ok(doc) => match doc.state {
                JobState::Scanning | JobState::Saving => InstrumentState::Scanning { line: doc.line, lines: doc.lines },
                JobState::Failed => InstrumentState::Fault { message: doc.message },
                JobState::Done | JobState::Aborted | JobState::Idle => InstrumentState::Idle,
            },
            Err(env) => return Err(env.into_error(spark::STATUS, self.endpoint())),
        };
        Ok(InstrumentStatus { backend: self.name(), state })
    }
}
