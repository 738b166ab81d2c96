//! A serial port as an async byte stream. `serialport` is blocking, so the port lives on two dedicated
//! threads (one reading with a short timeout, one writing) and talks to async code over tokio channels;
//! [`SerialLink`] implements `AsyncRead + AsyncWrite` on top, so Modbus RTU (tokio-modbus) runs over it
//! as over any stream. Dropping the link stops both threads within one read timeout. (Serial lines carry
//! lab peripherals only; frames travel over ZeroMQ-XOP: see `mfp3d/PROTOCOL.md`.)

use bytes::Bytes;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;
use tracing::{debug, warn};

/// How long the reader thread blocks in one `read` before checking whether the link was dropped.
const READ_TIMEOUT: Duration = Duration::from_millis(50);
/// Chunks buffered in each direction.
const CHANNEL_DEPTH: usize = 64;

/// An open serial port as an async byte stream.
#[derive(Debug)]
pub struct SerialLink {
    path: String,
    incoming: mpsc::Receiver<io::Result<Bytes>>,
    leftover: Bytes,
    outgoing: PollSender<Bytes>,
}

impl SerialLink {
    /// Opens `path` at `baud_rate` baud, 8 data bits, no parity, 1 stop bit, no flow control.
    pub fn open(path: &str, baud_rate: u32) -> io::Result<Self> {
        let port = serialport::new(path, baud_rate).timeout(READ_TIMEOUT).open().map_err(io::Error::from)?;
        let reader = port.try_clone().map_err(io::Error::from)?;
        let (in_tx, in_rx) = mpsc::channel(CHANNEL_DEPTH);
        let (out_tx, out_rx) = mpsc::channel(CHANNEL_DEPTH);
        let name = path.to_string();
        std::thread::Builder::new().name(format!("serial-read {path}")).spawn(move || read_loop(reader, in_tx, name))?;
        let name = path.to_string();
        std::thread::Builder::new().name(format!("serial-write {path}")).spawn(move || write_loop(port, out_rx, name))?;
        Ok(Self { path: path.to_string(), incoming: in_rx, leftover: Bytes::new(), outgoing: PollSender::new(out_tx) })
    }

    /// The device path this link was opened on.
    pub fn path(&self) -> &str {
        &self.path
    }
}

fn read_loop(mut port: Box<dyn serialport::SerialPort>, tx: mpsc::Sender<io::Result<Bytes>>, path: String) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match port.read(&mut buf) {
            Ok(0) => {
                if tx.is_closed() {
                    break;
                }
            }
            Ok(n) => {
                if tx.blocking_send(Ok(Bytes::copy_from_slice(&buf[..n]))).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::Interrupted => {
                if tx.is_closed() {
                    break;
                }
            }
            Err(e) => {
                debug!("serial {path}: read failed: {e}");
                let _ = tx.blocking_send(Err(e));
                break;
            }
        }
    }
    debug!("serial {path}: reader stopped");
}

fn write_loop(mut port: Box<dyn serialport::SerialPort>, mut rx: mpsc::Receiver<Bytes>, path: String) {
    while let Some(chunk) = rx.blocking_recv() {
        if let Err(e) = port.write_all(&chunk).and_then(|()| port.flush()) {
            warn!("serial {path}: write failed: {e}");
            break;
        }
    }
    debug!("serial {path}: writer stopped");
}

impl AsyncRead for SerialLink {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.leftover.is_empty() {
            match ready!(self.incoming.poll_recv(cx)) {
                Some(Ok(chunk)) => self.leftover = chunk,
                Some(Err(e)) => return Poll::Ready(Err(e)),
                None => return Poll::Ready(Ok(())), // reader gone: end of stream
            }
        }
        let n = self.leftover.len().min(out.remaining());
        let chunk = self.leftover.split_to(n);
        out.put_slice(&chunk);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for SerialLink {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let closed = || io::Error::new(io::ErrorKind::BrokenPipe, "serial writer stopped");
        ready!(self.outgoing.poll_reserve(cx)).map_err(|_| closed())?;
        self.outgoing.send_item(Bytes::copy_from_slice(buf)).map_err(|_| closed())?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Chunks are handed to the writer thread in order; it flushes after each one.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.outgoing.close();
        Poll::Ready(Ok(()))
    }
}
