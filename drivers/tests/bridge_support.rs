//! Shared helpers for the bridge tests (included by each with `#[path]`): a JSON frame payload standing
//! in for the `.ibw` codec, a server with a `MockInstrument` behind it on an ephemeral loopback port,
//! a raw line client, and a bounded wait.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(dead_code)]

use afm_drivers::frame::{ChannelImage, Frame, ScanDirection};
use afm_drivers::mfp3d::codec::BridgeCodec;
use afm_drivers::mfp3d::{BridgeServer, BridgeToken, ClientConfig, Endpoint, FramePayload, Mfp3dClient, ServerConfig};
use afm_drivers::{Directions, InstrumentError, MockInstrument, Raster, ScanRegion, ScanRequest};
use futures_util::{SinkExt, StreamExt};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::codec::Framed;

/// The token every test server expects.
pub const TOKEN: &str = "test-token-0123";

/// A frame as JSON: the test stand-in for the `.ibw` payload.
#[derive(Debug)]
pub struct JsonPayload;

#[derive(Serialize, Deserialize)]
struct WireChannel {
    name: String,
    direction: ScanDirection,
    unit: String,
    shape: (usize, usize),
    data: Vec<f32>,
}

#[derive(Serialize, Deserialize)]
struct WireFrame {
    region: ScanRegion,
    raster: Raster,
    line_rate_hz: f64,
    instrument_time_s: f64,
    acquired_at_unix_s: f64,
    channels: Vec<WireChannel>,
}

impl FramePayload for JsonPayload {
    fn format(&self) -> &str {
        "json-test"
    }

    fn encode(&self, f: &Frame) -> Result<Vec<u8>, InstrumentError> {
        let channels = f
            .channels
            .iter()
            .map(|c| WireChannel {
                name: c.name.clone(),
                direction: c.direction,
                unit: c.unit.clone(),
                shape: c.data.dim(),
                data: c.data.iter().copied().collect(),
            })
            .collect();
        let wire = WireFrame {
            region: f.region,
            raster: f.raster,
            line_rate_hz: f.line_rate_hz,
            instrument_time_s: f.instrument_time_s,
            acquired_at_unix_s: f.acquired_at_unix_s,
            channels,
        };
        serde_json::to_vec(&wire).map_err(|e| InstrumentError::Data(e.to_string()))
    }

    fn decode(&self, bytes: &[u8]) -> Result<Frame, InstrumentError> {
        let w: WireFrame = serde_json::from_slice(bytes).map_err(|e| InstrumentError::Data(e.to_string()))?;
        let mut channels = Vec::new();
        for c in w.channels {
            let data = Array2::from_shape_vec(c.shape, c.data).map_err(|e| InstrumentError::Data(e.to_string()))?;
            channels.push(ChannelImage { name: c.name, direction: c.direction, unit: c.unit, data });
        }
        Ok(Frame {
            region: w.region,
            raster: w.raster,
            line_rate_hz: w.line_rate_hz,
            channels,
            instrument_time_s: w.instrument_time_s,
            acquired_at_unix_s: w.acquired_at_unix_s,
        })
    }
}

/// A small scan request inside the mock's default limits.
pub fn request(points: usize) -> ScanRequest {
    ScanRequest {
        region: ScanRegion { angle_deg: 15.0, ..ScanRegion::square(2e-6, -1e-6, 4e-6) },
        raster: Raster::new(points, points / 2),
        line_rate_hz: 8.0,
        channels: vec!["Height".into()],
        directions: Directions::Both,
    }
}

/// A server config on an ephemeral loopback port with `heartbeat_ms` heartbeats.
pub fn server_config(heartbeat_ms: u64) -> ServerConfig {
    let mut c = ServerConfig::new(token());
    c.bind = "127.0.0.1:0".parse().expect("literal address");
    c.heartbeat_interval = Duration::from_millis(heartbeat_ms);
    c.status_poll_interval = Duration::from_millis(heartbeat_ms / 2 + 1);
    c
}

/// The test token.
pub fn token() -> BridgeToken {
    BridgeToken::new(TOKEN).expect("non-empty token")
}

/// A running TCP bridge server.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub task: JoinHandle<std::io::Result<()>>,
}

/// Starts a bridge server for `mock` with `config`.
pub async fn start_server(mock: Arc<MockInstrument>, config: ServerConfig) -> RunningServer {
    let server = BridgeServer::new(mock, Arc::new(JsonPayload), config);
    let bound = server.bind().await.expect("bind loopback");
    let addr = bound.local_addr();
    let task = tokio::spawn(async move { server.serve_tcp(bound).await });
    RunningServer { addr, task }
}

/// A client config for `addr` with short timeouts.
pub fn client_config(addr: SocketAddr) -> ClientConfig {
    let mut c = ClientConfig::new(Endpoint::Tcp(addr.to_string()));
    c.request_timeout = Duration::from_secs(3);
    c
}

/// A client of `addr` with the right token.
pub fn client(addr: SocketAddr) -> Mfp3dClient {
    Mfp3dClient::new(client_config(addr), token(), Arc::new(JsonPayload))
}

/// Fails the test if `f` takes longer than `secs`.
pub async fn within<T>(secs: f64, what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs_f64(secs), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within {secs} s"),
    }
}

/// Waits (bounded) until `cond` holds.
pub async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    within(5.0, what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// A client that speaks raw lines, for sending what the real client never would.
pub struct RawClient {
    framed: Framed<TcpStream, BridgeCodec>,
}

impl RawClient {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect to the test server");
        Self { framed: Framed::new(stream, BridgeCodec::new(1 << 20)) }
    }

    /// Sends one line (a newline is added).
    pub async fn send(&mut self, line: &str) {
        self.framed.send(line.to_string()).await.expect("send a line");
    }

    /// The next line as JSON, waiting at most 3 s.
    pub async fn next(&mut self) -> serde_json::Value {
        let line = within(3.0, "a reply line", self.framed.next()).await;
        let line = line.expect("connection open").expect("readable").expect("a line");
        serde_json::from_str(&line).expect("JSON reply")
    }

    /// The next reply that is not a heartbeat or progress event.
    pub async fn next_final(&mut self) -> serde_json::Value {
        loop {
            let v = self.next().await;
            if v["op"] != "heartbeat" && v["op"] != "progress" {
                return v;
            }
        }
    }

    /// Sends `hello` with `token` and returns the reply.
    pub async fn hello(&mut self, id: u64, token: &str) -> serde_json::Value {
        self.send(&format!(r#"{{"v":1,"id":{id},"op":"hello","token":"{token}"}}"#)).await;
        self.next().await
    }
}
