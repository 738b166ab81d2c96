//! Instrument-time accounting: a scan costs the move from where the scanner stands to the scan's
//! first pixel (distance / move speed), the settling time, and its lines (lines / line rate; the
//! overscan happens inside the line period). The clock only advances — it drives thermal drift and
//! piezo creep. The plan of a scan also fixes its known truth (the sample's displacement per line).

use super::truth::ScanTruth;
use crate::config::SimConfig;
use crate::physics::CreepState;
use afm_drivers::{Raster, ScanRegion};
use serde::{Deserialize, Serialize};

/// Where the simulated scanner stands. Save it with a run and restore it with
/// [`crate::SimulatedAfm::set_scanner_state`] (or rebuild it from the frames a run journaled with
/// [`crate::SimulatedAfm::state_after`]) to resume with the same drift, creep and move times.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScannerState {
    /// Instrument clock: seconds of instrument time since the simulator was created.
    pub clock_s: f64,
    /// Scanner x position, metres.
    pub x_m: f64,
    /// Scanner y position, metres.
    pub y_m: f64,
    /// The creep history: last commanded offset and the jumps still creeping.
    #[serde(default)]
    pub creep: CreepState,
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

/// A scan about to run: its cost, where it starts and ends, and what the sample does meanwhile.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub timing: ScanTiming,
    /// Scanner position after the scan (the left end of the last line), metres.
    pub end_m: (f64, f64),
    /// Scanner position at the first pixel, metres.
    pub start_m: (f64, f64),
    /// The creep history once the move to this scan's offset is done.
    pub creep: CreepState,
    /// The sample's displacement per line.
    pub truth: ScanTruth,
}

/// Plans a scan of `region` with `raster` at `line_rate_hz` from `state` under `config`.
pub(crate) fn plan(state: &ScannerState, region: &ScanRegion, raster: &Raster, line_rate_hz: f64, config: &SimConfig) -> Plan {
    let start_m = region.pixel_position_m(raster, 0.0, 0.0);
    let end_m = region.pixel_position_m(raster, 0.0, raster.lines.saturating_sub(1) as f64);
    let distance_m = (start_m.0 - state.x_m).hypot(start_m.1 - state.y_m);
    let move_s = distance_m / config.move_speed_m_per_s;
    let settle_s = config.settle_s;
    let lines_s = raster.lines as f64 / line_rate_hz;
    let timing = ScanTiming { move_s, settle_s, lines_s, total_s: move_s + settle_s + lines_s };
    let move_end_clock_s = state.clock_s + move_s;
    let lines_start_clock_s = move_end_clock_s + settle_s;
    let physics = &config.physics;
    let creep = state.creep.after_move(&physics.creep, move_end_clock_s, region.center_x_m, region.center_y_m);
    let mut truth = ScanTruth {
        region: *region,
        raster: *raster,
        start_clock_s: lines_start_clock_s,
        line_period_s: 1.0 / line_rate_hz,
        move_end_clock_s,
        per_line_offset_m: Vec::with_capacity(raster.lines),
        per_line_creep_m: Vec::with_capacity(raster.lines),
        per_line_z_offset_m: Vec::with_capacity(raster.lines),
    };
    for j in 0..raster.lines {
        let t = truth.line_clock_s(j);
        let (dx, dy, dz) = physics.drift.offset_m(t);
        let (cx, cy) = creep.creep_m(&physics.creep, t);
        truth.per_line_offset_m.push((dx - cx, dy - cy));
        truth.per_line_creep_m.push((cx, cy));
        truth.per_line_z_offset_m.push(dz);
    }
    Plan { timing, end_m, start_m, creep, truth }
}
