//! The bridge protocol's messages as plain serde types (version 1, see `PROTOCOL.md`): requests
//! (`hello`, `scan`, `abort`, `status`), replies (`ok`, `error`) and the events sent while a frame
//! scans (`progress`, `heartbeat`), plus the mapping between wire error codes and [`InstrumentError`].
//! Pure data: no I/O here.

use super::token::BridgeToken;
use crate::error::{ErrorKind, InstrumentError};
use crate::instrument::{InstrumentLimits, ScanRequest};
use serde::{Deserialize, Serialize};

/// The protocol version every message carries in `v`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest request line a bridge accepts by default, bytes (requests are small).
pub const DEFAULT_MAX_REQUEST_LINE_BYTES: usize = 64 * 1024;

/// Longest reply line a client accepts by default, bytes (a reply can carry a whole `.ibw` in base64:
/// 4 channels of 2048² `f32` take 64 MiB, 85 MiB as base64).
pub const DEFAULT_MAX_REPLY_LINE_BYTES: usize = 128 * 1024 * 1024;

/// The payload format the bridge returns frames in.
pub const PAYLOAD_FORMAT_IBW: &str = "ibw";

/// A request line: `{"v":1,"id":7,"op":"scan",...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Protocol version, [`PROTOCOL_VERSION`].
    pub v: u32,
    /// Request id chosen by the client; every reply and event for this request carries it.
    pub id: u64,
    /// The operation and its arguments.
    #[serde(flatten)]
    pub body: RequestBody,
}

/// The operations a client can ask for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RequestBody {
    /// Authenticate with the shared token; the reply carries the instrument's limits ([`HelloResult`]).
    Hello {
        /// The shared secret (a missing token is refused like a wrong one).
        #[serde(default)]
        token: Option<BridgeToken>,
    },
    /// Acquire one frame (Igor: set `ScanSize`, ratios, points/lines, `ScanRate`, offsets, `ScanAngle`,
    /// then `DoScanFunc("DoScan_0")` with `LastScan` set). Reply: [`ScanResult`].
    Scan(ScanRequest),
    /// Stop the frame in flight (Igor: `DoScanFunc("StopScan_0")`). Idempotent. Reply: [`AbortResult`].
    Abort,
    /// What the instrument is doing. Reply: [`crate::InstrumentStatus`].
    Status,
}

impl RequestBody {
    /// The `op` name of this request, for logs and errors.
    pub fn op(&self) -> &'static str {
        match self {
            RequestBody::Hello { .. } => "hello",
            RequestBody::Scan(_) => "scan",
            RequestBody::Abort => "abort",
            RequestBody::Status => "status",
        }
    }
}

/// A reply or event line: `{"v":1,"id":7,"op":"ok","result":{...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// Protocol version, [`PROTOCOL_VERSION`].
    pub v: u32,
    /// The id of the request this answers; `null` when the request line was unreadable.
    pub id: Option<u64>,
    /// What is being said.
    #[serde(flatten)]
    pub body: ReplyBody,
}

/// Everything a bridge sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ReplyBody {
    /// The request succeeded; `result`'s shape depends on the request's op.
    Ok {
        /// [`HelloResult`], [`ScanResult`], [`AbortResult`] or [`crate::InstrumentStatus`].
        result: serde_json::Value,
    },
    /// The request failed. Final.
    Error(ErrorBody),
    /// A scan has finished `line` of `lines` lines. Not final.
    Progress {
        /// Lines done.
        line: usize,
        /// Lines in the frame.
        lines: usize,
    },
    /// The scan is still running. Sent every heartbeat interval while a frame scans. Not final.
    Heartbeat {
        /// Time since the scan started, seconds.
        elapsed_s: f64,
    },
}

impl Reply {
    /// A reply of version [`PROTOCOL_VERSION`].
    pub fn new(id: Option<u64>, body: ReplyBody) -> Self {
        Self { v: PROTOCOL_VERSION, id, body }
    }

    /// An `ok` reply carrying `result`.
    pub fn ok<T: Serialize>(id: u64, result: &T) -> Self {
        let result = serde_json::to_value(result).unwrap_or(serde_json::Value::Null);
        Self::new(Some(id), ReplyBody::Ok { result })
    }

    /// An `error` reply.
    pub fn error(id: Option<u64>, body: ErrorBody) -> Self {
        Self::new(id, ReplyBody::Error(body))
    }
}

/// Result of `hello`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HelloResult {
    /// The bridge implementation, e.g. "afm-spark-bridge 0.1.0" or "AfmSparkBridge.ipf 1".
    pub bridge: String,
    /// The instrument behind the bridge, e.g. "simulator" or "MFP-3D".
    pub backend: String,
    /// The instrument's limits.
    pub limits: InstrumentLimits,
    /// How often the bridge sends a heartbeat while a frame scans, seconds.
    pub heartbeat_interval_s: f64,
    /// Longest request line the bridge accepts, bytes.
    pub max_request_line_bytes: usize,
    /// The format of scan payloads ("ibw").
    pub payload_format: String,
}

