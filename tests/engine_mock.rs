//! The acquisition engine against the scripted mock: picks on a four-texture frame, journaling, faults
//! with retries, refused tiles, and resume.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use afm_drivers::mock::MockResponse;
use afm_drivers::{ErrorKind, InstrumentError, Microscope, MicroscopePolicy, MockInstrument};
use afm_spark::config::RunSpec;
use afm_spark::engine::{acquire, EngineError, ProgressEvent};
use afm_spark::io::session::Session;
use afm_spark::plan::AcquisitionPlan;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const CONFIG: &str = r#"
[run]
name = "mock"
[frame]
scan_size_m = 10e-6
hr_points = 256
hr_lines = 256
hr_line_rate_hz = 1.0
[select]
grid = 8
n_select = 8
[instrument]
settle_s = 0.5
move_speed_m_per_s = 10e-6
[instrument.policy]
timeout_factor = 0.0
timeout_margin_s = 0.3
retries = 2
retry_on = ["timeout", "disconnected"]
retry_delay_s = 0.0
"#;

/// Four textures, one per quadrant of the 10 µm frame centred at the origin.
fn quadrants(x: f64, y: f64) -> f64 {
    let (u, v) = (x * 1e6, y * 1e6); // µm
    let tau = 2.0 * std::f64::consts::PI;
    let h_nm = match (x >= 0.0, y >= 0.0) {
        (false, false) => 2.0,                                                         // flat plateau
        (true, false) => 5.0 * (tau * u / 1.25).sin(),                                 // stripes
        (false, true) => 12.0 + 3.0 * (tau * u / 1.25).sin() * (tau * v / 1.25).sin(), // raised egg-crate
        (true, true) => 8.0 * ((u * 3.1).sin() * (v * 2.3).cos()).powi(3) - 4.0,       // rough bumps
    };
    h_nm * 1e-9
}

