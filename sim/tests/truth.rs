//! The simulator's known truth (`ScanTruth`): a sharp feature at ground-truth position p appears in
//! every scan at the commanded position p + offset, with the offset the simulator reports for the
//! lines it lies on (drift and creep on, to 0.1 px); the shift of a patch against the LR is the
//! difference of their offsets. Same seed → bit-identical frames and truths, a simulator restored
//! with `state_after` the journaled frames continues exactly (creep history included), and
//! `truths_of` the journaled frames gives back the truths of the run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use afm_drivers::{Frame, Raster, ScanDirection, ScanRegion, ScanRequest};
use afm_sim::{CreepConfig, GrainsSpec, PhysicsConfig, ScanTruth, SimConfig, SimulatedAfm, Surface, SurfaceSpec};
use common::*;
use ndarray::Array2;

/// Ground-truth position of the feature, metres, and its Gaussian width.
const FEATURE_M: (f64, f64) = (1.37e-6, -1.21e-6);
const SIGMA_M: f64 = 60e-9;

/// A flat 4 µm surface centred at (0, 0) with one Gaussian bump (5 nm high) at `FEATURE_M`.
fn bump() -> Surface {
    let n = 512;
    let region = ScanRegion::square(0.0, 0.0, 4e-6);
    let pitch = 4e-6 / (n - 1) as f64;
    let heights = Array2::from_shape_fn((n, n), |(r, c)| {
        let (x, y) = (-2e-6 + c as f64 * pitch, -2e-6 + r as f64 * pitch);
        let d2 = (x - FEATURE_M.0).powi(2) + (y - FEATURE_M.1).powi(2);
        (5e-9 * (-d2 / (2.0 * SIGMA_M * SIGMA_M)).exp()) as f32
    });
    Surface::from_array(heights, region).unwrap()
}

/// Where the feature appears in `img` of `frame`: (col, row) centroid over a ±4σ window around the
/// maximum, and per row of that window its weight (row sum) and x centroid (col).
struct Found {
    col: f64,
    row: f64,
    rows: Vec<(usize, f64, f64)>,
}

fn find(frame: &Frame) -> Found {
    let img = height(frame, ScanDirection::Trace);
    let ((r0, c0), _) = img.indexed_iter().max_by(|a, b| a.1.total_cmp(b.1)).unwrap();
    let half = (4.0 * SIGMA_M / frame.region.pitch_m(&frame.raster).0).ceil() as usize;
    let (lines, points) = img.dim();
    let mut rows = vec![];
    for r in r0.saturating_sub(half)..(r0 + half + 1).min(lines) {
        let cols = c0.saturating_sub(half)..(c0 + half + 1).min(points);
        let w: f64 = cols.clone().map(|c| img[[r, c]] as f64).sum();
        let x: f64 = cols.map(|c| c as f64 * img[[r, c]] as f64).sum::<f64>() / w;
        rows.push((r, w, x));
    }
    let total: f64 = rows.iter().map(|r| r.1).sum();
    let col = rows.iter().map(|r| r.1 * r.2).sum::<f64>() / total;
    let row = rows.iter().map(|r| r.1 * r.0 as f64).sum::<f64>() / total;
    Found { col, row, rows }
}

/// Where the truth says the feature appears: `FEATURE_M` + the offset of the lines it lies on (weighted
/// as the measurement weights them), as (col, row) of `frame`, and that offset in metres.
fn predicted(frame: &Frame, truth: &ScanTruth, found: &Found) -> ((f64, f64), (f64, f64)) {
    let total: f64 = found.rows.iter().map(|r| r.1).sum();
    let dx = found.rows.iter().map(|r| r.1 * truth.per_line_offset_m[r.0].0).sum::<f64>() / total;
    let dy = found.rows.iter().map(|r| r.1 * truth.per_line_offset_m[r.0].1).sum::<f64>() / total;
    (frame.region.pixel_of_m(&frame.raster, FEATURE_M.0 + dx, FEATURE_M.1 + dy), (dx, dy))
}

