//! One scan line: the controller updates along the trace and then the retrace, and the recorded
//! pixels. Updates happen at absolute positions `a = k·step` along the fast axis (step = tip speed /
//! feedback rate), phase-locked to the scanner coordinate rather than to the line start, so two
//! scans at the same tip speed update the loop at the same places — a tile reproduces the full frame.
//! A pixel's value is the z command averaged over the pixel's dwell, as a controller averages its
//! samples per pixel: the held state of every update weighted by how much of the stretch from half a
//! pitch before the pixel's position to half a pitch after it the tip travelled under it (likewise the
//! amplitude). The recorded value is thus centred on the pixel's position whatever the update step —
//! taking the last update's state instead would displace pixels by up to one step, in opposite
//! directions on trace and retrace, and by a different amount on every pixel when the step and the
//! pitch are incommensurate. Faster scans have fewer updates per pixel, so a tail spans more pixels.

use super::distortion::{BowConfig, TiltConfig};
use super::feedback::Controller;
use crate::surface::interp::Axis;
use crate::surface::{Interpolation, Surface};

/// The apparent surface (tip-dilated, displaced, tilted, bowed) along one line, as a function of the
/// absolute fast-axis coordinate `a`, metres.
pub(crate) trait LineSurface {
    fn at(&self, a_m: f64) -> f64;
}

/// An unrotated line at constant y: a precomputed row profile (taken at the displaced y) sampled along
/// x (exactly the 2-D tensor-product interpolation).
pub(crate) struct RowLine<'a> {
    pub axis: &'a Axis,
    pub profile: &'a [f64],
    pub interp: Interpolation,
    pub y_m: f64,
    /// The line's displacement of the sample (x, y) and apparent height offset (z), metres: the tip
    /// at scanner position p sees the sample point p − (x, y).
    pub shift_m: (f64, f64, f64),
    pub tilt: &'a TiltConfig,
    pub bow: &'a BowConfig,
}

impl LineSurface for RowLine<'_> {
    #[inline]
    fn at(&self, a_m: f64) -> f64 {
        let (dx, dy, dz) = self.shift_m;
        let x = a_m - dx;
        self.axis.sample(self.profile, x, self.interp) + self.tilt.z_m(x, self.y_m - dy) + self.bow.z_m(a_m, self.y_m) + dz
    }
}

/// A rotated line: full 2-D sampling at every update.
pub(crate) struct RotatedLine<'a> {
    pub surface: &'a Surface,
    pub interp: Interpolation,
    /// cos and sin of the scan angle.
    pub cos_sin: (f64, f64),
    /// Absolute slow-axis coordinate of the line, metres.
    pub b_m: f64,
    /// As [`RowLine::shift_m`].
    pub shift_m: (f64, f64, f64),
    pub tilt: &'a TiltConfig,
    pub bow: &'a BowConfig,
}

impl LineSurface for RotatedLine<'_> {
    #[inline]
    fn at(&self, a_m: f64) -> f64 {
        let (c, s) = self.cos_sin;
        let (x, y) = (a_m * c - self.b_m * s, a_m * s + self.b_m * c);
        let (sx, sy) = (x - self.shift_m.0, y - self.shift_m.1);
        self.surface.sample_m(sx, sy, self.interp) + self.tilt.z_m(sx, sy) + self.bow.z_m(x, y) + self.shift_m.2
    }
}

/// Where the controller updates along every line of a scan, and the stretch each pixel records.
#[derive(Debug, Clone)]
pub(crate) struct TickPlan {
    /// Distance between updates, metres (tip speed / feedback rate); 0 for a stationary line.
    step_m: f64,
    /// First and last update index of a pass (lead-in and run-out included).
    k0: i64,
    k1: i64,
    /// Per pixel: the stretch of the fast axis it averages over, `[from, to)` metres (half a pixel
    /// pitch either side of its position; ascending and contiguous).
    windows: Vec<(f64, f64)>,
    /// Updates per pass when the line is stationary (zero width).
    stationary_updates: usize,
}

