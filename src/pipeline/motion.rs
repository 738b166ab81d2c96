//! A motion model for the shifts of a sequence of patches: where the correlation does not pin a
//! patch's shift down (a straight edge leaves the shift along it free: the aperture problem), the
//! component along that direction comes from a model of how the scanner moved, fitted to every
//! component of every patch, each weighted by how sharply the correlation pins it down:
//!
//! ```text
//! s_k = a + b·(t_k − t_LR(k)) + g·Σ_j Δ_j·⟨log10(1 + (t − t_j)/1 s)⟩_k + e·(c_k − c_LR)
//! ```
//!
//! — a constant offset, thermal drift linear in time (between the patch's middle and the moment the
//! LR scanned the patch's lines), logarithmic piezo creep after every commanded offset jump Δ_j (the
//! textbook creep law, averaged over the patch's lines ⟨…⟩_k, as registration measures the mean
//! displacement over them), and a term linear in the commanded position (which also absorbs a creep
//! time constant other than 1 s, and scanner calibration errors). Times are the instrument clock;
//! shifts and positions in LR pixels along the frames' own axes. A frame whose component across the
//! content's edges the model of the others misses by far (a wrong correlation peak that passed the
//! peak tests) is flagged ambiguous and left out of the fit. The fitted model also says how far each
//! line of a frame lies from the frame's mean displacement (creep is fastest right after the move),
//! which placing the frame undoes. Where a frame's measured components across the edges agree with
//! the model within the frames' scatter about it, the model's fitted values (the frame's measurement
//! weighed with every other's) place it there too; where they do not, the measurement stands.

use super::prepare::PreparedFrame;
use afm_drivers::ScanRegion;
use serde::{Deserialize, Serialize};

