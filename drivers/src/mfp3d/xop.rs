//! The ZeroMQ-XOP message format (AllenInstitute/ZeroMQ-XOP, read in its source: `RequestInterface.cpp`,
//! `CallFunctionOperation.cpp`, `CallFunctionParameterHandler.cpp`, `Errors.h`): the request a client
//! sends, the reply Igor sends back, the XOP's error codes and its 1024-byte cap on incoming messages.
//!
//! Request: `{"version":1,"messageID":"…","CallFunction":{"name":"F","params":[…]}}` — `version` the
//! integer 1, `messageID` optional (1–255 characters), `params` strings, numbers or booleans. The XOP
//! turns every parameter into a string first: numbers with `{:.15g}` (15 significant digits), booleans as
//! `1`/`0`; a `Variable` parameter is then read back with `strtod`. Reply: `{"errorCode":{"value":0},
//! "messageID":"…","result":{"type":"string","value":"…"}}`, or `{"errorCode":{"value":C,"msg":"…"},
//! "messageID":"…"}` on failure (no `messageID` when the request itself could not be read). Igor writes
//! replies pretty-printed with an indent of 4 and keys in alphabetical order.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use thiserror::Error;

/// The XOP's cap on one incoming message (its ROUTER socket's `ZMQ_MAXMSGSIZE`), bytes. A larger message
/// makes libzmq drop the connection; nothing is answered.
pub const MAX_REQUEST_BYTES: usize = 1024;

/// The request interface version the XOP accepts (the integer 1).
pub const REQUEST_VERSION: i64 = 1;

/// Longest `messageID` the XOP accepts, characters.
pub const MAX_MESSAGE_ID_LEN: usize = 255;

/// Identity the XOP's ROUTER socket announces (`ZMQ_IDENTITY` in `GlobalData.cpp`).
pub const ROUTER_IDENTITY: &str = "zeromq xop: router";

/// Topic of the heartbeat the XOP publishes every 5 s on a bound PUB socket (`HeartbeatPublisher.cpp`).
pub const PUB_HEARTBEAT_TOPIC: &str = "heartbeat";

/// Error codes of the request interface (`Errors.h`), with the XOP's messages.
pub mod codes {
    /// Success.
    pub const REQ_SUCCESS: i64 = 0;
    /// Unknown error.
    pub const REQ_UNKNOWN_ERROR: i64 = 1;
    /// The message is not JSON.
    pub const REQ_INVALID_JSON_OBJECT: i64 = 3;
    /// `version` missing or not the integer 1.
    pub const REQ_INVALID_VERSION: i64 = 4;
    /// No `CallFunction` object.
    pub const REQ_INVALID_OPERATION: i64 = 5;
    /// `CallFunction` has other keys than `name`/`params`, or `name` is not a string.
    pub const REQ_INVALID_OPERATION_FORMAT: i64 = 6;
    /// `messageID` not a string of 1–255 characters.
    pub const REQ_INVALID_MESSAGEID: i64 = 7;
    /// Out of memory.
    pub const REQ_OUT_OF_MEMORY: i64 = 8;
    /// Igor's procedures are not compiled.
    pub const REQ_PROC_NOT_COMPILED: i64 = 100;
    /// No such (non-static ProcGlobal) function.
    pub const REQ_NON_EXISTING_FUNCTION: i64 = 101;
    /// Fewer parameters than the function takes.
    pub const REQ_TOO_FEW_FUNCTION_PARAMS: i64 = 102;
    /// More parameters than the function takes.
    pub const REQ_TOO_MANY_FUNCTION_PARAMS: i64 = 103;
    /// A parameter type the XOP cannot pass.
    pub const REQ_UNSUPPORTED_FUNC_SIG: i64 = 104;
    /// A return type the XOP cannot serialise.
    pub const REQ_UNSUPPORTED_FUNC_RET: i64 = 105;
    /// `params` not an array, an element not a string/number/boolean, or a `Variable` parameter that is not a number.
    pub const REQ_INVALID_PARAM_FORMAT: i64 = 106;
    /// The function aborted part-way.
    pub const REQ_FUNCTION_ABORTED: i64 = 107;