impl TickPlan {
    /// Updates every `step_m` along the fast axis, from `overscan_m` before the first pixel's stretch
    /// to `overscan_m` after the last's (`pixel_a_m` ascending).
    pub fn new(pixel_a_m: &[f64], step_m: f64, overscan_m: f64, stationary_updates: usize) -> Self {
        let (first, last) = (pixel_a_m.first().copied().unwrap_or(0.0), pixel_a_m.last().copied().unwrap_or(0.0));
        if !(step_m > 0.0 && step_m.is_finite()) || last <= first {
            return Self { step_m: 0.0, k0: 0, k1: 0, windows: vec![], stationary_updates };
        }
        let half_pitch = 0.5 * (last - first) / (pixel_a_m.len() - 1) as f64;
        let windows = pixel_a_m.iter().map(|&a| (a - half_pitch, a + half_pitch)).collect();
        let k = |a: f64| a / step_m;
        let k0 = k(first - half_pitch - overscan_m).floor() as i64;
        let k1 = k(last + half_pitch + overscan_m).ceil() as i64;
        Self { step_m, k0, k1, windows, stationary_updates }
    }

    /// Controller updates one line costs (trace + retrace).
    pub fn updates_per_line(&self) -> u64 {
        if self.step_m > 0.0 {
            2 * (self.k1 - self.k0) as u64 + 1
        } else {
            2 * self.stationary_updates.max(1) as u64
        }
    }
}

/// The running dwell averages of one pass: each pixel's sums of held state × length travelled.
struct DwellSums {
    z: Vec<f64>,
    amp: Vec<f64>,
    length: Vec<f64>,
}

impl DwellSums {
    fn new(n: usize) -> Self {
        Self { z: vec![0.0; n], amp: vec![0.0; n], length: vec![0.0; n] }
    }

    /// Adds the state (`z`, `amp`) held over `[lo, hi)` to pixel `j` for the part inside its window.
    fn add(&mut self, j: usize, window: (f64, f64), (lo, hi): (f64, f64), (z, amp): (f64, f64)) {
        let overlap = hi.min(window.1) - lo.max(window.0);
        if overlap > 0.0 {
            self.z[j] += overlap * z;
            self.amp[j] += overlap * amp;
            self.length[j] += overlap;
        }
    }

    /// Pixel `j`'s averages (the `fallback` state if nothing covered it).
    fn mean(&self, j: usize, fallback: (f64, f64)) -> (f32, f32) {
        if self.length[j] > 0.0 {
            ((self.z[j] / self.length[j]) as f32, (self.amp[j] / self.length[j]) as f32)
        } else {
            (fallback.0 as f32, fallback.1 as f32)
        }
    }
}

/// The recorded rows of one line.
pub(crate) struct LineRows<'a> {
    pub trace_z: &'a mut [f32],
    pub retrace_z: &'a mut [f32],
    pub trace_amp: &'a mut [f32],
    pub retrace_amp: &'a mut [f32],
}

/// Records one line with ideal tracking: every pixel is the apparent surface at its position.
pub(crate) fn ideal_line(surface: &impl LineSurface, pixel_a_m: &[f64], setpoint_m: f64, rows: LineRows<'_>) {
    for (i, &a) in pixel_a_m.iter().enumerate() {
        let z = surface.at(a) as f32;
        rows.trace_z[i] = z;
        rows.retrace_z[i] = z;
        rows.trace_amp[i] = setpoint_m as f32;
        rows.retrace_amp[i] = setpoint_m as f32;
    }
}

