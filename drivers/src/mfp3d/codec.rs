//! Line framing and message parsing for the bridge protocol. Framing is `tokio_util`'s `LinesCodec`
//! with a maximum length; this wrapper turns its per-line failures (oversize, not UTF-8) into items
//! instead of stream errors, so one bad line is reported and the *next* line is read normally — a
//! `Framed` stream ends after a decoder error, which would kill the connection.

use super::protocol::{ErrorBody, ErrorCode, Reply, Request, PROTOCOL_VERSION};
use bytes::BytesMut;
use std::io;
use tokio_util::codec::{Decoder, Encoder, LinesCodec, LinesCodecError};

/// Why one line could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The line was longer than the limit; it has been skipped up to its newline.
    #[error("line longer than {max_bytes} bytes (skipped)")]
    Oversize {
        /// The limit, bytes.
        max_bytes: usize,
    },
    /// The line was not valid UTF-8.
    #[error("line is not valid UTF-8")]
    NotUtf8,
}

/// Newline-delimited framing with a length limit. Items are `Ok(line)` (without the newline) or
/// `Err(LineError)` for a line that was skipped; only I/O failures end the stream.
#[derive(Debug)]
pub struct BridgeCodec {
    lines: LinesCodec,
    max_bytes: usize,
}

impl BridgeCodec {
    /// A codec accepting lines of at most `max_bytes` bytes.
    pub fn new(max_bytes: usize) -> Self {
        Self { lines: LinesCodec::new_with_max_length(max_bytes), max_bytes }
    }

    fn map(&self, r: Result<Option<String>, LinesCodecError>) -> Result<Option<Result<String, LineError>>, io::Error> {
        match r {
            Ok(line) => Ok(line.map(Ok)),
            Err(LinesCodecError::MaxLineLengthExceeded) => Ok(Some(Err(LineError::Oversize { max_bytes: self.max_bytes }))),
            Err(LinesCodecError::Io(e)) if e.kind() == io::ErrorKind::InvalidData => Ok(Some(Err(LineError::NotUtf8))),
            Err(LinesCodecError::Io(e)) => Err(e),
        }
    }
}

impl Decoder for BridgeCodec {
    type Item = Result<String, LineError>;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, io::Error> {
        let r = self.lines.decode(buf);
        self.map(r)
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, io::Error> {
        let r = self.lines.decode_eof(buf);
        self.map(r)
    }
}

impl Encoder<String> for BridgeCodec {
    type Error = io::Error;

    fn encode(&mut self, line: String, buf: &mut BytesMut) -> Result<(), io::Error> {
        if line.contains('\n') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a protocol line must not contain a newline"));
        }
        self.lines.encode(line, buf).map_err(|e| io::Error::other(e.to_string()))
    }
}

/// A request line the bridge could not accept, with the id to answer to when one could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRequest {
    /// The request's id, if the line was JSON with a numeric `id`.
    pub id: Option<u64>,
    /// The error to send back.
    pub error: Box<ErrorBody>,
}

/// Parses one request line: JSON, version [`PROTOCOL_VERSION`], a known op with valid arguments.
pub fn parse_request(line: &str) -> Result<Request, BadRequest> {
    let value: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| BadRequest { id: None, error: Box::new(ErrorBody::new(ErrorCode::Protocol, format!("request is not JSON: {e}"))) })?;
    let id = value.get("id").and_then(serde_json::Value::as_u64);
    let bad = |message: String| BadRequest { id, error: Box::new(ErrorBody::new(ErrorCode::Protocol, message)) };
    match value.get("v").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(PROTOCOL_VERSION) => {}
        Some(v) => return Err(bad(format!("protocol version {v} not supported (this bridge speaks {PROTOCOL_VERSION})"))),
        None => return Err(bad("request has no protocol version `v`".into())),
    }
    if id.is_none() {
        return Err(bad("request has no numeric `id`".into()));
    }
    serde_json::from_value(value).map_err(|e| bad(format!("bad request: {e}")))
}

