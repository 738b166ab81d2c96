//! How a frame travels as bytes. The bridge returns the frame as the file Igor saved (`.ibw`); the
//! codec that turns those bytes into a [`Frame`] (and, for the simulator-backed server, a frame into
//! bytes) is plugged in from outside through this trait, so this module holds no file-format code.

use crate::error::InstrumentError;
use crate::frame::Frame;

/// Encodes a frame to the bytes a bridge sends and decodes them back.
/// Implementations: the `.ibw` codec (`afm_drivers::ibw`), and simple ones in tests.
pub trait FramePayload: Send + Sync {
    /// The format name sent on the wire, e.g. "ibw".
    fn format(&self) -> &str;

    /// The bytes of `frame` in this format (server side).
    fn encode(&self, frame: &Frame) -> Result<Vec<u8>, InstrumentError>;

    /// The frame stored in `bytes` (client side). Malformed bytes → [`InstrumentError::Data`].
    fn decode(&self, bytes: &[u8]) -> Result<Frame, InstrumentError>;
}
