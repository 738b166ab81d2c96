//! Drift and bow: features move by the drift velocity times the instrument time between scans; the
//! bow is the configured paraboloid of the absolute scanner position.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use afm_drivers::{Raster, ScanDirection, ScanRegion};
use afm_sim::{PhysicsConfig, StepSpec, Surface, SurfaceSpec};
use common::*;

/// Fractional pixel where the trace of line `line` crosses half the step height.
fn edge_px(row: &[f64], half_m: f64) -> f64 {
    let i = row.iter().position(|&v| v < half_m).unwrap_or(0).max(1);
    let (a, b) = (row[i - 1], row[i]);
    (i - 1) as f64 + (a - half_m) / (a - b)
}

#[test]
fn drift_moves_features_by_velocity_times_instrument_time() {
    let step = SurfaceSpec::Step(StepSpec { size_m: 4e-6, pixels: 1024, height_m: 10e-9, edge_width_m: 200e-9, ..Default::default() })
        .generate(0)
        .unwrap();
    let drift_x = 0.5e-9; // m/s: 0.5 nm/s, exaggerated to be measurable
    let mut p = PhysicsConfig::ideal();
    p.drift.enabled = true;
    p.drift.x_m_per_s = drift_x;
    p.drift.y_m_per_s = 0.0;
    p.drift.z_m_per_s = 0.0;
    let afm = sim(step, p);
    let region = ScanRegion::square(0.0, 0.0, 2e-6);
    let raster = Raster::new(400, 20);
    let req = request(region, raster, 0.1); // 200 s per frame
    let pitch = region.pitch_m(&raster).0;
    let mut edges = vec![];
    for _ in 0..3 {
        let f = afm.scan_blocking(&req).unwrap();
        let row: Vec<f64> = height(&f, ScanDirection::Trace).row(10).iter().map(|&v| v as f64).collect();
        edges.push(edge_px(&row, 5e-9));
    }
    // Each frame takes 200 s (no moves after the first, no settling): the edge moves 100 nm = 20 px.
    let expected_px = drift_x * 200.0 / pitch;
    for w in edges.windows(2) {
        let moved = w[1] - w[0];
        println!("edge moved {moved:.3} px between frames, expected {expected_px:.3}");
        assert!((moved - expected_px).abs() < 0.05, "moved {moved} px");
    }
}

#[test]
fn bow_is_a_paraboloid_of_the_absolute_scanner_position() {
    let flat = Surface::from_array(ndarray::Array2::zeros((16, 16)), ScanRegion::square(0.0, 0.0, 20e-6)).unwrap();
    let mut p = PhysicsConfig::ideal();
    p.bow.enabled = true;
    p.bow.curvature_per_m = 100.0;
    let afm = sim(flat, p);
    let region = ScanRegion::square(3e-6, -2e-6, 4e-6);
    let raster = Raster::square(33);
    let f = afm.scan_blocking(&request(region, raster, 1.0)).unwrap();
    let img = height(&f, ScanDirection::Trace);
    for (row, col) in [(0, 0), (16, 16), (32, 5), (7, 32)] {
        let (x, y) = region.pixel_position_m(&raster, col as f64, row as f64);
        let expected = 0.5 * 100.0 * (x * x + y * y);
        assert!((img[[row, col]] as f64 - expected).abs() < 1e-15, "({row},{col}): {} vs {expected}", img[[row, col]]);
    }
}
