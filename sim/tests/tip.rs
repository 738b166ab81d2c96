//! Tip dilation: it never lowers a height, an isolated spike comes out with the width of the tip
//! profile at each height (± 1 pixel), and a double tip adds a ghost at the second apex's offset.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use afm_drivers::{Raster, ScanDirection, ScanRegion};
use afm_sim::{DoubleTipConfig, GrainsSpec, Interpolation, ParticlesSpec, PhysicsConfig, Surface, SurfaceSpec};
use common::*;
use ndarray::Array2;

/// Ideal tracking with only the tip on, bilinear sampling (non-negative weights).
fn tip_only(radius_m: f64) -> PhysicsConfig {
    let mut p = PhysicsConfig::ideal();
    p.interpolation = Interpolation::Bilinear;
    p.tip.enabled = true;
    p.tip.tip_radius_m = radius_m;
    p
}

#[test]
fn dilation_never_lowers_a_height() {
    let surfaces = [
        SurfaceSpec::Particles(ParticlesSpec { pixels: 512, size_m: 4e-6, ..Default::default() }).generate(4).unwrap(),
        SurfaceSpec::Grains(GrainsSpec { pixels: 512, size_m: 4e-6, ..Default::default() }).generate(4).unwrap(),
    ];
    for surface in surfaces {
        let mut physics = tip_only(25e-9);
        physics.tip.double_tip = Some(DoubleTipConfig { offset_x_m: 60e-9, offset_y_m: -20e-9, offset_z_m: 3e-9, radius_m: 10e-9 });
        let afm = sim(surface, physics);
        // On the grid: exactly never lower.
        let (h, d) = (afm.surface().heights_m(), afm.tip_surface().heights_m());
        let lowest = h.iter().zip(d.iter()).map(|(a, b)| b - a).fold(f32::INFINITY, f32::min);
        assert!(lowest >= 0.0, "dilation lowered a grid point by {:e} m", -lowest);
        let raised = h.iter().zip(d.iter()).filter(|(a, b)| b > a).count();
        assert!(raised > h.len() / 100, "the tip should raise the edges of features, raised {raised}");
        // In a scan (off-grid, 300 × 300 over a 3 µm region): never below the ground truth.
        let (region, raster) = (ScanRegion::square(0.1e-6, -0.2e-6, 3e-6), Raster::square(300));
        let frame = afm.scan_blocking(&request(region, raster, 1.0)).unwrap();
        let truth = afm.ground_truth(&region, &raster);
        for dir in [ScanDirection::Trace, ScanDirection::Retrace] {
            let img = height(&frame, dir);
            let worst = img.iter().zip(truth.iter()).map(|(a, b)| a - b).fold(f32::INFINITY, f32::min);
            assert!(worst >= -1e-18, "{dir:?}: scan below ground truth by {:e} m", -worst);
        }
    }
}

/// A flat 2 µm surface (1024² grid) with one grid point raised to `spike_m`; returns it and the
/// spike's position.
fn spike_surface(spike_m: f32) -> (Surface, (f64, f64)) {
    let region = ScanRegion::square(0.0, 0.0, 2e-6);
    let raster = Raster::square(1024);
    let mut h = Array2::<f32>::zeros((1024, 1024));
    h[[511, 511]] = spike_m;
    (Surface::from_array(h, region).unwrap(), region.pixel_position_m(&raster, 511.0, 511.0))
}

#[test]
fn a_spike_images_as_the_tip_profile() {
    let (spike_m, radius_m) = (30e-9, 20e-9);
    let (surface, (sx, sy)) = spike_surface(spike_m as f32);
    let afm = sim(surface, tip_only(radius_m));
    // 201 points over 0.5 µm (pitch 2.5 nm, not the surface's 1.96 nm); 101 lines so the middle
    // line passes through the spike.
    let region = ScanRegion { center_x_m: sx, center_y_m: sy, width_m: 0.5e-6, height_m: 0.25e-6, angle_deg: 0.0 };
    let raster = Raster::new(201, 101);
    let pitch = region.pitch_m(&raster).0;
    let frame = afm.scan_blocking(&request(region, raster, 1.0)).unwrap();
    let img = height(&frame, ScanDirection::Trace);
    let row = img.row(50);
    let peak = row.iter().cloned().fold(f32::MIN, f32::max) as f64;
    assert!((peak - spike_m).abs() < 1e-12, "apex {peak:e}");
    for frac in [0.1, 0.25, 0.5, 0.75, 0.9] {
        let level = frac * spike_m;
        let measured = row.iter().filter(|&&v| v as f64 > level).count() as f64;
        // Paraboloid: the tip profile is z = r²/2R below the apex, so the width at `level` is
        // 2·√(2R·(spike − level)).
        let expected = 2.0 * (2.0 * radius_m * (spike_m - level)).sqrt() / pitch;
        println!("width at {:.0} % of the spike: {measured} px, tip profile {expected:.2} px", frac * 100.0);
        assert!((measured - expected).abs() <= 1.0, "at {level:e} m: {measured} px vs {expected:.2} px");
    }
}

#[test]
fn a_double_tip_images_a_ghost_at_the_second_apex() {
    let (spike_m, radius_m) = (30e-9, 20e-9);
    let (surface, (sx, sy)) = spike_surface(spike_m as f32);
    let mut physics = tip_only(radius_m);
    let second = DoubleTipConfig { offset_x_m: 100e-9, offset_y_m: 0.0, offset_z_m: 6e-9, radius_m: 10e-9 };
    physics.tip.double_tip = Some(second.clone());
    let afm = sim(surface, physics);
    let region = ScanRegion { center_x_m: sx, center_y_m: sy, width_m: 0.5e-6, height_m: 0.25e-6, angle_deg: 0.0 };
    let raster = Raster::new(201, 101);
    let frame = afm.scan_blocking(&request(region, raster, 1.0)).unwrap();
    let img = height(&frame, ScanDirection::Trace);
    let row: Vec<f64> = img.row(50).iter().map(|&v| v as f64).collect();
    // When the main apex is at x, the second touches at x + 100 nm: the ghost appears 100 nm to the
    // left of the spike (40 pixels of 2.5 nm), 6 nm lower.
    let ghost_px = 100 - 40;
    let (ghost_at, ghost) = row[..80].iter().enumerate().fold((0, f64::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
    println!("ghost at pixel {ghost_at} (expected {ghost_px}), height {ghost:e} m (expected {:e})", spike_m - second.offset_z_m);
    assert!(ghost_at.abs_diff(ghost_px) <= 1);
    assert!((ghost - (spike_m - second.offset_z_m)).abs() < 0.02 * spike_m);
    assert!((row[100] - spike_m).abs() < 1e-12);
}
