//! The server side of one ZMTP 3.0 connection (ZeroMQ RFC 23, NULL mechanism), as the fake XOP's
//! ROUTER needs it: greeting, `READY` with `Socket-Type`/`Identity`, frames with MORE/LONG/COMMAND
//! flags (commands after the handshake are skipped: the XOP sets no ZMTP heartbeats), and libzmq's
//! `ZMQ_MAXMSGSIZE` behaviour — a frame announcing more bytes than the cap closes the connection before
//! its body is read.
//!
//! Written by hand (not with the `zeromq` crate the client uses) because a ROUTER must be able to drop
//! one peer for an oversize message, which that crate's sockets cannot do; it also makes the client's
//! tests run against an independent implementation of the wire protocol.

use bytes::Bytes;
use std::io;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const FLAG_MORE: u8 = 0x01;
const FLAG_LONG: u8 = 0x02;
const FLAG_COMMAND: u8 = 0x04;

/// Why a connection ended.
#[derive(Debug, Error)]
pub enum ZmtpError {
    /// The socket failed or the peer closed it.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The peer is not a ZMTP 3 NULL-mechanism peer of a compatible type.
    #[error("handshake: {0}")]
    Handshake(String),
    /// A frame larger than the cap (libzmq drops the connection; so do we).
    #[error("frame of {size} bytes exceeds the {max}-byte cap (ZMQ_MAXMSGSIZE): connection closed")]
    TooLarge {
        /// Announced frame size.
        size: u64,
        /// The cap.
        max: usize,
    },
    /// A malformed command.
    #[error("protocol: {0}")]
    Protocol(String),
}

fn greeting() -> [u8; 64] {
    let mut g = [0u8; 64];
    g[0] = 0xFF;
    g[9] = 0x7F;
    g[10] = 3; // major
    g[11] = 0; // minor
    g[12..16].copy_from_slice(b"NULL");
    g[32] = 0; // as-server: not used by NULL
    g
}

async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, flags: u8, body: &[u8]) -> io::Result<()> {
    let mut head = Vec::with_capacity(9);
    if body.len() > 255 {
        head.push(flags | FLAG_LONG);
        head.extend_from_slice(&(body.len() as u64).to_be_bytes());
    } else {
        head.push(flags);
        head.push(body.len() as u8);
    }
    w.write_all(&head).await?;
    w.write_all(body).await
}

fn ready_body(socket_type: &str, identity: &[u8]) -> Vec<u8> {
    let mut b = vec![5u8];
    b.extend_from_slice(b"READY");
    for (name, value) in [("Socket-Type", socket_type.as_bytes()), ("Identity", identity)] {
        b.push(name.len() as u8);
        b.extend_from_slice(name.as_bytes());
        b.extend_from_slice(&(value.len() as u32).to_be_bytes());
        b.extend_from_slice(value);
    }
    b
}

/// Properties of a `READY` command body (after the name).
fn parse_properties(mut b: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ZmtpError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let n = b[0] as usize;
        let name = b.get(1..1 + n).ok_or_else(|| ZmtpError::Protocol("truncated property name".into()))?;
        let len_bytes = b.get(1 + n..5 + n).ok_or_else(|| ZmtpError::Protocol("truncated property length".into()))?;
        let len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
        let value = b.get(5 + n..5 + n + len).ok_or_else(|| ZmtpError::Protocol("truncated property value".into()))?;
        out.push((String::from_utf8_lossy(name).into_owned(), value.to_vec()));
        b = &b[5 + n + len..];
    }
    Ok(out)
}

/// One accepted ZMTP connection, after the handshake.
pub struct ZmtpServerConn<S> {
    stream: S,
    /// The peer's routing identity (its `Identity` property, or one made up like libzmq does).
    pub identity: Bytes,
    /// The peer's socket type, e.g. `DEALER`.
    pub peer_type: String,
}