fn spec() -> RunSpec {
    RunSpec::from_toml(CONFIG, Path::new("mock.toml")).unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("afm-engine-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn setup(mock: &Arc<MockInstrument>, spec: &RunSpec) -> (Microscope, AcquisitionPlan) {
    let scope = Microscope::new(mock.clone(), spec.config.instrument.policy.clone()).await.unwrap();
    let plan = AcquisitionPlan::build(spec, scope.limits()).unwrap();
    (scope, plan)
}

fn quadrant(plan: &AcquisitionPlan, tile: usize) -> (bool, bool) {
    let (r, c) = plan.tiling.position(tile);
    (r < plan.tiling.grid / 2, c < plan.tiling.grid / 2)
}

#[tokio::test]
async fn four_textures_give_four_quadrants_first_and_patches_line_up() {
    let spec = spec();
    let mut all_picks = Vec::new();
    for run in 0..2 {
        let mock = Arc::new(MockInstrument::new(MockInstrument::default_limits()).with_field(quadrants));
        let (scope, plan) = setup(&mock, &spec).await;
        let dir = temp_dir(&format!("quad{run}"));
        let session = Session::create(&dir.join("session.h5"), "", &spec.hash()).unwrap();
        let (tx, rx) = crossbeam::channel::unbounded();
        let out = acquire(&scope, &[], &spec, &plan, &session, &tx).await.unwrap();
        let picks = out.selection.picks.clone();
        let first4: std::collections::HashSet<_> = picks[..4].iter().map(|&t| quadrant(&plan, t)).collect();
        assert_eq!(first4.len(), 4, "first four picks {:?} must cover four quadrants", &picks[..4]);
        // every patch is the HR grid's data at exactly its tile (the mock samples the field at the
        // physical pixel positions, so this checks the physical origin of every request)
        assert_eq!(out.patches.len(), 8);
        for p in &out.patches {
            let data = &p.frame.channels[0].data;
            for (r, c) in [(0usize, 0usize), (31, 31), (5, 17)] {
                let (x, y) = plan.hr_region.pixel_position_m(&plan.hr_raster, (p.rect.col + c) as f64, (p.rect.row + r) as f64);
                assert!((data[[r, c]] as f64 - quadrants(x, y)).abs() < 1e-14, "tile {} pixel {r},{c}", p.tile_index);
            }
        }
        // one LR request, then the patches in pick order, nothing else
        let calls = mock.scan_calls();
        assert_eq!(calls.len(), 9);
        assert_eq!(calls[0], plan.lr);
        for (k, &t) in picks.iter().enumerate() {
            assert_eq!(calls[k + 1], plan.tiles[t].request);
        }
        let events: Vec<_> = rx.try_iter().collect();
        assert_eq!(events.iter().filter(|e| matches!(e, ProgressEvent::ScanFinished { .. })).count(), 9);
        assert!((out.accounting.fraction - out.accounting.plan_s / out.accounting.full_hr_s).abs() < 1e-12);
        all_picks.push(picks);
    }
    assert_eq!(all_picks[0], all_picks[1], "picks must be identical across runs");
}

#[tokio::test]
async fn failure_at_patch_j_is_retried_then_named_and_earlier_patches_stay_journaled() {
    let spec = spec();
    let mock = Arc::new(MockInstrument::new(MockInstrument::default_limits()).with_field(quadrants));
    let (scope, plan) = setup(&mock, &spec).await;
    let dir = temp_dir("fault");
    let path = dir.join("session.h5");
    let session = Session::create(&path, "", &spec.hash()).unwrap();
    // LR + patches 1..=3 succeed; patch 4 (j = 4) times out once (held), then fails disconnected twice.
    for _ in 0..4 {
        mock.push(MockResponse::Synthesize);
    }
    mock.push(MockResponse::Hold);
    for _ in 0..2 {
        mock.push(MockResponse::Error(InstrumentError::Disconnected { endpoint: "mock".into(), reason: "cable pulled".into() }));
    }
    let (tx, _rx) = crossbeam::channel::unbounded();
    let err = acquire(&scope, &[], &spec, &plan, &session, &tx).await.unwrap_err();
    let msg = err.to_string();
    match &err {
        EngineError::Scan { stage, source } => {
            assert!(stage.starts_with("patch 4/8"), "{stage}");
            assert_eq!(source.kind(), ErrorKind::Disconnected);
        }
        other => panic!("unexpected {other}"),
    }
    assert!(msg.contains("patch 4/8") && msg.contains("cable pulled"), "{msg}");
    // 1 LR + 3 patches + 3 attempts at patch 4 (1 try + 2 retries)
    assert_eq!(mock.scan_calls().len(), 7);
    assert!(mock.calls().contains(&afm_drivers::mock::MockCall::Abort), "the timed-out attempt must be aborted");
    let journaled = Session::open(&path).unwrap().patches().unwrap();
    assert_eq!(journaled.iter().map(|p| p.pick_order).collect::<Vec<_>>(), vec![0, 1, 2]);

    // Resume with a healthy instrument: only the five missing patches are scanned, earlier ones untouched.
    let before = journaled.clone();
    let mock2 = Arc::new(MockInstrument::new(MockInstrument::default_limits()).with_field(quadrants));
    let (scope2, plan2) = setup(&mock2, &spec).await;
    let out = acquire(&scope2, &[], &spec, &plan2, &Session::open(&path).unwrap(), &tx).await.unwrap();
    assert_eq!(mock2.scan_calls().len(), 5, "resume must scan only what is missing");
    assert_eq!(out.scans_now, 5);
    assert_eq!(&out.patches[..3], &before[..]);
    assert_eq!(out.patches.iter().map(|p| p.pick_order).collect::<Vec<_>>(), (0..8).collect::<Vec<_>>());
}

#[tokio::test]
async fn refused_tiles_are_never_picked_and_out_of_range_requests_never_reach_the_instrument() {
    let spec = spec();
    let mock = Arc::new(MockInstrument::new(MockInstrument::default_limits()).with_field(quadrants));
    let (scope, mut plan) = setup(&mock, &spec).await;
    // Mark the whole rough quadrant as outside the safe area.
    let refused: Vec<usize> = (0..64).filter(|&t| quadrant(&plan, t) == (false, false)).collect();
    for &t in &refused {
        plan.tiles[t].refusal = Some("outside the operator's safe area".into());
    }
    // And corrupt one eligible tile's request so that it lies outside the scanner (a bug the
    // Microscope must still catch).
    let dir = temp_dir("refuse");
    let session = Session::create(&dir.join("session.h5"), "", &spec.hash()).unwrap();
    let (tx, _rx) = crossbeam::channel::unbounded();
    let out = acquire(&scope, &[], &spec, &plan, &session, &tx).await.unwrap();
    assert!(out.selection.picks.iter().all(|p| !refused.contains(p)), "picked a refused tile: {:?}", out.selection.picks);
    for call in mock.scan_calls().iter().skip(1) {
        assert!(refused.iter().all(|&t| plan.tiles[t].request != *call));
    }

    let mock2 = Arc::new(MockInstrument::new(MockInstrument::default_limits()).with_field(quadrants));
    let (scope2, mut plan2) = setup(&mock2, &spec).await;
    let first_pick = out.selection.picks[0];
    plan2.tiles[first_pick].request.region.center_x_m = 60e-6; // beyond the 50 µm scanner edge
    let dir2 = temp_dir("refuse2");
    let session2 = Session::create(&dir2.join("session.h5"), "", &spec.hash()).unwrap();
    let err = acquire(&scope2, &[], &spec, &plan2, &session2, &tx).await.unwrap_err();
    assert!(matches!(&err, EngineError::Scan { source, .. } if source.kind() == ErrorKind::OutOfRange), "{err}");
    assert_eq!(mock2.scan_calls().len(), 1, "only the LR frame may reach the instrument");
}

#[tokio::test]
async fn policy_defaults_retry_timeouts() {
    assert!(MicroscopePolicy::default().retry_on.contains(&ErrorKind::Timeout));
}
