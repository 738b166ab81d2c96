//! Instrument time: every scan reports lines / line rate + move + settle, the clock advances by it,
//! nothing sleeps unless `realtime`; real-time scans take their time and abort promptly; the
//! simulator works as a `Box<dyn Instrument>` behind the `Microscope` policy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use afm_drivers::{Instrument, InstrumentError, InstrumentState, Microscope, MicroscopePolicy, Raster, ScanRegion};
use afm_sim::{GrainsSpec, PhysicsConfig, SimConfig, SimulatedAfm, SurfaceSpec};
use common::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn afm(realtime: bool) -> SimulatedAfm {
    let surface = SurfaceSpec::Grains(GrainsSpec { pixels: 256, ..Default::default() }).generate(1).unwrap();
    let config = SimConfig { physics: PhysicsConfig::default(), settle_s: 2.0, move_speed_m_per_s: 5e-6, realtime, ..Default::default() };
    SimulatedAfm::new(surface, config).unwrap()
}

#[tokio::test]
async fn instrument_time_is_accounted_and_nothing_sleeps() {
    let afm = afm(false);
    // 64 lines at 0.05 Hz: 1280 s of instrument time.
    let region = ScanRegion::square(2e-6, 1e-6, 4e-6);
    let raster = Raster::square(64);
    let req = request(region, raster, 0.05);
    let wall = Instant::now();
    let frame = afm.scan(&req).await.unwrap();
    let wall_s = wall.elapsed().as_secs_f64();
    // From the scanner centre (0, 0) to the first pixel (0, −1) µm: 1 µm at 5 µm/s = 0.2 s.
    let expected = 64.0 / 0.05 + 1e-6 / 5e-6 + 2.0;
    println!("instrument time {} s (expected {expected}), wall {wall_s:.3} s", frame.instrument_time_s);
    assert!((frame.instrument_time_s - expected).abs() < 1e-9);
    assert!(wall_s < 2.0, "a 1280 s scan took {wall_s} s of wall time: something slept");
    let state = afm.scanner_state();
    assert!((state.clock_s - expected).abs() < 1e-9);
    // The scan ends at the left end of its last line, (0, 3) µm; the next one starts at (−2, −3) µm.
    assert!((state.x_m - 0.0).abs() < 1e-12 && (state.y_m - 3e-6).abs() < 1e-12);
    let next = request(ScanRegion::square(-1e-6, -2e-6, 2e-6), Raster::square(32), 4.0);
    let predicted = afm.timing_for(&next);
    let frame = afm.scan(&next).await.unwrap();
    let moved = (2e-6f64).hypot(6e-6) / 5e-6;
    assert!((predicted.move_s - moved).abs() < 1e-9 && (predicted.lines_s - 8.0).abs() < 1e-12);
    assert!((frame.instrument_time_s - (8.0 + moved + 2.0)).abs() < 1e-9);
    assert!((afm.scanner_state().clock_s - (expected + 8.0 + moved + 2.0)).abs() < 1e-9);
}