impl<S: AsyncRead + AsyncWrite + Unpin> ZmtpServerConn<S> {
    /// Greets the peer as a `socket_type` socket with routing id `own_identity`; accepts peers whose type
    /// is in `compatible`. `generated_id` names a peer that sends no identity.
    pub async fn accept(
        mut stream: S,
        socket_type: &str,
        own_identity: &[u8],
        compatible: &[&str],
        generated_id: Bytes,
    ) -> Result<Self, ZmtpError> {
        stream.write_all(&greeting()).await?;
        let mut peer = [0u8; 64];
        stream.read_exact(&mut peer).await?;
        if peer[0] != 0xFF || peer[9] & 0x01 != 0x01 {
            return Err(ZmtpError::Handshake("not a ZMTP greeting".into()));
        }
        if peer[10] < 3 {
            return Err(ZmtpError::Handshake(format!("ZMTP {}.{} is not supported (3.x needed)", peer[10], peer[11])));
        }
        let mechanism = String::from_utf8_lossy(&peer[12..32]).trim_end_matches('\0').to_string();
        if mechanism != "NULL" {
            return Err(ZmtpError::Handshake(format!("security mechanism {mechanism} (only NULL: the XOP has no authentication)")));
        }
        write_frame(&mut stream, FLAG_COMMAND, &ready_body(socket_type, own_identity)).await?;
        let (flags, body) = read_frame(&mut stream, 64 * 1024).await?;
        if flags & FLAG_COMMAND == 0 || body.first() != Some(&5) || body.get(1..6) != Some(b"READY") {
            return Err(ZmtpError::Handshake("expected READY".into()));
        }
        let props = parse_properties(&body[6..])?;
        let peer_type = props
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Socket-Type"))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        if !compatible.contains(&peer_type.as_str()) {
            return Err(ZmtpError::Handshake(format!("peer socket type {peer_type:?} cannot talk to a {socket_type}")));
        }
        let identity = props
            .iter()
            .find(|(n, v)| n.eq_ignore_ascii_case("Identity") && !v.is_empty())
            .map(|(_, v)| Bytes::from(v.clone()))
            .unwrap_or(generated_id);
        Ok(Self { stream, identity, peer_type })
    }

    /// The stream, to read with [`read_message`] and write with [`write_message`].
    pub fn into_stream(self) -> S {
        self.stream
    }
}

/// Reads one frame whose size must not exceed `max` (checked before the body is read).
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> Result<(u8, Vec<u8>), ZmtpError> {
    let flags = r.read_u8().await?;
    let size = if flags & FLAG_LONG != 0 { r.read_u64().await? } else { u64::from(r.read_u8().await?) };
    if flags & FLAG_COMMAND == 0 && size > max as u64 {
        return Err(ZmtpError::TooLarge { size, max });
    }
    if size > (64 << 20) {
        return Err(ZmtpError::Protocol(format!("frame of {size} bytes")));
    }
    let mut body = vec![0u8; size as usize];
    r.read_exact(&mut body).await?;
    Ok((flags, body))
}

/// Reads frames until a whole message, skipping commands. A frame over `max` ends the connection.
pub async fn read_message<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> Result<Vec<Bytes>, ZmtpError> {
    let mut frames = Vec::new();
    loop {
        let (flags, body) = read_frame(r, max).await?;
        if flags & FLAG_COMMAND != 0 {
            continue;
        }
        frames.push(Bytes::from(body));
        if flags & FLAG_MORE == 0 {
            return Ok(frames);
        }
    }
}

/// Writes a multi-frame message.
pub async fn write_message<W: AsyncWrite + Unpin>(w: &mut W, frames: &[&[u8]]) -> io::Result<()> {
    for (i, f) in frames.iter().enumerate() {
        let more = if i + 1 < frames.len() { FLAG_MORE } else { 0 };
        write_frame(w, more, f).await?;
    }
    w.flush().await
}
