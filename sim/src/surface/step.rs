//! A single straight step edge across the surface — the calibration target for feedback tails
//! (parachuting on the downhill side) and tip broadening.

use super::{fill_grid, require_non_negative, square_grid, Surface, SurfaceError};
use serde::{Deserialize, Serialize};

/// Which side of the edge is high, seen along +x.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepDirection {
    /// High on the left (x < edge): a trace (moving +x) goes downhill.
    #[default]
    Down,
    /// High on the right: a trace goes uphill.
    Up,
}

/// One straight edge parallel to y at `edge_x_m`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StepSpec {
    /// Side of the square surface, metres.
    pub size_m: f64,
    /// Grid points per side.
    pub pixels: usize,
    /// Height difference across the edge, metres.
    pub height_m: f64,
    /// x position of the edge, metres (the surface is centred at 0).
    pub edge_x_m: f64,
    /// Down or up along +x.
    pub direction: StepDirection,
    /// Horizontal width of the edge ramp, metres (0: one grid pixel).
    pub edge_width_m: f64,
}

impl Default for StepSpec {
    fn default() -> Self {
        Self { size_m: 5e-6, pixels: 1024, height_m: 20e-9, edge_x_m: 0.0, direction: StepDirection::Down, edge_width_m: 0.0 }
    }
}

impl StepSpec {
    /// Generates the surface (the seed is ignored). The low side is at height 0.
    pub fn generate(&self, _seed: u64) -> Result<Surface, SurfaceError> {
        let (region, raster) = square_grid("step", self.size_m, self.pixels)?;
        require_non_negative("step.height_m", self.height_m, "m")?;
        require_non_negative("step.edge_width_m", self.edge_width_m, "m")?;
        if !self.edge_x_m.is_finite() {
            return Err(SurfaceError::invalid("step.edge_x_m", self.edge_x_m, "must be finite"));
        }
        let ramp = self.edge_width_m.max(region.pitch_m(&raster).0);
        fill_grid(&region, &raster, |x, _| {
            let up = ((x - self.edge_x_m) / ramp + 0.5).clamp(0.0, 1.0);
            let level = match self.direction {
                StepDirection::Up => up,
                StepDirection::Down => 1.0 - up,
            };
            self.height_m * level
        })
    }
}
