//! Tiles line up with the full frame: an HR scan of one tile of an 8 × 8 grid, at the full frame's
//! tip speed, equals the matching crop of the full-frame HR scan (noise and drift off).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use afm_drivers::{PixelRect, Raster, ScanDirection, ScanRegion};
use afm_sim::{GrainsSpec, ParticlesSpec, PhysicsConfig, SimulatedAfm, SurfaceSpec};
use common::*;
use ndarray::{s, Array2};

const FULL_RATE_HZ: f64 = 1.0;

/// Largest and RMS |tile − crop| over both directions, as fractions of the full frame's height range.
fn tile_error(afm: &SimulatedAfm, full: &afm_drivers::Frame, rect: PixelRect, rate: impl Fn(f64, f64) -> f64) -> (f64, f64) {
    let (region, raster) = (full.region, full.raster);
    let (tile_region, tile_raster) = region.sub_region(&raster, &rect);
    let tile_rate = rate(region.width_m, tile_region.width_m);
    let tile = afm.scan_blocking(&request(tile_region, tile_raster, tile_rate)).unwrap();
    let (mut worst, mut sq, mut n): (f64, f64, f64) = (0.0, 0.0, 0.0);
    for dir in [ScanDirection::Trace, ScanDirection::Retrace] {
        let f: Array2<f32> = height(full, dir);
        let (lo, hi) = f.iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        let crop = f.slice(s![rect.row..rect.row + rect.rows, rect.col..rect.col + rect.cols]);
        let t = height(&tile, dir);
        let err = t.iter().zip(crop.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        worst = worst.max((err / (hi - lo)) as f64);
        sq += t.iter().zip(crop.iter()).map(|(a, b)| (((a - b) / (hi - lo)) as f64).powi(2)).sum::<f64>();
        n += t.len() as f64;
    }
    (worst, (sq / n).sqrt())
}

#[test]
fn tile_scan_matches_the_full_frame_crop() {
    let surface = SurfaceSpec::Grains(GrainsSpec::default()).generate(11).unwrap();
    // Feedback, tip and bow on; the random effects and drift off.
    let afm = sim(surface, PhysicsConfig::default().without_noise());
    let region = ScanRegion::square(0.0, 0.0, 10e-6);
    let raster = Raster::square(512);
    let full = afm.scan_blocking(&request(region, raster, FULL_RATE_HZ)).unwrap();
    // Same tip speed: the tile's line rate scales with full width / tile width (511/63 for a
    // 64-pixel tile of a 512-pixel frame: the tile spans 63 pitches).
    let same_speed = |full_w: f64, tile_w: f64| FULL_RATE_HZ * full_w / tile_w;
    let times_eight = |_: f64, _: f64| FULL_RATE_HZ * 8.0;
    for (col, row) in [(0, 0), (3, 5), (7, 7), (7, 2), (4, 0)] {
        let rect = PixelRect { col: col * 64, row: row * 64, cols: 64, rows: 64 };
        let (exact, exact_rms) = tile_error(&afm, &full, rect, same_speed);
        let (eight, eight_rms) = tile_error(&afm, &full, rect, times_eight);
        println!(
            "tile ({col}, {row}): |error| max {:.5} % / rms {:.5} % of the height range at equal tip speed; \
             max {:.2} % / rms {:.2} % at exactly 8× the rate (tip 1.4 % slower)",
            exact * 100.0,
            exact_rms * 100.0,
            eight * 100.0,
            eight_rms * 100.0
        );
        assert!(exact < 0.01, "tile ({col}, {row}) differs by {:.3} % of the range", exact * 100.0);
    }
}

#[test]
fn ground_truth_of_a_tile_is_the_crop_of_the_full_ground_truth() {
    let surface = SurfaceSpec::Grains(GrainsSpec { pixels: 256, ..Default::default() }).generate(2).unwrap();
    let afm = sim(surface, PhysicsConfig::default());
    let region = ScanRegion::square(0.5e-6, -0.3e-6, 8e-6);
    let raster = Raster::square(256);
    let full = afm.ground_truth(&region, &raster);
    let rect = PixelRect { col: 96, row: 160, cols: 32, rows: 32 };
    let (tile_region, tile_raster) = region.sub_region(&raster, &rect);
    let tile = afm.ground_truth(&tile_region, &tile_raster);
    let crop = full.slice(s![160..192, 96..128]);
    let err = tile.iter().zip(crop.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(err < 1e-15, "ground truth tile differs by {err:e} m");
}

#[test]
fn rotated_scans_sample_the_rotated_grid_and_tiles_still_match() {
    let surface = SurfaceSpec::Grains(GrainsSpec { pixels: 512, ..Default::default() }).generate(3).unwrap();
    let region = ScanRegion { angle_deg: 30.0, ..ScanRegion::square(0.2e-6, -0.1e-6, 6e-6) };
    let raster = Raster::square(128);
    // Ideal physics: the scan is the ground truth at the rotated pixel positions.
    let ideal = sim(surface.clone(), PhysicsConfig::ideal());
    let frame = ideal.scan_blocking(&request(region, raster, 1.0)).unwrap();
    let truth = ideal.ground_truth(&region, &raster);
    let err = height(&frame, ScanDirection::Trace).iter().zip(truth.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(err < 1e-15, "rotated ideal scan differs from the ground truth by {err:e} m");
    // Full physics without noise: a tile at equal tip speed equals the crop.
    let afm = sim(surface, PhysicsConfig::default().without_noise());
    let full = afm.scan_blocking(&request(region, raster, 1.0)).unwrap();
    let rect = PixelRect { col: 48, row: 80, cols: 16, rows: 16 };
    let (max, _) = tile_error(&afm, &full, rect, |fw, tw| fw / tw);
    println!("rotated tile: max error {:.5} % of the range", max * 100.0);
    assert!(max < 0.01);
}

/// Worst |tile − crop| over all 64 tiles of an 8 × 8 grid, as a fraction of the height range.
fn worst_over_all_tiles(afm: &SimulatedAfm) -> f64 {
    let region = ScanRegion::square(0.0, 0.0, 10e-6);
    let raster = Raster::square(512);
    let full = afm.scan_blocking(&request(region, raster, FULL_RATE_HZ)).unwrap();
    (0..64)
        .map(|t| {
            let rect = PixelRect { col: (t % 8) * 64, row: (t / 8) * 64, cols: 64, rows: 64 };
            tile_error(afm, &full, rect, |fw, tw| FULL_RATE_HZ * fw / tw).0
        })
        .fold(0.0, f64::max)
}

#[test]
fn every_tile_of_tall_particles_matches_with_the_automatic_overscan() {
    // 400 particles up to ~250 nm tall: a downhill parachute lasts ~40 ms at 3 nm per update, so the
    // lead-in must be that long for a tile to start in the same state as the full frame.
    let surface = SurfaceSpec::Particles(ParticlesSpec { count: 400, ..Default::default() }).generate(11).unwrap();
    let auto = sim(surface.clone(), PhysicsConfig::default().without_noise());
    let worst = worst_over_all_tiles(&auto);
    println!("automatic overscan {:.4} s: worst tile error {:.5} % of the range", auto.overscan_s(), worst * 100.0);
    assert!(worst < 0.01);
    // A fixed 10 ms lead-in is too short here: tiles start mid-parachute less often than the full frame.
    let short = sim(surface, PhysicsConfig { overscan_s: Some(0.01), ..PhysicsConfig::default().without_noise() });
    let worst_short = worst_over_all_tiles(&short);
    println!("10 ms overscan: worst tile error {:.2} % of the range", worst_short * 100.0);
    assert!(worst_short > 0.01);
}
