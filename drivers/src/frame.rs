//! What a scan returns: one 2-D image per channel and direction, the parameters the instrument
//! actually applied, and the instrument time the scan took.

use crate::geometry::{Raster, ScanRegion};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// Direction of a scan line: trace (left → right) or retrace (right → left, stored left → right).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanDirection {
    /// The forward pass of each line.
    Trace,
    /// The return pass of each line (stored in the same left-to-right pixel order as the trace).
    Retrace,
}

impl ScanDirection {
    /// Asylum's channel-name suffix for this direction ("Trace" / "Retrace").
    pub fn suffix(self) -> &'static str {
        match self {
            ScanDirection::Trace => "Trace",
            ScanDirection::Retrace => "Retrace",
        }
    }
}

/// One channel of a frame, in physical units.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelImage {
    /// Channel name without direction, e.g. "Height", "Amplitude".
    pub name: String,
    /// Trace or retrace.
    pub direction: ScanDirection,
    /// Unit of the values, e.g. "m", "V", "deg".
    pub unit: String,
    /// Values indexed `[line, point]`: row 0 is the bottom (first) line, column 0 the left edge.
    pub data: Array2<f32>,
}

impl ChannelImage {
    /// Asylum-style label, e.g. "HeightRetrace".
    pub fn label(&self) -> String {
        format!("{}{}", self.name, self.direction.suffix())
    }
}

/// A frame as acquired: the applied (read-back) parameters, the data, and the time it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The region the instrument reports it scanned.
    pub region: ScanRegion,
    /// The raster the instrument reports it used.
    pub raster: Raster,
    /// The line rate the instrument reports it used, lines per second (trace + retrace per line).
    pub line_rate_hz: f64,
    /// The acquired channels.
    pub channels: Vec<ChannelImage>,
    /// Instrument time the scan took (lines, moves and settling), seconds.
    pub instrument_time_s: f64,
    /// Wall-clock time the frame finished, seconds since the Unix epoch.
    pub acquired_at_unix_s: f64,
}

impl Frame {
    /// The channel named `name` (e.g. "Height") in direction `direction`, if acquired.
    pub fn channel(&self, name: &str, direction: ScanDirection) -> Option<&ChannelImage> {
        self.channels.iter().find(|c| c.name == name && c.direction == direction)
    }

    /// The first channel whose name is `name`, trace preferred over retrace.
    pub fn channel_any(&self, name: &str) -> Option<&ChannelImage> {
        self.channel(name, ScanDirection::Trace).or_else(|| self.channel(name, ScanDirection::Retrace))
    }
}

/// Seconds since the Unix epoch, now.
pub fn unix_now_s() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}