    /// The XOP's message for `code` (`RequestInterfaceException.cpp`).
    pub fn message(code: i64) -> &'static str {
        match code {
            REQ_UNKNOWN_ERROR => "Unknown error in request interface.",
            REQ_INVALID_JSON_OBJECT => "The string is not a valid json object.",
            REQ_INVALID_VERSION => "Request interface version is missing or invalid.",
            REQ_INVALID_OPERATION => "Unknown operation type.",
            REQ_INVALID_OPERATION_FORMAT => "Invalid operation format.",
            REQ_INVALID_MESSAGEID => "Invalid optional messageID.",
            REQ_OUT_OF_MEMORY => "Request cancelled due to Out Of Memory condition.",
            REQ_NON_EXISTING_FUNCTION => "CallFunction: Unknown function.",
            REQ_PROC_NOT_COMPILED => "Procedures are not compiled.",
            REQ_TOO_FEW_FUNCTION_PARAMS => "CallFunction: Too few parameters.",
            REQ_TOO_MANY_FUNCTION_PARAMS => "CallFunction: Too many parameters.",
            REQ_UNSUPPORTED_FUNC_SIG => "CallFunction: Unsupported function signature.",
            REQ_UNSUPPORTED_FUNC_RET => "CallFunction: Unsupported function return type.",
            REQ_INVALID_PARAM_FORMAT => "CallFunction: Parameter is not an array or otherwise invalid.",
            REQ_FUNCTION_ABORTED => "CallFunction: The function was partially executed but aborted at some point.",
            _ => "Unknown error code.",
        }
    }
}

/// Why a request could not be built or a reply not be read.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum XopError {
    /// The request would exceed the XOP's 1024-byte cap (it would disconnect us); it was not sent.
    #[error("request {function} would be {bytes} bytes, over the ZeroMQ-XOP cap of {max} bytes (refused before sending)")]
    RequestTooLarge {
        /// The function called.
        function: String,
        /// The encoded size.
        bytes: usize,
        /// The cap.
        max: usize,
    },
    /// The reply is not what the XOP sends.
    #[error("malformed ZeroMQ-XOP reply: {0}")]
    Malformed(String),
    /// The XOP answered with a non-zero error code.
    #[error("ZeroMQ-XOP error {code} calling {function}: {message}")]
    Call {
        /// The function called.
        function: String,
        /// `errorCode.value`.
        code: i64,
        /// `errorCode.msg` (and Igor's history, when sent).
        message: String,
    },
}

/// One parameter of a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Param {
    /// A string parameter.
    Str(String),
    /// A number (the XOP rounds it to 15 significant digits before Igor sees it).
    Num(f64),
    /// A boolean (Igor sees `1` or `0`).
    Bool(bool),
}

impl From<&str> for Param {
    fn from(s: &str) -> Self {
        Param::Str(s.to_string())
    }
}

impl From<String> for Param {
    fn from(s: String) -> Self {
        Param::Str(s)
    }
}

#[derive(Serialize)]
struct CallFunction<'a> {
    name: &'a str,
    params: &'a [Param],
}

#[derive(Serialize)]
struct Request<'a> {
    version: i64,
    #[serde(rename = "messageID")]
    message_id: &'a str,
    #[serde(rename = "CallFunction")]
    call: CallFunction<'a>,
}

/// The bytes of a call to `function` with `params`, tagged `message_id`. Refused — before anything is
/// sent — when longer than [`MAX_REQUEST_BYTES`].
pub fn encode_request(message_id: &str, function: &str, params: &[Param]) -> Result<Vec<u8>, XopError> {
    let request = Request { version: REQUEST_VERSION, message_id, call: CallFunction { name: function, params } };
    let bytes = serde_json::to_vec(&request).map_err(|e| XopError::Malformed(format!("encoding {function}: {e}")))?;
    if bytes.len() > MAX_REQUEST_BYTES {
        return Err(XopError::RequestTooLarge { function: function.to_string(), bytes: bytes.len(), max: MAX_REQUEST_BYTES });
    }
    Ok(bytes)
}

/// `errorCode` of a reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorCode {
    /// 0 on success, else a code of [`codes`].
    pub value: i64,
    /// The XOP's message (absent on success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
}

/// A reply as read off the wire; `result` is kept raw (a wave can be megabytes).
#[derive(Debug, Deserialize)]
pub struct Reply {
    /// Success or the error.
    #[serde(rename = "errorCode")]
    pub error_code: ErrorCode,
    /// The request's `messageID` (absent when the request could not be read).
    #[serde(rename = "messageID", default)]
    pub message_id: Option<String>,
    /// `{type, value}` on success.
    #[serde(default)]
    pub result: Option<Box<RawValue>>,
    /// Igor's history printed during a failed call.
    #[serde(default)]
    pub history: Option<String>,
}

