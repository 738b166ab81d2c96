//! Microscope policy against the scripted mock: validation before motion, timeouts that abort, retries.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use afm_drivers::mock::{MockCall, MockResponse};
use afm_drivers::{Directions, ErrorKind, InstrumentError, Microscope, MicroscopePolicy, MockInstrument, Raster, ScanRegion, ScanRequest};
use std::sync::Arc;
use std::time::Duration;

fn request(size_m: f64) -> ScanRequest {
    ScanRequest {
        region: ScanRegion::square(0.0, 0.0, size_m),
        raster: Raster::square(16),
        line_rate_hz: 10.0,
        channels: vec!["Height".into()],
        directions: Directions::Trace,
    }
}

fn fast_policy(retries: u32) -> MicroscopePolicy {
    MicroscopePolicy {
        timeout_factor: 0.0,
        timeout_margin_s: 0.2,
        retries,
        retry_on: vec![ErrorKind::Timeout, ErrorKind::Disconnected],
        retry_delay_s: 0.0,
    }
}

#[tokio::test]
async fn out_of_range_request_never_reaches_the_backend() {
    let mock = Arc::new(MockInstrument::new(MockInstrument::default_limits()));
    let scope = Microscope::new(mock.clone(), fast_policy(3)).await.unwrap();
    let err = scope.scan(&request(150e-6)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutOfRange, "{err}");
    assert!(mock.scan_calls().is_empty(), "backend saw {:?}", mock.calls());

    let mut off_edge = request(10e-6);
    off_edge.region.center_x_m = 46e-6; // right edge at 51 µm, scanner ends at 50 µm
    assert_eq!(scope.scan(&off_edge).await.unwrap_err().kind(), ErrorKind::OutOfRange);
    let mut too_fast = request(10e-6);
    too_fast.line_rate_hz = 1000.0;
    assert_eq!(scope.scan(&too_fast).await.unwrap_err().kind(), ErrorKind::OutOfRange);
    assert!(mock.scan_calls().is_empty());
}

#[tokio::test]
async fn held_scan_past_its_timeout_is_aborted_and_reports_timeout() {
    let mock = Arc::new(MockInstrument::new(MockInstrument::default_limits()));
    mock.push(MockResponse::Hold);
    let scope = Microscope::new(mock.clone(), fast_policy(0)).await.unwrap();
    let started = std::time::Instant::now();
    let err = scope.scan(&request(10e-6)).await.unwrap_err();
    assert!(matches!(err, InstrumentError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(mock.calls().contains(&MockCall::Abort), "mock never saw abort: {:?}", mock.calls());
    assert!(!mock.is_scanning());
}

#[tokio::test]
async fn only_configured_kinds_are_retried() {
    let mock = Arc::new(MockInstrument::new(MockInstrument::default_limits()));
    mock.push(MockResponse::Error(InstrumentError::Disconnected { endpoint: "x".into(), reason: "cable".into() }));
    mock.push(MockResponse::Synthesize);
    let scope = Microscope::new(mock.clone(), fast_policy(2)).await.unwrap();
    let frame = scope.scan(&request(10e-6)).await.unwrap();
    assert_eq!(frame.raster, Raster::square(16));
    assert_eq!(mock.scan_calls().len(), 2);

    mock.push(MockResponse::Error(InstrumentError::TipCrash("z rail".into())));
    let err = scope.scan(&request(10e-6)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TipCrash);
    assert_eq!(mock.scan_calls().len(), 3, "a tip crash must not be retried");
}

#[tokio::test]
async fn abort_is_idempotent_and_stops_a_held_scan() {
    let mock = Arc::new(MockInstrument::new(MockInstrument::default_limits()));
    mock.push(MockResponse::Hold);
    let scope = Microscope::new(mock.clone(), MicroscopePolicy { retries: 0, ..Default::default() }).await.unwrap();
    scope.abort().await.unwrap();
    let s2 = scope.clone();
    let task = tokio::spawn(async move { s2.scan(&request(10e-6)).await });
    while !mock.is_scanning() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    scope.abort().await.unwrap();
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Aborted);
    scope.abort().await.unwrap();
}
