//! Terraces separated by step edges, like cleaved graphite (HOPG): flat terraces of random width,
//! monatomic or multi-layer steps whose heights are drawn from a configured list, gently wiggling
//! edges. Each edge is a one-grid-pixel linear ramp so the grid carries no aliasing.

use super::{fill_grid, require_non_negative, require_positive, square_grid, Surface, SurfaceError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Graphite-like terraces with step edges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TerracesSpec {
    /// Side of the square surface, metres.
    pub size_m: f64,
    /// Grid points per side.
    pub pixels: usize,
    /// Possible step heights, metres; each step draws one uniformly (graphite: 0.335 nm per layer).
    pub step_heights_m: Vec<f64>,
    /// Mean terrace width (distance between neighbouring edges), metres.
    pub terrace_width_m: f64,
    /// Relative standard deviation of the terrace width (0 = equal widths).
    pub terrace_width_rel_sd: f64,
    /// Direction of the edge normal (the downhill direction), degrees counter-clockwise from +x.
    pub step_normal_deg: f64,
    /// Fraction of steps that go up instead of down along the normal (0 = a clean staircase).
    pub up_step_fraction: f64,
    /// Amplitude of the sinusoidal wiggle of each edge, metres.
    pub edge_wiggle_m: f64,
    /// Wavelength of the edge wiggle along the edge, metres.
    pub edge_wiggle_wavelength_m: f64,
}

impl Default for TerracesSpec {
    fn default() -> Self {
        Self {
            size_m: 10e-6,
            pixels: 1024,
            step_heights_m: vec![0.335e-9, 0.335e-9, 0.670e-9, 1.005e-9],
            terrace_width_m: 1.2e-6,
            terrace_width_rel_sd: 0.4,
            step_normal_deg: 20.0,
            up_step_fraction: 0.15,
            edge_wiggle_m: 80e-9,
            edge_wiggle_wavelength_m: 2.5e-6,
        }
    }
}

struct Edge {
    offset_m: f64,
    height_m: f64,
    phase_rad: f64,
}

impl TerracesSpec {
    /// Generates the surface; `seed` fixes terrace widths, step heights and edge wiggles.
    pub fn generate(&self, seed: u64) -> Result<Surface, SurfaceError> {
        let (region, raster) = square_grid("terraces", self.size_m, self.pixels)?;
        if self.step_heights_m.is_empty() {
            return Err(SurfaceError::invalid("terraces.step_heights_m", "[]", "needs at least one step height"));
        }
        for h in &self.step_heights_m {
            require_non_negative("terraces.step_heights_m", *h, "m")?;
        }
        require_positive("terraces.terrace_width_m", self.terrace_width_m, "m")?;
        require_non_negative("terraces.terrace_width_rel_sd", self.terrace_width_rel_sd, "")?;
        require_non_negative("terraces.edge_wiggle_m", self.edge_wiggle_m, "m")?;
        require_positive("terraces.edge_wiggle_wavelength_m", self.edge_wiggle_wavelength_m, "m")?;
        if !(0.0..=1.0).contains(&self.up_step_fraction) {
            return Err(SurfaceError::invalid("terraces.up_step_fraction", self.up_step_fraction, "must be in 0 … 1"));
        }
        if !self.step_normal_deg.is_finite() {
            return Err(SurfaceError::invalid("terraces.step_normal_deg", self.step_normal_deg, "must be finite"));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Edges cover the projection of the square onto the normal, plus the wiggle.
        let reach = self.size_m * std::f64::consts::FRAC_1_SQRT_2 + self.edge_wiggle_m;
        let mut edges = Vec::new();
        let mut offset = -reach + rng.random::<f64>() * self.terrace_width_m;
        while offset < reach && edges.len() < 100_000 {
            let idx = rng.random_range(0..self.step_heights_m.len());
            let sign = if rng.random::<f64>() < self.up_step_fraction { 1.0 } else { -1.0 };
            let phase_rad = rng.random::<f64>() * std::f64::consts::TAU;
            edges.push(Edge { offset_m: offset, height_m: sign * self.step_heights_m[idx], phase_rad });
            let jitter = 1.0 + self.terrace_width_rel_sd * (rng.random::<f64>() * 2.0 - 1.0) * 3f64.sqrt();
            offset += self.terrace_width_m * jitter.max(0.05);
        }
        let (s, c) = self.step_normal_deg.to_radians().sin_cos();
        let ramp_m = region.pitch_m(&raster).0;
        let k = std::f64::consts::TAU / self.edge_wiggle_wavelength_m;
        fill_grid(&region, &raster, |x, y| {
            let along_normal = c * x + s * y;
            let along_edge = -s * x + c * y;
            edges
                .iter()
                .map(|e| {
                    let d = along_normal - e.offset_m - self.edge_wiggle_m * (k * along_edge + e.phase_rad).sin();
                    e.height_m * (d / ramp_m + 0.5).clamp(0.0, 1.0)
                })
                .sum::<f64>()
        })
    }
}
