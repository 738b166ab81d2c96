//! Ground-truth surfaces: a height map in metres with its physical extent, sampled off-grid by
//! bilinear or bicubic interpolation at scanner coordinates. Procedural generators live in the
//! submodules; real files are converted by the root package and enter through [`Surface::from_array`].

mod grains;
mod grating;
pub(crate) mod interp;
mod particles;
mod spec;
mod step;
mod terraces;

pub use grains::GrainsSpec;
pub use grating::{GratingLayout, GratingSpec};
pub use interp::Interpolation;
pub use particles::ParticlesSpec;
pub use spec::SurfaceSpec;
pub use step::{StepDirection, StepSpec};
pub use terraces::TerracesSpec;

use afm_drivers::{Raster, ScanRegion};
use interp::Axis;
use ndarray::Array2;
use thiserror::Error;

/// Why a surface could not be built.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SurfaceError {
    /// A parameter (of a generator or of [`Surface::from_array`]) is out of its valid range.
    #[error("surface parameter {field} = {value} is invalid: {reason}")]
    InvalidParameter {
        /// The parameter, e.g. "particles.radius_m".
        field: String,
        /// The value given, with its unit.
        value: String,
        /// What is required.
        reason: String,
    },
}

impl SurfaceError {
    pub(crate) fn invalid(field: impl Into<String>, value: impl ToString, reason: impl Into<String>) -> Self {
        SurfaceError::InvalidParameter { field: field.into(), value: value.to_string(), reason: reason.into() }
    }
}

/// A height map in metres over a physical, unrotated region of the scanner frame.
///
/// `heights_m[[row, col]]` is the height at `region.pixel_position_m(raster, col, row)` (Asylum's
/// convention: first and last points on the edges, row 0 at the smallest y). Between grid points the
/// surface is interpolated; outside the region it continues with its edge values.
#[derive(Debug, Clone, PartialEq)]
pub struct Surface {
    heights_m: Array2<f32>,
    region: ScanRegion,
    x_axis: Axis,
    y_axis: Axis,
}

/// Checks that `value` is finite and > 0, naming `field` otherwise.
pub(crate) fn require_positive(field: &str, value: f64, unit: &str) -> Result<(), SurfaceError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(SurfaceError::invalid(field, format!("{value} {unit}"), "must be a finite number > 0"))
    }
}

/// Checks that `value` is finite and ≥ 0, naming `field` otherwise.
pub(crate) fn require_non_negative(field: &str, value: f64, unit: &str) -> Result<(), SurfaceError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(SurfaceError::invalid(field, format!("{value} {unit}"), "must be a finite number ≥ 0"))
    }
}

impl Surface {
    /// A surface from a height map (metres, `[row = y, col = x]`) covering `region` (angle 0).
    /// Needs at least 2 × 2 finite heights and a region of positive finite size.
    pub fn from_array(heights_m: Array2<f32>, region: ScanRegion) -> Result<Self, SurfaceError> {
        let (rows, cols) = heights_m.dim();
        if rows < 2 || cols < 2 {
            return Err(SurfaceError::invalid("heights_m shape", format!("{rows} × {cols}"), "needs at least 2 × 2 points"));
        }
        if let Some(bad) = heights_m.iter().find(|h| !h.is_finite()) {
            return Err(SurfaceError::invalid("heights_m", bad, "every height must be finite (fill NaNs first)"));
        }
        require_positive("region.width_m", region.width_m, "m")?;
        require_positive("region.height_m", region.height_m, "m")?;
        if !(region.center_x_m.is_finite() && region.center_y_m.is_finite()) {
            return Err(SurfaceError::invalid(
                "region centre",
                format!("({}, {}) m", region.center_x_m, region.center_y_m),
                "must be finite",
            ));
        }
        if region.angle_deg != 0.0 {
            return Err(SurfaceError::invalid("region.angle_deg", region.angle_deg, "a surface is stored unrotated (0°)"));
        }
        let x_axis = Axis::new(region.center_x_m - region.width_m / 2.0, region.width_m / (cols - 1) as f64, cols);
        let y_axis = Axis::new(region.center_y_m - region.height_m / 2.0, region.height_m / (rows - 1) as f64, rows);
        Ok(Self { heights_m, region, x_axis, y_axis })
    }

    /// The height map, metres, indexed `[row = y, col = x]`.
    pub fn heights_m(&self) -> &Array2<f32> {
        &self.heights_m
    }

    /// The physical region the height map covers (angle 0).
    pub fn region(&self) -> &ScanRegion {
        &self.region
    }

    /// The grid of the height map: points = columns (x), lines = rows (y).
    pub fn raster(&self) -> Raster {
        let (rows, cols) = self.heights_m.dim();
        Raster::new(cols, rows)
    }

    /// Grid pitch along x and y, metres.
    pub fn pitch_m(&self) -> (f64, f64) {
        self.region.pitch_m(&self.raster())
    }

