//! afm-spark's Igor procedures (`drivers/mfp3d/igor/AfmSparkXop.ipf`) as the client calls them through
//! the XOP: their names, their parameters (all strings, so numbers keep 17 significant digits — the
//! XOP would round a number parameter to 15) and the small JSON documents they return as strings.
//! Every document has `ok`; a failure has `error` (one of [`SparkErrorCode`]) and `message`.

use crate::error::InstrumentError;
use crate::instrument::{Directions, InstrumentLimits, ScanRequest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Version of the procedure set (`Spark_Hello` reports it).
pub const SPARK_PROTOCOL: u32 = 1;

/// `Spark_Hello(token)`.
pub const HELLO: &str = "Spark_Hello";
/// `Spark_StartFrame(session, job, cx, cy, width, height, angle, points, lines, rate, channels, directions)`.
pub const START_FRAME: &str = "Spark_StartFrame";
/// `Spark_Status(session, job)`.
pub const STATUS: &str = "Spark_Status";
/// `Spark_Abort(session)`.
pub const ABORT: &str = "Spark_Abort";
/// `Spark_Ping(session, seq)` — `seq` is the one `Variable` parameter.
pub const PING: &str = "Spark_Ping";
/// `Spark_GetChannel(session, job, label)` → a wave.
pub const GET_CHANNEL: &str = "Spark_GetChannel";

/// A number as a parameter string: Rust's shortest round-trip form (Igor's `str2num` reads it exactly).
pub fn num(v: f64) -> String {
    format!("{v:e}")
}

/// Asylum channel labels for `channels` × `directions`, e.g. `HeightTrace`.
pub fn labels(channels: &[String], directions: Directions) -> Vec<String> {
    channels.iter().flat_map(|c| directions.list().iter().map(move |d| super::wave::label(c, *d))).collect()
}

/// The parameters of `Spark_StartFrame` for `request`.
pub fn start_params(session: &str, job: &str, request: &ScanRequest) -> Vec<String> {
    let r = &request.region;
    vec![
        session.to_string(),
        job.to_string(),
        num(r.center_x_m),
        num(r.center_y_m),
        num(r.width_m),
        num(r.height_m),
        num(r.angle_deg),
        request.raster.points.to_string(),
        request.raster.lines.to_string(),
        num(request.line_rate_hz),
        request.channels.iter().map(|c| format!("{c};")).collect(),
        request.directions.name().to_string(),
    ]
}

/// Error codes of our procedures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SparkErrorCode {
    /// Wrong token, or a session that is not (or no longer) the current one.
    Unauthorized,
    /// A frame is already running.
    Busy,
    /// The request is outside the safe limits; nothing moved.
    OutOfRange,
    /// A parameter could not be read.
    BadParams,
    /// No such job (or not the last one).
    UnknownJob,
    /// The job has no saved frame (yet), or not that channel.
    NotReady,
    /// The instrument software reported an error.
    Instrument,
}

/// The common part of every document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Success.
    pub ok: bool,
    /// Error code when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<SparkErrorCode>,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl Envelope {
    /// A failure document.
    pub fn failure(code: SparkErrorCode, message: impl Into<String>) -> Self {
        Self { ok: false, error: Some(code), message: message.into() }
    }

    /// The error an instrument caller sees.
    pub fn into_error(self, function: &str, endpoint: &str) -> InstrumentError {
        let msg = format!("{function} on {endpoint}: {}", self.message);
        match self.error {
            Some(SparkErrorCode::Busy) => InstrumentError::Busy(msg),
            Some(SparkErrorCode::OutOfRange) => InstrumentError::out_of_range("scan request", msg, "the limits Spark_Hello reported"),
            Some(SparkErrorCode::Unauthorized) => InstrumentError::Instrument { code: "unauthorized".into(), message: msg },
            Some(SparkErrorCode::BadParams) => InstrumentError::Protocol(msg),
            Some(SparkErrorCode::UnknownJob | SparkErrorCode::NotReady) => InstrumentError::Data(msg),
            Some(SparkErrorCode::Instrument) | None => InstrumentError::Instrument { code: "instrument".into(), message: msg },
        }
    }
}

/// Reads a document: the typed body when `ok`, else the failure envelope.
pub fn parse_doc<T: DeserializeOwned>(text: &str, function: &str) -> Result<Result<T, Envelope>, InstrumentError> {
    let env: Envelope =
        serde_json::from_str(text).map_err(|e| InstrumentError::Protocol(format!("{function} returned {text:?}, not our JSON: {e}")))?;
    if !env.ok {
        return Ok(Err(env));
    }
    serde_json::from_str(text).map(Ok).map_err(|e| InstrumentError::Protocol(format!("{function} returned {text:?}: {e}")))
}

/// `Spark_Hello`'s document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HelloDoc {
    /// Always true here.
    pub ok: bool,
    /// [`SPARK_PROTOCOL`] of the procedures.
    pub spark: u32,
    /// Session key: every other call must present it; a new hello replaces it.
    pub session: String,
    /// What answers: e.g. "Igor 9.05 / AR 16.14" or "afm-spark fake XOP (simulator)".
    pub backend: String,
    /// Safe limits (every request is checked against them before anything moves).
    pub limits: InstrumentLimits,
    /// A job without a ping for this long is stopped, seconds.
    pub watchdog_s: f64,
    /// The procedures poll the instrument software at most this often, Hz.
    pub poll_hz: f64,
    /// Where finished layers are published (`zeromq_pub_send_multi`), "" when not.
    #[serde(default)]
    pub pub_address: String,
}

/// The state of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// No job: `Spark_Status` was asked about job "" and none is known.
    Idle,
    /// The frame is being scanned.
    Scanning,
    /// The scan ended; waiting for the saved frame.
    Saving,
    /// The frame is saved and its channels can be fetched.
    Done,
    /// Stopped by `Spark_Abort` or by the watchdog (`message` says which).
    Aborted,
    /// The instrument software failed the frame (`message`).
    Failed,
}

/// `Spark_Status`'s (and `Spark_StartFrame`'s) document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusDoc {
    /// Always true here.
    pub ok: bool,
    /// The job.
    pub job: String,
    /// Its state.
    pub state: JobState,
    /// Lines scanned so far.
    pub line: usize,
    /// Lines of the frame.
    pub lines: usize,
    /// Instrument time since the frame started (final when done), seconds.
    pub elapsed_s: f64,
    /// The saved file (when done).
    #[serde(default)]
    pub path: String,
    /// Channel labels that can be fetched (when done).
    #[serde(default)]
    pub channels: Vec<String>,
    /// Why it was aborted or failed.
    #[serde(default)]
    pub message: String,
}

/// `Spark_Abort`'s document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbortDoc {
    /// Always true here.
    pub ok: bool,
    /// Whether a frame was running.
    pub was_scanning: bool,
    /// The job that was stopped ("" if none).
    #[serde(default)]
    pub job: String,
}

/// `Spark_Ping`'s document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PingDoc {
    /// Always true here.
    pub ok: bool,
    /// The sequence number sent.
    pub seq: f64,
    /// Whether this ping fed the watchdog of a running job of this session.
    pub fed: bool,
}
