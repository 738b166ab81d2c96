//! One scan line: the controller updates along the trace and then the retrace, and the recorded
//! pixels. Updates happen at absolute positions `a = k·step` along the fast axis (step = tip speed /
//! feedback rate), phase-locked to the scanner coordinate rather than to the line start, so two
//! scans at the same tip speed update the loop at the same places — a tile reproduces the full frame.
//! A pixel's value is the z command while the tip passes the pixel: the state left by the last update
//! at or before the pixel's position in the direction of travel (likewise the amplitude). No
//! averaging: faster scans have fewer updates per pixel, so a tail spans more pixels.

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

/// Where the controller updates along every line of a scan, and which update each pixel records.
#[derive(Debug, Clone)]
pub(crate) struct TickPlan {
    /// Distance between updates, metres (tip speed / feedback rate); 0 for a stationary line.
    step_m: f64,
    /// First and last update index of a pass (lead-in and run-out included).
    k0: i64,
    k1: i64,
    /// Per pixel: the update whose state the trace records (the last at or before the pixel).
    trace_k: Vec<i64>,
    /// Per pixel: the update whose state the retrace records (the last at or after the pixel).
    retrace_k: Vec<i64>,
    /// Updates per pass when the line is stationary (zero width).
    stationary_updates: usize,
}

/// A pixel within this fraction of a step from an update counts as reached by it. Absorbs the last-bit
/// differences between a tile's pixel positions and the full frame's, so both pick the same update.
const COINCIDENT: f64 = 1e-6;

impl TickPlan {
    /// Updates every `step_m` along the fast axis, from `overscan_m` before the first pixel to
    /// `overscan_m` after the last (`pixel_a_m` ascending).
    pub fn new(pixel_a_m: &[f64], step_m: f64, overscan_m: f64, stationary_updates: usize) -> Self {
        let (first, last) = (pixel_a_m.first().copied().unwrap_or(0.0), pixel_a_m.last().copied().unwrap_or(0.0));
        if !(step_m > 0.0 && step_m.is_finite()) || last <= first {
            return Self { step_m: 0.0, k0: 0, k1: 0, trace_k: vec![], retrace_k: vec![], stationary_updates };
        }
        let k = |a: f64| a / step_m;
        let trace_k: Vec<i64> = pixel_a_m.iter().map(|&a| (k(a) + COINCIDENT).floor() as i64).collect();
        let retrace_k: Vec<i64> = pixel_a_m.iter().map(|&a| (k(a) - COINCIDENT).ceil() as i64).collect();
        let k0 = (k(first - overscan_m).floor() as i64).min(trace_k[0]);
        let k1 = (k(last + overscan_m).ceil() as i64).max(retrace_k[retrace_k.len() - 1]);
        Self { step_m, k0, k1, trace_k, retrace_k, stationary_updates }
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
    let state = |c: &Controller| (c.z_m() as f32, c.last_amplitude_m() as f32);
    let mut i = 0;
    for k in plan.k0..=plan.k1 {
        ctrl.step(surface.at(k as f64 * step));
        while i < n && plan.trace_k[i] <= k {
            (rows.trace_z[i], rows.trace_amp[i]) = state(ctrl);
            i += 1;
        }
    }
    let mut i = n;
    while i > 0 && plan.retrace_k[i - 1] >= plan.k1 {
        (rows.retrace_z[i - 1], rows.retrace_amp[i - 1]) = state(ctrl);
        i -= 1;
    }
    for k in (plan.k0..plan.k1).rev() {
        ctrl.step(surface.at(k as f64 * step));
        while i > 0 && plan.retrace_k[i - 1] >= k {
            (rows.retrace_z[i - 1], rows.retrace_amp[i - 1]) = state(ctrl);
            i -= 1;
        }
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
