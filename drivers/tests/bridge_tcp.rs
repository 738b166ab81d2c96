//! The bridge over a real loopback TCP socket with `MockInstrument` behind the server: round trip,
//! authentication, bad lines, busy, abort, heartbeats and progress, server loss, timeouts, binding.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "bridge_support.rs"]
mod support;

use afm_drivers::mock::{MockCall, MockResponse};
use afm_drivers::{ErrorKind, Instrument, InstrumentError, Microscope, MicroscopePolicy, MockInstrument};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

fn mock() -> Arc<MockInstrument> {
    Arc::new(MockInstrument::new(MockInstrument::default_limits()))
}

#[tokio::test]
async fn scan_round_trips_the_frame_the_mock_produced() {
    let mock = mock();
    let server = start_server(mock.clone(), server_config(200)).await;
    let client = client(server.addr);
    let limits = within(5.0, "limits", client.limits()).await.unwrap();
    assert_eq!(limits, MockInstrument::default_limits());

    let req = request(24);
    let frame = within(5.0, "scan", client.scan(&req)).await.unwrap();
    let expected = mock.synthesize(&req);
    assert_eq!(frame.channels, expected.channels, "pixel data must survive the bridge exactly");
    assert_eq!((frame.region, frame.raster, frame.line_rate_hz), (expected.region, expected.raster, expected.line_rate_hz));
    assert_eq!(frame.channels.len(), 2, "trace and retrace");
    assert_eq!(frame.channels[0].data.dim(), (12, 24));
    assert_eq!(mock.scan_calls(), vec![req.clone()]);

    // The same connection serves a second frame.
    let again = within(5.0, "second scan", client.scan(&request(8))).await.unwrap();
    assert_eq!(again.raster.points, 8);
    assert!(client.name().starts_with("mfp3d@tcp://127.0.0.1:"));
    let status = within(5.0, "status", client.status()).await.unwrap();
    assert_eq!(status.backend, "mock");
}

