//! The acquisition plan as data: the LR request, and for every tile of the HR grid the HR patch
//! request that would scan it (same pixel pitch and same tip speed as a full HR frame), each checked
//! against the instrument's limits before the first move. Also the plan's instrument-time accounting.

pub mod accounting;

pub use accounting::TimeAccounting;

use crate::config::RunSpec;
use crate::select::Tiling;
use afm_drivers::{InstrumentError, InstrumentLimits, PixelRect, Raster, ScanRegion, ScanRequest};
use thiserror::Error;

/// A plan that cannot be carried out.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PlanError {
    /// The LR frame itself is outside the instrument's limits.
    #[error("the LR frame cannot be scanned: {0}")]
    LrOutOfRange(InstrumentError),
    /// Fewer tiles are inside the limits than picks are wanted.
    #[error("n_select = {requested} but only {eligible} of {tiles} tiles lie inside the instrument's limits")]
    TooFewEligible {
        /// Picks wanted.
        requested: usize,
        /// Tiles inside the limits.
        eligible: usize,
        /// All tiles.
        tiles: usize,
    },
}

/// One tile of the HR grid and the request that scans it.
#[derive(Debug, Clone, PartialEq)]
pub struct TileCandidate {
    /// Tile index (row-major, tile 0 at the bottom left).
    pub index: usize,
    /// The HR pixels it covers.
    pub rect: PixelRect,
    /// The HR patch request.
    pub request: ScanRequest,
    /// Why the tile may not be scanned (None: eligible).
    pub refusal: Option<String>,
}

/// Everything the run will ask the instrument for, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AcquisitionPlan {
    /// The HR frame's region.
    pub hr_region: ScanRegion,
    /// The HR raster.
    pub hr_raster: Raster,
    /// Full-frame HR line rate, lines per second.
    pub hr_line_rate_hz: f64,
    /// The LR frame request.
    pub lr: ScanRequest,
    /// The tiling of the HR grid.
    pub tiling: Tiling,
    /// Every tile's HR request, in tile order.
    pub tiles: Vec<TileCandidate>,
    /// Settling time per scan, seconds.
    pub settle_s: f64,
    /// Move speed between scans, m/s.
    pub move_speed_m_per_s: f64,
}

impl AcquisitionPlan {
    /// Builds and validates the plan of `spec` against `limits`.
    pub fn build(spec: &RunSpec, limits: &InstrumentLimits) -> Result<Self, PlanError> {
        let c = &spec.config;
        let hr_region = spec.hr_region();
        let hr_raster = spec.hr_raster();
        // The reconstructed channel, and the one registration runs on when it is another.
        let mut channels = vec![c.frame.channel.clone()];
        channels.extend(c.register.channel.clone().filter(|r| *r != c.frame.channel));
        let lr = ScanRequest {
            region: hr_region,
            raster: spec.lr_raster(),
            line_rate_hz: spec.lr_line_rate_hz(),
            channels: channels.clone(),
            directions: spec.directions(),
        };
        limits.check(&lr).map_err(PlanError::LrOutOfRange)?;
        let tiling = Tiling::new(c.select.grid, hr_raster.lines, hr_raster.points);
        let (_, max_rate) = limits.line_rate_range_hz;
        let tiles: Vec<TileCandidate> = tiling
            .rects()
            .into_iter()
            .enumerate()
            .map(|(index, rect)| {
                let (region, raster) = hr_region.sub_region(&hr_raster, &rect);
                // Same tip speed as the full frame: rate scales with width, capped by the instrument.
                let same_speed = c.frame.hr_line_rate_hz * hr_region.width_m / region.width_m.max(f64::MIN_POSITIVE);
                let request = ScanRequest {
                    region,
                    raster,
                    line_rate_hz: same_speed.min(max_rate),
                    channels: channels.clone(),
                    directions: spec.directions(),
                };
                let refusal = limits.check(&request).err().map(|e| e.to_string());
                TileCandidate { index, rect, request, refusal }
            })
            .collect();
        let eligible = tiles.iter().filter(|t| t.refusal.is_none()).count();
        if eligible < c.select.n_select {
            return Err(PlanError::TooFewEligible { requested: c.select.n_select, eligible, tiles: tiles.len() });
        }
        Ok(Self {
            hr_region,
            hr_raster,
            hr_line_rate_hz: c.frame.hr_line_rate_hz,
            lr,
            tiling,
            tiles,
            settle_s: c.instrument.settle_s,
            move_speed_m_per_s: c.instrument.move_speed_m_per_s,
        })
    }

    /// Which tiles may be picked.
    pub fn eligible(&self) -> Vec<bool> {
        self.tiles.iter().map(|t| t.refusal.is_none()).collect()
    }

    /// The request of a full HR frame of the same area (the reference the plan is compared with).
    pub fn full_hr_request(&self) -> ScanRequest {
        ScanRequest { raster: self.hr_raster, line_rate_hz: self.hr_line_rate_hz, ..self.lr.clone() }
    }
}

#[cfg(test)]
mod tests;