/// Records one line (trace then retrace) with the feedback loop, continuing from `ctrl`'s state
/// (`settle_first`: put the loop at rest at the lead-in point first).
pub(crate) fn feedback_line(
    surface: &impl LineSurface,
    pixel_a_m: &[f64],
    plan: &TickPlan,
    ctrl: &mut Controller,
    settle_first: bool,
    rows: LineRows<'_>,
) {
    if plan.step_m <= 0.0 {
        let a = pixel_a_m.first().copied().unwrap_or(0.0);
        return stationary_line(surface, a, plan.stationary_updates, ctrl, settle_first, rows);
    }
    let (n, step) = (pixel_a_m.len(), plan.step_m);
    if settle_first {
        ctrl.settle(surface.at(plan.k0 as f64 * step));
    }
    let state = |c: &Controller| (c.z_m(), c.last_amplitude_m());
    let w = &plan.windows;
    // Trace: the state after update k is held from k·step to the next update.
    let mut sums = DwellSums::new(n);
    let mut i = 0; // pixels before i are recorded
    for k in plan.k0..=plan.k1 {
        ctrl.step(surface.at(k as f64 * step));
        let held = (k as f64 * step, (k + 1) as f64 * step);
        let mut j = i;
        while j < n && w[j].0 < held.1 {
            sums.add(j, w[j], held, state(ctrl));
            j += 1;
        }
        while i < n && w[i].1 <= held.1 {
            (rows.trace_z[i], rows.trace_amp[i]) = sums.mean(i, state(ctrl));
            i += 1;
        }
    }
    for j in i..n {
        (rows.trace_z[j], rows.trace_amp[j]) = sums.mean(j, state(ctrl));
    }
    // Retrace: the state after update k (the trace's last one first) is held from k·step back to the
    // next update.
    let mut sums = DwellSums::new(n);
    let mut i = n; // pixels from i on are recorded
    for k in (plan.k0..=plan.k1).rev() {
        if k < plan.k1 {
            ctrl.step(surface.at(k as f64 * step));
        }
        let held = ((k - 1) as f64 * step, k as f64 * step);
        let mut j = i;
        while j > 0 && w[j - 1].1 > held.0 {
            sums.add(j - 1, w[j - 1], held, state(ctrl));
            j -= 1;
        }
        while i > 0 && w[i - 1].0 >= held.0 {
            (rows.retrace_z[i - 1], rows.retrace_amp[i - 1]) = sums.mean(i - 1, state(ctrl));
            i -= 1;
        }
    }
    for j in 0..i {
        (rows.retrace_z[j], rows.retrace_amp[j]) = sums.mean(j, state(ctrl));
    }
}

/// A zero-width line: the loop runs `updates` times per pass at one position; every pixel of a pass
/// records the final state.
fn stationary_line(surface: &impl LineSurface, a_m: f64, updates: usize, ctrl: &mut Controller, settle_first: bool, rows: LineRows<'_>) {
    let s = surface.at(a_m);
    if settle_first {
        ctrl.settle(s);
    }
    let mut amp = ctrl.last_amplitude_m();
    for (zs, amps) in [(rows.trace_z, rows.trace_amp), (rows.retrace_z, rows.retrace_amp)] {
        for _ in 0..updates.max(1) {
            amp = ctrl.step(s);
        }
        zs.fill(ctrl.z_m() as f32);
        amps.fill(amp as f32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physics::FeedbackConfig;

    /// A plane sloping along the fast axis.
    struct Ramp(f64);

    impl LineSurface for Ramp {
        fn at(&self, a_m: f64) -> f64 {
            self.0 * a_m
        }
    }

    #[test]
    fn trace_retrace_mean_of_a_ramp_sits_at_every_pixels_position() {
        // 2 updates per pixel at a step incommensurate with the pitch (the LR's case): the state of the
        // last update would put pixels up to a step off, differently on every pixel.
        let slope = 0.02;
        let (pitch, step) = (78.74e-9, 40.0e-9);
        let pixels: Vec<f64> = (0..128).map(|i| 1e-6 + i as f64 * pitch).collect();
        let plan = TickPlan::new(&pixels, step, 2e-6, 1);
        let mut ctrl = Controller::new(&FeedbackConfig { loss_of_contact: false, ..FeedbackConfig::default() });
        let n = pixels.len();
        let (mut tz, mut rz, mut ta, mut ra) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
        let rows = LineRows { trace_z: &mut tz, retrace_z: &mut rz, trace_amp: &mut ta, retrace_amp: &mut ra };
        feedback_line(&Ramp(slope), &pixels, &plan, &mut ctrl, true, rows);
        // Away from the turnarounds the loop tracks the ramp with a constant lag, opposite on the two
        // passes: their mean is the ramp at the pixel itself.
        let worst = (16..n - 16).map(|i| ((0.5 * (tz[i] + rz[i]) as f64 - slope * pixels[i]) / (slope * step)).abs()).fold(0.0, f64::max);
        assert!(worst < 0.05, "trace/retrace mean off its pixel by {worst:.3} update steps");
        // and the passes differ (the lag is there), so the test is not trivially met
        let lag = (16..n - 16).map(|i| (tz[i] - rz[i]).abs() as f64 / (slope * step)).fold(0.0, f64::max);
        assert!(lag > 0.1, "no lag between trace and retrace ({lag:.3} steps)");
    }
}
