//! A motion model for the shifts of a sequence of patches: where the correlation does not pin a
//! patch's shift down (a straight edge leaves the shift along it free: the aperture problem), the
//! component along that direction comes from a model of how the scanner moved, fitted to every
//! component of every patch, each weighted by how sharply the correlation pins it down:
//!
//! ```text
//! s_k = a + b·t_k + g·Σ_j Δ_j·log10(1 + (t_k − t_j)/1 s) + e·(c_k − c_LR)
//! ```
//!
//! — a constant offset, thermal drift linear in time, logarithmic piezo creep after every commanded
//! offset jump Δ_j (the textbook creep law), and a term linear in the commanded position (which also
//! absorbs a creep time constant other than 1 s, and scanner calibration errors). Times are the
//! instrument clock; shifts and positions in LR pixels along the frames' own axes.

use super::prepare::PreparedFrame;
use afm_drivers::ScanRegion;
use serde::{Deserialize, Serialize};

/// When and where one frame was scanned.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScanTiming {
    /// Instrument clock at the middle of the frame, seconds.
    pub mid_clock_s: f64,
    /// Instrument clock at the end of the move to it, seconds.
    pub move_end_clock_s: f64,
    /// The commanded centre, scanner (x, y), metres.
    pub commanded_center_m: (f64, f64),
}

/// The timing of the LR frame and of every HR frame (index-aligned with the pipeline's frames).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MotionLog {
    /// The LR frame.
    pub lr: ScanTiming,
    /// Every HR frame, in acquisition order.
    pub frames: Vec<ScanTiming>,
}

/// Creep time scale of the model's logarithm, seconds.
const CREEP_TAU_S: f64 = 1.0;
/// Drift time unit of the fit, seconds (keeps the normal equations well scaled).
const TIME_UNIT_S: f64 = 100.0;
/// Fewer usable components than this: no fit.
const MIN_ROWS: usize = 8;

/// Fills the weak components of `frames`' registrations from the motion model fitted to their strong
/// components. `lr` is the LR frame's geometry (pitch and axes). Returns the number of frames changed.
pub fn refine_with_motion(frames: &mut [PreparedFrame], log: &MotionLog, lr_region: &ScanRegion, lr_pitch_m: (f64, f64)) -> usize {
    if log.frames.len() != frames.len() {
        return 0;
    }
    let (s, c) = (-lr_region.angle_deg.to_radians()).sin_cos();
    let to_lr_px = |(x, y): (f64, f64)| [(c * x - s * y) / lr_pitch_m.0, (s * x + c * y) / lr_pitch_m.1];
    // Regressors of every frame: time, creep sum, commanded position.
    let mut moves = vec![(log.lr.move_end_clock_s, [0.0, 0.0])];
    let mut previous = log.lr.commanded_center_m;
    let mut regressors = Vec::with_capacity(frames.len());
    for t in &log.frames {
        let jump = to_lr_px((t.commanded_center_m.0 - previous.0, t.commanded_center_m.1 - previous.1));
        previous = t.commanded_center_m;
        moves.push((t.move_end_clock_s, jump));
        let mut creep = [0.0, 0.0];
        for &(t_j, d) in &moves {
            let phi = (1.0 + (t.mid_clock_s - t_j).max(0.0) / CREEP_TAU_S).log10();
            creep = [creep[0] + d[0] * phi, creep[1] + d[1] * phi];
        }
        let pos = to_lr_px((t.commanded_center_m.0 - log.lr.commanded_center_m.0, t.commanded_center_m.1 - log.lr.commanded_center_m.1));
        regressors.push(((t.mid_clock_s - log.lr.mid_clock_s) / TIME_UNIT_S, creep, pos));
    }
    // Rows u·m(θ) = u·ŝ for every well-determined direction u of every unambiguous frame.
    let mut rows: Vec<([f64; 6], f64)> = Vec::new();
    for (f, &(t, creep, pos)) in frames.iter().zip(&regressors) {
        let r = &f.registration;
        if !r.searched || r.ambiguous {
            continue;
        }
        // Each component weighted by the square root of the correlation's curvature along it (its
        // information): along a straight edge the measurement still counts, `√curvature_ratio` as much.
        let dirs: Vec<([f64; 2], f64)> = match r.weak_axis {
            Some(w) if r.ridge_at_border => vec![([-w[1], w[0]], 1.0)],
            Some(w) => vec![([-w[1], w[0]], 1.0), (w, r.curvature_ratio.max(0.0).sqrt())],
            None => vec![([1.0, 0.0], 1.0), ([0.0, 1.0], 1.0)],
        };
        for (u, weight) in dirs {
            let x = [u[0], u[1], u[0] * t, u[1] * t, u[0] * creep[0] + u[1] * creep[1], u[0] * pos[0] + u[1] * pos[1]];
            rows.push((x.map(|v| weight * v), weight * (u[0] * r.measured_lr_px[0] + u[1] * r.measured_lr_px[1])));
        }
    }
    if rows.len() < MIN_ROWS {
        return 0;
    }
    let Some(theta) = least_squares(&rows) else { return 0 };
    let model = |&(t, creep, pos): &(f64, [f64; 2], [f64; 2])| {
        let m = |i: usize| theta[i] + theta[2 + i] * t + theta[4] * creep[i] + theta[5] * pos[i];
        [m(0), m(1)]
    };
    let mut changed = 0;
    for (f, reg) in frames.iter_mut().zip(&regressors) {
        let r = &mut f.registration;
        let Some(w) = r.weak_axis.filter(|_| r.searched && !r.ambiguous) else { continue };
        let m = model(reg);
        let u = [-w[1], w[0]];
        let along_strong = u[0] * r.measured_lr_px[0] + u[1] * r.measured_lr_px[1];
        let along_weak = w[0] * m[0] + w[1] * m[1];
        r.shift_lr_px = [along_strong * u[0] + along_weak * w[0], along_strong * u[1] + along_weak * w[1]];
        r.from_motion_model = true;
        changed += 1;
    }
    changed
}