/// `result` of a reply: the return type's name (`string`, `variable`, `wave`, `dfref`) and the value.
#[derive(Debug, Deserialize)]
pub struct ResultValue {
    /// The Igor type of the returned value.
    #[serde(rename = "type")]
    pub kind: String,
    /// The value (a wave as an object, or null for an invalid wave reference).
    pub value: Box<RawValue>,
}

impl Reply {
    /// Reads a reply.
    pub fn parse(bytes: &[u8]) -> Result<Self, XopError> {
        serde_json::from_slice(bytes).map_err(|e| XopError::Malformed(format!("{e} (reply of {} bytes)", bytes.len())))
    }

    /// The result of a successful call to `function`, or the XOP's error.
    pub fn into_result(self, function: &str) -> Result<ResultValue, XopError> {
        if self.error_code.value != codes::REQ_SUCCESS {
            let mut message = self.error_code.msg.unwrap_or_else(|| codes::message(self.error_code.value).to_string());
            if let Some(h) = self.history.filter(|h| !h.trim().is_empty()) {
                message = format!("{message} (Igor history: {})", h.trim());
            }
            return Err(XopError::Call { function: function.to_string(), code: self.error_code.value, message });
        }
        let raw = self.result.ok_or_else(|| XopError::Malformed(format!("{function}: success without a result")))?;
        serde_json::from_str(raw.get()).map_err(|e| XopError::Malformed(format!("{function} result: {e}")))
    }
}

impl ResultValue {
    /// The value of a function returning a string.
    pub fn into_string(self, function: &str) -> Result<String, XopError> {
        if self.kind != "string" {
            return Err(XopError::Malformed(format!("{function} returned a {}, expected a string", self.kind)));
        }
        serde_json::from_str(self.value.get()).map_err(|e| XopError::Malformed(format!("{function} string value: {e}")))
    }
}

/// How the XOP hands a number parameter to Igor: formatted with 15 significant digits (`{:.15g}`).
pub fn number_param_text(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "nan".into()
        } else if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    // %.15g: exponent form when the decimal exponent is < -4 or ≥ 15, trailing zeros removed.
    let e = format!("{v:.14e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((e.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..15).contains(&exp) {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (14 - exp).max(0) as usize;
        trim_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn requests_over_the_cap_are_refused_and_small_ones_encode() {
        let ok = encode_request("m1", "Spark_Ping", &["s".into(), Param::Num(3.0)]).unwrap();
        let text = String::from_utf8(ok).unwrap();
        assert_eq!(text, r#"{"version":1,"messageID":"m1","CallFunction":{"name":"Spark_Ping","params":["s",3.0]}}"#);
        let big = "x".repeat(1000);
        let err = encode_request("m2", "Spark_Hello", &[big.into()]).unwrap_err();
        assert!(matches!(err, XopError::RequestTooLarge { bytes, max: 1024, .. } if bytes > 1024), "{err}");
    }

    #[test]
    fn replies_decode_and_errors_carry_the_code() {
        let ok = Reply::parse(br#"{"errorCode":{"value":0},"messageID":"a","result":{"type":"string","value":"hi"}}"#).unwrap();
        assert_eq!(ok.message_id.as_deref(), Some("a"));
        assert_eq!(ok.into_result("F").unwrap().into_string("F").unwrap(), "hi");
        let err = Reply::parse(br#"{"errorCode":{"value":101,"msg":"CallFunction: Unknown function."},"messageID":"b"}"#).unwrap();
        let e = err.into_result("Nope").unwrap_err();
        assert!(matches!(e, XopError::Call { code: 101, .. }), "{e}");
        assert!(Reply::parse(b"not json").is_err());
    }

    #[test]
    fn number_params_round_to_fifteen_digits_like_the_xop() {
        assert_eq!(number_param_text(1.0), "1");
        assert_eq!(number_param_text(0.1 + 0.2), "0.3");
        assert_eq!(number_param_text(1.2345678901234567e-6), "1.23456789012346e-06");
        assert_eq!(number_param_text(123456.0), "123456");
        assert_eq!(number_param_text(1e15), "1e+15");
        assert_eq!(number_param_text(-2.5e-5), "-2.5e-05");
    }
}
