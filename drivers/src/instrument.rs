//! The `Instrument` trait every backend implements (simulator, mock, MFP-3D bridge), and the plain data
//! it speaks: scan requests, limits and status.

use crate::error::InstrumentError;
use crate::frame::{Frame, ScanDirection};
use crate::geometry::{Raster, ScanRegion};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Which passes of each line to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Directions {
    /// Trace only.
    #[default]
    Trace,
    /// Retrace only.
    Retrace,
    /// Both trace and retrace.
    Both,
}

impl Directions {
    /// Every selection, in the order of [`Directions::name`]'s list.
    pub const ALL: [Directions; 3] = [Directions::Trace, Directions::Retrace, Directions::Both];

    /// The lowercase name configs and the Igor wire use: "trace", "retrace" or "both".
    pub const fn name(self) -> &'static str {
        match self {
            Directions::Trace => "trace",
            Directions::Retrace => "retrace",
            Directions::Both => "both",
        }
    }

    /// The selection named `name` exactly as [`Directions::name`] writes it; None for any other text.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The directions this selection records, trace first.
    pub fn list(self) -> &'static [ScanDirection] {
        match self {
            Directions::Trace => &[ScanDirection::Trace],
            Directions::Retrace => &[ScanDirection::Retrace],
            Directions::Both => &[ScanDirection::Trace, ScanDirection::Retrace],
        }
    }
}

/// Everything a backend needs to acquire one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanRequest {
    /// The region to scan.
    pub region: ScanRegion,
    /// Points per line and lines per frame.
    pub raster: Raster,
    /// Line rate in lines per second (one trace + one retrace per line, Asylum's `ScanRate`).
    pub line_rate_hz: f64,
    /// Channel names to record, e.g. `["Height"]`.
    pub channels: Vec<String>,
    /// Trace, retrace or both.
    pub directions: Directions,
}

impl ScanRequest {
    /// Pure line time of this scan (no moves or settling), seconds.
    pub fn line_time_s(&self) -> f64 {
        self.raster.lines as f64 / self.line_rate_hz
    }
    /// Tip speed along the fast axis, m/s: the tip covers the width twice (trace + retrace) per line.
    pub fn tip_speed_m_per_s(&self) -> f64 {
        2.0 * self.region.width_m * self.line_rate_hz
    }
    /// A one-line human description, e.g. "scan 64×64 px, 1.25 µm at (0.31, -2.1) µm, 8 Hz".
    pub fn describe(&self) -> String {
        format!(
            "scan {}×{} px, {:.4} × {:.4} µm at ({:.4}, {:.4}) µm, {:.3} Hz",
            self.raster.points,
            self.raster.lines,
            self.region.width_m * 1e6,
            self.region.height_m * 1e6,
            self.region.center_x_m * 1e6,
            self.region.center_y_m * 1e6,
            self.line_rate_hz
        )
    }
}

/// What an instrument can do safely; every request is checked against these before anything moves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstrumentLimits {
    /// Largest edge-to-edge scan size along either axis, metres.
    pub max_scan_size_m: f64,
    /// Reachable x range of the scanner (every corner of a region must lie inside), metres.
    pub x_range_m: (f64, f64),
    /// Reachable y range of the scanner, metres.
    pub y_range_m: (f64, f64),
    /// Fewest and most points per line.
    pub points_range: (usize, usize),
    /// Fewest and most lines per frame.
    pub lines_range: (usize, usize),
    /// Slowest and fastest line rate, lines per second.
    pub line_rate_range_hz: (f64, f64),
    /// Fastest allowed tip speed, m/s (None: no limit besides the line rate).
    pub max_tip_speed_m_per_s: Option<f64>,
    /// Channels the instrument can record, e.g. `["Height", "Amplitude"]`.
    pub channels: Vec<String>,
}

/// Rounding allowed when a length is checked against a limit, metres (1 fm, far below any motion a
/// scanner makes): a scan size or corner computed from a centre and a span can land a few ulps past
/// a limit derived the other way round (a real 384-px frame of 488-pm pixels came out wider than the
/// extent its limits were taken from, and could not be replayed).
pub const LENGTH_ROUNDING_M: f64 = 1e-15;

