//! The shift search: normalised cross-correlation between the frame (smoothed to the LR's bandwidth)
//! and the LR frame resampled (bicubic) at the frame's pixel positions moved by a trial shift — first
//! on a 0.25 LR px grid over the whole window, then on a 0.05 px grid around the best, then a
//! parabola through the best and its neighbours on each axis.

use super::RegisterError;
use crate::filter::gaussian_blur;
use crate::geo_image::GeoImage;
use crate::level::fit_plane;
use crate::upsample::Interpolation;
use ndarray::{s, Array2};

/// Coarse grid step, LR pixels.
const COARSE_STEP_LR_PX: f64 = 0.25;
/// Fine grid step, LR pixels.
const FINE_STEP_LR_PX: f64 = 0.05;
/// Competing peaks closer than this to the best are the same peak, LR pixels.
const SAME_PEAK_LR_PX: f64 = 1.0;

/// The outcome of the search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShiftSearch {
    /// Shift of the frame's content from its stated position (points, lines), LR pixels.
    pub shift_lr_px: [f64; 2],
    /// NCC at the best shift.
    pub peak: f64,
    /// The highest other local maximum of the coarse NCC surface more than 1 LR px away (0 if none).
    pub second_peak: f64,
    /// Curvature of the NCC surface at the peak, `−Hessian` in 1/LR px² (points, lines): how sharply
    /// the correlation falls off along each direction. A small eigenvalue is a direction the content
    /// does not pin down (a straight edge: the aperture problem).
    pub curvature: [[f64; 2]; 2],
    /// How many LR pixels (area, LR px²) the compared part of the frame covers: the number of roughly
    /// independent samples of the mismatch, since the frame is compared at the LR's resolution.
    pub compared_lr_px2: f64,
}

