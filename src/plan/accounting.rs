//! Instrument-time accounting of a plan: the LR frame, each HR patch, and the moves and settling
//! between scans, against one full HR frame of the same area at the HR rate.

use super::AcquisitionPlan;
use afm_drivers::ScanRequest;
use serde::{Deserialize, Serialize};

/// Where the instrument time of a plan goes, seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeAccounting {
    /// Line time of the LR frame.
    pub lr_s: f64,
    /// Line time of every patch, in pick order.
    pub patch_s: Vec<f64>,
    /// Moves between scans plus settling before each.
    pub moves_s: f64,
    /// Everything: LR + patches + moves/settling.
    pub plan_s: f64,
    /// One full HR frame of the same area at the HR rate, plus one settle.
    pub full_hr_s: f64,
    /// plan_s / full_hr_s.
    pub fraction: f64,
    /// Number of patches.
    pub n_patches: usize,
}

/// Where a scan starts: its first pixel (point 0 of line 0), scanner coordinates in metres.
pub fn start_position_m(req: &ScanRequest) -> (f64, f64) {
    req.region.pixel_position_m(&req.raster, 0.0, 0.0)
}

/// Where a scan leaves the tip: the start of its last line, scanner coordinates in metres.
pub fn end_position_m(req: &ScanRequest) -> (f64, f64) {
    req.region.pixel_position_m(&req.raster, 0.0, req.raster.lines.saturating_sub(1) as f64)
}

/// Move (from `from` to the scan's first pixel) plus settle time before `req`, seconds.
pub fn move_and_settle_s(plan: &AcquisitionPlan, from: (f64, f64), req: &ScanRequest) -> f64 {
    let to = start_position_m(req);
    let d = (to.0 - from.0).hypot(to.1 - from.1);
    d / plan.move_speed_m_per_s + plan.settle_s
}

impl AcquisitionPlan {
    /// The accounting of scanning the LR frame then the tiles `picks` in order, starting with the tip
    /// at the frame centre; each scan starts at its first pixel and ends at the start of its last line.
    pub fn accounting(&self, picks: &[usize]) -> TimeAccounting {
        let mut pos = (self.hr_region.center_x_m, self.hr_region.center_y_m);
        let mut moves_s = move_and_settle_s(self, pos, &self.lr);
        pos = end_position_m(&self.lr);
        let lr_s = self.lr.line_time_s();
        let mut patch_s = Vec::with_capacity(picks.len());
        for &p in picks {
            let req = &self.tiles[p].request;
            moves_s += move_and_settle_s(self, pos, req);
            pos = end_position_m(req);
            patch_s.push(req.line_time_s());
        }
        let plan_s = lr_s + patch_s.iter().sum::<f64>() + moves_s;
        let full_hr_s = self.full_hr_request().line_time_s() + self.settle_s;
        TimeAccounting { lr_s, n_patches: picks.len(), patch_s, moves_s, plan_s, full_hr_s, fraction: plan_s / full_hr_s }
    }
}