    /// Lowest and highest height on the grid, metres.
    pub fn height_range_m(&self) -> (f64, f64) {
        self.heights_m.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &h| (lo.min(h as f64), hi.max(h as f64)))
    }

    /// Consumes the surface, returning its height map and region.
    pub fn into_parts(self) -> (Array2<f32>, ScanRegion) {
        (self.heights_m, self.region)
    }

    /// Height at scanner position (`x_m`, `y_m`), metres, interpolated with `interp`.
    pub fn sample_m(&self, x_m: f64, y_m: f64, interp: Interpolation) -> f64 {
        let (ix, wx) = self.x_axis.taps(x_m, interp);
        let (iy, wy) = self.y_axis.taps(y_m, interp);
        let mut acc = 0.0;
        for (r, wr) in iy.iter().zip(wy) {
            if wr == 0.0 {
                continue;
            }
            let row = self.heights_m.row(*r);
            let mut line = 0.0;
            for (c, wc) in ix.iter().zip(wx) {
                line += wc * row[*c] as f64;
            }
            acc += wr * line;
        }
        acc
    }

    /// Bilinear height at (`x_m`, `y_m`), metres.
    pub fn sample_bilinear_m(&self, x_m: f64, y_m: f64) -> f64 {
        self.sample_m(x_m, y_m, Interpolation::Bilinear)
    }

    /// Bicubic (Catmull-Rom) height at (`x_m`, `y_m`), metres.
    pub fn sample_bicubic_m(&self, x_m: f64, y_m: f64) -> f64 {
        self.sample_m(x_m, y_m, Interpolation::Bicubic)
    }

    /// The surface sampled at every pixel position of `region` scanned with `raster` (rotation
    /// honoured): the clean ground truth of a scan, `[line, point]`, metres.
    pub fn resample(&self, region: &ScanRegion, raster: &Raster, interp: Interpolation) -> Array2<f32> {
        Array2::from_shape_fn((raster.lines, raster.points), |(row, col)| {
            let (x, y) = region.pixel_position_m(raster, col as f64, row as f64);
            self.sample_m(x, y, interp) as f32
        })
    }

    /// Interpolates along y at `y_m` for every column: the profile a line at constant y sees.
    pub(crate) fn row_profile(&self, y_m: f64, interp: Interpolation, out: &mut Vec<f64>) {
        let (iy, wy) = self.y_axis.taps(y_m, interp);
        out.clear();
        out.resize(self.x_axis.n, 0.0);
        for (r, wr) in iy.iter().zip(wy) {
            if wr == 0.0 {
                continue;
            }
            for (o, h) in out.iter_mut().zip(self.heights_m.row(*r)) {
                *o += wr * *h as f64;
            }
        }
    }

    /// The sampling axis along x (columns).
    pub(crate) fn x_axis(&self) -> &Axis {
        &self.x_axis
    }
}

/// A square, centred region of side `size_m` and a square raster of `pixels` — the grid every
/// generator fills. Checks both.
pub(crate) fn square_grid(kind: &str, size_m: f64, pixels: usize) -> Result<(ScanRegion, Raster), SurfaceError> {
    require_positive(&format!("{kind}.size_m"), size_m, "m")?;
    if !(2..=16384).contains(&pixels) {
        return Err(SurfaceError::invalid(format!("{kind}.pixels"), pixels, "must be 2 … 16384"));
    }
    Ok((ScanRegion::square(0.0, 0.0, size_m), Raster::square(pixels)))
}

/// Fills a square grid by evaluating `height_m(x_m, y_m)` at every grid point.
pub(crate) fn fill_grid(region: &ScanRegion, raster: &Raster, height_m: impl Fn(f64, f64) -> f64) -> Result<Surface, SurfaceError> {
    let heights = Array2::from_shape_fn((raster.lines, raster.points), |(row, col)| {
        let (x, y) = region.pixel_position_m(raster, col as f64, row as f64);
        height_m(x, y) as f32
    });
    Surface::from_array(heights, *region)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_hits_grid_points_and_clamps_outside() {
        let region = ScanRegion { center_x_m: 1e-6, center_y_m: -1e-6, width_m: 4e-6, height_m: 2e-6, angle_deg: 0.0 };
        // h = 2·x + 3·y (in µm → nm) on a 9 × 5 grid.
        let raster = Raster::new(9, 5);
        let h = Array2::from_shape_fn((5, 9), |(r, c)| {
            let (x, y) = region.pixel_position_m(&raster, c as f64, r as f64);
            (2e-3 * x + 3e-3 * y) as f32
        });
        let s = Surface::from_array(h.clone(), region).unwrap();
        assert_eq!(s.pitch_m(), (0.5e-6, 0.5e-6));
        for interp in [Interpolation::Bilinear, Interpolation::Bicubic] {
            let (x, y) = region.pixel_position_m(&raster, 3.0, 1.0);
            assert!((s.sample_m(x, y, interp) - h[[1, 3]] as f64).abs() < 1e-15);
            // A plane is reproduced exactly off-grid by both kernels.
            let (x, y) = (0.37e-6, -1.21e-6);
            assert!((s.sample_m(x, y, interp) - (2e-3 * x + 3e-3 * y)).abs() < 1e-14, "{interp:?}");
            // Far outside: the corner value.
            assert!((s.sample_m(-1.0, -1.0, interp) - h[[0, 0]] as f64).abs() < 1e-15);
        }
        let mut prof = Vec::new();
        s.row_profile(-1.3e-6, Interpolation::Bicubic, &mut prof);
        let direct = s.sample_m(2.2e-6, -1.3e-6, Interpolation::Bicubic);
        let via = s.x_axis().sample(&prof, 2.2e-6, Interpolation::Bicubic);
        assert!((direct - via).abs() < 1e-16);
    }

    #[test]
    fn from_array_rejects_bad_input() {
        let region = ScanRegion::square(0.0, 0.0, 1e-6);
        assert!(Surface::from_array(Array2::zeros((1, 5)), region).is_err());
        let mut h = Array2::zeros((3, 3));
        h[[1, 1]] = f32::NAN;
        assert!(Surface::from_array(h, region).is_err());
        assert!(Surface::from_array(Array2::zeros((3, 3)), ScanRegion { angle_deg: 5.0, ..region }).is_err());
        assert!(Surface::from_array(Array2::zeros((3, 3)), ScanRegion::square(0.0, 0.0, 0.0)).is_err());
    }
}