/// Finds the shift of `frame` against `lr` within ±`max_shift_lr_px` LR pixels on each axis.
///
/// The LR is scanned faster, so its feedback delay displaces features further along its fast axis
/// than the frame's does: against a single-pass LR the shift found carries that difference (measured
/// on a replayed real image: 0.7–0.9 HR px at 4× the tip speed). On the mean of trace and retrace the
/// delays cancel to first order.
pub fn find_shift(lr: &GeoImage, frame: &GeoImage, max_shift_lr_px: f64) -> Result<ShiftSearch, RegisterError> {
    let (lr_px, lr_py) = lr.pitch_m();
    let (f_px, f_py) = frame.pitch_m();
    // Pixels whose LR position stays inside the LR for every trial shift.
    let (cols, rows) = lr.map_onto(&frame.region, &frame.raster).source_coordinates()?;
    let margin = max_shift_lr_px + 1.0;
    let inside = |v: &[f64], n: usize| -> (usize, usize) {
        let ok: Vec<usize> = (0..v.len()).filter(|&i| v[i] >= margin && v[i] <= n as f64 - 1.0 - margin).collect();
        (ok.first().copied().unwrap_or(0), ok.last().map_or(0, |&l| l + 1))
    };
    let (c0, c1) = inside(&cols, lr.raster.points);
    let (r0, r1) = inside(&rows, lr.raster.lines);
    if c1 < c0 + 8 || r1 < r0 + 8 {
        return Err(RegisterError::OutsideLr { cols: c1.saturating_sub(c0), rows: r1.saturating_sub(r0), margin_lr_px: max_shift_lr_px });
    }
    // The frame smoothed to roughly the LR's resolution: σ = ½ LR pitch.
    let sigma = |lr_pitch: f64, f_pitch: f64| if f_pitch > 0.0 { 0.5 * lr_pitch / f_pitch } else { 0.0 };
    let target = gaussian_blur(&frame.data.mapv(f64::from), sigma(lr_px, f_px), sigma(lr_py, f_py));
    let target = detrended(target.slice(s![r0..r1, c0..c1]).to_owned());
    let ncc_at = |sx: f64, sy: f64| -> Result<f64, RegisterError> {
        let moved = frame.shifted(sx * lr_px, sy * lr_py);
        let pred = lr.resample_onto(&moved.region, &moved.raster, Interpolation::Bicubic)?;
        Ok(ncc(&detrended(pred.slice(s![r0..r1, c0..c1]).mapv(f64::from)), &target))
    };

    // Coarse grid over the whole window.
    let n = (max_shift_lr_px / COARSE_STEP_LR_PX).round() as i64;
    let k = (2 * n + 1) as usize;
    let mut coarse = Array2::<f64>::zeros((k, k));
    for (i, iy) in (-n..=n).enumerate() {
        for (j, ix) in (-n..=n).enumerate() {
            coarse[[i, j]] = ncc_at(ix as f64 * COARSE_STEP_LR_PX, iy as f64 * COARSE_STEP_LR_PX)?;
        }
    }
    let coarse = &coarse;
    let (bi, bj) = argmax(coarse);
    let at = |i: usize| (i as i64 - n) as f64 * COARSE_STEP_LR_PX;
    // A competing peak is a local maximum more than 1 LR px away with a real dip between it and the
    // best: points along a ridge (a straight edge) are one peak, not many.
    let floor = coarse.iter().copied().fold(f64::INFINITY, f64::min);
    let dip = 0.1 * (coarse[[bi, bj]] - floor);
    let second_peak = local_maxima(coarse)
        .into_iter()
        .filter(|&(i, j)| (at(i) - at(bi)).hypot(at(j) - at(bj)) > SAME_PEAK_LR_PX)
        .filter(|&(i, j)| lowest_between(coarse, (bi, bj), (i, j)) < coarse[[i, j]] - dip)
        .map(|(i, j)| coarse[[i, j]])
        .fold(0.0f64, f64::max);

    // Fine grid around the coarse best, then a parabola per axis.
    let (cx, cy) = (at(bj), at(bi));
    let m = (COARSE_STEP_LR_PX / FINE_STEP_LR_PX).round() as i64;
    let mut best = (f64::NEG_INFINITY, cx, cy);
    for iy in -m..=m {
        for ix in -m..=m {
            let (sx, sy) = (cx + ix as f64 * FINE_STEP_LR_PX, cy + iy as f64 * FINE_STEP_LR_PX);
            if sx.abs() > max_shift_lr_px + 1e-9 || sy.abs() > max_shift_lr_px + 1e-9 {
                continue;
            }
            let v = ncc_at(sx, sy)?;
            if v > best.0 {
                best = (v, sx, sy);
            }
        }
    }
    let (peak, sx, sy) = best;
    let h = FINE_STEP_LR_PX;
    let (xm, xp, ym, yp) = (ncc_at(sx - h, sy)?, ncc_at(sx + h, sy)?, ncc_at(sx, sy - h)?, ncc_at(sx, sy + h)?);
    let dx = parabola_vertex(xm, peak, xp) * h;
    let dy = parabola_vertex(ym, peak, yp) * h;
    let cross = (ncc_at(sx + h, sy + h)? - ncc_at(sx + h, sy - h)? - ncc_at(sx - h, sy + h)? + ncc_at(sx - h, sy - h)?) / (4.0 * h * h);
    let curvature = [[-(xm - 2.0 * peak + xp) / (h * h), -cross], [-cross, -(ym - 2.0 * peak + yp) / (h * h)]];
    let compared_lr_px2 = ((r1 - r0) * (c1 - c0)) as f64 * (f_px * f_py) / (lr_px * lr_py);
    Ok(ShiftSearch { shift_lr_px: [sx + dx, sy + dy], peak, second_peak, curvature, compared_lr_px2 })
}

/// `a` minus its least-squares plane: the comparison ignores tilt (the frame's own tilt differs from
/// the levelled LR's until it is fitted, after registration).
fn detrended(mut a: Array2<f64>) -> Array2<f64> {
    let p = fit_plane(a.mapv(|v| v as f32).view(), None);
    for ((r, c), v) in a.indexed_iter_mut() {
        *v -= p.at(r as f64, c as f64);
    }
    a
}

