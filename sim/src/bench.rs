//! A reproducible speed measurement of one simulated frame, for `afm-spark bench` and the crate's
//! ignored timing test: a grains surface, every effect on (double tip included), the physics of one
//! frame timed on the calling thread.

use crate::config::SimConfig;
use crate::error::SimError;
use crate::physics::scan::scan_frame;
use crate::physics::{DoubleTipConfig, PhysicsConfig};
use crate::surface::{GrainsSpec, SurfaceSpec};
use crate::SimulatedAfm;
use afm_drivers::{Directions, Raster, ScanRegion, ScanRequest};
use std::time::Instant;

/// What [`one_frame`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct OneFrameReport {
    /// Points per line = lines per frame.
    pub pixels: usize,
    /// Controller updates per line period (trace + retrace, overscan excluded).
    pub updates_per_line: usize,
    /// Controller updates actually run (overscan included), whole frame.
    pub updates_run: u64,
    /// Wall time of the scan physics for the frame (trace and retrace), seconds.
    pub frame_s: f64,
    /// The lead-in per pass, seconds (automatic: follows a drop of the whole height range).
    pub overscan_s: f64,
    /// Wall time of building the simulator (tip dilation of the 1024² surface, once per surface), s.
    pub setup_s: f64,
}

/// Times one `pixels` × `pixels` frame (10 µm, 1 Hz) over a 1024² grains surface with every effect
/// on and the feedback rate set to give `updates_per_line` controller updates per line period.
pub fn one_frame(pixels: usize, updates_per_line: usize) -> Result<OneFrameReport, SimError> {
    let line_rate_hz = 1.0;
    let surface = SurfaceSpec::Grains(GrainsSpec::default()).generate(1)?;
    let mut physics = PhysicsConfig::default();
    physics.feedback.feedback_rate_hz = updates_per_line as f64 * line_rate_hz;
    // Keep the loop's time constants: the integral gain scales with the update rate.
    physics.feedback.i_gain_per_s = 0.75 * physics.feedback.feedback_rate_hz;
    physics.tip.double_tip = Some(DoubleTipConfig { offset_x_m: 40e-9, offset_y_m: 10e-9, offset_z_m: 2e-9, radius_m: 15e-9 });
    let config = SimConfig { physics, seed: 3, ..Default::default() };
    let t0 = Instant::now();
    let afm = SimulatedAfm::new(surface, config)?;
    let setup_s = t0.elapsed().as_secs_f64();
    let request = ScanRequest {
        region: ScanRegion::square(0.0, 0.0, 10e-6),
        raster: Raster::square(pixels),
        line_rate_hz,
        channels: vec!["Height".into()],
        directions: Directions::Both,
    };
    let cfg = afm.config();
    let t1 = Instant::now();
    let truth = afm.truth_for(&request);
    let images = scan_frame(afm.tip_surface(), &cfg.physics, cfg.seed, &request, |j| truth.line_shift_m(j), afm.overscan_s(), |_| true);
    let frame_s = t1.elapsed().as_secs_f64();
    let updates_run = images.map(|i| i.updates).unwrap_or(0);
    Ok(OneFrameReport { pixels, updates_per_line, updates_run, frame_s, overscan_s: afm.overscan_s(), setup_s })
}