/// When and where one frame was scanned.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScanTiming {
    /// Instrument clock at the middle of the frame, seconds.
    pub mid_clock_s: f64,
    /// How long the frame's lines took, seconds (0: treat the frame as scanned at its middle).
    #[serde(default)]
    pub lines_s: f64,
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
/// components, and sets every registered frame's `line_shifts_px` (how far each line lies from the
/// frame's mean shift under the model). `lr` is the LR frame's geometry (pitch and axes). Returns the
/// number of frames whose weak component changed.
pub fn refine_with_motion(frames: &mut [PreparedFrame], log: &MotionLog, lr_region: &ScanRegion, lr_pitch_m: (f64, f64)) -> usize {
    if log.frames.len() != frames.len() {
        return 0;
    }
    let (s, c) = (-lr_region.angle_deg.to_radians()).sin_cos();
    let lr_lines = (lr_region.height_m / lr_pitch_m.1).max(1.0);
    let to_lr_px = |(x, y): (f64, f64)| [(c * x - s * y) / lr_pitch_m.0, (s * x + c * y) / lr_pitch_m.1];
    // Regressors of every frame: time, creep sum, commanded position.
    let mut moves = vec![(log.lr.move_end_clock_s, [0.0, 0.0])];
    let mut previous = log.lr.commanded_center_m;
    let mut regressors = Vec::with_capacity(frames.len());
    let mut moves_before = Vec::with_capacity(frames.len());
    for t in &log.frames {
        let jump = to_lr_px((t.commanded_center_m.0 - previous.0, t.commanded_center_m.1 - previous.1));
        previous = t.commanded_center_m;
        moves.push((t.move_end_clock_s, jump));
        moves_before.push(moves.len());
        let mut creep = [0.0, 0.0];
        let lines = (t.mid_clock_s - 0.5 * t.lines_s, t.mid_clock_s + 0.5 * t.lines_s);
        for &(t_j, d) in &moves {
            let phi = mean_creep_decades(lines.0 - t_j, lines.1 - t_j);
            creep = [creep[0] + d[0] * phi, creep[1] + d[1] * phi];
        }
        let pos = to_lr_px((t.commanded_center_m.0 - log.lr.commanded_center_m.0, t.commanded_center_m.1 - log.lr.commanded_center_m.1));
        // The LR saw the tile's content when it scanned the tile's lines (row 0 first), not at its middle.
        let lr_seen_clock_s = log.lr.mid_clock_s + pos[1] / lr_lines * log.lr.lines_s;
        regressors.push(((t.mid_clock_s - lr_seen_clock_s) / TIME_UNIT_S, creep, pos));
    }
    // Rows u·m(θ) = u·ŝ for every well-determined direction u of every unambiguous frame.
    let (mut rows, mut row_frame): (Vec<Row>, Vec<usize>) = (Vec::new(), Vec::new());
    for (k, (f, &(t, creep, pos))) in frames.iter().zip(&regressors).enumerate() {
        let r = &f.registration;
        if !r.searched || r.ambiguous {
            continue;
        }
        // Within its group each component is weighted by the inverse of the shift's spread along it
        // (√(curvature / 2(1 − peak)): a sharp peak with little mismatch counts more); a clipped
        // ridge's weak component says nothing.
        for (u, weak) in directions(r) {
            let weight = spread_weight(r, u);
            let x = [u[0], u[1], u[0] * t, u[1] * t, u[0] * creep[0] + u[1] * creep[1], u[0] * pos[0] + u[1] * pos[1]];
            rows.push(Row { x, y: u[0] * r.measured_lr_px[0] + u[1] * r.measured_lr_px[1], weight, weak });
            row_frame.push(k);
        }
    }
    // Fit, and take out the frame whose sharp component the model explains worst while it is far
    // beyond the others' residuals (a wrong correlation peak that passed the peak tests), then refit.
    let mut outlier = vec![false; frames.len()];
    let (theta, weak_scale) = loop {
        let kept: Vec<Row> = rows.iter().zip(&row_frame).filter(|(_, &k)| !outlier[k]).map(|(r, _)| *r).collect();
        if kept.len() < MIN_ROWS {
            return 0;
        }
        let Some((theta, weak_scale)) = fit_with_variance_components(&kept) else { return 0 };
        match worst_sharp_outlier(&rows, &row_frame, &outlier, &theta) {
            Some(k) if outlier.iter().filter(|&&o| o).count() < MAX_OUTLIERS => {
                outlier[k] = true;
                let r = &mut frames[k].registration;
                r.ambiguous = true;
                tracing::warn!(
                    "{}: registration disagrees with the drift and creep model of the other patches across the content's edges \
                     (shift {:+.2}/{:+.2} LR px): treated as ambiguous, kept at its returned position and not trained on",
                    frames[k].label,
                    r.measured_lr_px[0],
                    r.measured_lr_px[1]
                );
            }
            _ => break (theta, weak_scale),
        }
    };
    tracing::debug!("motion model: components along straight edges weighted ×{weak_scale:.3} against those across them");
    let model = |&(t, creep, pos): &(f64, [f64; 2], [f64; 2])| {
        let m = |i: usize| theta[i] + theta[2 + i] * t + theta[4] * creep[i] + theta[5] * pos[i];
        [m(0), m(1)]
    };
    for ((f, t), &n_moves) in frames.iter_mut().zip(&log.frames).zip(&moves_before) {
        if !f.registration.ambiguous && f.registration.searched {
            let (f_px, f_py) = f.image.pitch_m();
            let frame_px_per_lr_px = [lr_pitch_m.0 / f_px, lr_pitch_m.1 / f_py];
            f.line_shifts_px = line_shifts(&theta, t, &moves[..n_moves], f.image.raster.lines, frame_px_per_lr_px);
        }
    }
    // Where a frame's measurement agrees with the model, the model's fitted value — its own
    // measurement weighed together with every other frame's — is the better estimate, also across
    // the edges; a frame the model misses by more than the frames' scatter about it keeps its own.
    let agreement_lr_px = sharp_scatter_lr_px(&rows, &row_frame, &outlier, &theta).map(|s| CONSISTENT_SIGMAS * s);
    let mut changed = 0;
    for (f, reg) in frames.iter_mut().zip(&regressors) {
        let r = &mut f.registration;
        if !r.searched || r.ambiguous {
            continue;
        }
        changed += place_by_model(r, model(reg), agreement_lr_px) as usize;
    }
    changed
}

