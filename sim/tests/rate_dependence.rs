//! Feedback tails: a step scanned faster leaves a longer downhill ("parachuting") tail in pixels;
//! uphill edges are sharper than downhill ones; in the retrace the tail points the other way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use afm_drivers::{Raster, ScanDirection, ScanRegion};
use afm_sim::{PhysicsConfig, StepDirection, StepSpec, SurfaceSpec};
use common::*;

const STEP_M: f64 = 20e-9;
const BASE_RATE_HZ: f64 = 1.0;
const POINTS: usize = 256;

/// Physics with feedback only (sharp tip, no noise): tails come from the loop alone.
fn feedback_only() -> PhysicsConfig {
    let mut p = PhysicsConfig::ideal();
    p.feedback.enabled = true;
    p
}

struct Tails {
    /// Tail in the trace (walking +x from the edge), pixels.
    trace_px: usize,
    /// Tail in the retrace (walking −x from the edge), pixels.
    retrace_px: usize,
    /// Deviating pixels on the side the tip comes from (trace: −x, retrace: +x).
    trace_before: usize,
    retrace_before: usize,
}

/// Scans a step at x = 0 at `rate_factor` × the base rate and measures the tails: pixels from the
/// edge, in the direction of travel, until within 5 % of the step of the settled level.
fn tails(direction: StepDirection, rate_factor: f64) -> Tails {
    let spec = StepSpec { size_m: 5e-6, pixels: 1024, height_m: STEP_M, direction, ..Default::default() };
    let afm = sim(SurfaceSpec::Step(spec).generate(0).unwrap(), feedback_only());
    // 4 µm wide, 256 points: pixels 127 (x = −7.8 nm) and 128 (+7.8 nm) straddle the edge.
    let raster = Raster::new(POINTS, 4);
    let frame = afm.scan_blocking(&request(ScanRegion::square(0.0, 0.0, 4e-6), raster, BASE_RATE_HZ * rate_factor)).unwrap();
    let tol = 0.05 * STEP_M;
    let row = |dir| height(&frame, dir).row(2).iter().map(|&v| v as f64).collect::<Vec<_>>();
    let (tr, re) = (row(ScanDirection::Trace), row(ScanDirection::Retrace));
    let (left, right) = (median(&tr[10..100]), median(&tr[156..246]));
    let (left_re, right_re) = (median(&re[10..100]), median(&re[156..246]));
    Tails {
        trace_px: tail_px(&tr, 128, 1, right, tol),
        retrace_px: tail_px(&re, 127, -1, left_re, tol),
        trace_before: tail_px(&tr, 127, -1, left, tol),
        retrace_before: tail_px(&re, 128, 1, right_re, tol),
    }
}

#[test]
fn downhill_tail_grows_with_line_rate() {
    let t: Vec<usize> = [1.0, 4.0, 8.0].iter().map(|&f| tails(StepDirection::Down, f).trace_px).collect();
    println!("downhill trace tails at 1×, 4×, 8× {BASE_RATE_HZ} Hz: {t:?} px");
    assert!(t[0] < t[1] && t[1] < t[2], "tails must strictly increase with rate: {t:?}");
    // A parachute descends 3 nm per update (i_gain·dt·(A_free − A_sp) = 0.75 · 4 nm): 20 nm plus the
    // final approach take ≈ 7 updates. At 8× the tip moves 32 nm (2 pixels) per update.
    assert!(t[2] >= 8, "8× tail {} px too short for a parachute", t[2]);
}

#[test]
fn uphill_edges_are_sharper_than_downhill_edges() {
    for factor in [4.0, 8.0] {
        let down = tails(StepDirection::Down, factor).trace_px;
        let up = tails(StepDirection::Up, factor).trace_px;
        println!("{factor}×: downhill {down} px, uphill {up} px");
        // The uphill error bound (A_sp = 16 nm) is 4× the downhill one (A_free − A_sp = 4 nm).
        assert!(up < down, "{factor}×: uphill tail {up} px not shorter than downhill {down} px");
    }
}

#[test]
fn retrace_tail_points_the_other_way() {
    // A down-step in the trace is an up-step in the retrace and vice versa: mirror the surface to
    // put the downhill edge in the retrace.
    let trace_down = tails(StepDirection::Down, 8.0);
    let retrace_down = tails(StepDirection::Up, 8.0);
    println!(
        "8×: trace downhill tail {} px (+x side, {} px deviate on −x); retrace downhill tail {} px (−x side, {} px deviate on +x)",
        trace_down.trace_px, trace_down.trace_before, retrace_down.retrace_px, retrace_down.retrace_before
    );
    // The tail sits on the side the tip moves towards; the side it comes from is clean.
    assert!(trace_down.trace_px >= 8 && trace_down.trace_before == 0);
    assert!(retrace_down.retrace_px >= 8 && retrace_down.retrace_before == 0);
    // Mirror symmetry of the loop: the same tail length either way, ± 1 pixel.
    assert!(trace_down.trace_px.abs_diff(retrace_down.retrace_px) <= 1);
    // And the retrace of the down-step climbs it: a shorter (uphill) tail on −x.
    assert!(trace_down.retrace_px < trace_down.trace_px);
}
