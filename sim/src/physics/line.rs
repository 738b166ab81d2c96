//! One scan line: the controller updates along the trace and then the retrace, and the recorded
//! pixels. Updates happen at absolute positions `a = k·step` along the fast axis (step = tip speed /
//! feedback rate), phase-locked to the scanner coordinate rather than to the line start, so two
//! scans at the same tip speed update the loop at the same places — a tile reproduces the full frame.
//! A pixel's value is the z command linearly interpolated between the two updates that bracket the
//! pixel's position (likewise the amplitude).

use super::distortion::BowConfig;
use super::feedback::Controller;
use crate::surface::interp::Axis;
use crate::surface::{Interpolation, Surface};

/// The apparent surface (tip-dilated, drifted, bowed) along one line, as a function of the absolute
/// fast-axis coordinate `a`, metres.
pub(crate) trait LineSurface {
    fn at(&self, a_m: f64) -> f64;
}

/// An unrotated line at constant y: a precomputed row profile sampled along x (exactly the 2-D
/// tensor-product interpolation).
pub(crate) struct RowLine<'a> {
    pub axis: &'a Axis,
    pub profile: &'a [f64],
    pub interp: Interpolation,
    pub y_m: f64,
    pub drift_x_m: f64,
    pub drift_z_m: f64,
    pub bow: &'a BowConfig,
}

impl LineSurface for RowLine<'_> {
    #[inline]
    fn at(&self, a_m: f64) -> f64 {
        self.axis.sample(self.profile, a_m - self.drift_x_m, self.interp) + self.bow.z_m(a_m, self.y_m) + self.drift_z_m
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
    pub drift_m: (f64, f64, f64),
    pub bow: &'a BowConfig,
}

impl LineSurface for RotatedLine<'_> {
    #[inline]
    fn at(&self, a_m: f64) -> f64 {
        let (c, s) = self.cos_sin;
        let (x, y) = (a_m * c - self.b_m * s, a_m * s + self.b_m * c);
        self.surface.sample_m(x - self.drift_m.0, y - self.drift_m.1, self.interp) + self.bow.z_m(x, y) + self.drift_m.2
    }
}

/// Where the controller updates along a line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticks {
    /// Distance between updates, metres (tip speed / feedback rate); 0 for a stationary line.
    pub step_m: f64,
    /// Lead-in/run-out distance beyond the first/last pixel, metres.
    pub overscan_m: f64,
    /// Updates per pass when the line is stationary (zero width).
    pub stationary_updates: usize,
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
/// (`settle_first`: put the loop at rest at the lead-in point first). Returns the updates run.
pub(crate) fn feedback_line(
    surface: &impl LineSurface,
    pixel_a_m: &[f64],
    ticks: Ticks,
    ctrl: &mut Controller,
    settle_first: bool,
    rows: LineRows<'_>,
) -> u64 {
    let (Some(&first), Some(&last)) = (pixel_a_m.first(), pixel_a_m.last()) else { return 0 };
    if ticks.step_m <= 0.0 || !ticks.step_m.is_finite() {
        return stationary_line(surface, first, ticks.stationary_updates, ctrl, settle_first, rows);
    }
    let k0 = ((first - ticks.overscan_m) / ticks.step_m).floor() as i64;
    let k1 = ((last + ticks.overscan_m) / ticks.step_m).ceil() as i64;
    if settle_first {
        ctrl.settle(surface.at(k0 as f64 * ticks.step_m));
    }
    let mut rec = Recorder::new(k0 as f64 * ticks.step_m, ctrl.z_m(), ctrl.last_amplitude_m());
    let mut i = 0;
    for k in k0..=k1 {
        let a = k as f64 * ticks.step_m;
        let amp = ctrl.step(surface.at(a));
        rec.advance(a, ctrl.z_m(), amp);
        while i < pixel_a_m.len() && pixel_a_m[i] <= a {
            (rows.trace_z[i], rows.trace_amp[i]) = rec.at(pixel_a_m[i]);
            i += 1;
        }
    }
    for j in i..pixel_a_m.len() {
        (rows.trace_z[j], rows.trace_amp[j]) = rec.last();
    }
    let mut i = pixel_a_m.len();
    for k in (k0..k1).rev() {
        let a = k as f64 * ticks.step_m;
        let amp = ctrl.step(surface.at(a));
        rec.advance(a, ctrl.z_m(), amp);
        while i > 0 && pixel_a_m[i - 1] >= a {
            (rows.retrace_z[i - 1], rows.retrace_amp[i - 1]) = rec.at(pixel_a_m[i - 1]);
            i -= 1;
        }
    }
    for j in 0..i {
        (rows.retrace_z[j], rows.retrace_amp[j]) = rec.last();
    }
    2 * (k1 - k0) as u64 + 1
}

/// A zero-width line: the loop runs `updates` times per pass at one position; every pixel of a pass
/// records the final state.
fn stationary_line(
    surface: &impl LineSurface,
    a_m: f64,
    updates: usize,
    ctrl: &mut Controller,
    settle_first: bool,
    rows: LineRows<'_>,
) -> u64 {
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
    2 * updates.max(1) as u64
}

/// The two most recent controller updates, for interpolating pixels between them.
struct Recorder {
    prev: (f64, f64, f64),
    cur: (f64, f64, f64),
}

impl Recorder {
    fn new(a_m: f64, z_m: f64, amp_m: f64) -> Self {
        Self { prev: (a_m, z_m, amp_m), cur: (a_m, z_m, amp_m) }
    }

    #[inline]
    fn advance(&mut self, a_m: f64, z_m: f64, amp_m: f64) {
        self.prev = self.cur;
        self.cur = (a_m, z_m, amp_m);
    }

    /// (z, amplitude) at `a_m`, between the previous and the current update.
    #[inline]
    fn at(&self, a_m: f64) -> (f32, f32) {
        let (a0, z0, p0) = self.prev;
        let (a1, z1, p1) = self.cur;
        let span = a1 - a0;
        let t = if span != 0.0 { ((a_m - a0) / span).clamp(0.0, 1.0) } else { 1.0 };
        ((z0 + t * (z1 - z0)) as f32, (p0 + t * (p1 - p0)) as f32)
    }

    fn last(&self) -> (f32, f32) {
        (self.cur.1 as f32, self.cur.2 as f32)
    }
}
