//! The bridge's frame payload: the `.ibw` file Igor saved (or the simulator-backed server writes),
//! decoded with the same reader that reads `.ibw` files from disk.

use super::payload::FramePayload;
use crate::error::InstrumentError;
use crate::frame::Frame;
use crate::ibw;

/// Frames as Igor binary wave (version 5) bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct IbwPayload;

impl FramePayload for IbwPayload {
    fn format(&self) -> &str {
        "ibw"
    }

    fn encode(&self, frame: &Frame) -> Result<Vec<u8>, InstrumentError> {
        ibw::write_v5(frame, &ibw::WriteOptions::default()).map_err(|e| InstrumentError::Data(format!("encoding the frame as .ibw: {e}")))
    }

    fn decode(&self, bytes: &[u8]) -> Result<Frame, InstrumentError> {
        ibw::parse(bytes)
            .and_then(|wave| wave.to_frame())
            .map_err(|e| InstrumentError::Data(format!("the bridge's .ibw payload ({} bytes): {e}", bytes.len())))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{ChannelImage, Raster, ScanDirection, ScanRegion};
    use ndarray::Array2;

    #[test]
    fn frames_round_trip_exactly_through_ibw_bytes() {
        let frame = Frame {
            region: ScanRegion { center_x_m: 1e-6, center_y_m: -2e-6, width_m: 3e-6, height_m: 1.5e-6, angle_deg: 12.5 },
            raster: Raster::new(32, 16),
            line_rate_hz: 7.25,
            channels: [ScanDirection::Trace, ScanDirection::Retrace]
                .into_iter()
                .map(|direction| ChannelImage {
                    name: "Height".into(),
                    direction,
                    unit: "m".into(),
                    data: Array2::from_shape_fn((16, 32), |(r, c)| (r as f32 * 0.37 - c as f32 * 1.1) * 1e-9),
                })
                .collect(),
            instrument_time_s: 3.5,
            acquired_at_unix_s: 1.7e9,
        };
        let bytes = IbwPayload.encode(&frame).unwrap();
        assert_eq!(IbwPayload.decode(&bytes).unwrap(), frame);
        assert!(matches!(IbwPayload.decode(&bytes[..100]), Err(InstrumentError::Data(_))));
    }
}
