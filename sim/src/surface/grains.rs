//! Polycrystalline grains: Voronoi cells around jittered-grid seeds, each with a random height,
//! grooved along the grain boundaries. The distance to a boundary is the exact distance to the
//! bisector between the nearest and the competing seed.

use super::{fill_grid, require_non_negative, require_positive, square_grid, Surface, SurfaceError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// Voronoi grains of random heights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrainsSpec {
    /// Side of the square surface, metres.
    pub size_m: f64,
    /// Grid points per side.
    pub pixels: usize,
    /// Mean grain diameter (seed spacing), metres.
    pub grain_size_m: f64,
    /// Standard deviation of the grain heights, metres.
    pub height_rms_m: f64,
    /// Depth of the groove along grain boundaries, metres.
    pub groove_depth_m: f64,
    /// Half-width (1/e) of the boundary groove, metres.
    pub groove_width_m: f64,
    /// How far each grain domes up from its boundary to its centre, metres.
    pub dome_height_m: f64,
}

impl Default for GrainsSpec {
    fn default() -> Self {
        Self {
            size_m: 10e-6,
            pixels: 1024,
            grain_size_m: 400e-9,
            height_rms_m: 2e-9,
            groove_depth_m: 1.5e-9,
            groove_width_m: 25e-9,
            dome_height_m: 1e-9,
        }
    }
}

impl GrainsSpec {
    /// Generates the surface; `seed` fixes grain positions and heights.
    pub fn generate(&self, seed: u64) -> Result<Surface, SurfaceError> {
        let (region, raster) = square_grid("grains", self.size_m, self.pixels)?;
        require_positive("grains.grain_size_m", self.grain_size_m, "m")?;
        require_non_negative("grains.height_rms_m", self.height_rms_m, "m")?;
        require_non_negative("grains.groove_depth_m", self.groove_depth_m, "m")?;
        require_positive("grains.groove_width_m", self.groove_width_m, "m")?;
        require_non_negative("grains.dome_height_m", self.dome_height_m, "m")?;
        let cells = (self.size_m / self.grain_size_m).ceil() as usize + 2;
        if cells > 4096 {
            return Err(SurfaceError::invalid("grains.grain_size_m", self.grain_size_m, "too small for the size (> 4096 grains per side)"));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let g = self.grain_size_m;
        let origin = -self.size_m / 2.0 - g;
        // One seed per cell of a `cells` × `cells` grid covering the surface plus one cell margin.
        let seeds: Vec<(f64, f64, f64)> = (0..cells * cells)
            .map(|i| {
                let (cx, cy) = ((i % cells) as f64, (i / cells) as f64);
                let x = origin + (cx + rng.random::<f64>()) * g;
                let y = origin + (cy + rng.random::<f64>()) * g;
                let z: f64 = StandardNormal.sample(&mut rng);
                (x, y, z * self.height_rms_m)
            })
            .collect();
        fill_grid(&region, &raster, |x, y| {
            let (gx, gy) = (((x - origin) / g) as isize, ((y - origin) / g) as isize);
            let mut near: [(f64, usize); 2] = [(f64::INFINITY, 0); 2];
            let mut candidates = [0usize; 25];
            let mut n = 0;
            for dy in -2..=2 {
                for dx in -2..=2 {
                    let (cx, cy) = (gx + dx, gy + dy);
                    if cx < 0 || cy < 0 || cx >= cells as isize || cy >= cells as isize {
                        continue;
                    }
                    let i = cy as usize * cells + cx as usize;
                    candidates[n] = i;
                    n += 1;
                    let d2 = (seeds[i].0 - x).powi(2) + (seeds[i].1 - y).powi(2);
                    if d2 < near[0].0 {
                        near[1] = near[0];
                        near[0] = (d2, i);
                    } else if d2 < near[1].0 {
                        near[1] = (d2, i);
                    }
                }
            }
            let (d1, own) = near[0];
            // Exact distance to the Voronoi boundary: the nearest bisector with any other seed.
            let boundary = candidates[..n]
                .iter()
                .filter(|&&j| j != own)
                .map(|&j| {
                    let d2 = (seeds[j].0 - x).powi(2) + (seeds[j].1 - y).powi(2);
                    let sep = ((seeds[j].0 - seeds[own].0).powi(2) + (seeds[j].1 - seeds[own].1).powi(2)).sqrt();
                    (d2 - d1) / (2.0 * sep.max(1e-30))
                })
                .fold(f64::INFINITY, f64::min);
            let dome = self.dome_height_m * (1.0 - (-boundary / (0.25 * g)).exp());
            let groove = self.groove_depth_m * (-(boundary / self.groove_width_m).powi(2)).exp();
            seeds[own].2 + dome - groove
        })
    }
}