/// Sets a registered frame's shift from its measurement and the model's fitted shift `m` (LR px):
/// along a straight edge the model's component; across it (both axes without a weak direction) the
/// model's where it lies within `agreement_lr_px` of the measurement, else the measurement. Returns
/// whether the frame has a weak component (filled in by the model).
fn place_by_model(r: &mut crate::register::Registration, m: [f64; 2], agreement_lr_px: Option<f64>) -> bool {
    r.shift_lr_px = r.measured_lr_px;
    if let Some(w) = r.weak_axis {
        r.set_weak_component(w[0] * m[0] + w[1] * m[1]);
        r.from_motion_model = true;
    }
    r.pinned_from_motion_model = false;
    for (u, weak) in directions(r) {
        let (fitted, measured) = (u[0] * m[0] + u[1] * m[1], u[0] * r.measured_lr_px[0] + u[1] * r.measured_lr_px[1]);
        if !weak && agreement_lr_px.is_some_and(|a| (fitted - measured).abs() <= a) {
            r.set_component(u, fitted);
            r.pinned_from_motion_model = true;
        }
    }
    r.weak_axis.is_some()
}

/// A registered frame's directions in the motion fit: (unit vector, whether it lies along a straight
/// edge). Across the edge (or both axes without a weak direction) the correlation pins the shift
/// down; along an edge whose ridge the search window clipped it says nothing and is left out.
fn directions(r: &crate::register::Registration) -> Vec<([f64; 2], bool)> {
    match r.weak_axis {
        Some(w) if r.ridge_at_border => vec![([-w[1], w[0]], false)],
        Some(w) => vec![([-w[1], w[0]], false), (w, true)],
        None => vec![([1.0, 0.0], false), ([0.0, 1.0], false)],
    }
}

/// A measured component within this many robust standard deviations of the frames' scatter about
/// the model agrees with it.
const CONSISTENT_SIGMAS: f64 = 3.0;

/// The weight of a frame's shift component along `u`: the inverse of its spread there,
/// `√(curvature / 2(1 − peak))`, with the mismatch floored at [`MIN_MISMATCH`] (a perfect match is not
/// infinitely precise); 0 without curvature.
fn spread_weight(r: &crate::register::Registration, u: [f64; 2]) -> f64 {
    let spread = crate::register::shift_spread_lr_px(r.peak.min(1.0 - MIN_MISMATCH), r.curvature_along(u));
    if spread.is_finite() {
        1.0 / spread
    } else {
        0.0
    }
}

/// The smallest correlation mismatch `1 − peak` a weight assumes.
const MIN_MISMATCH: f64 = 1e-4;

/// How far each of a frame's `lines` lies from the frame's mean displacement under the fitted model
/// `theta`, in the frame's pixels (points, lines): drift over the time from the frame's middle, and
/// the creep of every earlier jump in `moves` at the line's moment rather than averaged over the lines.
/// None without line times or with a degenerate pitch.
fn line_shifts(
    theta: &[f64; 6],
    t: &ScanTiming,
    moves: &[(f64, [f64; 2])],
    lines: usize,
    frame_px_per_lr_px: [f64; 2],
) -> Option<Vec<[f64; 2]>> {
    if lines == 0 || t.lines_s <= 0.0 || !frame_px_per_lr_px.iter().all(|v| v.is_finite()) {
        return None;
    }
    let start = t.mid_clock_s - 0.5 * t.lines_s;
    let mean: Vec<f64> = moves.iter().map(|&(t_j, _)| mean_creep_decades(start - t_j, start + t.lines_s - t_j)).collect();
    let shift = |k: usize| -> [f64; 2] {
        let clock = start + (k as f64 + 0.5) * t.lines_s / lines as f64;
        let creep = moves.iter().zip(&mean).fold([0.0, 0.0], |acc, (&(t_j, d), &m)| {
            let phi = mean_creep_decades(clock - t_j, clock - t_j) - m;
            [acc[0] + d[0] * phi, acc[1] + d[1] * phi]
        });
        let dt = (clock - t.mid_clock_s) / TIME_UNIT_S;
        std::array::from_fn(|i| (theta[2 + i] * dt + theta[4] * creep[i]) * frame_px_per_lr_px[i])
    };
    Some((0..lines).map(shift).collect())
}

