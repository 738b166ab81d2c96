//! One frame: the geometry of the raster (absolute fast/slow coordinates of every pixel), the line
//! loop with the sample's displacement (drift and creep) given per line, and the random artefacts
//! added afterwards.

use super::feedback::Controller;
use super::line::{feedback_line, ideal_line, LineRows, RotatedLine, RowLine, TickPlan};
use super::noise::{add_white, line_offsets};
use super::seed::{scan_rng, Stream};
use super::PhysicsConfig;
use crate::surface::Surface;
use afm_drivers::ScanRequest;
use ndarray::Array2;

/// The recorded images of one frame, both directions, `[line, point]`, metres.
#[derive(Debug, Clone)]
pub(crate) struct ScanImages {
    pub height_trace: Array2<f32>,
    pub height_retrace: Array2<f32>,
    pub amplitude_trace: Array2<f32>,
    pub amplitude_retrace: Array2<f32>,
    /// Controller updates run.
    pub updates: u64,
}

/// The scan stopped early (abort); `lines_done` lines were recorded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stopped {
    pub lines_done: usize,
}

/// Scans `request` over `tip_surface` (the surface as the tip records it). `shift_m(line)` is the
/// line's lateral displacement of the sample (x, y) and apparent height offset (z), metres (see
/// [`crate::ScanTruth`]); `overscan_s` the resolved lead-in time. `keep_going(lines_done)` is called
/// after each line; returning false stops the scan.
pub(crate) fn scan_frame(
    tip_surface: &Surface,
    physics: &PhysicsConfig,
    seed: u64,
    request: &ScanRequest,
    shift_m: impl Fn(usize) -> (f64, f64, f64),
    overscan_s: f64,
    mut keep_going: impl FnMut(usize) -> bool,
) -> Result<ScanImages, Stopped> {
    let (raster, region) = (request.raster, request.region);
    let (n, lines) = (raster.points, raster.lines);
    let (s, c) = region.angle_deg.to_radians().sin_cos();
    let rotated = region.angle_deg != 0.0;
    // Absolute fast (a) and slow (b) coordinates: a = p·(c, s), b = p·(−s, c); for 0° a = x, b = y.
    let project = |(x, y): (f64, f64)| if rotated { (x * c + y * s, -x * s + y * c) } else { (x, y) };
    let pixel_a: Vec<f64> = (0..n).map(|i| project(region.pixel_position_m(&raster, i as f64, 0.0)).0).collect();
    let line_b: Vec<f64> = (0..lines).map(|j| project(region.pixel_position_m(&raster, 0.0, j as f64)).1).collect();

    let fb = &physics.feedback;
    let speed_m_per_s = request.tip_speed_m_per_s();
    let ticks = TickPlan::new(
        &pixel_a,
        speed_m_per_s * fb.period_s(),
        speed_m_per_s * overscan_s,
        (fb.feedback_rate_hz / (2.0 * request.line_rate_hz)).round().clamp(1.0, 1e7) as usize,
    );
    let mut ctrl = Controller::new(fb);
    let mut img = ScanImages {
        height_trace: Array2::zeros((lines, n)),
        height_retrace: Array2::zeros((lines, n)),
        amplitude_trace: Array2::zeros((lines, n)),
        amplitude_retrace: Array2::zeros((lines, n)),
        updates: 0,
    };
    let mut profile = Vec::new();
    for (j, &b) in line_b.iter().enumerate() {
        let shift = shift_m(j);
        let rows = LineRows {
            trace_z: img.height_trace.row_mut(j).into_slice().unwrap_or_default(),
            retrace_z: img.height_retrace.row_mut(j).into_slice().unwrap_or_default(),
            trace_amp: img.amplitude_trace.row_mut(j).into_slice().unwrap_or_default(),
            retrace_amp: img.amplitude_retrace.row_mut(j).into_slice().unwrap_or_default(),
        };
        let setpoint = fb.setpoint_amplitude_m;
        if rotated {
            let line = RotatedLine {
                surface: tip_surface,
                interp: physics.interpolation,
                cos_sin: (c, s),
                b_m: b,
                shift_m: shift,
                tilt: &physics.tilt,
                bow: &physics.bow,
            };
            img.updates += run_line(&line, &pixel_a, fb.enabled, &ticks, &mut ctrl, j == 0, setpoint, rows);
        } else {
            tip_surface.row_profile(b - shift.1, physics.interpolation, &mut profile);
            let line = RowLine {
                axis: tip_surface.x_axis(),
                profile: &profile,
                interp: physics.interpolation,
                y_m: b,
                shift_m: shift,
                tilt: &physics.tilt,
                bow: &physics.bow,
            };
            img.updates += run_line(&line, &pixel_a, fb.enabled, &ticks, &mut ctrl, j == 0, setpoint, rows);
        }
        if !keep_going(j + 1) {
            return Err(Stopped { lines_done: j + 1 });
        }
    }
    add_artefacts(&mut img, physics, seed, request);
    Ok(img)
}

#[allow(clippy::too_many_arguments)]
fn run_line(
    line: &impl super::line::LineSurface,
    pixel_a: &[f64],
    feedback: bool,
    ticks: &TickPlan,
    ctrl: &mut Controller,
    first: bool,
    setpoint_m: f64,
    rows: LineRows<'_>,
) -> u64 {
    if feedback {
        feedback_line(line, pixel_a, ticks, ctrl, first, rows);
        ticks.updates_per_line()
    } else {
        ideal_line(line, pixel_a, setpoint_m, rows);
        0
    }
}

/// Sensor noise (independent per direction) and line offsets (shared by trace and retrace).
fn add_artefacts(img: &mut ScanImages, physics: &PhysicsConfig, seed: u64, request: &ScanRequest) {
    if physics.line_offsets.enabled && physics.line_offsets.rms_m > 0.0 {
        let mut rng = scan_rng(seed, request, Stream::LineOffsets);
        let offsets = line_offsets(request.raster.lines, physics.line_offsets.rms_m, &mut rng);
        for image in [&mut img.height_trace, &mut img.height_retrace] {
            for (mut row, off) in image.rows_mut().into_iter().zip(&offsets) {
                row.mapv_inplace(|v| (v as f64 + off) as f32);
            }
        }
    }
    if physics.sensor_noise.enabled && physics.sensor_noise.rms_m > 0.0 {
        let rms = physics.sensor_noise.rms_m;
        for (image, stream) in [(&mut img.height_trace, Stream::SensorTrace), (&mut img.height_retrace, Stream::SensorRetrace)] {
            let mut rng = scan_rng(seed, request, stream);
            if let Some(values) = image.as_slice_mut() {
                add_white(values, rms, &mut rng);
            }
        }
    }
}
