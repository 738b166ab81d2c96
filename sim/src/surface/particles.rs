//! Particles on a flat substrate: spherical caps of random radius at random positions, overlapping
//! particles merging by maximum (the tip only sees the upper envelope).

use super::{require_non_negative, require_positive, square_grid, Surface, SurfaceError};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// Spherical-cap particles on a flat substrate at height 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParticlesSpec {
    /// Side of the square surface, metres.
    pub size_m: f64,
    /// Grid points per side.
    pub pixels: usize,
    /// Number of particles.
    pub count: usize,
    /// Mean sphere radius, metres.
    pub radius_m: f64,
    /// Relative standard deviation of the radius (log-normal spread).
    pub radius_rel_sd: f64,
    /// Visible cap height as a fraction of the radius: 1 = hemisphere, 2 = whole sphere.
    pub cap_height_ratio: f64,
}

impl Default for ParticlesSpec {
    fn default() -> Self {
        Self { size_m: 10e-6, pixels: 1024, count: 60, radius_m: 120e-9, radius_rel_sd: 0.3, cap_height_ratio: 1.0 }
    }
}

impl ParticlesSpec {
    /// Generates the surface; `seed` fixes positions and radii.
    pub fn generate(&self, seed: u64) -> Result<Surface, SurfaceError> {
        let (region, _) = square_grid("particles", self.size_m, self.pixels)?;
        require_positive("particles.radius_m", self.radius_m, "m")?;
        require_non_negative("particles.radius_rel_sd", self.radius_rel_sd, "")?;
        if !(self.cap_height_ratio > 0.0 && self.cap_height_ratio <= 2.0) {
            return Err(SurfaceError::invalid("particles.cap_height_ratio", self.cap_height_ratio, "must be in (0, 2]"));
        }
        if self.count > 1_000_000 {
            return Err(SurfaceError::invalid("particles.count", self.count, "must be ≤ 1 000 000"));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = self.pixels;
        let pitch = self.size_m / (n - 1) as f64;
        let x0 = -self.size_m / 2.0;
        let sigma = (1.0 + self.radius_rel_sd.powi(2)).ln().sqrt();
        let mut heights = Array2::<f32>::zeros((n, n));
        for _ in 0..self.count {
            let cx = x0 + rng.random::<f64>() * self.size_m;
            let cy = x0 + rng.random::<f64>() * self.size_m;
            let z: f64 = StandardNormal.sample(&mut rng);
            let r = self.radius_m * (sigma * z - 0.5 * sigma * sigma).exp();
            let cap = self.cap_height_ratio * r;
            // Sphere centre sits `cap − r` above the substrate; footprint radius on the substrate.
            let zc = cap - r;
            let foot = if zc < 0.0 { (r * r - zc * zc).sqrt() } else { r };
            let lo = |c: f64| (((c - foot - x0) / pitch).floor().max(0.0)) as usize;
            let hi = |c: f64| (((c + foot - x0) / pitch).ceil().max(0.0) as usize).min(n - 1);
            for row in lo(cy)..=hi(cy) {
                let y = x0 + row as f64 * pitch;
                for col in lo(cx)..=hi(cx) {
                    let x = x0 + col as f64 * pitch;
                    let d2 = (x - cx).powi(2) + (y - cy).powi(2);
                    if d2 < r * r {
                        let h = (zc + (r * r - d2).sqrt()) as f32;
                        let cell = &mut heights[[row, col]];
                        *cell = cell.max(h);
                    }
                }
            }
        }
        Surface::from_array(heights, region)
    }
}