impl InstrumentLimits {
    /// Checks `req` against these limits; the first violation found is returned.
    pub fn check(&self, req: &ScanRequest) -> Result<(), InstrumentError> {
        let r = &req.region;
        let finite = [r.center_x_m, r.center_y_m, r.width_m, r.height_m, r.angle_deg, req.line_rate_hz];
        if finite.iter().any(|v| !v.is_finite()) {
            return Err(InstrumentError::out_of_range("scan request", format!("{r:?} at {} Hz", req.line_rate_hz), "finite numbers"));
        }
        let size_ok = |v: f64| v >= 0.0 && v <= self.max_scan_size_m + LENGTH_ROUNDING_M;
        for (what, v) in [("scan width", r.width_m), ("scan height", r.height_m)] {
            if !size_ok(v) {
                return Err(InstrumentError::out_of_range(
                    what,
                    format!("{:.6} µm", v * 1e6),
                    format!("0 … {:.6} µm", self.max_scan_size_m * 1e6),
                ));
            }
        }
        for (x, y) in r.corners_m() {
            let inside = |v: f64, (lo, hi): (f64, f64)| v >= lo - LENGTH_ROUNDING_M && v <= hi + LENGTH_ROUNDING_M;
            if !inside(x, self.x_range_m) || !inside(y, self.y_range_m) {
                return Err(InstrumentError::out_of_range(
                    "scan region corner",
                    format!("({:.6}, {:.6}) µm", x * 1e6, y * 1e6),
                    format!(
                        "x {:.6} … {:.6} µm, y {:.6} … {:.6} µm",
                        self.x_range_m.0 * 1e6,
                        self.x_range_m.1 * 1e6,
                        self.y_range_m.0 * 1e6,
                        self.y_range_m.1 * 1e6
                    ),
                ));
            }
        }
        let in_range = |v: usize, (lo, hi): (usize, usize)| v >= lo && v <= hi;
        if !in_range(req.raster.points, self.points_range) {
            return Err(InstrumentError::out_of_range(
                "points per line",
                req.raster.points.to_string(),
                format!("{} … {}", self.points_range.0, self.points_range.1),
            ));
        }
        if !in_range(req.raster.lines, self.lines_range) {
            return Err(InstrumentError::out_of_range(
                "lines per frame",
                req.raster.lines.to_string(),
                format!("{} … {}", self.lines_range.0, self.lines_range.1),
            ));
        }
        let (lo, hi) = self.line_rate_range_hz;
        if !(req.line_rate_hz >= lo && req.line_rate_hz <= hi) {
            return Err(InstrumentError::out_of_range("line rate", format!("{} Hz", req.line_rate_hz), format!("{lo} … {hi} Hz")));
        }
        if let Some(vmax) = self.max_tip_speed_m_per_s {
            let v = req.tip_speed_m_per_s();
            if v > vmax * (1.0 + 1e-9) {
                return Err(InstrumentError::out_of_range(
                    "tip speed",
                    format!("{:.4} µm/s", v * 1e6),
                    format!("≤ {:.4} µm/s", vmax * 1e6),
                ));
            }
        }
        if req.channels.is_empty() {
            return Err(InstrumentError::out_of_range("channels", "none", self.channels.join(", ")));
        }
        for ch in &req.channels {
            if !self.channels.iter().any(|c| c == ch) {
                return Err(InstrumentError::out_of_range("channel", ch.clone(), self.channels.join(", ")));
            }
        }
        Ok(())
    }
}

/// What the instrument is doing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum InstrumentState {
    /// Ready for a request.
    Idle,
    /// A frame is being scanned.
    Scanning {
        /// Lines done so far.
        line: usize,
        /// Lines in the frame.
        lines: usize,
    },
    /// The instrument reports a fault.
    Fault {
        /// What the instrument said.
        message: String,
    },
}

/// A snapshot of the instrument's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstrumentStatus {
    /// The backend's name.
    pub backend: String,
    /// What it is doing.
    pub state: InstrumentState,
}

/// A microscope backend. Backends only acquire: validation, timeouts and retries live once, in
/// [`crate::Microscope`]. Usable as `Box<dyn Instrument>` / `Arc<dyn Instrument>`.
#[async_trait]
pub trait Instrument: Send + Sync {
    /// A short name for logs, e.g. "simulator" or "mfp3d@127.0.0.1:7341".
    fn name(&self) -> String;

    /// What this instrument can do safely.
    async fn limits(&self) -> Result<InstrumentLimits, InstrumentError>;

    /// Acquires one frame. Must return promptly with `Aborted` once [`Instrument::abort`] is called.
    async fn scan(&self, request: &ScanRequest) -> Result<Frame, InstrumentError>;

    /// Stops the scan in flight, if any. Idempotent: aborting an idle instrument is `Ok`.
    async fn abort(&self) -> Result<(), InstrumentError>;

    /// What the instrument is doing now.
    async fn status(&self) -> Result<InstrumentStatus, InstrumentError>;

    /// Withdraws the tip from the surface. Optional capability.
    async fn withdraw(&self) -> Result<(), InstrumentError> {
        Err(InstrumentError::Unsupported { backend: self.name(), capability: "withdraw".into() })
    }

    /// Engages the tip on the surface. Optional capability.
    async fn engage(&self) -> Result<(), InstrumentError> {
        Err(InstrumentError::Unsupported { backend: self.name(), capability: "engage".into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_names_round_trip_and_match_the_config_spelling() {
        for d in Directions::ALL {
            assert_eq!(Directions::from_name(d.name()), Some(d));
            assert_eq!(serde_json::to_string(&d).unwrap(), format!("\"{}\"", d.name()));
        }
        assert_eq!(Directions::from_name("Both"), None);
        assert_eq!(Directions::from_name("sideways"), None);
    }

    #[test]
    fn a_frame_as_wide_as_the_limit_passes_despite_rounding_and_a_wider_one_does_not() {
        // a real file's frame: 383 pitches of 488 pm, centred at its own half extent, with the
        // limits taken from its extent (right edge − left edge), as the simulator does
        let extent_m = 384.0 * 0.488e-9;
        let width_m = extent_m / 384.0 * 383.0;
        let center_m = extent_m / 2.0;
        let x = (center_m - width_m / 2.0, center_m + width_m / 2.0);
        assert!(x.1 - x.0 != width_m, "the case needs the rounding it is about");
        let limits =
            InstrumentLimits { max_scan_size_m: x.1 - x.0, x_range_m: x, y_range_m: x, ..crate::mock::MockInstrument::default_limits() };
        let request = |w: f64| ScanRequest {
            region: ScanRegion { width_m: w, height_m: w, ..ScanRegion::square(center_m, center_m, 0.0) },
            raster: Raster::new(128, 128),
            line_rate_hz: 1.0,
            channels: vec!["Height".into()],
            directions: Directions::Trace,
        };
        assert_eq!(limits.check(&request(width_m)), Ok(()));
        // a picometre more is refused, by name
        let err = limits.check(&request(width_m + 1e-12)).unwrap_err().to_string();
        assert!(err.contains("scan width"), "{err}");
    }
}
