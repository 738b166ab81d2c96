//! Noise and seeds: the measured sensor noise matches its configured RMS, line offsets are streaks
//! of the configured size, the same seed gives bit-identical frames (whatever was scanned before),
//! a different seed gives different ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use afm_drivers::{Raster, ScanDirection, ScanRegion};
use afm_sim::{GrainsSpec, PhysicsConfig, SimConfig, SimulatedAfm, SurfaceSpec};
use common::*;

fn grains() -> afm_sim::Surface {
    SurfaceSpec::Grains(GrainsSpec { pixels: 512, ..Default::default() }).generate(5).unwrap()
}

fn afm(physics: PhysicsConfig, seed: u64) -> SimulatedAfm {
    SimulatedAfm::new(grains(), SimConfig { physics, seed, ..Default::default() }).unwrap()
}

fn full_request() -> afm_drivers::ScanRequest {
    request(ScanRegion::square(0.0, 0.0, 8e-6), Raster::square(256), 2.0)
}

#[test]
fn sensor_noise_has_the_configured_rms() {
    let rms_m = 0.3e-9;
    let mut noisy = PhysicsConfig::default().without_noise();
    noisy.sensor_noise.enabled = true;
    noisy.sensor_noise.rms_m = rms_m;
    let clean = PhysicsConfig::default().without_noise();
    let (a, b) = (afm(noisy, 9), afm(clean, 9));
    let (fa, fb) = (a.scan_blocking(&full_request()).unwrap(), b.scan_blocking(&full_request()).unwrap());
    for dir in [ScanDirection::Trace, ScanDirection::Retrace] {
        let diff = height(&fa, dir) - height(&fb, dir);
        let n = diff.len() as f64;
        let mean = diff.iter().map(|&v| v as f64).sum::<f64>() / n;
        let measured = (diff.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
        println!("{dir:?}: sensor noise {measured:e} m RMS measured, {rms_m:e} configured");
        assert!((measured / rms_m - 1.0).abs() < 0.10, "{dir:?}: {measured:e} vs {rms_m:e}");
    }
    // Noise is added after the loop: on a flat surface the image itself has that RMS.
    let flat = afm_sim::Surface::from_array(ndarray::Array2::zeros((64, 64)), ScanRegion::square(0.0, 0.0, 8e-6)).unwrap();
    let mut p = PhysicsConfig::ideal();
    p.feedback.enabled = true;
    p.sensor_noise.enabled = true;
    p.sensor_noise.rms_m = rms_m;
    let img = height(&sim(flat, p).scan_blocking(&full_request()).unwrap(), ScanDirection::Trace);
    let measured = (img.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / img.len() as f64).sqrt();
    println!("flat surface: {measured:e} m RMS");
    assert!((measured / rms_m - 1.0).abs() < 0.10);
}

#[test]
fn line_offsets_are_streaks_shared_by_trace_and_retrace() {
    let rms_m = 0.5e-9;
    let mut streaky = PhysicsConfig::default().without_noise();
    streaky.line_offsets.enabled = true;
    streaky.line_offsets.rms_m = rms_m;
    let (a, b) = (afm(streaky, 2), afm(PhysicsConfig::default().without_noise(), 2));
    let (fa, fb) = (a.scan_blocking(&full_request()).unwrap(), b.scan_blocking(&full_request()).unwrap());
    let trace = height(&fa, ScanDirection::Trace) - height(&fb, ScanDirection::Trace);
    let retrace = height(&fa, ScanDirection::Retrace) - height(&fb, ScanDirection::Retrace);
    // Constant along each line, identical in both directions (to the f32 rounding of heights of tens
    // of nm, tilt included).
    for (t, r) in trace.rows().into_iter().zip(retrace.rows()) {
        let first = t[0];
        assert!(t.iter().chain(r.iter()).all(|&v| (v - first).abs() < 1e-14));
    }
    let offsets: Vec<f64> = trace.column(0).iter().map(|&v| v as f64).collect();
    let rms = (offsets.iter().map(|v| v * v).sum::<f64>() / offsets.len() as f64).sqrt();
    println!("line offsets: {rms:e} m RMS over one 256-line frame, {rms_m:e} configured");
    // One frame of a 1/f process scatters; the unit test of the generator pools 200 frames (±5 %).
    assert!(rms > 0.5 * rms_m && rms < 1.5 * rms_m);
}

#[test]
fn same_seed_same_frames_different_seed_different_frames() {
    let all_on = PhysicsConfig::default();
    let req = full_request();
    let f1 = afm(all_on.clone(), 42).scan_blocking(&req).unwrap();
    let f2 = afm(all_on.clone(), 42).scan_blocking(&req).unwrap();
    let f3 = afm(all_on.clone(), 43).scan_blocking(&req).unwrap();
    for dir in [ScanDirection::Trace, ScanDirection::Retrace] {
        let (a, b, c) = (height(&f1, dir), height(&f2, dir), height(&f3, dir));
        assert!(a.iter().zip(b.iter()).all(|(x, y)| x.to_bits() == y.to_bits()), "{dir:?}: same seed, different bits");
        let differ = a.iter().zip(c.iter()).filter(|(x, y)| x != y).count();
        assert!(differ > a.len() * 9 / 10, "{dir:?}: a different seed changed only {differ} pixels");
    }
}

#[test]
fn noise_depends_on_the_request_not_on_history() {
    // Drift and creep are the only history-dependent effects (they follow the instrument clock and the
    // offset moves): without them, a request gives the same frame before and after other scans.
    let mut physics = PhysicsConfig::default();
    physics.drift.enabled = false;
    physics.creep.enabled = false;
    let a = afm(physics, 7);
    let req = full_request();
    let first = a.scan_blocking(&req).unwrap();
    let other = request(ScanRegion::square(1e-6, 1e-6, 2e-6), Raster::square(64), 8.0);
    a.scan_blocking(&other).unwrap();
    let again = a.scan_blocking(&req).unwrap();
    assert_eq!(height(&first, ScanDirection::Trace), height(&again, ScanDirection::Trace));
    assert_eq!(height(&first, ScanDirection::Retrace), height(&again, ScanDirection::Retrace));
    // With drift on, the second scan of the same request differs (the sample moved meanwhile).
    let b = afm(PhysicsConfig::default(), 7);
    let f1 = b.scan_blocking(&req).unwrap();
    let f2 = b.scan_blocking(&req).unwrap();
    assert_ne!(height(&f1, ScanDirection::Trace), height(&f2, ScanDirection::Trace));
}
