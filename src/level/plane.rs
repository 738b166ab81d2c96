//! Least-squares plane `z = a + b_x·point + b_y·line` (pixel coordinates), fitted over the masked
//! pixels in double precision, and its removal.

use ndarray::{Array2, ArrayView2};

/// A plane over pixel coordinates: `z = offset + slope_per_point·point + slope_per_line·line`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Plane {
    /// Height at pixel (0, 0), in the image's unit.
    pub offset: f64,
    /// Change per point along a line (fast axis), unit per pixel.
    pub slope_per_point: f64,
    /// Change per line (slow axis), unit per pixel.
    pub slope_per_line: f64,
    /// Mean of the fitted pixels (what [`Plane::subtract_tilt`] keeps).
    pub mean: f64,
}

impl Plane {
    /// The plane's value at (`line`, `point`).
    pub fn at(&self, line: f64, point: f64) -> f64 {
        self.offset + self.slope_per_point * point + self.slope_per_line * line
    }

    /// Removes the plane from `image` but keeps the fitted pixels' mean height.
    pub fn subtract_tilt(&self, image: &mut Array2<f32>) {
        for ((r, c), v) in image.indexed_iter_mut() {
            *v = (*v as f64 - self.at(r as f64, c as f64) + self.mean) as f32;
        }
    }
}

/// Fits the least-squares plane to `image` over the pixels where `mask` is true (all when `None`).
/// Fewer than three usable pixels, or a degenerate set (one line or one column), fit what they can:
/// a constant, or a line along the one axis that varies.
pub fn fit_plane(image: ArrayView2<f32>, mask: Option<ArrayView2<bool>>) -> Plane {
    let points = || {
        image
            .indexed_iter()
            .filter(move |&((r, c), v)| mask.is_none_or(|m| m[[r, c]]) && v.is_finite())
            .map(|((r, c), &v)| (c as f64, r as f64, v as f64))
    };
    match fit_plane_through(points) {
        None => Plane::default(),
        Some(f) => Plane {
            offset: f.mean - f.slope_x * f.centroid.0 - f.slope_y * f.centroid.1,
            slope_per_point: f.slope_x,
            slope_per_line: f.slope_y,
            mean: f.mean,
        },
    }
}

/// A least-squares plane `z = mean + slope_x·(x − centroid.0) + slope_y·(y − centroid.1)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlaneFit {
    /// Mean position of the points (x, y).
    pub centroid: (f64, f64),
    /// Mean value of the points.
    pub mean: f64,
    /// Change per unit of x.
    pub slope_x: f64,
    /// Change per unit of y.
    pub slope_y: f64,
}

/// The least-squares plane through the points `(x, y, z)` that `points()` yields (called twice), in
/// double precision about their centroid; None without points. Positions that do not span a plane fit
/// what they can: a line along the one axis that varies, or a constant.
pub fn fit_plane_through<I: Iterator<Item = (f64, f64, f64)>>(points: impl Fn() -> I) -> Option<PlaneFit> {
    // Normal equations about the centroid: well conditioned in double precision.
    let (mut n, mut sx, mut sy, mut sz) = (0.0f64, 0.0, 0.0, 0.0);
    for (x, y, z) in points() {
        (n, sx, sy, sz) = (n + 1.0, sx + x, sy + y, sz + z);
    }
    if n == 0.0 {
        return None;
    }
    let (mx, my, mz) = (sx / n, sy / n, sz / n);
    let (mut sxx, mut syy, mut sxy, mut sxz, mut syz) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
    for (x, y, z) in points() {
        let (x, y, z) = (x - mx, y - my, z - mz);
        (sxx, syy, sxy, sxz, syz) = (sxx + x * x, syy + y * y, sxy + x * y, sxz + x * z, syz + y * z);
    }
    let det = sxx * syy - sxy * sxy;
    let (bx, by) = if det > 1e-9 * (sxx * syy).max(f64::MIN_POSITIVE) {
        ((sxz * syy - syz * sxy) / det, (syz * sxx - sxz * sxy) / det)
    } else if sxx > 0.0 {
        (sxz / sxx, 0.0)
    } else if syy > 0.0 {
        (0.0, syz / syy)
    } else {
        (0.0, 0.0)
    };
    Some(PlaneFit { centroid: (mx, my), mean: mz, slope_x: bx, slope_y: by })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_plane_is_recovered_and_removed() {
        let img = Array2::from_shape_fn((20, 30), |(r, c)| (5.0 + 0.25 * c as f64 - 0.5 * r as f64) as f32);
        let p = fit_plane(img.view(), None);
        assert!((p.slope_per_point - 0.25).abs() < 1e-9 && (p.slope_per_line + 0.5).abs() < 1e-9 && (p.offset - 5.0).abs() < 1e-9);
        let mut flat = img.clone();
        p.subtract_tilt(&mut flat);
        let mean = img.iter().map(|&v| v as f64).sum::<f64>() / img.len() as f64;
        assert!(flat.iter().all(|&v| (v as f64 - mean).abs() < 1e-5), "not flat");
    }

    #[test]
    fn masked_pixels_do_not_pull_the_plane() {
        // a tilted floor with a tall block on it; the mask excludes the block
        let img = Array2::from_shape_fn((32, 32), |(r, c)| {
            let floor = 1e-9 * c as f64 + 2e-9 * r as f64;
            (floor + if (10..20).contains(&r) && (5..15).contains(&c) { 50e-9 } else { 0.0 }) as f32
        });
        let mask = Array2::from_shape_fn((32, 32), |(r, c)| !((10..20).contains(&r) && (5..15).contains(&c)));
        let p = fit_plane(img.view(), Some(mask.view()));
        assert!((p.slope_per_point - 1e-9).abs() < 1e-15 && (p.slope_per_line - 2e-9).abs() < 1e-15, "{p:?}");
        let unmasked = fit_plane(img.view(), None);
        assert!((unmasked.slope_per_point - 1e-9).abs() > 1e-11, "the block should tilt an unmasked fit");
        // a single line fits its own slope, an empty mask nothing
        let line = Array2::from_shape_fn((1, 8), |(_, c)| 3.0 * c as f32);
        assert!((fit_plane(line.view(), None).slope_per_point - 3.0).abs() < 1e-9);
        let none = Array2::from_elem((32, 32), false);
        assert_eq!(fit_plane(img.view(), Some(none.view())), Plane::default());
    }
}
