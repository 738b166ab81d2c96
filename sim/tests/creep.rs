//! Piezo creep after an offset move: logarithmic in the time since the move ends, proportional to the
//! jump and in its direction, zero without a jump, bounded, superposed over successive jumps; and
//! it moves the recorded image (against the jump: the tip overshoots, the sample appears to lag).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use afm_drivers::{Raster, ScanRegion};
use afm_sim::{CreepConfig, PhysicsConfig, ScanTruth, SimConfig, SimulatedAfm, Surface};
use common::*;

const GAMMA: f64 = 0.02;
const TAU_S: f64 = 0.1;

fn flat() -> Surface {
    Surface::from_array(ndarray::Array2::zeros((16, 16)), ScanRegion::square(0.0, 0.0, 20e-6)).unwrap()
}

fn creep_only(config: CreepConfig) -> PhysicsConfig {
    let mut p = PhysicsConfig::ideal();
    p.creep = config;
    p
}

fn creep_config() -> CreepConfig {
    CreepConfig { enabled: true, fraction_per_decade: GAMMA, tau_s: TAU_S, saturation_s: 1000.0 }
}

/// A simulator with only creep, settling 0.5 s, so line `j` (at 1 Hz) is evaluated `1 + j` s after
/// the move ends.
fn afm(config: CreepConfig) -> SimulatedAfm {
    SimulatedAfm::new(flat(), SimConfig { physics: creep_only(config), settle_s: 0.5, move_speed_m_per_s: 1e-3, ..Default::default() })
        .unwrap()
}

/// Scans a small 100-line region centred at `center` at 1 Hz and returns its truth.
fn scan_at(afm: &SimulatedAfm, center: (f64, f64)) -> ScanTruth {
    let region = ScanRegion::square(center.0, center.1, 0.5e-6);
    afm.scan_blocking(&request(region, Raster::new(4, 100), 1.0)).unwrap();
    afm.scan_truths().last().cloned().unwrap()
}

#[test]
fn creep_grows_by_the_same_amount_every_decade_in_the_direction_of_the_jump() {
    let afm = afm(creep_config());
    let jump = (3e-6, 4e-6); // 5 µm from the surface centre, where the scanner starts
    let t = scan_at(&afm, jump);
    let size = jump.0.hypot(jump.1);
    // Line j is evaluated 0.5 s settling + (j + 0.5) s after the move: 1 s, 10 s, 100 s at j = 0, 9, 99.
    let along = |j: usize| {
        assert!(((t.line_clock_s(j) - t.move_end_clock_s) - (1.0 + j as f64)).abs() < 1e-9);
        let (cx, cy) = t.per_line_creep_m[j];
        // in the direction of the jump: no perpendicular component
        assert!((cx * jump.1 - cy * jump.0).abs() < 1e-12 * size * size, "line {j}: creep ({cx}, {cy}) not along the jump");
        (cx * jump.0 + cy * jump.1) / size
    };
    let (c1, c10, c100) = (along(0), along(9), along(99));
    println!("creep after 1 s {c1:.3e} m, 10 s {c10:.3e} m, 100 s {c100:.3e} m (jump {size:e} m)");
    for (j, c) in [(0, c1), (9, c10), (99, c100)] {
        let want = GAMMA * size * (1.0 + (1.0 + j as f64) / TAU_S).log10();
        assert!((c - want).abs() < 1e-12 * want, "line {j}: {c} vs γ·Δ·log10(1 + t/τ) = {want}");
    }
    // Logarithmic: each decade of time adds γ·Δ (to within the +1 of the regularised law).
    let per_decade = GAMMA * size;
    assert!(c1 > 0.0 && c10 > c1 && c100 > c10);
    assert!(((c10 - c1) / per_decade - 1.0).abs() < 0.05, "1 → 10 s added {} decades", (c10 - c1) / per_decade);
    assert!(((c100 - c10) / per_decade - 1.0).abs() < 0.01, "10 → 100 s added {} decades", (c100 - c10) / per_decade);
    // Without drift the sample's apparent displacement is minus the creep: the tip overshoots.
    for (off, cr) in t.per_line_offset_m.iter().zip(&t.per_line_creep_m) {
        assert_eq!((off.0, off.1), (-cr.0, -cr.1));
    }
}

#[test]
fn creep_is_proportional_to_the_jump_and_zero_without_one() {
    let unit = (1.2e-6, -0.7e-6);
    let truths: Vec<ScanTruth> = [1.0, 2.0, -1.0].iter().map(|k| scan_at(&afm(creep_config()), (k * unit.0, k * unit.1))).collect();
    for (k, t) in [2.0, -1.0].iter().zip(&truths[1..]) {
        for (a, b) in truths[0].per_line_creep_m.iter().zip(&t.per_line_creep_m) {
            assert!((b.0 - k * a.0).abs() < 1e-12 * a.0.abs() && (b.1 - k * a.1).abs() < 1e-12 * a.1.abs(), "×{k}: {b:?} vs {a:?}");
        }
    }
    assert!(truths[0].per_line_creep_m.iter().all(|c| c.0 > 0.0 && c.1 < 0.0));
    // A scan centred where the scanner already is (the surface centre) has no creep, nor does a
    // second scan of the same region.
    let still = afm(creep_config());
    for _ in 0..2 {
        let t = scan_at(&still, (0.0, 0.0));
        assert!(t.per_line_creep_m.iter().chain(&t.per_line_offset_m).all(|&(x, y)| x == 0.0 && y == 0.0));
    }
    // Disabled: no creep after a jump.
    let off = scan_at(&afm(CreepConfig { enabled: false, ..creep_config() }), unit);
    assert!(off.per_line_creep_m.iter().all(|&(x, y)| x == 0.0 && y == 0.0));
}