/// The creep law's `log10(1 + t/τ)` averaged over the frame's lines, which run from `from_s` to
/// `to_s` after the jump's move ended (0 before it): registration measures a patch's mean displacement
/// over its lines, and creep is fastest right after the move, so its value at the frame's middle
/// overstates it by up to a few tenths of a decade.
fn mean_creep_decades(from_s: f64, to_s: f64) -> f64 {
    // ∫₀ˣ ln(1 + v/τ) dv = (τ + x)·ln(1 + x/τ) − x for x ≥ 0
    let integral = |x: f64| {
        let x = x.max(0.0);
        (CREEP_TAU_S + x) * (x / CREEP_TAU_S).ln_1p() - x
    };
    if to_s - from_s < 1e-9 {
        return (to_s.max(0.0) / CREEP_TAU_S).ln_1p() / std::f64::consts::LN_10;
    }
    (integral(to_s) - integral(from_s)) / (to_s - from_s) / std::f64::consts::LN_10
}

/// Frames taken out as outliers at most (beyond that the model, not the frames, is in doubt).
const MAX_OUTLIERS: usize = 3;
/// A sharp component is an outlier beyond this many robust standard deviations of the others' …
const OUTLIER_SIGMAS: f64 = 6.0;
/// … and beyond this many LR pixels (a wrong correlation peak lies a pixel or more away; the peak
/// tests count competing peaks more than 1 LR px from the best).
const OUTLIER_MIN_LR_PX: f64 = 0.5;

/// The frame (not yet `excluded`) whose component across the content's edges (a row that is not
/// weak) the model `theta` misses by the most, when that miss exceeds both [`OUTLIER_SIGMAS`] robust
/// standard deviations (1.4826 × the median absolute residual of those rows) and
/// [`OUTLIER_MIN_LR_PX`].
fn worst_sharp_outlier(rows: &[Row], row_frame: &[usize], excluded: &[bool], theta: &[f64; 6]) -> Option<usize> {
    let threshold = (OUTLIER_SIGMAS * sharp_scatter_lr_px(rows, row_frame, excluded, theta)?).max(OUTLIER_MIN_LR_PX);
    sharp_residuals(rows, row_frame, excluded, theta).filter(|&(_, e)| e > threshold).max_by(|a, b| a.1.total_cmp(&b.1)).map(|(k, _)| k)
}

/// The model `theta`'s miss of every component across the content's edges (rows that are not weak)
/// of the frames not `excluded`: (frame, |residual| in LR px).
fn sharp_residuals<'a>(
    rows: &'a [Row],
    row_frame: &'a [usize],
    excluded: &'a [bool],
    theta: &'a [f64; 6],
) -> impl Iterator<Item = (usize, f64)> + 'a {
    rows.iter().zip(row_frame).filter(|(r, &k)| !r.weak && !excluded[k]).map(|(r, &k)| (k, (dot(&r.x, theta) - r.y).abs()))
}

/// The robust standard deviation of those misses, LR px: 1.4826 × their median (None without rows).
fn sharp_scatter_lr_px(rows: &[Row], row_frame: &[usize], excluded: &[bool], theta: &[f64; 6]) -> Option<f64> {
    let mut sorted: Vec<f64> = sharp_residuals(rows, row_frame, excluded, theta).map(|(_, e)| e).collect();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).map(|m| 1.4826 * m)
}

/// One row of the motion fit, `x·θ ≈ y`, with its weight within its group.
#[derive(Debug, Clone, Copy)]
struct Row {
    x: [f64; 6],
    y: f64,
    weight: f64,
    /// A component along a straight edge (a weak direction) rather than across one.
    weak: bool,
}

/// Iterations of the variance-component estimate at most.
const MAX_VARIANCE_ITERATIONS: usize = 20;

