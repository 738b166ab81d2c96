//! Shared helpers of the sim integration tests: requests, simulators, and edge/tail measurements.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use afm_drivers::{Directions, Frame, Raster, ScanDirection, ScanRegion, ScanRequest};
use afm_sim::{PhysicsConfig, SimConfig, SimulatedAfm, Surface};
use ndarray::Array2;

/// A Height request in both directions.
pub fn request(region: ScanRegion, raster: Raster, line_rate_hz: f64) -> ScanRequest {
    ScanRequest { region, raster, line_rate_hz, channels: vec!["Height".into()], directions: Directions::Both }
}

/// A simulator with `physics`, seed 1, no settling.
pub fn sim(surface: Surface, physics: PhysicsConfig) -> SimulatedAfm {
    SimulatedAfm::new(surface, SimConfig { physics, seed: 1, settle_s: 0.0, ..Default::default() }).unwrap()
}

/// The Height image of `dir`.
pub fn height(frame: &Frame, dir: ScanDirection) -> Array2<f32> {
    frame.channel("Height", dir).expect("Height channel").data.clone()
}

/// Median of `values`.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Pixels from `start` (inclusive), walking by `step` (+1 or −1), until the row is within `tol_m` of
/// `settled_m`.
pub fn tail_px(row: &[f64], start: usize, step: isize, settled_m: f64, tol_m: f64) -> usize {
    let mut i = start as isize;
    let mut n = 0;
    while i >= 0 && (i as usize) < row.len() && (row[i as usize] - settled_m).abs() > tol_m {
        n += 1;
        i += step;
    }
    n
}
