//! The Asylum MFP-3D (or Cypher) through ZeroMQ-XOP inside Igor Pro, and a faithful fake of that XOP
//! served by any [`crate::Instrument`] (the simulator for `afm-spark serve-sim`, the mock in tests).
//!
//! Layers, bottom up (the protocol and its reasons are in `PROTOCOL.md` next to this file):
//! - [`xop`]: the XOP's request/reply JSON, error codes and 1024-byte cap; [`wave`]: its wave JSON (and
//!   the PUB layer format) and the geometry a wave states;
//! - [`link::XopLink`]: DEALER socket (`zeromq` crate), calls with deadlines, late replies dropped,
//!   socket rebuilt after repeated timeouts;
//! - [`spark`]: afm-spark's Igor procedures (`drivers/mfp3d/igor/AfmSparkXop.ipf`) and their documents;
//! - [`client::Mfp3dXop`]: implements `Instrument` on top;
//! - [`fake::FakeXop`]: the fake server ([`zmtp`]: its hand-written ZMTP ROUTER side);
//! - [`settings::BridgeSettings`]: the `[instrument.bridge]` config section; [`token`]: the secret.

pub mod client;
pub mod fake;
pub mod link;
pub mod settings;
pub mod spark;
pub mod token;
pub mod wave;
pub mod xop;
pub mod zmtp;

pub use client::{Mfp3dXop, ScanOverhead, XopClientConfig};
pub use fake::{BoundFake, FakeConfig, FakeXop, Faults};
pub use settings::{BridgeSettings, Transport};
pub use token::BridgeToken;