/// Weighted least squares of `rows` in which the relative precision of the two groups (components
/// across edges and along them) is estimated from the data, not assumed: the weak group's scale is
/// updated until each group's residuals, divided by its redundancy (rows − their share of the hat
/// matrix's trace), give the same unit variance (Helmert's / Förstner's variance-component
/// estimation). Along an edge the correlation's error is not only noise but the LR's and the patch's
/// different rendering of the same edge, so its curvature overstates its precision by an unknown
/// factor, which this measures. Returns θ and the weak group's scale (1 when either group has too
/// little redundancy to estimate it); None when the system is singular.
fn fit_with_variance_components(rows: &[Row]) -> Option<([f64; 6], f64)> {
    let weighted = |weak_scale: f64| -> Vec<([f64; 6], f64)> {
        rows.iter()
            .map(|r| {
                let k = r.weight * if r.weak { weak_scale } else { 1.0 };
                (r.x.map(|v| k * v), k * r.y)
            })
            .collect()
    };
    let mut weak_scale = 1.0;
    for _ in 0..MAX_VARIANCE_ITERATIONS {
        let system = weighted(weak_scale);
        let (theta, inverse) = least_squares(&system)?;
        let (mut rss, mut redundancy) = ([0.0f64; 2], [0.0f64; 2]);
        for ((x, y), r) in system.iter().zip(rows) {
            let residual = dot(x, &theta) - y;
            let leverage: f64 = (0..6).map(|i| x[i] * dot(&inverse[i], x)).sum();
            rss[r.weak as usize] += residual * residual;
            redundancy[r.weak as usize] += 1.0 - leverage;
        }
        if redundancy.iter().any(|&d| d < 1.0) || rss.iter().any(|&v| v <= 0.0) {
            break;
        }
        let ratio = ((rss[0] / redundancy[0]) / (rss[1] / redundancy[1])).sqrt();
        let next = (weak_scale * ratio).clamp(1e-3, 1e3);
        let converged = (next / weak_scale - 1.0).abs() < 1e-4;
        weak_scale = next;
        if converged {
            break;
        }
    }
    least_squares(&weighted(weak_scale)).map(|(theta, _)| (theta, weak_scale))
}

