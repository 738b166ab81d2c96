//! Undoing the motion within a frame: when drift and creep move the sample while a frame's lines are
//! scanned, each line's content lies a little further than the frame's mean shift. Given each line's
//! displacement (points, lines) in the frame's pixels, the frame is resampled onto its regular grid:
//! every line is moved along itself, then the lines — now at slightly uneven positions — are
//! interpolated onto evenly spaced ones.

use crate::upsample::{axis_weights, Interpolation};
use ndarray::{Array2, ArrayView2};

/// `data` (lines × points) with line `k`'s content, displaced by `shifts_px[k]` (points, lines) from
/// where its pixels say, brought back onto the regular grid (bicubic; beyond the first and last line
/// the border lines are held). None when the shifts do not match the lines, are not finite, or would
/// bring neighbouring lines closer than half a line apart.
pub fn undo_line_shifts(data: ArrayView2<f32>, shifts_px: &[[f64; 2]]) -> Option<Array2<f32>> {
    let (lines, points) = data.dim();
    if shifts_px.len() != lines || lines < 2 || shifts_px.iter().flatten().any(|v| !v.is_finite()) {
        return None;
    }
    // Where each line really lies along the slow axis; it must keep increasing.
    let at: Vec<f64> = shifts_px.iter().enumerate().map(|(k, s)| k as f64 + s[1]).collect();
    if at.windows(2).any(|w| w[1] - w[0] < 0.5) {
        return None;
    }
    // Along each line: pixel c shows what lies at c + shift, so the regular pixel c takes c − shift.
    let mut along = Array2::<f64>::zeros((lines, points));
    for (k, s) in shifts_px.iter().enumerate() {
        for c in 0..points {
            along[[k, c]] =
                axis_weights(c as f64 - s[0], points, Interpolation::Bicubic).iter().map(|&(i, w)| w * data[[k, i]] as f64).sum();
        }
    }
    // Across lines: row r falls between the lines that lie around it, at a fractional line index
    // interpolated between them (the spacing changes slowly, so the cubic sees nearly even steps).
    let mut out = Array2::<f32>::zeros((lines, points));
    let mut k = 0;
    for r in 0..lines {
        let y = r as f64;
        while k + 2 < lines && at[k + 1] <= y {
            k += 1;
        }
        let f = (k as f64 + (y - at[k]) / (at[k + 1] - at[k])).clamp(0.0, (lines - 1) as f64);
        let taps = axis_weights(f, lines, Interpolation::Bicubic);
        for c in 0..points {
            out[[r, c]] = taps.iter().map(|&(i, w)| w * along[[i, c]]).sum::<f64>() as f32;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth field sampled where each line's content really lies.
    fn field(x: f64, y: f64) -> f64 {
        (0.31 * x).sin() + (0.23 * y + 0.4).cos() + 0.5 * (0.17 * (x + y)).sin()
    }

    #[test]
    fn lines_displaced_by_a_smooth_creep_are_brought_back_onto_the_grid() {
        let (lines, points) = (48, 40);
        // creep-like: fast at the first lines, slowing down
        let shifts: Vec<[f64; 2]> = (0..lines)
            .map(|k| {
                let d = 0.8 - 0.6 * (1.0 + k as f64).ln() / (lines as f64).ln();
                [1.5 * d, -1.2 * d]
            })
            .collect();
        let displaced = Array2::from_shape_fn((lines, points), |(k, c)| (field(c as f64 + shifts[k][0], k as f64 + shifts[k][1])) as f32);
        let truth = Array2::from_shape_fn((lines, points), |(r, c)| field(c as f64, r as f64) as f32);
        let undone = undo_line_shifts(displaced.view(), &shifts).unwrap();
        // away from the borders (where the held border lines stand in) the grid is restored
        let err = |a: &Array2<f32>| {
            let mut worst = 0.0f32;
            for r in 3..lines - 3 {
                for c in 3..points - 3 {
                    worst = worst.max((a[[r, c]] - truth[[r, c]]).abs());
                }
            }
            worst
        };
        assert!(err(&displaced) > 0.3, "the displacement should matter: {}", err(&displaced));
        assert!(err(&undone) < 0.01, "restored to {}", err(&undone));
        // no shifts: the data unchanged
        let same = undo_line_shifts(truth.view(), &vec![[0.0, 0.0]; lines]).unwrap();
        assert!(same.iter().zip(truth.iter()).all(|(a, b)| (a - b).abs() < 1e-6));
    }

    #[test]
    fn shifts_that_do_not_fit_the_frame_are_refused() {
        let data = Array2::<f32>::zeros((4, 5));
        assert!(undo_line_shifts(data.view(), &[[0.0, 0.0]; 3]).is_none());
        assert!(undo_line_shifts(data.view(), &[[0.0, 0.0], [0.0, -0.8], [0.0, 0.0], [0.0, 0.0]]).is_none());
        assert!(undo_line_shifts(data.view(), &[[f64::NAN, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]).is_none());
    }
}