/// Result of `scan`: the saved frame file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanResult {
    /// The payload's format ("ibw").
    pub format: String,
    /// The file's bytes, standard base64 with padding.
    pub payload_b64: String,
}

/// Result of `abort`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbortResult {
    /// Whether a frame was in flight and has been told to stop.
    pub was_scanning: bool,
}

/// Wire error codes: every [`ErrorKind`] plus `unauthorized`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Missing or wrong token, or an op before a successful `hello`.
    Unauthorized,
    /// [`ErrorKind::OutOfRange`].
    OutOfRange,
    /// [`ErrorKind::Unsupported`].
    Unsupported,
    /// [`ErrorKind::Busy`]: a scan is already running.
    Busy,
    /// [`ErrorKind::Timeout`].
    Timeout,
    /// [`ErrorKind::Aborted`].
    Aborted,
    /// [`ErrorKind::LostContact`].
    LostContact,
    /// [`ErrorKind::TipCrash`].
    TipCrash,
    /// [`ErrorKind::Disconnected`]: the bridge lost its instrument.
    Disconnected,
    /// [`ErrorKind::Protocol`]: unreadable, oversize or unknown request.
    Protocol,
    /// [`ErrorKind::Instrument`].
    Instrument,
    /// [`ErrorKind::Data`].
    Data,
}

impl From<ErrorKind> for ErrorCode {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::OutOfRange => ErrorCode::OutOfRange,
            ErrorKind::Unsupported => ErrorCode::Unsupported,
            ErrorKind::Busy => ErrorCode::Busy,
            ErrorKind::Timeout => ErrorCode::Timeout,
            ErrorKind::Aborted => ErrorCode::Aborted,
            ErrorKind::LostContact => ErrorCode::LostContact,
            ErrorKind::TipCrash => ErrorCode::TipCrash,
            ErrorKind::Disconnected => ErrorCode::Disconnected,
            ErrorKind::Protocol => ErrorCode::Protocol,
            ErrorKind::Instrument => ErrorCode::Instrument,
            ErrorKind::Data => ErrorCode::Data,
        }
    }
}

/// The body of an `error` reply: a code, a message, and the structured fields some codes carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub code: ErrorCode,
    /// A human-readable explanation (for `out_of_range`: the whole sentence).
    pub message: String,
    /// `out_of_range`: the parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub what: Option<String>,
    /// `out_of_range`: the requested value with its unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `out_of_range`: the allowed range with its unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<String>,
    /// `timeout`: how long the bridge waited, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_s: Option<f64>,
    /// `instrument`: the instrument's own error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instrument_code: Option<String>,
}

impl ErrorBody {
    /// An error with only a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), what: None, value: None, allowed: None, after_s: None, instrument_code: None }
    }

    /// The wire form of `error`.
    pub fn from_error(error: &InstrumentError) -> Self {
        let mut body = Self::new(error.kind().into(), inner_message(error));
        match error {
            InstrumentError::OutOfRange { what, value, allowed } => {
                body.message = error.to_string();
                body.what = Some(what.clone());
                body.value = Some(value.clone());
                body.allowed = Some(allowed.clone());
            }
            InstrumentError::Timeout { after_s, .. } => body.after_s = Some(*after_s),
            InstrumentError::Instrument { code, .. } => body.instrument_code = Some(code.clone()),
            _ => {}
        }
        body
    }

    /// The [`InstrumentError`] this wire error stands for, as seen by a client of `endpoint`.
    pub fn into_error(self, endpoint: &str) -> InstrumentError {
        let m = self.message;
        match self.code {
            ErrorCode::Unauthorized => InstrumentError::Instrument { code: "unauthorized".into(), message: m },
            ErrorCode::OutOfRange => InstrumentError::OutOfRange {
                what: self.what.unwrap_or_else(|| "request".into()),
                value: self.value.unwrap_or_else(|| m.clone()),
                allowed: self.allowed.unwrap_or_else(|| "see the bridge's limits".into()),
            },
            ErrorCode::Unsupported => InstrumentError::Unsupported { backend: endpoint.to_string(), capability: m },
            ErrorCode::Busy => InstrumentError::Busy(m),
            ErrorCode::Timeout => InstrumentError::Timeout { operation: m, after_s: self.after_s.unwrap_or(0.0) },
            ErrorCode::Aborted => InstrumentError::Aborted(m),
            ErrorCode::LostContact => InstrumentError::LostContact(m),
            ErrorCode::TipCrash => InstrumentError::TipCrash(m),
            ErrorCode::Disconnected => InstrumentError::Disconnected { endpoint: format!("the instrument behind {endpoint}"), reason: m },
            ErrorCode::Protocol => InstrumentError::Protocol(format!("bridge says: {m}")),
            ErrorCode::Instrument => {
                InstrumentError::Instrument { code: self.instrument_code.unwrap_or_else(|| "instrument".into()), message: m }
            }
            ErrorCode::Data => InstrumentError::Data(m),
        }
    }
}

