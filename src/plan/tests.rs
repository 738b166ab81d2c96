use super::*;
use crate::config::RunSpec;
use afm_drivers::MockInstrument;
use std::path::Path;

fn spec(extra: &str) -> RunSpec {
    let text = format!(
        "[frame]\nscan_size_m = 10e-6\nhr_points = 512\nhr_lines = 512\nhr_line_rate_hz = 1.0\n[select]\nn_select = 20\n[instrument]\nsettle_s = 0.0\n{extra}"
    );
    RunSpec::from_toml(&text, Path::new("t.toml")).unwrap()
}

#[test]
fn patches_keep_the_hr_pitch_and_tip_speed() {
    let plan = AcquisitionPlan::build(&spec(""), &MockInstrument::default_limits()).unwrap();
    assert_eq!(plan.tiles.len(), 64);
    let t = &plan.tiles[9];
    assert_eq!(t.request.raster, Raster::square(64));
    let full = plan.full_hr_request();
    assert!((t.request.region.pitch_m(&t.request.raster).0 - full.region.pitch_m(&full.raster).0).abs() < 1e-18);
    assert!((t.request.tip_speed_m_per_s() - full.tip_speed_m_per_s()).abs() < 1e-15);
    assert_eq!(plan.lr.raster, Raster::square(128));
    assert_eq!(plan.lr.line_rate_hz, 4.0);
}

#[test]
fn accounting_matches_design_figures() {
    // DESIGN.md §1: LR ≈ 1/16 of a full frame, each 64-line patch ≈ 1/64 → ≈ 37 % for 20 picks.
    let plan = AcquisitionPlan::build(&spec(""), &MockInstrument::default_limits()).unwrap();
    let picks: Vec<usize> = (0..20).collect();
    let acc = plan.accounting(&picks);
    assert!((acc.lr_s - 32.0).abs() < 1e-9);
    assert!((acc.full_hr_s - 512.0).abs() < 1e-9);
    let per_patch = 64.0 / (1.0 * 511.0 / 63.0);
    assert!((acc.patch_s[0] - per_patch).abs() < 1e-9);
    let without_moves = (acc.plan_s - acc.moves_s) / acc.full_hr_s;
    assert!((without_moves - (1.0 / 16.0 + 20.0 * per_patch / 512.0)).abs() < 1e-9);
    assert!(without_moves > 0.36 && without_moves < 0.38, "{without_moves}");
    assert!(acc.moves_s > 0.0 && (acc.fraction - acc.plan_s / acc.full_hr_s).abs() < 1e-12);
}

#[test]
fn tiles_outside_the_limits_are_refused_before_anything_moves() {
    let mut limits = MockInstrument::default_limits();
    limits.x_range_m = (-5e-6, 2e-6); // right part of the frame is out of reach
    let plan = AcquisitionPlan::build(&spec(""), &limits);
    // the LR frame itself is now out of range
    assert!(matches!(plan, Err(PlanError::LrOutOfRange(_))));
    let mut limits = MockInstrument::default_limits();
    limits.line_rate_range_hz = (0.01, 5.0);
    let plan = AcquisitionPlan::build(&spec(""), &limits).unwrap();
    // patches are capped at the instrument's fastest rate, never refused for it
    assert!(plan.tiles.iter().all(|t| t.refusal.is_none() && t.request.line_rate_hz <= 5.0));
    let mut limits = MockInstrument::default_limits();
    limits.max_tip_speed_m_per_s = Some(2.0 * 10e-6 * 4.0); // exactly the LR tip speed
    limits.line_rate_range_hz = (0.01, 100.0);
    let plan = AcquisitionPlan::build(&spec(""), &limits).unwrap();
    assert!(plan.eligible().iter().all(|&e| e));
}

#[test]
fn too_few_eligible_tiles_is_a_plan_error() {
    let mut limits = MockInstrument::default_limits();
    limits.points_range = (100, 4096); // LR has 128 points, tiles only 64: every tile refused
    match AcquisitionPlan::build(&spec(""), &limits) {
        Err(PlanError::TooFewEligible { requested: 20, eligible: 0, tiles: 64 }) => {}
        other => panic!("expected TooFewEligible, got {other:?}"),
    }
}

#[test]
fn a_registration_channel_is_acquired_beside_the_reconstructed_one() {
    // an instrument that cannot record it refuses the plan before anything moves, naming it
    let err = AcquisitionPlan::build(&spec("[register]\nchannel = \"Amplitude\"\n"), &MockInstrument::default_limits()).unwrap_err();
    assert!(err.to_string().contains("Amplitude"), "{err}");
    let mut limits = MockInstrument::default_limits();
    limits.channels = vec!["Height".into(), "Amplitude".into()];
    let channels = |plan: &AcquisitionPlan| {
        let mut all = vec![plan.lr.channels.clone()];
        all.extend(plan.tiles.iter().map(|t| t.request.channels.clone()));
        all
    };
    let plain = AcquisitionPlan::build(&spec(""), &limits).unwrap();
    assert!(channels(&plain).iter().all(|c| c == &["Height"]), "{:?}", plain.lr.channels);
    let amplitude = AcquisitionPlan::build(&spec("[register]\nchannel = \"Amplitude\"\n"), &limits).unwrap();
    assert!(channels(&amplitude).iter().all(|c| c == &["Height", "Amplitude"]), "{:?}", amplitude.lr.channels);
    // naming the reconstructed channel asks for nothing more
    let same = AcquisitionPlan::build(&spec("[register]\nchannel = \"Height\"\n"), &limits).unwrap();
    assert!(channels(&same).iter().all(|c| c == &["Height"]));
}