fn dot(a: &[f64; 6], b: &[f64; 6]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Least squares for 6 unknowns by the normal equations (Gauss–Jordan with pivoting): θ and the
/// inverse of the normal matrix; None when singular.
fn least_squares(rows: &[([f64; 6], f64)]) -> Option<([f64; 6], [[f64; 6]; 6])> {
    // [N | I | b]
    let mut a = [[0.0f64; 13]; 6];
    for (x, y) in rows {
        for i in 0..6 {
            for j in 0..6 {
                a[i][j] += x[i] * x[j];
            }
            a[i][12] += x[i] * y;
        }
    }
    // A tiny ridge keeps an unconstrained parameter (e.g. no jumps at all) at zero instead of failing.
    let scale = (0..6).map(|i| a[i][i]).fold(0.0f64, f64::max).max(1e-12);
    for (i, row) in a.iter_mut().enumerate() {
        row[i] += 1e-9 * scale;
        row[6 + i] = 1.0;
    }
    for col in 0..6 {
        let pivot = (col..6).max_by(|&p, &q| a[p][col].abs().total_cmp(&a[q][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        let p = a[col][col];
        for v in a[col].iter_mut() {
            *v /= p;
        }
        for r in 0..6 {
            if r != col {
                let f = a[r][col];
                let pivot_row = a[col];
                for (v, p) in a[r].iter_mut().zip(pivot_row) {
                    *v -= f * p;
                }
            }
        }
    }
    let theta = std::array::from_fn(|i| a[i][12]);
    let inverse = std::array::from_fn(|i| std::array::from_fn(|j| a[i][6 + j]));
    Some((theta, inverse))
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
        let (got, _) = least_squares(&rows).unwrap();
        for (g, t) in got.iter().zip(&truth) {
            assert!((g - t).abs() < 1e-4, "{got:?}"); // the tiny ridge that keeps unconstrained parameters at 0
        }
    }

    #[test]
    fn a_sharp_component_far_off_the_model_is_the_outlier_but_small_misses_are_not() {
        let theta = [0.2, -0.1, 0.5, 0.3, 0.0, 0.01];
        // ten frames with two sharp rows each, missing the model by ±0.05 LR px; frame 6 by 1.3
        let mut rows = Vec::new();
        let mut row_frame = Vec::new();
        for k in 0..10 {
            for (i, u) in [[1.0, 0.0], [0.0, 1.0]].into_iter().enumerate() {
                let t = k as f64 * 0.3;
                let x = [u[0], u[1], u[0] * t, u[1] * t, 0.0, u[0] * k as f64 + u[1] * (10 - k) as f64];
                let miss = if k == 6 && i == 1 { 1.3 } else { 0.05 * pseudo_noise(2 * k + i).signum() };
                rows.push(Row { x, y: dot(&x, &theta) + miss, weight: 1.0, weak: false });
                row_frame.push(k);
            }
        }
        // a weak row far off counts for nothing here: along an edge the measurement is not the test
        rows.push(Row { x: [1.0, 0.0, 0.0, 0.0, 0.0, 0.0], y: theta[0] + 3.0, weight: 0.1, weak: true });
        row_frame.push(2);
        let mut excluded = vec![false; 10];
        assert_eq!(worst_sharp_outlier(&rows, &row_frame, &excluded, &theta), Some(6));
        excluded[6] = true;
        assert_eq!(worst_sharp_outlier(&rows, &row_frame, &excluded, &theta), None);
    }

    #[test]
    fn the_model_places_a_frame_where_the_measurement_agrees_with_it_and_only_there() {
        let mut r = crate::register::Registration::identity();
        (r.searched, r.measured_lr_px) = (true, [0.50, -0.30]);
        // without a weak direction: each axis the model's where within the agreement, else measured
        place_by_model(&mut r, [0.56, -0.90], Some(0.1));
        assert!((r.shift_lr_px[0] - 0.56).abs() < 1e-12 && (r.shift_lr_px[1] + 0.30).abs() < 1e-12, "{:?}", r.shift_lr_px);
        assert!(r.pinned_from_motion_model && !r.from_motion_model);
        // no scatter known: the measurement stands
        assert!(!place_by_model(&mut r, [0.56, -0.90], None));
        assert_eq!(r.shift_lr_px, r.measured_lr_px);
        assert!(!r.pinned_from_motion_model);
        // a straight edge along x: along it always the model's, across it (y) the model's if close
        r.weak_axis = Some([1.0, 0.0]);
        assert!(place_by_model(&mut r, [2.0, -0.25], Some(0.1)));
        assert!((r.shift_lr_px[0] - 2.0).abs() < 1e-12 && (r.shift_lr_px[1] + 0.25).abs() < 1e-12, "{:?}", r.shift_lr_px);
        assert!(r.from_motion_model && r.pinned_from_motion_model);
        // … and the measured one when the model misses it by more (motion the model does not know)
        place_by_model(&mut r, [2.0, 0.2], Some(0.1));
        assert!((r.shift_lr_px[0] - 2.0).abs() < 1e-12 && (r.shift_lr_px[1] + 0.30).abs() < 1e-12, "{:?}", r.shift_lr_px);
        assert!(!r.pinned_from_motion_model);
    }

    #[test]
    fn a_component_counts_by_the_inverse_of_its_spread() {
        let mut r = crate::register::Registration::identity();
        r.peak = 0.98;
        r.curvature = [[2.0, 0.0], [0.0, 0.5]];
        // along x: √(2 / (2 · 0.02)) = √50; along y a quarter of the curvature, half the weight
        assert!((spread_weight(&r, [1.0, 0.0]) - 50f64.sqrt()).abs() < 1e-9);
        assert!((spread_weight(&r, [0.0, 1.0]) - 0.5 * 50f64.sqrt()).abs() < 1e-9);
        // a closer match counts more, a perfect one as much as the floor of the mismatch allows
        let closer = crate::register::Registration { peak: 0.995, ..r };
        assert!(spread_weight(&closer, [1.0, 0.0]) > 1.9 * spread_weight(&r, [1.0, 0.0]));
        let perfect = crate::register::Registration { peak: 1.0, ..r };
        assert!((spread_weight(&perfect, [1.0, 0.0]) - (2.0 / (2.0 * MIN_MISMATCH)).sqrt()).abs() < 1e-6);
        // no curvature along a direction: it says nothing there
        let flat = crate::register::Registration { curvature: [[0.0; 2]; 2], ..r };
        assert_eq!(spread_weight(&flat, [0.6, 0.8]), 0.0);
    }

    #[test]
    fn line_shifts_follow_drift_and_creep_around_the_frames_mean() {
        // 10 lines from 1 s to 11 s after a jump of 10 LR px along x; 4 frame px per LR px
        let timing = ScanTiming { mid_clock_s: 6.0, lines_s: 10.0, move_end_clock_s: 0.0, commanded_center_m: (0.0, 0.0) };
        let moves = [(0.0, [10.0, 0.0])];
        // drift alone (0.5 LR px per time unit along y): linear in time, zero on average
        let drift = line_shifts(&[0.0, 0.0, 0.0, 0.5, 0.0, 0.0], &timing, &moves, 10, [4.0, 4.0]).unwrap();
        let per_line = 0.5 * 1.0 / TIME_UNIT_S * 4.0;
        for (k, s) in drift.iter().enumerate() {
            assert!(s[0].abs() < 1e-12 && (s[1] - (k as f64 - 4.5) * per_line).abs() < 1e-12, "{k}: {s:?}");
        }
        // creep alone (2 % per decade): along the jump, behind the mean first, ahead of it last, and
        // slowing down; about zero on average
        let creep = line_shifts(&[0.0, 0.0, 0.0, 0.0, 0.02, 0.0], &timing, &moves, 10, [4.0, 4.0]).unwrap();
        assert!(creep.iter().all(|s| s[1].abs() < 1e-12));
        assert!(creep[0][0] < -0.1 && creep[9][0] > 0.05, "{creep:?}");
        let steps: Vec<f64> = creep.windows(2).map(|w| w[1][0] - w[0][0]).collect();
        assert!(steps.iter().all(|&d| d > 0.0) && steps.windows(2).all(|w| w[1] < w[0]), "{steps:?}");
        assert!(creep.iter().map(|s| s[0]).sum::<f64>().abs() < 0.05 * creep[0][0].abs() * 10.0);
        // no line times: nothing to say
        assert!(line_shifts(&[0.0; 6], &ScanTiming { lines_s: 0.0, ..timing }, &moves, 10, [4.0, 4.0]).is_none());
    }

    #[test]
    fn mean_creep_is_the_creep_law_averaged_over_the_lines() {
        let law = |t: f64| (1.0 + t.max(0.0) / CREEP_TAU_S).log10();
        // numerically: the midpoint rule over 100 000 slices of the lines from 0.2 s to 30 s
        let n = 100_000;
        let numeric: f64 = (0..n).map(|i| law(0.2 + (i as f64 + 0.5) * 29.8 / n as f64)).sum::<f64>() / n as f64;
        assert!((mean_creep_decades(0.2, 30.0) - numeric).abs() < 1e-6);
        // creep is fastest right after the move: the mean lies below the value at the middle
        assert!(mean_creep_decades(0.2, 30.0) < law(15.1) - 0.05);
        // lines that start before the move's end count no creep there; zero-length lines give the point value
        assert!((mean_creep_decades(-10.0, 10.0) - 0.5 * mean_creep_decades(0.0, 10.0)).abs() < 1e-12);
        assert!((mean_creep_decades(5.0, 5.0) - law(5.0)).abs() < 1e-12);
    }

    /// A deterministic stand-in for Gaussian noise: the sum of three incommensurate sines has mean 0
    /// and standard deviation √1.5 ≈ 1.22 over many samples.
    fn pseudo_noise(k: usize) -> f64 {
        let k = k as f64;
        (k * 12.9898).sin() + (k * 78.233).sin() + (k * 37.719).sin()
    }

    #[test]
    fn variance_components_find_how_much_less_the_weak_components_are_worth() {
        let truth = [0.3, -0.2, 1.5, -0.7, 0.9, 0.05];
        // 60 strong rows with noise σ ≈ 0.012 and 60 weak rows, weighted 1 like them, with σ ≈ 1.2.
        let row = |k: usize, weak: bool| {
            let kf = k as f64;
            let x = [1.0, (kf * 0.37).cos(), 0.05 * kf, (kf * 0.91).sin(), (kf * 0.13).sin() * 2.0, kf.sqrt()];
            let noise = if weak { pseudo_noise(k + 1000) } else { 0.01 * pseudo_noise(k) };
            Row { x, y: dot(&x, &truth) + noise, weight: 1.0, weak }
        };
        let rows: Vec<Row> = (0..60).flat_map(|k| [row(k, false), row(k, true)]).collect();
        let (theta, weak_scale) = fit_with_variance_components(&rows).unwrap();
        // the weak rows are worth about σ_strong / σ_weak = 0.01 of the strong ones
        assert!((0.005..0.02).contains(&weak_scale), "weak scale {weak_scale}");
        // and so the fit is as good as the strong rows alone allow, not pulled by the weak ones
        let (equal_weights, _) = least_squares(&rows.iter().map(|r| (r.x, r.y)).collect::<Vec<_>>()).unwrap();
        let error = |t: &[f64; 6]| t.iter().zip(&truth).map(|(a, b)| (a - b).abs()).fold(0.0f64, f64::max);
        assert!(error(&theta) < 0.01, "{theta:?}");
        assert!(error(&equal_weights) > 3.0 * error(&theta), "equal weights {equal_weights:?} vs {theta:?}");
    }
}