/// Least squares for 6 unknowns by the normal equations (Gaussian elimination with pivoting); None
/// when singular.
fn least_squares(rows: &[([f64; 6], f64)]) -> Option<[f64; 6]> {
    let mut a = [[0.0f64; 7]; 6];
    for (x, y) in rows {
        for i in 0..6 {
            for j in 0..6 {
                a[i][j] += x[i] * x[j];
            }
            a[i][6] += x[i] * y;
        }
    }
    // A tiny ridge keeps an unconstrained parameter (e.g. no jumps at all) at zero instead of failing.
    let scale = (0..6).map(|i| a[i][i]).fold(0.0f64, f64::max).max(1e-12);
    for (i, row) in a.iter_mut().enumerate() {
        row[i] += 1e-9 * scale;
    }
    for col in 0..6 {
        let pivot = (col..6).max_by(|&p, &q| a[p][col].abs().total_cmp(&a[q][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        for r in 0..6 {
            if r != col {
                let f = a[r][col] / a[col][col];
                let pivot_row = a[col];
                for (v, p) in a[r].iter_mut().zip(pivot_row).skip(col) {
                    *v -= f * p;
                }
            }
        }
    }
    let mut theta = [0.0; 6];
    for i in 0..6 {
        theta[i] = a[i][6] / a[i][i];
    }
    Some(theta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_recovers_exact_parameters() {
        let truth = [0.5, -1.0, 2.0, 0.25, 0.8, -0.1];
        let rows: Vec<([f64; 6], f64)> = (0..20)
            .map(|k| {
                let k = k as f64;
                let x = [1.0, (k * 0.7).sin(), k * 0.1, (k * 0.3).cos(), (k * 1.3).sin() * k, k.sqrt()];
                (x, x.iter().zip(&truth).map(|(a, b)| a * b).sum())
            })
            .collect();
        let got = least_squares(&rows).unwrap();
        for (g, t) in got.iter().zip(&truth) {
            assert!((g - t).abs() < 1e-4, "{got:?}"); // the tiny ridge that keeps unconstrained parameters at 0
        }
    }
}