#[test]
fn a_feature_appears_at_its_position_plus_the_reported_offset() {
    let mut physics = PhysicsConfig::ideal();
    physics.drift = afm_sim::DriftConfig { enabled: true, x_m_per_s: 2e-10, y_m_per_s: -1.5e-10, z_m_per_s: 0.0 };
    physics.creep = CreepConfig { enabled: true, fraction_per_decade: 0.02, tau_s: 0.1, saturation_s: 1000.0 };
    let afm =
        SimulatedAfm::new(bump(), SimConfig { physics, settle_s: 1.0, move_speed_m_per_s: 10e-6, seed: 3, ..Default::default() }).unwrap();
    // An LR frame where the scanner stands (drift only), then a patch over the feature after a 1.8 µm
    // jump (drift and creep).
    let lr = request(ScanRegion::square(0.0, 0.0, 3.6e-6), Raster::square(128), 4.0);
    let patch = request(ScanRegion::square(1.35e-6, -1.2e-6, 1e-6), Raster::square(128), 8.0);
    let frames: Vec<Frame> = [&lr, &patch].iter().map(|r| afm.scan_blocking(r).unwrap()).collect();
    let truths = afm.scan_truths();
    assert_eq!(truths.len(), 2);
    assert_eq!((truths[1].region, truths[1].raster), (patch.region, patch.raster));
    assert!(truths[0].per_line_creep_m.iter().all(|&(x, y)| x == 0.0 && y == 0.0), "no jump before the LR frame");

    let mut seen_m = vec![];
    for k in [0, 1] {
        let (frame, truth) = (&frames[k], &truths[k]);
        let found = find(frame);
        let ((col, row), offset_m) = predicted(frame, truth, &found);
        let naive = frame.region.pixel_of_m(&frame.raster, FEATURE_M.0, FEATURE_M.1);
        println!(
            "scan {k}: feature at ({:.3}, {:.3}) px, truth says ({col:.3}, {row:.3}); without the offset ({:.3}, {:.3})",
            found.col, found.row, naive.0, naive.1
        );
        assert!((found.col - col).abs() < 0.1 && (found.row - row).abs() < 0.1, "scan {k}: measured vs truth");
        // line by line along x (each line is displaced rigidly)
        for &(r, w, x) in &found.rows {
            if w > 0.3 * found.rows.iter().map(|r| r.1).fold(0.0, f64::max) {
                let (dx, dy) = truth.per_line_offset_m[r];
                let want = frame.region.pixel_of_m(&frame.raster, FEATURE_M.0 + dx, FEATURE_M.1 + dy).0;
                assert!((x - want).abs() < 0.1, "scan {k} line {r}: x {x} vs {want}");
            }
        }
        seen_m.push((frame.region.pixel_position_m(&frame.raster, found.col, found.row), offset_m));
    }
    // The patch's content is shifted against the LR's by the difference of their offsets.
    let (((xl, yl), off_lr), ((xp, yp), off_p)) = (seen_m[0], seen_m[1]);
    let pitch = patch.region.pitch_m(&patch.raster).0;
    let (measured, truth) = (((xp - xl) / pitch, (yp - yl) / pitch), ((off_p.0 - off_lr.0) / pitch, (off_p.1 - off_lr.1) / pitch));
    println!("patch vs LR: measured shift ({:.3}, {:.3}) patch px, truth ({:.3}, {:.3})", measured.0, measured.1, truth.0, truth.1);
    assert!(truth.0.hypot(truth.1) > 3.0, "the test needs a shift worth measuring");
    // (0.1 px of the patch plus the LR's own 0.1 of its coarser pixel)
    let tol = 0.1 + 0.1 * lr.region.pitch_m(&lr.raster).0 / pitch;
    assert!((measured.0 - truth.0).abs() < tol && (measured.1 - truth.1).abs() < tol);
}

fn bits(frame: &Frame) -> Vec<u32> {
    [ScanDirection::Trace, ScanDirection::Retrace]
        .iter()
        .flat_map(|&d| height(frame, d).iter().map(|v| v.to_bits()).collect::<Vec<_>>())
        .collect()
}

fn requests() -> Vec<ScanRequest> {
    vec![
        request(ScanRegion::square(0.0, 0.0, 6e-6), Raster::square(64), 4.0),
        request(ScanRegion::square(1e-6, -1.5e-6, 1e-6), Raster::square(32), 16.0),
        request(ScanRegion::square(-2e-6, 2e-6, 1e-6), Raster::square(32), 16.0),
        request(ScanRegion::square(0.5e-6, 0.5e-6, 1e-6), Raster::square(32), 16.0),
    ]
}

#[test]
fn same_seed_is_bit_identical_and_a_restored_simulator_continues_exactly() {
    let surface = SurfaceSpec::Grains(GrainsSpec { pixels: 256, ..Default::default() }).generate(4).unwrap();
    let make = || SimulatedAfm::new(surface.clone(), SimConfig { seed: 11, ..Default::default() }).unwrap(); // every effect on
    let (a, b) = (make(), make());
    let mut states = vec![];
    let fa: Vec<Frame> = requests()
        .iter()
        .map(|r| {
            let f = a.scan_blocking(r).unwrap();
            states.push(a.scanner_state());
            f
        })
        .collect();
    let fb: Vec<Frame> = requests().iter().map(|r| b.scan_blocking(r).unwrap()).collect();
    for (x, y) in fa.iter().zip(&fb) {
        assert_eq!(bits(x), bits(y), "same seed, different bits");
    }
    assert_eq!(a.scan_truths(), b.scan_truths());
    assert!(states[1].creep.moves.len() == 1, "the patch after the LR frame jumped: {:?}", states[1].creep);

    // Resume after two frames, as a run resumed from its journal does.
    let c = make();
    let restored = c.state_after(&fa[..2]);
    assert_eq!(restored, states[1]);
    c.set_scanner_state(restored);
    let fc: Vec<Frame> = requests()[2..].iter().map(|r| c.scan_blocking(r).unwrap()).collect();
    for (x, y) in fa[2..].iter().zip(&fc) {
        assert_eq!(bits(x), bits(y), "the restored simulator diverged");
    }
    assert_eq!(c.scan_truths(), a.scan_truths()[2..].to_vec());
    assert_eq!(c.scanner_state(), a.scanner_state());
    // The truths of journaled frames can be rebuilt afterwards, e.g. from a session file.
    assert_eq!(make().truths_of(&fa), a.scan_truths());

    // Clock and position alone are not enough: forgetting the creep history changes the next patch.
    let d = make();
    let forgetful = afm_sim::ScannerState { creep: afm_sim::CreepState::at_offset(1e-6, -1.5e-6), ..states[1].clone() };
    d.set_scanner_state(forgetful);
    assert_ne!(bits(&d.scan_blocking(&requests()[2]).unwrap()), bits(&fa[2]));
}
