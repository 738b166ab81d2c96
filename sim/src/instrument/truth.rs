//! The simulator's known truth about a scan: where the sample really was, line by line, relative to
//! where the scan was commanded. Patch-registration tests compare what they measure with it.
//!
//! **Convention.** The sample's lateral displacement `offset = drift − creep` (scanner x, y, metres):
//! thermal drift moves the sample by `drift`, and creep moves the tip beyond its commanded position by
//! `creep` in the direction of the last offset jumps. On line `j`, the pixel commanded at scanner
//! position `P` records the surface's ground-truth point `P − offset[j]`; equivalently a feature at
//! ground-truth position `p` appears in the image at the commanded position `p + offset[j]`, i.e. at
//! fractional pixel `(p + offset[j] − region origin) / pitch` (for an unrotated scan). The offset is
//! evaluated once per line, at the line's midpoint in instrument time, and the physics uses exactly
//! these values, so the record is exact, not an estimate.
//!
//! The true shift of a patch's content against an earlier frame (e.g. the LR) over the same area is
//! `patch offset − LR offset` over the lines concerned: positive x means the patch shows features at
//! larger x than the LR does at the same commanded position.

use afm_drivers::{Raster, ScanRegion};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// The known truth of one scan the simulator performed (see the module docs for the convention).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanTruth {
    /// The commanded region.
    pub region: ScanRegion,
    /// The commanded raster.
    pub raster: Raster,
    /// Instrument clock at the start of the first line, seconds.
    pub start_clock_s: f64,
    /// Duration of one line (trace + retrace), seconds: 1 / line rate. Line `j` runs from
    /// `start_clock_s + j·line_period_s` to the next line's start.
    pub line_period_s: f64,
    /// Clock at the end of the move that preceded the scan, seconds (the creep of its jump is
    /// measured from here).
    pub move_end_clock_s: f64,
    /// Per line: the lateral displacement of the sample, `drift − creep`, scanner (x, y), metres.
    pub per_line_offset_m: Vec<(f64, f64)>,
    /// Per line: the creep part alone (tip beyond its commanded position), scanner (x, y), metres.
    pub per_line_creep_m: Vec<(f64, f64)>,
    /// Per line: the apparent height offset from z drift, metres (the tilt and bow are not in it).
    pub per_line_z_offset_m: Vec<f64>,
}

impl ScanTruth {
    /// The instrument clock at which line `line`'s displacement is evaluated (its midpoint), seconds.
    pub fn line_clock_s(&self, line: usize) -> f64 {
        self.start_clock_s + (line as f64 + 0.5) * self.line_period_s
    }

    /// Line `line`'s lateral displacement and apparent height offset, (x, y, z) metres ((0, 0, 0)
    /// past the last line).
    pub fn line_shift_m(&self, line: usize) -> (f64, f64, f64) {
        let (x, y) = self.per_line_offset_m.get(line).copied().unwrap_or_default();
        (x, y, self.per_line_z_offset_m.get(line).copied().unwrap_or_default())
    }

    /// The mean lateral displacement over `lines` (clamped to the raster), (x, y) metres; `None` when
    /// no line is left.
    pub fn mean_offset_m(&self, lines: Range<usize>) -> Option<(f64, f64)> {
        let end = lines.end.min(self.per_line_offset_m.len());
        let slice = self.per_line_offset_m.get(lines.start..end).filter(|s| !s.is_empty())?;
        let n = slice.len() as f64;
        let (sx, sy) = slice.iter().fold((0.0, 0.0), |(ax, ay), &(x, y)| (ax + x, ay + y));
        Some((sx / n, sy / n))
    }

    /// The mean lateral displacement over the whole scan, (x, y) metres ((0, 0) for an empty raster).
    pub fn overall_offset_m(&self) -> (f64, f64) {
        self.mean_offset_m(0..self.per_line_offset_m.len()).unwrap_or((0.0, 0.0))
    }
}