/// The message part of an error without the kind's prefix, so it is not repeated after a round trip.
fn inner_message(error: &InstrumentError) -> String {
    match error {
        InstrumentError::Busy(m)
        | InstrumentError::Aborted(m)
        | InstrumentError::LostContact(m)
        | InstrumentError::TipCrash(m)
        | InstrumentError::Protocol(m)
        | InstrumentError::Data(m) => m.clone(),
        InstrumentError::Timeout { operation, .. } => operation.clone(),
        InstrumentError::Unsupported { capability, .. } => capability.clone(),
        InstrumentError::Disconnected { endpoint, reason } => format!("{endpoint}: {reason}"),
        InstrumentError::Instrument { message, .. } => message.clone(),
        InstrumentError::OutOfRange { .. } => error.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::geometry::{Raster, ScanRegion};
    use crate::instrument::Directions;

    fn scan_request() -> ScanRequest {
        ScanRequest {
            region: ScanRegion::square(1e-6, -2e-6, 5e-6),
            raster: Raster::new(64, 32),
            line_rate_hz: 2.0,
            channels: vec!["Height".into()],
            directions: Directions::Both,
        }
    }

    #[test]
    fn requests_have_the_documented_wire_shape() {
        let req = Request { v: 1, id: 7, body: RequestBody::Scan(scan_request()) };
        let json: serde_json::Value = serde_json::to_value(&req).unwrap();
        assert_eq!(json["op"], "scan");
        assert_eq!(json["id"], 7);
        assert_eq!(json["v"], 1);
        assert_eq!(json["region"]["width_m"], 5e-6);
        assert_eq!(json["raster"]["points"], 64);
        assert_eq!(json["directions"], "both");
        let back: Request = serde_json::from_value(json).unwrap();
        assert_eq!(back, req);

        let hello = r#"{"v":1,"id":1,"op":"hello","token":"abc"}"#;
        let parsed: Request = serde_json::from_str(hello).unwrap();
        assert!(matches!(parsed.body, RequestBody::Hello { token: Some(ref t) } if t.expose() == "abc"));
        let anonymous: Request = serde_json::from_str(r#"{"v":1,"id":1,"op":"hello"}"#).unwrap();
        assert_eq!(anonymous.body, RequestBody::Hello { token: None });
        let abort: Request = serde_json::from_str(r#"{"v":1,"id":2,"op":"abort"}"#).unwrap();
        assert_eq!(abort.body, RequestBody::Abort);
    }

    #[test]
    fn replies_and_events_round_trip() {
        for reply in [
            Reply::ok(3, &AbortResult { was_scanning: true }),
            Reply::new(Some(4), ReplyBody::Progress { line: 3, lines: 64 }),
            Reply::new(Some(4), ReplyBody::Heartbeat { elapsed_s: 1.5 }),
            Reply::error(None, ErrorBody::new(ErrorCode::Protocol, "unreadable")),
        ] {
            let line = serde_json::to_string(&reply).unwrap();
            assert!(!line.contains('\n'));
            assert_eq!(serde_json::from_str::<Reply>(&line).unwrap(), reply, "{line}");
        }
        let line = r#"{"v":1,"id":9,"op":"error","code":"busy","message":"scan 3 running"}"#;
        let reply: Reply = serde_json::from_str(line).unwrap();
        assert_eq!(reply.body, ReplyBody::Error(ErrorBody::new(ErrorCode::Busy, "scan 3 running")));
    }

    #[test]
    fn every_error_kind_survives_the_wire() {
        let errors = vec![
            InstrumentError::out_of_range("line rate", "500 Hz", "0.1 … 10 Hz"),
            InstrumentError::Busy("scan 3 running".into()),
            InstrumentError::Timeout { operation: "scan".into(), after_s: 12.5 },
            InstrumentError::Aborted("by request".into()),
            InstrumentError::LostContact("feedback saturated".into()),
            InstrumentError::TipCrash("z limit".into()),
            InstrumentError::Data("bad wave".into()),
            InstrumentError::Instrument { code: "ARC2-17".into(), message: "controller".into() },
        ];
        for e in errors {
            let body = ErrorBody::from_error(&e);
            let line = serde_json::to_string(&Reply::error(Some(1), body)).unwrap();
            let Reply { body: ReplyBody::Error(back), .. } = serde_json::from_str(&line).unwrap() else { panic!("{line}") };
            assert_eq!(back.into_error("bridge"), e, "{line}");
        }
        let unauthorized = ErrorBody::new(ErrorCode::Unauthorized, "wrong token").into_error("b");
        assert_eq!(unauthorized.kind(), ErrorKind::Instrument);
        assert_eq!(ErrorBody::new(ErrorCode::Protocol, "x").into_error("b").kind(), ErrorKind::Protocol);
    }
}