#[tokio::test]
async fn wrong_or_missing_token_is_rejected_and_nothing_is_scanned() {
    let mock = mock();
    let server = start_server(mock.clone(), server_config(200)).await;

    let wrong = afm_drivers::mfp3d::Mfp3dClient::new(
        client_config(server.addr),
        afm_drivers::mfp3d::BridgeToken::new("not-the-token").unwrap(),
        Arc::new(JsonPayload),
    );
    let err = within(5.0, "scan with a wrong token", wrong.scan(&request(8))).await.unwrap_err();
    assert!(matches!(err, InstrumentError::Instrument { ref code, .. } if code == "unauthorized"), "{err}");

    let mut raw = RawClient::connect(server.addr).await;
    raw.send(r#"{"v":1,"id":1,"op":"hello"}"#).await;
    let reply = raw.next().await;
    assert_eq!((reply["op"].as_str(), reply["code"].as_str(), reply["id"].as_u64()), (Some("error"), Some("unauthorized"), Some(1)));
    raw.send(&serde_json::json!({"v":1,"id":2,"op":"scan","region":{"center_x_m":0.0,"center_y_m":0.0,"width_m":1e-6,"height_m":1e-6,"angle_deg":0.0},"raster":{"points":8,"lines":8},"line_rate_hz":1.0,"channels":["Height"],"directions":"trace"}).to_string()).await;
    let reply = raw.next().await;
    assert_eq!((reply["code"].as_str(), reply["id"].as_u64()), (Some("unauthorized"), Some(2)));
    for op in ["status", "abort"] {
        raw.send(&format!(r#"{{"v":1,"id":3,"op":"{op}"}}"#)).await;
        assert_eq!(raw.next().await["code"], "unauthorized", "{op} before hello");
    }
    let reply = raw.hello(4, "wrong").await;
    assert_eq!(reply["code"], "unauthorized");
    assert!(mock.scan_calls().is_empty(), "the mock saw {:?}", mock.calls());
    assert!(!mock.calls().contains(&MockCall::Abort));

    // The right token on the same connection is accepted.
    let reply = raw.hello(5, TOKEN).await;
    assert_eq!(reply["op"], "ok");
    assert_eq!(reply["result"]["payload_format"], "json-test");
    assert!(!reply.to_string().contains(TOKEN), "the token is never echoed");
}

#[tokio::test]
async fn garbled_or_oversize_request_lines_get_protocol_errors_and_the_next_request_works() {
    let mock = mock();
    let mut config = server_config(200);
    config.max_request_line_bytes = 1024;
    let server = start_server(mock.clone(), config).await;
    let mut raw = RawClient::connect(server.addr).await;

    raw.send("this is not json").await;
    let r = raw.next().await;
    assert_eq!((r["op"].as_str(), r["code"].as_str()), (Some("error"), Some("protocol")));
    assert!(r["id"].is_null());

    raw.send(&format!(r#"{{"v":1,"id":9,"op":"status","pad":"{}"}}"#, "x".repeat(5000))).await;
    let r = raw.next().await;
    assert_eq!(r["code"], "protocol");
    assert!(r["message"].as_str().unwrap().contains("1024"), "{r}");

    raw.send(r#"{"v":7,"id":10,"op":"status"}"#).await;
    let r = raw.next().await;
    assert_eq!((r["code"].as_str(), r["id"].as_u64()), (Some("protocol"), Some(10)));

    raw.send(r#"{"v":1,"id":11,"op":"teleport"}"#).await;
    assert_eq!(raw.next().await["code"], "protocol");

    assert_eq!(raw.hello(12, TOKEN).await["op"], "ok");
    raw.send(r#"{"v":1,"id":13,"op":"status"}"#).await;
    let r = raw.next().await;
    assert_eq!((r["op"].as_str(), r["id"].as_u64()), (Some("ok"), Some(13)));
    assert_eq!(r["result"]["state"]["state"], "idle");
}

#[tokio::test]
async fn second_scan_while_one_runs_is_busy() {
    let mock = mock();
    mock.push(MockResponse::Hold);
    let server = start_server(mock.clone(), server_config(100)).await;
    let first = Arc::new(client(server.addr));
    let running = tokio::spawn({
        let c = first.clone();
        async move { c.scan(&request(16)).await }
    });
    wait_until("the mock to be scanning", || mock.is_scanning()).await;

    let other = client(server.addr);
    let err = within(5.0, "second client's scan", other.scan(&request(8))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
    let err = within(5.0, "same client's second scan", first.scan(&request(8))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
    assert_eq!(mock.scan_calls().len(), 1, "busy requests never reach the instrument");

    mock.release();
    let frame = within(5.0, "held scan", running).await.unwrap().unwrap();
    assert_eq!(frame.raster.points, 16);
    // The slot is free again.
    assert!(within(5.0, "scan after release", other.scan(&request(8))).await.is_ok());
}

#[tokio::test]
async fn abort_during_a_frame_stops_it_within_one_heartbeat() {
    let heartbeat = Duration::from_millis(300);
    let mock = mock();
    mock.push(MockResponse::Hold);
    let server = start_server(mock.clone(), server_config(heartbeat.as_millis() as u64)).await;
    let client = Arc::new(client(server.addr));
    let scan = tokio::spawn({
        let c = client.clone();
        async move { c.scan(&request(16)).await }
    });
    wait_until("the mock to be scanning", || mock.is_scanning()).await;
    tokio::time::sleep(heartbeat + heartbeat / 2).await; // let at least one heartbeat pass

    let t0 = Instant::now();
    within(5.0, "abort", client.abort()).await.unwrap();
    let result = within(5.0, "aborted scan", scan).await.unwrap();
    let took = t0.elapsed();
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Aborted);
    assert!(took < heartbeat, "abort took {took:?}, heartbeat is {heartbeat:?}");
    assert!(!mock.is_scanning());
    // Idempotent: aborting an idle bridge is fine.
    within(5.0, "second abort", client.abort()).await.unwrap();
    assert_eq!(mock.calls().iter().filter(|c| **c == MockCall::Abort).count(), 1, "idle abort does not reach the instrument");
}

#[tokio::test]
async fn heartbeats_flow_while_a_frame_scans() {
    let mock = mock();
    mock.push(MockResponse::Delay(Duration::from_millis(450), Box::new(MockResponse::Synthesize)));
    let server = start_server(mock.clone(), server_config(100)).await;
    let mut raw = RawClient::connect(server.addr).await;
    assert_eq!(raw.hello(1, TOKEN).await["op"], "ok");
    let req = serde_json::to_value(request(8)).unwrap();
    let mut line = serde_json::json!({"v":1,"id":2,"op":"scan"});
    for (k, v) in req.as_object().unwrap() {
        line[k] = v.clone();
    }
    raw.send(&line.to_string()).await;
    let mut beats = Vec::new();
    let last = loop {
        let r = raw.next().await;
        assert_eq!(r["id"], 2);
        match r["op"].as_str() {
            Some("heartbeat") => beats.push(r["elapsed_s"].as_f64().unwrap()),
            Some("progress") => {}
            _ => break r,
        }
    };
    assert_eq!(last["op"], "ok", "{last}");
    assert_eq!(last["result"]["format"], "json-test");
    assert!(beats.len() >= 3, "only {} heartbeats in 450 ms at 100 ms", beats.len());
    assert!(beats.windows(2).all(|w| w[1] > w[0]), "{beats:?}");
}

#[tokio::test]
async fn server_killed_mid_frame_gives_disconnected() {
    let mock = mock();
    mock.push(MockResponse::Hold);
    let server = start_server(mock.clone(), server_config(200)).await;
    let client = Arc::new(client(server.addr));
    let scan = tokio::spawn({
        let c = client.clone();
        async move { c.scan(&request(16)).await }
    });
    wait_until("the mock to be scanning", || mock.is_scanning()).await;
    server.task.abort();
    let err = within(5.0, "scan after the server died", scan).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Disconnected, "{err}");
    wait_until("the held scan to be dropped", || !mock.is_scanning()).await;
    // Nothing listens any more: the next request is Disconnected too, not a hang.
    let err = within(5.0, "request to a dead bridge", client.status()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Disconnected, "{err}");
}

#[tokio::test]
async fn client_gone_mid_frame_aborts_the_instrument() {
    let mock = mock();
    mock.push(MockResponse::Hold);
    let server = start_server(mock.clone(), server_config(200)).await;
    let mut raw = RawClient::connect(server.addr).await;
    assert_eq!(raw.hello(1, TOKEN).await["op"], "ok");
    let mut line = serde_json::to_value(request(8)).unwrap();
    line["v"] = 1.into();
    line["id"] = 2.into();
    line["op"] = "scan".into();
    raw.send(&line.to_string()).await;
    wait_until("the mock to be scanning", || mock.is_scanning()).await;
    drop(raw);
    wait_until("the bridge to abort the orphaned scan", || mock.calls().contains(&MockCall::Abort)).await;
    wait_until("the scan to end", || !mock.is_scanning()).await;
    drop(server);
}

#[tokio::test]
async fn microscope_timeout_over_the_bridge_maps_to_timeout_and_aborts() {
    let mock = mock();
    mock.push(MockResponse::Hold);
    let server = start_server(mock.clone(), server_config(100)).await;
    let backend = Arc::new(client(server.addr));
    let policy = MicroscopePolicy { timeout_factor: 0.0, timeout_margin_s: 0.4, retries: 0, retry_on: vec![], retry_delay_s: 0.0 };
    let scope = within(5.0, "microscope", Microscope::new(backend, policy)).await.unwrap();
    let err = within(5.0, "timed-out scan", scope.scan(&request(8))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    wait_until("the abort to reach the instrument", || mock.calls().contains(&MockCall::Abort)).await;
    wait_until("the scan to end", || !mock.is_scanning()).await;
}

/// Every log line of this test binary, captured by a global subscriber (a scoped one would race with
/// the callsite-interest caching of tests running in parallel).
fn captured_log() -> Arc<std::sync::Mutex<Vec<u8>>> {
    use std::io::Write;
    static LOG: std::sync::OnceLock<Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    #[derive(Clone)]
    struct Capture(Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    LOG.get_or_init(|| {
        let buf = Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = Capture(buf.clone());
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
        tracing::subscriber::set_global_default(subscriber).expect("first and only global subscriber");
        buf
    })
    .clone()
}

#[tokio::test]
async fn binds_loopback_by_default_and_says_so_in_its_log_line() {
    let default = afm_drivers::mfp3d::ServerConfig::new(token());
    assert_eq!(default.bind.to_string(), "127.0.0.1:7341");
    assert!(!default.allow_non_loopback);

    let log = captured_log();
    let server = afm_drivers::mfp3d::BridgeServer::new(mock(), Arc::new(JsonPayload), server_config(200));
    let bound = server.bind().await.unwrap();
    assert!(bound.is_loopback());
    let text = String::from_utf8_lossy(&log.lock().unwrap()).to_string();
    let line = text
        .lines()
        .find(|l| l.contains(&format!("listening on {}", bound.local_addr())))
        .unwrap_or_else(|| panic!("no startup line for {} in:\n{text}", bound.local_addr()));
    assert!(line.contains("(loopback only)") && line.contains("INFO"), "{line}");

    // Tokens, right or wrong, never reach the log.
    let addr = bound.local_addr();
    let serving = tokio::spawn(async move { server.serve_tcp(bound).await });
    let mut raw = RawClient::connect(addr).await;
    assert_eq!(raw.hello(1, "wrong-secret-xyz").await["code"], "unauthorized");
    assert_eq!(raw.hello(2, TOKEN).await["op"], "ok");
    let text = String::from_utf8_lossy(&log.lock().unwrap()).to_string();
    assert!(text.contains("hello refused"), "{text}");
    assert!(!text.contains("wrong-secret-xyz") && !text.contains(TOKEN), "{text}");
    serving.abort();

    let mut open = server_config(200);
    open.bind = "0.0.0.0:0".parse().unwrap();
    let refused = afm_drivers::mfp3d::BridgeServer::new(mock(), Arc::new(JsonPayload), open).bind().await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::OutOfRange, "{refused}");
    assert!(refused.to_string().contains("allow_non_loopback"), "{refused}");
}

/// A mock that reports line progress from elapsed time and counts how often its status is polled.
struct Progressing {
    inner: Arc<MockInstrument>,
    started: std::sync::Mutex<Option<Instant>>,
    polls: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl Instrument for Progressing {
    fn name(&self) -> String {
        "progressing-mock".into()
    }
    async fn limits(&self) -> Result<afm_drivers::InstrumentLimits, InstrumentError> {
        self.inner.limits().await
    }
    async fn scan(&self, r: &afm_drivers::ScanRequest) -> Result<afm_drivers::Frame, InstrumentError> {
        *self.started.lock().unwrap() = Some(Instant::now());
        let out = self.inner.scan(r).await;
        *self.started.lock().unwrap() = None;
        out
    }
    async fn abort(&self) -> Result<(), InstrumentError> {
        self.inner.abort().await
    }
    async fn status(&self) -> Result<afm_drivers::InstrumentStatus, InstrumentError> {
        self.polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let state = match *self.started.lock().unwrap() {
            Some(t) => afm_drivers::InstrumentState::Scanning { line: (t.elapsed().as_millis() / 100) as usize, lines: 64 },
            None => afm_drivers::InstrumentState::Idle,
        };
        Ok(afm_drivers::InstrumentStatus { backend: self.name(), state })
    }
}

#[tokio::test]
async fn progress_events_report_lines_and_status_polling_is_rate_limited() {
    let inner = mock();
    inner.push(MockResponse::Delay(Duration::from_millis(600), Box::new(MockResponse::Synthesize)));
    let instrument = Arc::new(Progressing { inner, started: Default::default(), polls: Default::default() });
    let mut config = server_config(50);
    config.status_poll_interval = Duration::from_millis(200);
    let server = afm_drivers::mfp3d::BridgeServer::new(instrument.clone(), Arc::new(JsonPayload), config);
    let bound = server.bind().await.unwrap();
    let addr = bound.local_addr();
    let _serving = tokio::spawn(async move { server.serve_tcp(bound).await });

    let mut raw = RawClient::connect(addr).await;
    assert_eq!(raw.hello(1, TOKEN).await["op"], "ok");
    let mut line = serde_json::to_value(request(8)).unwrap();
    line["v"] = 1.into();
    line["id"] = 2.into();
    line["op"] = "scan".into();
    raw.send(&line.to_string()).await;
    // A burst of status requests during the scan is answered from the rate-limited cache.
    for id in 10..20 {
        raw.send(&format!(r#"{{"v":1,"id":{id},"op":"status"}}"#)).await;
    }
    let (mut beats, mut progress, mut statuses) = (0, Vec::new(), 0);
    let t0 = Instant::now();
    loop {
        let r = raw.next().await;
        match (r["op"].as_str(), r["id"].as_u64()) {
            (Some("heartbeat"), Some(2)) => beats += 1,
            (Some("progress"), Some(2)) => {
                assert_eq!(r["lines"], 64);
                progress.push(r["line"].as_u64().unwrap());
            }
            (Some("ok"), Some(2)) => break,
            (Some("ok"), Some(_)) => statuses += 1,
            _ => panic!("unexpected {r}"),
        }
    }
    let elapsed = t0.elapsed();
    assert_eq!(statuses, 10);
    assert!(beats >= 8, "{beats} heartbeats at 50 ms in {elapsed:?}");
    assert!(progress.len() >= 2, "progress {progress:?}");
    assert!(progress.windows(2).all(|w| w[1] > w[0]), "progress only moves forward: {progress:?}");
    let polls = instrument.polls.load(std::sync::atomic::Ordering::SeqCst);
    let allowed = (elapsed.as_millis() / 200) as usize + 2;
    assert!(polls <= allowed, "{polls} status polls in {elapsed:?} (at most one per 200 ms → {allowed})");
}
