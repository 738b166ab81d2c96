//! A TCP front for a bridge that only speaks serial — the Igor bridge serves on a serial port because
//! Igor cannot listen on TCP (see `AfmSparkBridge.ipf`). The relay listens on loopback (by default),
//! relays one TCP client at a time byte for byte to the serial line, and tells extra clients `busy`.
//! It does not look inside the protocol: authentication stays end to end between client and bridge.

use super::codec::{to_line, BridgeCodec};
use super::protocol::{ErrorBody, ErrorCode, Reply};
use super::server::BoundBridge;
use super::transport::Endpoint;
use futures_util::SinkExt;
use std::io;
use std::time::Duration;
use tokio_util::codec::FramedWrite;
use tracing::{info, warn};

/// Relays TCP clients accepted on `bound` to the serial device `path` until the future is dropped.
pub async fn relay_tcp_to_serial(bound: BoundBridge, path: &str, baud_rate: u32) -> io::Result<()> {
    let serial = Endpoint::Serial { path: path.to_string(), baud_rate };
    loop {
        let (tcp, peer) = bound.accept().await?;
        let line = match serial.open(Duration::from_secs(5)).await {
            Ok(line) => line,
            Err(e) => {
                warn!(%peer, "relay cannot open {serial}: {e}");
                refuse(tcp, ErrorCode::Disconnected, &format!("the relay cannot open {serial}: {e}")).await;
                continue;
            }
        };
        info!(%peer, "relaying to {serial}");
        let relay = relay_until_either_side_ends(tcp, line);
        tokio::pin!(relay);
        loop {
            tokio::select! {
                r = &mut relay => {
                    info!(%peer, "relay closed: {r:?}");
                    break;
                }
                other = bound.accept() => {
                    let (extra, who) = other?;
                    warn!(peer = %who, "relay busy: refused a second client");
                    refuse(extra, ErrorCode::Busy, "the serial bridge is in use by another client").await;
                }
            }
        }
    }
}

/// Copies both ways until either side ends (a client leaving must free the relay even though the
/// serial line itself never reaches end of stream).
async fn relay_until_either_side_ends(tcp: tokio::net::TcpStream, line: super::transport::BoxedIo) -> io::Result<u64> {
    let (mut tcp_r, mut tcp_w) = tokio::io::split(tcp);
    let (mut line_r, mut line_w) = tokio::io::split(line);
    tokio::select! {
        up = tokio::io::copy(&mut tcp_r, &mut line_w) => up,
        down = tokio::io::copy(&mut line_r, &mut tcp_w) => down,
    }
}

async fn refuse(stream: tokio::net::TcpStream, code: ErrorCode, message: &str) {
    let mut w = FramedWrite::new(stream, BridgeCodec::new(usize::MAX));
    let _ = w.send(to_line(&Reply::error(None, ErrorBody::new(code, message)))).await;
}