/// Normalised cross-correlation of two equally shaped arrays (0 when either is constant).
pub fn ncc(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.sum() / n, b.sum() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b.iter()) {
        let (x, y) = (x - ma, y - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    if saa > 0.0 && sbb > 0.0 {
        sab / (saa * sbb).sqrt()
    } else {
        0.0
    }
}

/// Offset (in steps, within ±½) of the vertex of the parabola through (−1, a), (0, b), (1, c).
fn parabola_vertex(a: f64, b: f64, c: f64) -> f64 {
    let denom = a - 2.0 * b + c;
    if denom < 0.0 {
        (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
    } else {
        0.0
    }
}

/// The lowest value on the straight line between two cells (bilinear between grid cells).
fn lowest_between(a: &Array2<f64>, from: (usize, usize), to: (usize, usize)) -> f64 {
    let (rows, cols) = a.dim();
    let steps = 4 * (from.0.abs_diff(to.0) + from.1.abs_diff(to.1)).max(1);
    let at = |r: f64, c: f64| {
        let (r0, c0) = (r.floor() as usize, c.floor() as usize);
        let (r1, c1) = ((r0 + 1).min(rows - 1), (c0 + 1).min(cols - 1));
        let (fr, fc) = (r - r0 as f64, c - c0 as f64);
        (1.0 - fr) * ((1.0 - fc) * a[[r0, c0]] + fc * a[[r0, c1]]) + fr * ((1.0 - fc) * a[[r1, c0]] + fc * a[[r1, c1]])
    };
    (0..=steps)
        .map(|k| {
            let f = k as f64 / steps as f64;
            at(from.0 as f64 + f * (to.0 as f64 - from.0 as f64), from.1 as f64 + f * (to.1 as f64 - from.1 as f64))
        })
        .fold(f64::INFINITY, f64::min)
}

fn argmax(a: &Array2<f64>) -> (usize, usize) {
    let mut best = ((0, 0), f64::NEG_INFINITY);
    for (idx, &v) in a.indexed_iter() {
        if v > best.1 {
            best = (idx, v);
        }
    }
    best.0
}

/// Cells not lower than any of their (up to 8) neighbours.
fn local_maxima(a: &Array2<f64>) -> Vec<(usize, usize)> {
    let (rows, cols) = a.dim();
    let mut out = Vec::new();
    for i in 0..rows {
        for j in 0..cols {
            let v = a[[i, j]];
            let mut is_max = true;
            for di in -1i64..=1 {
                for dj in -1i64..=1 {
                    let (ni, nj) = (i as i64 + di, j as i64 + dj);
                    if (di, dj) != (0, 0) && ni >= 0 && nj >= 0 && (ni as usize) < rows && (nj as usize) < cols {
                        is_max &= a[[ni as usize, nj as usize]] <= v;
                    }
                }
            }
            if is_max {
                out.push((i, j));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use afm_drivers::{PixelRect, ScanRegion};

    /// A smooth random-looking surface sampled on any grid: sum of a few incommensurate waves.
    fn surface(x: f64, y: f64) -> f64 {
        let k = 2.0 * std::f64::consts::PI / 1e-6;
        (k * 1.3 * x + 0.4).sin() * (k * 0.9 * y).cos() + 0.6 * (k * (0.7 * x + 1.7 * y)).sin() + 0.3 * (k * 3.1 * x - k * 2.3 * y).cos()
    }

    fn sampled(region: ScanRegion, n: usize) -> GeoImage {
        let raster = afm_drivers::Raster::square(n);
        let data = Array2::from_shape_fn((n, n), |(r, c)| {
            let (x, y) = region.pixel_position_m(&raster, c as f64, r as f64);
            surface(x, y) as f32
        });
        GeoImage::new(data, region, "m")
    }

    #[test]
    fn finds_a_known_sub_pixel_shift() {
        let lr = sampled(ScanRegion::square(0.0, 0.0, 4e-6), 64);
        let hr_region = ScanRegion::square(0.0, 0.0, 4e-6);
        let hr_raster = afm_drivers::Raster::square(256);
        let rect = PixelRect { col: 96, row: 80, cols: 64, rows: 64 };
        let (asked, _) = hr_region.sub_region(&hr_raster, &rect);
        // the patch really lies 37 nm right and 21 nm down of where it was asked for
        let (dx, dy) = (37e-9, -21e-9);
        let truth = sampled(ScanRegion { center_x_m: asked.center_x_m + dx, center_y_m: asked.center_y_m + dy, ..asked }, 64);
        let reported = GeoImage { region: asked, ..truth };
        let found = find_shift(&lr, &reported, 2.0).unwrap();
        let lr_pitch = 4e-6 / 63.0;
        let (ex, ey) = (found.shift_lr_px[0] * lr_pitch - dx, found.shift_lr_px[1] * lr_pitch - dy);
        let hr_pitch = 4e-6 / 255.0;
        assert!(ex.abs() < 0.1 * hr_pitch && ey.abs() < 0.1 * hr_pitch, "error {:.2} / {:.2} HR px", ex / hr_pitch, ey / hr_pitch);
        assert!(found.peak > 0.95, "peak {}", found.peak);
    }

    #[test]
    fn ncc_is_gain_and_offset_invariant() {
        let a = Array2::from_shape_fn((8, 8), |(r, c)| (r * 3 + c * c) as f64);
        assert!((ncc(&a, &a.mapv(|v| 2.5 * v - 7.0)) - 1.0).abs() < 1e-12);
        assert!((ncc(&a, &a.mapv(|v| -v)) + 1.0).abs() < 1e-12);
        assert_eq!(ncc(&a, &Array2::zeros((8, 8))), 0.0);
        assert!((parabola_vertex(0.5, 1.0, 0.5)).abs() < 1e-12 && parabola_vertex(0.9, 1.0, 0.5) < 0.0);
    }
}
