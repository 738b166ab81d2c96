//! The acquisition loop against the real simulator: every HR patch equals the simulator's own HR scan
//! of exactly that tile region, lies exactly on its tile of the HR grid (and so on the LR frame's
//! geometry), and the measured instrument time equals the plan's accounting.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use afm_drivers::Instrument;
use afm_spark::backend;
use afm_spark::config::RunSpec;
use afm_spark::engine::acquire;
use afm_spark::io::session::Session;
use afm_spark::plan::AcquisitionPlan;
use std::path::Path;
use std::sync::Arc;

const CONFIG: &str = r#"
[run]
seed = 11
[frame]
scan_size_m = 4e-6
hr_points = 256
hr_lines = 256
hr_line_rate_hz = 2.0
[select]
grid = 8
n_select = 6
[instrument]
settle_s = 0.5
move_speed_m_per_s = 20e-6
[simulator.surface]
kind = "grains"
size_m = 4e-6
pixels = 512
[simulator.physics.drift]
enabled = false
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patches_equal_the_simulators_scan_of_their_tile_and_sit_on_the_hr_grid() {
    let spec = RunSpec::from_toml(CONFIG, Path::new("closed_loop.toml")).unwrap();
    let surface = backend::run_surface(&spec).unwrap();
    let sim: Arc<dyn Instrument> = Arc::new(backend::simulator(&spec, surface.clone()).unwrap());
    let scope = backend::microscope(sim, &spec).await.unwrap();
    let plan = AcquisitionPlan::build(&spec, scope.limits()).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("afm-closed-loop");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let session = Session::create(&dir.join("session.h5"), &spec.to_toml().unwrap(), &spec.hash()).unwrap();
    let (tx, _rx) = crossbeam::channel::unbounded();
    let out = acquire(&scope, &[], &spec, &plan, &session, &tx).await.unwrap();
    assert_eq!(out.patches.len(), 6);

    let reference = backend::simulator(&spec, surface).unwrap();
    let lr = &out.lr;
    for p in &out.patches {
        let tile = &plan.tiles[p.tile_index];
        // the request went to exactly the tile's region, the frame reports it back
        assert_eq!(p.frame.region, tile.request.region);
        assert_eq!(p.rect, plan.tiling.rect(p.tile_index));
        // first and last pixel of the patch land on the tile's corner pixels of the HR grid
        for (c, r) in [(0.0, 0.0), ((p.rect.cols - 1) as f64, (p.rect.rows - 1) as f64)] {
            let (x, y) = p.frame.region.pixel_position_m(&p.frame.raster, c, r);
            let (hc, hr) = plan.hr_region.pixel_of_m(&plan.hr_raster, x, y);
            assert!((hc - (p.rect.col as f64 + c)).abs() < 1e-9 && (hr - (p.rect.row as f64 + r)).abs() < 1e-9);
            // and on the LR frame's grid at HR-pixel × (LR pitch / HR pitch)
            let (lc, _) = lr.region.pixel_of_m(&lr.raster, x, y);
            let want = (p.rect.col as f64 + c) * (lr.raster.points - 1) as f64 / (plan.hr_raster.points - 1) as f64;
            assert!((lc - want).abs() < 1e-9, "LR column {lc} vs {want}");
        }
        // the patch is the simulator's HR scan of exactly that region
        let fresh = reference.scan_blocking(&tile.request).unwrap();
        let a = &p.frame.channel_any("Height").unwrap().data;
        let b = &fresh.channel_any("Height").unwrap().data;
        assert_eq!(a.dim(), (p.rect.rows, p.rect.cols));
        let max_diff = a.iter().zip(b.iter()).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert_eq!(max_diff, 0.0, "tile {}: patch differs from the simulator's scan of its region", p.tile_index);
    }
    let acc = &out.accounting;
    assert!(
        (out.measured_instrument_s - acc.plan_s).abs() < 1e-6 * acc.plan_s,
        "measured {} vs planned {}",
        out.measured_instrument_s,
        acc.plan_s
    );
    assert!(acc.fraction > 0.1 && acc.fraction < 0.5, "fraction {}", acc.fraction);
}