#[test]
fn creep_is_bounded_and_successive_jumps_superpose() {
    // Saturation: nothing more after saturation_s.
    let sat = CreepConfig { saturation_s: 20.0, ..creep_config() };
    let t = scan_at(&afm(sat.clone()), (5e-6, 0.0));
    let cap = GAMMA * 5e-6 * (1.0 + 20.0 / TAU_S).log10();
    for (j, c) in t.per_line_creep_m.iter().enumerate() {
        let elapsed = 1.0 + j as f64;
        assert!(c.0 <= cap * (1.0 + 1e-12), "line {j}: {} beyond the cap {cap}", c.0);
        if elapsed >= 20.0 {
            assert!((c.0 - cap).abs() < 1e-12 * cap, "line {j}: {} vs the cap {cap}", c.0);
        }
    }
    assert_eq!(sat.fraction_after(1e6), sat.fraction_after(20.0));
    assert_eq!(sat.fraction_after(-1.0), 0.0);
    // Out and straight back: the second jump's creep cancels the first one's as time goes on.
    let afm = afm(creep_config());
    let out = scan_at(&afm, (4e-6, 0.0));
    let back = scan_at(&afm, (0.0, 0.0));
    let last = |t: &ScanTruth| t.per_line_creep_m.last().unwrap().0;
    println!(
        "after the jump out {:.3e} m; after the jump back, first line {:.3e} m, last {:.3e} m",
        last(&out),
        back.per_line_creep_m[0].0,
        last(&back)
    );
    assert!(last(&out) > 0.0);
    assert!(back.per_line_creep_m[0].0 < last(&out), "the jump back creeps the other way");
    assert!(last(&back).abs() < 0.2 * last(&out), "still {:e} m of creep long after returning", last(&back));
    // each line is the sum of both jumps' laws
    let (t_out, t_back) = (out.move_end_clock_s, back.move_end_clock_s);
    let law = |dt: f64| GAMMA * (1.0 + dt / TAU_S).log10();
    for j in [0, 50, 99] {
        let t = back.line_clock_s(j);
        let want = 4e-6 * law(t - t_out) - 4e-6 * law(t - t_back);
        assert!((back.per_line_creep_m[j].0 - want).abs() < 1e-18, "line {j}");
    }
}

#[test]
fn creep_moves_the_image_against_the_jump() {
    // A step edge along y at x = 3 µm: after the jump from the centre (+3 µm along x) the tip stands
    // beyond its command, so the edge appears at smaller x, by exactly the reported offset.
    let spec = afm_sim::SurfaceSpec::Step(afm_sim::StepSpec {
        size_m: 20e-6,
        pixels: 2048,
        height_m: 10e-9,
        edge_x_m: 3e-6,
        edge_width_m: 200e-9,
        ..Default::default()
    });
    let surface = spec.generate(0).unwrap();
    let make = |enabled: bool| {
        let config = CreepConfig { enabled, fraction_per_decade: 0.05, ..creep_config() };
        SimulatedAfm::new(
            surface.clone(),
            SimConfig { physics: creep_only(config), settle_s: 0.5, move_speed_m_per_s: 1e-3, ..Default::default() },
        )
        .unwrap()
    };
    let (with, without) = (make(true), make(false));
    let near = request(ScanRegion::square(3e-6, 0.0, 2e-6), Raster::new(400, 20), 1.0);
    let image = |a: &SimulatedAfm| height(&a.scan_blocking(&near).unwrap(), afm_drivers::ScanDirection::Trace);
    let (img, reference) = (image(&with), image(&without));
    let truth = with.scan_truths()[0].clone();
    let pitch = near.region.pitch_m(&near.raster).0;
    let edge = |row: ndarray::ArrayView1<f32>| {
        let v: Vec<f64> = row.iter().map(|&x| x as f64).collect();
        let i = v.iter().position(|&h| h < 5e-9).unwrap().max(1);
        (i - 1) as f64 + (v[i - 1] - 5e-9) / (v[i - 1] - v[i])
    };
    for j in [0, 10, 19] {
        let moved_px = edge(img.row(j)) - edge(reference.row(j));
        let want_px = truth.per_line_offset_m[j].0 / pitch;
        println!("line {j}: edge moved {moved_px:.3} px, truth {want_px:.3} px");
        assert!(want_px < -20.0, "the jump was towards +x: the image moves towards −x");
        assert!((moved_px - want_px).abs() < 0.05, "line {j}: {moved_px} vs {want_px}");
    }
}