#[tokio::test]
async fn realtime_scans_take_their_time_and_abort_promptly() {
    let surface = SurfaceSpec::Grains(GrainsSpec { pixels: 128, ..Default::default() }).generate(1).unwrap();
    let config = SimConfig { settle_s: 0.05, realtime: true, ..Default::default() };
    let afm = Arc::new(SimulatedAfm::new(surface, config).unwrap());
    // Start where the scanner stands (no move): 8 lines at 80 Hz + 0.05 s settling = 0.15 s.
    let region = ScanRegion::square(0.0, 0.0, 2e-6);
    afm.set_scanner_state(afm_sim::ScannerState { clock_s: 0.0, x_m: -1e-6, y_m: -1e-6, ..afm.scanner_state() });
    let t = Instant::now();
    let frame = afm.scan(&request(region, Raster::new(32, 8), 80.0)).await.unwrap();
    let wall = t.elapsed().as_secs_f64();
    println!("real-time scan: {wall:.3} s wall for {} s instrument time", frame.instrument_time_s);
    assert!((frame.instrument_time_s - 0.15).abs() < 1e-9);
    assert!((0.149..1.0).contains(&wall), "wall {wall}");

    // A 20 s scan, aborted after 0.2 s.
    let long = request(region, Raster::new(32, 20), 1.0);
    let scanner = afm.clone();
    let handle = tokio::spawn(async move { scanner.scan(&long).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = afm.status().await.unwrap();
    assert!(matches!(status.state, InstrumentState::Scanning { lines: 20, .. }), "{status:?}");
    // A second scan while one is in flight is refused.
    let busy = afm.scan(&request(region, Raster::new(8, 8), 10.0)).await;
    assert!(matches!(busy, Err(InstrumentError::Busy(_))), "{busy:?}");
    let t = Instant::now();
    afm.abort().await.unwrap();
    afm.abort().await.unwrap(); // idempotent
    let result = handle.await.unwrap();
    assert!(matches!(result, Err(InstrumentError::Aborted(_))), "{result:?}");
    assert!(t.elapsed() < Duration::from_millis(500), "abort took {:?}", t.elapsed());
    assert_eq!(afm.status().await.unwrap().state, InstrumentState::Idle);
    // Aborting while idle changes nothing: the next scan runs to completion.
    afm.abort().await.unwrap();
    assert!(afm.scan(&request(region, Raster::new(8, 4), 100.0)).await.is_ok());
}

#[tokio::test]
async fn works_behind_the_microscope_policy() {
    let backend: Arc<dyn Instrument> = Arc::new(afm(false));
    let scope = Microscope::new(backend, MicroscopePolicy::default()).await.unwrap();
    let limits = scope.limits().clone();
    // The scanner range defaults to the surface's 10 µm extent.
    assert_eq!(limits.x_range_m, (-5e-6, 5e-6));
    assert_eq!(limits.channels, vec!["Height".to_string(), "Amplitude".to_string()]);
    let outside = request(ScanRegion::square(4e-6, 0.0, 4e-6), Raster::square(32), 1.0);
    assert!(matches!(scope.scan(&outside).await, Err(InstrumentError::OutOfRange { .. })));
    let mut ok = request(ScanRegion::square(0.0, 0.0, 4e-6), Raster::new(48, 16), 4.0);
    ok.channels = vec!["Height".into(), "Amplitude".into()];
    let frame = scope.scan(&ok).await.unwrap();
    assert_eq!(frame.channels.len(), 4);
    for c in &frame.channels {
        assert_eq!(c.data.dim(), (16, 48));
        assert_eq!(c.unit, "m");
    }
    // The amplitude stays within [0, A_free] and averages near the setpoint.
    let amp = frame.channel("Amplitude", afm_drivers::ScanDirection::Trace).unwrap();
    let mean = amp.data.iter().map(|&v| v as f64).sum::<f64>() / amp.data.len() as f64;
    assert!(amp.data.iter().all(|&v| (0.0..=20e-9).contains(&(v as f64))));
    assert!((mean - 16e-9).abs() < 1e-9, "mean amplitude {mean:e}");
}

#[tokio::test]
async fn time_scale_shortens_the_wait_not_the_instrument_time() {
    let surface = SurfaceSpec::Grains(GrainsSpec { pixels: 128, ..Default::default() }).generate(1).unwrap();
    let config = SimConfig { settle_s: 0.0, realtime: true, time_scale: 0.1, ..Default::default() };
    let afm = SimulatedAfm::new(surface.clone(), config).unwrap();
    let region = ScanRegion::square(0.0, 0.0, 2e-6);
    afm.set_scanner_state(afm_sim::ScannerState { clock_s: 0.0, x_m: -1e-6, y_m: -1e-6, ..afm.scanner_state() });
    // 16 lines at 8 Hz: 2 s of instrument time, 0.2 s of wall time at time_scale 0.1.
    let t = Instant::now();
    let frame = afm.scan(&request(region, Raster::new(16, 16), 8.0)).await.unwrap();
    let wall = t.elapsed().as_secs_f64();
    println!("time_scale 0.1: {wall:.3} s wall for {} s instrument time", frame.instrument_time_s);
    assert!((frame.instrument_time_s - 2.0).abs() < 1e-9);
    assert!((0.199..1.5).contains(&wall), "wall {wall}");
    assert!((afm.scanner_state().clock_s - 2.0).abs() < 1e-9, "the instrument clock advances by the full time");
    let bad = SimConfig { time_scale: 0.0, ..Default::default() };
    let err = match SimulatedAfm::new(surface, bad) {
        Ok(_) => panic!("time_scale 0 accepted"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("time_scale"), "{err}");
}