/// Parses one reply line from a bridge.
pub fn parse_reply(line: &str) -> Result<Reply, String> {
    let reply: Reply = serde_json::from_str(line).map_err(|e| format!("reply is not a protocol message: {e}"))?;
    if reply.v != PROTOCOL_VERSION {
        return Err(format!("bridge speaks protocol version {} (expected {PROTOCOL_VERSION})", reply.v));
    }
    Ok(reply)
}

/// Serialises a message as one line (no trailing newline; the codec adds it).
pub fn to_line<T: serde::Serialize>(message: &T) -> String {
    // Our message types contain only strings, numbers and maps with string keys: serialising cannot fail.
    serde_json::to_string(message)
        .unwrap_or_else(|e| format!("{{\"v\":1,\"id\":null,\"op\":\"error\",\"code\":\"data\",\"message\":\"{e}\"}}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::mfp3d::protocol::RequestBody;

    fn decode_all(codec: &mut BridgeCodec, bytes: &[u8]) -> Vec<Result<String, LineError>> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            out.push(item);
        }
        out
    }

    #[test]
    fn splits_lines_across_partial_reads() {
        let mut codec = BridgeCodec::new(64);
        let mut buf = BytesMut::from(&b"{\"a\":1}\r\n{\"b\""[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(Ok("{\"a\":1}".to_string())));
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b":2}\n");
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(Ok("{\"b\":2}".to_string())));
    }

    #[test]
    fn oversize_line_is_reported_once_and_the_next_line_is_read() {
        let mut codec = BridgeCodec::new(16);
        let mut input = vec![b'x'; 100];
        input.extend_from_slice(b"\nok-line\n");
        let items = decode_all(&mut codec, &input);
        assert_eq!(items, vec![Err(LineError::Oversize { max_bytes: 16 }), Ok("ok-line".to_string())]);
    }

    #[test]
    fn invalid_utf8_is_reported_and_skipped() {
        let mut codec = BridgeCodec::new(64);
        let items = decode_all(&mut codec, b"\xff\xfe\nnext\n");
        assert_eq!(items, vec![Err(LineError::NotUtf8), Ok("next".to_string())]);
    }

    #[test]
    fn encoder_refuses_embedded_newlines() {
        let mut codec = BridgeCodec::new(64);
        let mut buf = BytesMut::new();
        codec.encode("abc".to_string(), &mut buf).unwrap();
        assert_eq!(&buf[..], b"abc\n");
        assert!(codec.encode("a\nb".to_string(), &mut buf).is_err());
    }

    #[test]
    fn bad_requests_keep_their_id_when_readable() {
        let e = parse_request("not json").unwrap_err();
        assert_eq!((e.id, e.error.code), (None, ErrorCode::Protocol));
        let e = parse_request(r#"{"v":2,"id":5,"op":"status"}"#).unwrap_err();
        assert_eq!(e.id, Some(5));
        assert!(e.error.message.contains("version 2"), "{}", e.error.message);
        let e = parse_request(r#"{"v":1,"id":6,"op":"fly"}"#).unwrap_err();
        assert_eq!(e.id, Some(6));
        let e = parse_request(r#"{"v":1,"op":"status"}"#).unwrap_err();
        assert!(e.error.message.contains("id"));
        let ok = parse_request(r#"{"v":1,"id":8,"op":"status"}"#).unwrap();
        assert_eq!((ok.id, ok.body), (8, RequestBody::Status));
    }

    #[test]
    fn replies_with_another_version_are_refused() {
        assert!(parse_reply(r#"{"v":1,"id":1,"op":"heartbeat","elapsed_s":0.5}"#).is_ok());
        assert!(parse_reply(r#"{"v":3,"id":1,"op":"heartbeat","elapsed_s":0.5}"#).is_err());
        assert!(parse_reply("garbage").is_err());
    }
}
