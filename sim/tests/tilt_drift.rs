//! Sample tilt adds exactly the configured plane (straight and rotated scans); the drift, creep and
//! tilt defaults, and those of the shipped dry run, are realistic (a few nm/min, a few % per decade,
//! a sub-percent tilt) and on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use afm_drivers::{Raster, ScanDirection, ScanRegion};
use afm_sim::{DriftConfig, GrainsSpec, PhysicsConfig, SurfaceSpec};
use common::*;

#[test]
fn tilt_adds_the_exact_plane() {
    let surface = SurfaceSpec::Grains(GrainsSpec { pixels: 256, ..Default::default() }).generate(3).unwrap();
    let (sx, sy) = (7e-3, -4e-3);
    let mut tilted = PhysicsConfig::ideal();
    tilted.tilt.enabled = true;
    tilted.tilt.slope_x_m_per_m = sx;
    tilted.tilt.slope_y_m_per_m = sy;
    for angle_deg in [0.0, 30.0] {
        let region = ScanRegion { angle_deg, ..ScanRegion::square(0.5e-6, -0.8e-6, 3e-6) };
        let raster = Raster::new(48, 40);
        let req = request(region, raster, 2.0);
        let a = height(&sim(surface.clone(), tilted.clone()).scan_blocking(&req).unwrap(), ScanDirection::Trace);
        let b = height(&sim(surface.clone(), PhysicsConfig::ideal()).scan_blocking(&req).unwrap(), ScanDirection::Trace);
        let mut worst = 0.0f64;
        for ((row, col), &v) in a.indexed_iter() {
            let (x, y) = region.pixel_position_m(&raster, col as f64, row as f64);
            let plane = sx * x + sy * y;
            let err = (v as f64 - b[[row, col]] as f64 - plane).abs();
            // f32 images: a few ulps of heights of ~100 nm
            assert!(err < 1e-14, "{angle_deg}° ({row}, {col}): tilt {} vs plane {plane}", v as f64 - b[[row, col]] as f64);
            worst = worst.max(err);
        }
        let span = (sx.abs() + sy.abs()) * 3e-6;
        println!("{angle_deg}°: plane of {span:e} m span reproduced to {worst:e} m");
    }
}

/// Lateral drift speed in nm/min.
fn lateral_nm_per_min(d: &DriftConfig) -> f64 {
    d.x_m_per_s.hypot(d.y_m_per_s) * 60e9
}

#[test]
fn defaults_are_realistic_and_on() {
    let p = PhysicsConfig::default();
    let lateral = lateral_nm_per_min(&p.drift);
    println!("default drift {lateral:.2} nm/min laterally, {:.2} nm/min in z", p.drift.z_m_per_s.abs() * 60e9);
    assert!(p.drift.enabled && (3.0..=5.0).contains(&lateral), "lateral drift {lateral} nm/min");
    assert!(p.drift.z_m_per_s != 0.0);
    assert!(p.creep.enabled && (0.005..=0.03).contains(&p.creep.fraction_per_decade) && (0.05..=1.0).contains(&p.creep.tau_s));
    // "a few % of the jump": 1–5 % ten seconds after the move, bounded at most 10 %.
    let after_10_s = p.creep.fraction_after(10.0);
    assert!((0.01..=0.05).contains(&after_10_s), "{after_10_s}");
    assert!(p.creep.fraction_after(1e9) <= 0.1);
    let slope = p.tilt.slope_x_m_per_m.hypot(p.tilt.slope_y_m_per_m);
    assert!(p.tilt.enabled && (0.003..=0.01).contains(&slope), "tilt {slope}");
    // Noise-free and ideal variants switch the history-dependent effects off.
    let quiet = PhysicsConfig::default().without_noise();
    assert!(!quiet.drift.enabled && !quiet.creep.enabled && quiet.tilt.enabled);
    let ideal = PhysicsConfig::ideal();
    assert!(!ideal.creep.enabled && !ideal.tilt.enabled);
}

/// The `[simulator.physics]` table of a shipped config.
fn shipped_physics(name: &str) -> PhysicsConfig {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    let physics = table["simulator"]["physics"].clone();
    physics.try_into().unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn the_simulated_configs_drift_creep_and_tilt() {
    for name in ["dry-run.toml", "paper.toml"] {
        let p = shipped_physics(name);
        p.validate().unwrap();
        let lateral = lateral_nm_per_min(&p.drift);
        println!(
            "{name}: drift {lateral:.2} nm/min, creep {} %/decade, tilt ({}, {})",
            100.0 * p.creep.fraction_per_decade,
            p.tilt.slope_x_m_per_m,
            p.tilt.slope_y_m_per_m
        );
        assert!(p.drift.enabled && (1.0..=10.0).contains(&lateral), "{name}: lateral drift {lateral} nm/min");
        assert!(p.creep.enabled && p.creep.fraction_after(10.0) >= 0.01, "{name}: creep");
        assert!(p.tilt.enabled && p.tilt.slope_x_m_per_m.hypot(p.tilt.slope_y_m_per_m) >= 0.003, "{name}: tilt");
    }
    // The quick eval measures selection and the model on patches that lie where they were asked for
    // (registration has its own test); it keeps the tilt, which levelling must remove.
    let quick = shipped_physics("eval-quick.toml");
    assert!(!quick.drift.enabled && !quick.creep.enabled);
    assert!(quick.tilt.enabled && quick.tilt.slope_x_m_per_m.hypot(quick.tilt.slope_y_m_per_m) >= 0.003, "eval-quick.toml: tilt");
    // The real-surface replay is scored against the image itself, which carries its own tilt.
    let replay = shipped_physics("replay.toml");
    assert!(!replay.drift.enabled && !replay.creep.enabled && !replay.tilt.enabled);
}
