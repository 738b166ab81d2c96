//! Instrument-time accounting: a scan costs the move from where the scanner stands to the scan's
//! first pixel (distance / move speed), the settling time, and its lines (lines / line rate; the
//! overscan happens inside the line period). The clock only advances — it drives thermal drift.

use crate::config::SimConfig;
use afm_drivers::ScanRequest;
use serde::{Deserialize, Serialize};

/// Where the simulated scanner stands. Save it with a run and restore it with
/// [`crate::SimulatedAfm::set_scanner_state`] to resume with the same drift and move times.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ScannerState {
    /// Instrument clock: seconds of instrument time since the simulator was created.
    pub clock_s: f64,
    /// Scanner x position, metres.
    pub x_m: f64,
    /// Scanner y position, metres.
    pub y_m: f64,
}

/// The instrument time one scan costs, seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScanTiming {
    /// Moving from the current position to the first pixel, seconds.
    pub move_s: f64,
    /// Settling after the move, seconds.
    pub settle_s: f64,
    /// The lines themselves (lines / line rate), seconds.
    pub lines_s: f64,
    /// The sum, seconds: what the frame reports as `instrument_time_s`.
    pub total_s: f64,
}

/// A scan about to run: its cost, and where it starts and ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub timing: ScanTiming,
    /// Instrument clock at the start of the first line, seconds.
    pub lines_start_clock_s: f64,
    /// Scanner position after the scan (the left end of the last line), metres.
    pub end_m: (f64, f64),
    /// Scanner position at the first pixel, metres.
    pub start_m: (f64, f64),
}

/// Plans `request` from `state` under `config`.
pub(crate) fn plan(state: &ScannerState, request: &ScanRequest, config: &SimConfig) -> Plan {
    let (region, raster) = (&request.region, &request.raster);
    let start_m = region.pixel_position_m(raster, 0.0, 0.0);
    let end_m = region.pixel_position_m(raster, 0.0, raster.lines.saturating_sub(1) as f64);
    let distance_m = (start_m.0 - state.x_m).hypot(start_m.1 - state.y_m);
    let move_s = distance_m / config.move_speed_m_per_s;
    let settle_s = config.settle_s;
    let lines_s = request.line_time_s();
    let timing = ScanTiming { move_s, settle_s, lines_s, total_s: move_s + settle_s + lines_s };
    Plan { timing, lines_start_clock_s: state.clock_s + move_s + settle_s, end_m, start_m }
}
