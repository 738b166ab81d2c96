//! `SurfaceSpec`: the serde-tagged choice of procedural surface, as written in a config file
//! (`kind = "terraces"` plus that generator's unit-suffixed parameters).

use super::{GrainsSpec, GratingSpec, ParticlesSpec, StepSpec, Surface, SurfaceError, TerracesSpec};
use serde::{Deserialize, Serialize};

/// A procedural surface. In TOML: `kind = "grains"` plus the generator's fields; missing fields take
/// the generator's defaults, unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SurfaceSpec {
    /// Graphite-like terraces with step edges.
    Terraces(TerracesSpec),
    /// Voronoi grains of random heights.
    Grains(GrainsSpec),
    /// Spherical-cap particles on a flat substrate.
    Particles(ParticlesSpec),
    /// A calibration grating (lines or pillars).
    Grating(GratingSpec),
    /// A single straight step edge.
    Step(StepSpec),
}

impl Default for SurfaceSpec {
    fn default() -> Self {
        SurfaceSpec::Grains(GrainsSpec::default())
    }
}

impl SurfaceSpec {
    /// Generates the surface, centred at the scanner origin; the same `seed` gives the same surface.
    pub fn generate(&self, seed: u64) -> Result<Surface, SurfaceError> {
        match self {
            SurfaceSpec::Terraces(s) => s.generate(seed),
            SurfaceSpec::Grains(s) => s.generate(seed),
            SurfaceSpec::Particles(s) => s.generate(seed),
            SurfaceSpec::Grating(s) => s.generate(seed),
            SurfaceSpec::Step(s) => s.generate(seed),
        }
    }

    /// A short name of the generator, e.g. "terraces".
    pub fn kind(&self) -> &'static str {
        match self {
            SurfaceSpec::Terraces(_) => "terraces",
            SurfaceSpec::Grains(_) => "grains",
            SurfaceSpec::Particles(_) => "particles",
            SurfaceSpec::Grating(_) => "grating",
            SurfaceSpec::Step(_) => "step",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::surface::GratingLayout;

    fn small<T>(mut spec: T, set: impl FnOnce(&mut T)) -> T {
        set(&mut spec);
        spec
    }

    #[test]
    fn every_generator_is_seeded_and_has_the_expected_relief() {
        let specs = [
            SurfaceSpec::Terraces(small(TerracesSpec::default(), |s| s.pixels = 256)),
            SurfaceSpec::Grains(small(GrainsSpec::default(), |s| s.pixels = 256)),
            SurfaceSpec::Particles(small(ParticlesSpec::default(), |s| s.pixels = 256)),
            SurfaceSpec::Grating(small(GratingSpec::default(), |s| {
                s.pixels = 256;
                s.layout = GratingLayout::Pillars;
            })),
            SurfaceSpec::Step(small(StepSpec::default(), |s| s.pixels = 256)),
        ];
        for spec in &specs {
            let a = spec.generate(7).unwrap();
            let b = spec.generate(7).unwrap();
            assert_eq!(a, b, "{} not reproducible", spec.kind());
            assert_eq!(a.raster().points, 256);
            let (lo, hi) = a.height_range_m();
            let range = hi - lo;
            let (min_range, max_range) = match spec {
                SurfaceSpec::Terraces(_) => (1e-9, 20e-9), // several 0.3–1 nm steps
                SurfaceSpec::Grains(_) => (4e-9, 30e-9),   // ±~3σ of 2 nm plus grooves
                SurfaceSpec::Particles(_) => (60e-9, 500e-9),
                SurfaceSpec::Grating(_) | SurfaceSpec::Step(_) => (19.99e-9, 20.01e-9),
            };
            assert!(range > min_range && range < max_range, "{}: range {range:e}", spec.kind());
            let c = spec.generate(8).unwrap();
            let seeded = !matches!(spec, SurfaceSpec::Grating(_) | SurfaceSpec::Step(_));
            assert_eq!(a != c, seeded, "{}: seed dependence", spec.kind());
        }
    }

    #[test]
    fn terraces_steps_come_from_the_configured_heights() {
        let spec = TerracesSpec { pixels: 512, step_normal_deg: 0.0, edge_wiggle_m: 0.0, up_step_fraction: 0.0, ..Default::default() };
        let s = spec.generate(3).unwrap();
        let row = s.heights_m().row(100);
        // Every jump between terraces (summed across the one-pixel ramp) is a multiple of 0.335 nm.
        let levels: Vec<f64> = row.iter().map(|&h| h as f64).collect();
        let mut jumps = Vec::new();
        let mut i = 2;
        while i + 4 < levels.len() {
            if (levels[i + 1] - levels[i - 1]).abs() > 0.1e-9 {
                // The ramp is one pitch wide: a window from i − 1 to i + 3 holds all of it.
                jumps.push(levels[i + 3] - levels[i - 1]);
                i += 5;
            } else {
                i += 1;
            }
        }
        assert!(jumps.len() >= 4, "expected several steps in 10 µm, got {jumps:?}");
        for d in jumps {
            let layers = -d / 0.335e-9;
            assert!(d < 0.0 && (layers - layers.round()).abs() < 0.02, "jump {d:e}");
        }
    }

    #[test]
    fn particle_caps_are_spheres_of_the_configured_size() {
        let spec = ParticlesSpec { pixels: 512, size_m: 2e-6, count: 1, radius_rel_sd: 0.0, ..Default::default() };
        let s = spec.generate(1).unwrap();
        let (_, hi) = s.height_range_m();
        // Hemisphere of radius 120 nm: apex 120 nm (the grid may miss the apex by < 1 pitch).
        let pitch = s.pitch_m().0;
        assert!(hi <= 120e-9 + 1e-15 && hi > 120e-9 - pitch * pitch / 120e-9, "apex {hi:e}");
    }
}
