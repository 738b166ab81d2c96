//! Tip dilation: the image a rigid tip records is the grey-scale dilation of the surface by the
//! reflected tip shape. For a paraboloid apex `z = r²/(2R)` the dilation is separable — a 1-D
//! max-plus convolution with a parabola along the rows, then along the columns — and each 1-D pass
//! is computed exactly in O(n) with the lower-envelope algorithm of Felzenszwalb & Huttenlocher.
//! A double tip adds a second apex, offset in x/y and raised by `dz`; the recorded surface is the
//! maximum of both apexes' dilations. Computed once per surface and tip, then sampled per update.

use crate::config::ConfigError;
use crate::surface::{Surface, SurfaceError};
use ndarray::{Array2, ArrayViewMut1, Axis};
use serde::{Deserialize, Serialize};

/// A second apex on the tip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoubleTipConfig {
    /// x offset of the second apex from the main apex, metres.
    pub offset_x_m: f64,
    /// y offset of the second apex from the main apex, metres.
    pub offset_y_m: f64,
    /// How far the second apex sits above the main apex, metres (≥ 0: it only touches high features).
    pub offset_z_m: f64,
    /// Radius of curvature of the second apex, metres.
    pub radius_m: f64,
}

/// The tip shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TipConfig {
    /// Apply tip dilation (off: an infinitely sharp tip).
    pub enabled: bool,
    /// Radius of curvature of the paraboloid apex, metres.
    pub tip_radius_m: f64,
    /// An optional second apex (a "double tip").
    pub double_tip: Option<DoubleTipConfig>,
}

impl Default for TipConfig {
    fn default() -> Self {
        Self { enabled: true, tip_radius_m: 10e-9, double_tip: None }
    }
}

impl TipConfig {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::positive("physics.tip.tip_radius_m", self.tip_radius_m, "m")?;
        if let Some(d) = &self.double_tip {
            ConfigError::positive("physics.tip.double_tip.radius_m", d.radius_m, "m")?;
            for (f, v) in [("offset_x_m", d.offset_x_m), ("offset_y_m", d.offset_y_m), ("offset_z_m", d.offset_z_m)] {
                ConfigError::finite(&format!("physics.tip.double_tip.{f}"), v, "m")?;
            }
        }
        Ok(())
    }

    /// The surface as this tip records it (identical to `surface` when dilation is off).
    pub fn dilate(&self, surface: &Surface) -> Result<Surface, SurfaceError> {
        if !self.enabled {
            return Ok(surface.clone());
        }
        let main = dilate_paraboloid(surface, self.tip_radius_m);
        let Some(second) = &self.double_tip else {
            return Surface::from_array(main, *surface.region());
        };
        let other = Surface::from_array(dilate_paraboloid(surface, second.radius_m), *surface.region())?;
        let raster = surface.raster();
        let region = *surface.region();
        let mut out = main;
        for ((row, col), h) in out.indexed_iter_mut() {
            let (x, y) = region.pixel_position_m(&raster, col as f64, row as f64);
            // The main apex at (x, y) puts the second apex at (x + dx, y + dy), dz higher.
            let h2 = other.sample_bilinear_m(x + second.offset_x_m, y + second.offset_y_m) - second.offset_z_m;
            *h = h.max(h2 as f32);
        }
        Surface::from_array(out, region)
    }
}

/// Grey-scale dilation of `surface` by a paraboloid of radius `radius_m`: for every grid point
/// `max over (dx, dy) of h(x + dx, y + dy) − (dx² + dy²) / (2R)`, exact on the grid.
pub fn dilate_paraboloid(surface: &Surface, radius_m: f64) -> Array2<f32> {
    let (px, py) = surface.pitch_m();
    let mut work: Array2<f64> = surface.heights_m().mapv(f64::from);
    let mut scratch = Envelope::default();
    for mut row in work.axis_iter_mut(Axis(0)) {
        scratch.dilate(&mut row, px * px / (2.0 * radius_m));
    }
    for mut col in work.axis_iter_mut(Axis(1)) {
        scratch.dilate(&mut col, py * py / (2.0 * radius_m));
    }
    work.mapv(|v| v as f32)
}

/// Buffers for the 1-D lower-envelope pass.
#[derive(Default)]
struct Envelope {
    f: Vec<f64>,
    v: Vec<usize>,
    z: Vec<f64>,
}

impl Envelope {
    /// In place: `d[q] = max_p d[p] − c·(q − p)²` (c = pitch² / 2R, heights in metres). Computed as
    /// `−c · min_p ((q − p)² + g[p])` with `g = −d / c`, the squared-distance transform.
    fn dilate(&mut self, d: &mut ArrayViewMut1<'_, f64>, c: f64) {
        let n = d.len();
        self.f.clear();
        self.f.extend(d.iter().map(|h| -h / c));
        self.v.clear();
        self.v.resize(n, 0);
        self.z.clear();
        self.z.resize(n + 1, 0.0);
        let f = &self.f;
        let (v, z) = (&mut self.v, &mut self.z);
        let mut k = 0usize;
        z[0] = f64::NEG_INFINITY;
        z[1] = f64::INFINITY;
        // Where the parabolas rooted at q and p (q > p) intersect.
        let inter = |q: usize, p: usize| {
            let (qf, pf) = (q as f64, p as f64);
            ((f[q] + qf * qf) - (f[p] + pf * pf)) / (2.0 * (qf - pf))
        };
        for q in 1..n {
            let mut s = inter(q, v[k]);
            while s <= z[k] {
                // k > 0 here: z[0] = −∞ can never be ≥ a finite s.
                k -= 1;
                s = inter(q, v[k]);
            }
            k += 1;
            v[k] = q;
            z[k] = s;
            z[k + 1] = f64::INFINITY;
        }
        k = 0;
        for q in 0..n {
            while z[k + 1] < q as f64 {
                k += 1;
            }
            let dq = q as f64 - v[k] as f64;
            d[q] = -c * (dq * dq + f[v[k]]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use afm_drivers::ScanRegion;
    use rand::{Rng, SeedableRng};

    #[test]
    fn envelope_matches_brute_force() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let h = Array2::from_shape_fn((17, 23), |_| rng.random::<f64>() as f32 * 30e-9);
        let s =
            Surface::from_array(h.clone(), ScanRegion { width_m: 220e-9, height_m: 160e-9, ..ScanRegion::square(0.0, 0.0, 1.0) }).unwrap();
        let r = 15e-9;
        let fast = dilate_paraboloid(&s, r);
        let (px, py) = s.pitch_m();
        for ((i, j), got) in fast.indexed_iter() {
            let mut best = f64::NEG_INFINITY;
            for ((a, b), v) in h.indexed_iter() {
                let d2 = ((a as f64 - i as f64) * py).powi(2) + ((b as f64 - j as f64) * px).powi(2);
                best = best.max(*v as f64 - d2 / (2.0 * r));
            }
            assert!((best - *got as f64).abs() < 1e-15, "({i},{j}): {best:e} vs {got:e}");
            assert!(*got >= h[[i, j]]);
        }
    }
}
