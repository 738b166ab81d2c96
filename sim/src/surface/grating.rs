//! Calibration grating: a periodic relief of lines or square pillars (like TGZ/TGQ gratings) with
//! trapezoidal sidewalls. Fully deterministic — the seed is not used.

use super::{fill_grid, require_non_negative, require_positive, square_grid, Surface, SurfaceError};
use serde::{Deserialize, Serialize};

/// The pattern of a calibration grating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GratingLayout {
    /// Parallel lines (a 1-D grating).
    #[default]
    Lines,
    /// A square lattice of square pillars (a 2-D grating).
    Pillars,
}

/// A calibration grating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GratingSpec {
    /// Side of the square surface, metres.
    pub size_m: f64,
    /// Grid points per side.
    pub pixels: usize,
    /// Lines or pillars.
    pub layout: GratingLayout,
    /// Period of the pattern, metres.
    pub pitch_m: f64,
    /// Height of the raised features above the floor, metres.
    pub depth_m: f64,
    /// Fraction of a period that is raised (top width / pitch), 0 … 1.
    pub duty_cycle: f64,
    /// Horizontal width of each sidewall, metres (0: vertical walls, one grid pixel wide).
    pub sidewall_m: f64,
    /// Rotation of the pattern, degrees counter-clockwise.
    pub angle_deg: f64,
}

impl Default for GratingSpec {
    fn default() -> Self {
        Self {
            size_m: 10e-6,
            pixels: 1024,
            layout: GratingLayout::Lines,
            pitch_m: 2e-6,
            depth_m: 20e-9,
            duty_cycle: 0.5,
            sidewall_m: 60e-9,
            angle_deg: 0.0,
        }
    }
}

impl GratingSpec {
    /// Generates the surface (the seed is ignored: a grating is regular).
    pub fn generate(&self, _seed: u64) -> Result<Surface, SurfaceError> {
        let (region, raster) = square_grid("grating", self.size_m, self.pixels)?;
        require_positive("grating.pitch_m", self.pitch_m, "m")?;
        require_non_negative("grating.depth_m", self.depth_m, "m")?;
        require_non_negative("grating.sidewall_m", self.sidewall_m, "m")?;
        if !(0.0..=1.0).contains(&self.duty_cycle) {
            return Err(SurfaceError::invalid("grating.duty_cycle", self.duty_cycle, "must be in 0 … 1"));
        }
        if !self.angle_deg.is_finite() {
            return Err(SurfaceError::invalid("grating.angle_deg", self.angle_deg, "must be finite"));
        }
        let wall = self.sidewall_m.max(region.pitch_m(&raster).0);
        let half_top = 0.5 * self.duty_cycle * self.pitch_m;
        // Profile across one period: 1 on the top, ramping down over `wall` on each side.
        let profile = |u: f64| {
            let p = u.rem_euclid(self.pitch_m) - 0.5 * self.pitch_m;
            ((half_top + 0.5 * wall - p.abs()) / wall).clamp(0.0, 1.0)
        };
        let (s, c) = self.angle_deg.to_radians().sin_cos();
        fill_grid(&region, &raster, |x, y| {
            let (u, v) = (c * x + s * y, -s * x + c * y);
            let level = match self.layout {
                GratingLayout::Lines => profile(u),
                GratingLayout::Pillars => profile(u).min(profile(v)),
            };
            self.depth_m * level
        })
    }
}
