//! Where a bridge is reached (TCP address or serial device) and how a byte stream to it is opened.
//! Everything above this layer works on any `AsyncRead + AsyncWrite`.

use super::serial::SerialLink;
use serde::{Deserialize, Serialize};
use std::io;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream to or from a bridge.
pub trait BridgeIo: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> BridgeIo for T {}

/// A boxed byte stream.
pub type BoxedIo = Box<dyn BridgeIo>;

/// The default TCP port of the bridge.
pub const DEFAULT_BRIDGE_PORT: u16 = 7341;

/// Pause between attempts to open a serial port that is still busy.
const SERIAL_RETRY: Duration = Duration::from_millis(100);

/// Where the bridge listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Endpoint {
    /// A TCP address, `host:port`, e.g. "127.0.0.1:7341".
    Tcp(String),
    /// A serial device (a real line, a USB adapter or one end of a pty pair).
    Serial {
        /// Device path, e.g. "/dev/ttyUSB0" or "COM3".
        path: String,
        /// Line speed, baud.
        baud_rate: u32,
    },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp(addr) => write!(f, "tcp://{addr}"),
            Endpoint::Serial { path, baud_rate } => write!(f, "serial://{path}@{baud_rate}"),
        }
    }
}

impl Endpoint {
    /// Opens a byte stream to the bridge, giving up after `timeout`.
    pub async fn open(&self, timeout: Duration) -> io::Result<BoxedIo> {
        match self {
            Endpoint::Tcp(addr) => {
                let stream = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr))
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("connecting to {addr} timed out")))??;
                stream.set_nodelay(true)?;
                Ok(Box::new(stream))
            }
            Endpoint::Serial { path, baud_rate } => {
                // A port we just closed may still be held for one read timeout by its old threads
                // (ports are opened exclusively), so retry briefly.
                let deadline = tokio::time::Instant::now() + timeout;
                loop {
                    let (p, baud) = (path.clone(), *baud_rate);
                    let opened = tokio::task::spawn_blocking(move || SerialLink::open(&p, baud))
                        .await
                        .map_err(|e| io::Error::other(e.to_string()))?;
                    match opened {
                        Ok(link) => return Ok(Box::new(link)),
                        Err(e) if tokio::time::Instant::now() + SERIAL_RETRY >= deadline => return Err(e),
                        Err(_) => tokio::time::sleep(SERIAL_RETRY).await,
                    }
                }
            }
        }
    }
}
