//! The Asylum MFP-3D (or Cypher) through a bridge running inside Igor Pro, and the same bridge served
//! by any [`crate::Instrument`] (the simulator, the mock) for closed-loop runs over real sockets.
//!
//! Layers, bottom up (the protocol itself is specified in `PROTOCOL.md` next to this file):
//! - [`protocol`]: the messages as serde types; [`codec`]: line framing with a length limit;
//! - [`transport`]: TCP or a serial line ([`serial`]: `serialport` on threads, bridged to async);
//! - [`client::Mfp3dClient`]: implements `Instrument`; [`server::BridgeServer`]: serves one;
//! - [`relay`]: a loopback TCP front for a bridge that only serves a serial line (the Igor bridge).
//!
//! Frames travel as the bytes of the saved file; [`payload::FramePayload`] turns them into frames.

pub mod client;
pub mod codec;
mod connection;
pub mod ibw_payload;
pub mod payload;
pub mod protocol;
pub mod relay;
pub mod serial;
pub mod server;
mod session;
pub mod settings;
pub mod token;
pub mod transport;

pub use client::{ClientConfig, Mfp3dClient};
pub use ibw_payload::IbwPayload;
pub use payload::FramePayload;
pub use protocol::PROTOCOL_VERSION;
pub use server::{BoundBridge, BridgeServer, ServerConfig};
pub use settings::BridgeSettings;
pub use token::BridgeToken;
pub use transport::{Endpoint, DEFAULT_BRIDGE_PORT};
