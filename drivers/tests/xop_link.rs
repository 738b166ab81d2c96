//! The ZeroMQ-XOP client against the in-process fake over real loopback sockets: frames with the
//! returned geometry and only the channels asked for; the token; the 1024-byte cap on both sides; the
//! XOP's error codes; timeouts, late replies and socket rebuilds; PUB layers and PUB gaps; abort; the
//! ping-loss watchdog; and the wire cost of one 512² channel. Every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use afm_drivers::mfp3d::link::LinkError;
use afm_drivers::mfp3d::xop::{Param, Reply, XopError};
use afm_drivers::mfp3d::{BridgeToken, FakeConfig, FakeXop, Mfp3dXop, XopClientConfig};
use afm_drivers::mock::{MockCall, MockResponse};
use afm_drivers::{Directions, ErrorKind, Instrument, InstrumentError, MockInstrument, Raster, ScanRegion, ScanRequest};
use bytes::Bytes;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeromq::{Socket, SocketEvent, SocketRecv, SocketSend, ZmqMessage};

const TOKEN: &str = "xop-test-token";

struct Served {
    fake: FakeXop,
    address: String,
    mock: Arc<MockInstrument>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(with_pub: bool, watchdog: Duration) -> Served {
    let mock = Arc::new(MockInstrument::new(MockInstrument::default_limits()));
    let mut config = FakeConfig::new(BridgeToken::new(TOKEN).unwrap());
    config.bind = "tcp://127.0.0.1:0".into();
    config.pub_bind = with_pub.then(|| "tcp://127.0.0.1:0".to_string());
    config.watchdog = watchdog;
    let fake = FakeXop::new(mock.clone(), config);
    let bound = fake.bind().await.unwrap();
    let address = bound.address.clone();
    let server = fake.clone();
    let task = tokio::spawn(async move {
        let _ = server.serve(bound).await;
    });
    Served { fake, address, mock, task }
}

fn client(address: &str, token: &str, tweak: impl FnOnce(&mut XopClientConfig)) -> Mfp3dXop {
    let mut c = XopClientConfig::new(address);
    c.call_timeout = Duration::from_millis(1500);
    c.ping_interval = Duration::from_millis(200);
    c.status_interval = Duration::from_millis(100);
    c.pub_wait = Duration::from_millis(1500);
    tweak(&mut c);
    Mfp3dXop::new(c, BridgeToken::new(token).unwrap())
}

fn request(points: usize, directions: Directions) -> ScanRequest {
    ScanRequest {
        region: ScanRegion {
            center_x_m: 1.234_567_890_123_456_7e-6,
            center_y_m: -2.5e-6,
            width_m: 3.3e-6,
            height_m: 1.7e-6,
            angle_deg: 0.0,
        },
        raster: Raster::new(points, points / 2),
        line_rate_hz: 5.0,
        channels: vec!["Height".into()],
        directions,
    }
}

/// A scan the mock holds in flight, once the fake has started it (≤ 10 s).
async fn held_scan(s: &Served, c: &Arc<Mfp3dXop>) -> tokio::task::JoinHandle<Result<afm_drivers::Frame, InstrumentError>> {
    s.mock.push(MockResponse::Hold);
    let scanning = {
        let c = c.clone();
        tokio::spawn(async move { c.scan(&request(16, Directions::Trace)).await })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.fake.stats().frames_started.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    scanning
}

fn bits(frame: &afm_drivers::Frame) -> Vec<Vec<u32>> {
    frame.channels.iter().map(|c| c.data.iter().map(|v| v.to_bits()).collect()).collect()
}

#[tokio::test]
async fn frames_come_back_bit_exact_with_the_returned_geometry_and_only_the_channels_asked_for() {
    let s = serve(false, Duration::from_secs(5)).await;
    let c = client(&s.address, TOKEN, |_| {});
    let req = request(40, Directions::Trace);
    let frame = tokio::time::timeout(Duration::from_secs(20), c.scan(&req)).await.unwrap().unwrap();
    let want = s.mock.synthesize(&req);
    assert_eq!(frame.region, req.region, "region read back from the note and scaling");
    assert_eq!(frame.raster, req.raster);
    assert_eq!(frame.channels.len(), 1);
    assert_eq!(frame.channels[0].label(), "HeightTrace");
    assert_eq!(bits(&frame), bits(&want));
    assert_eq!(c.overhead().fetched_layers, 1);

    let both = request(16, Directions::Both);
    let frame = tokio::time::timeout(Duration::from_secs(20), c.scan(&both)).await.unwrap().unwrap();
    let labels: Vec<_> = frame.channels.iter().map(|c| c.label()).collect();
    assert_eq!(labels, ["HeightTrace", "HeightRetrace"]);
    assert_eq!(c.overhead().fetched_layers, 3);
    assert_eq!(s.mock.scan_calls().len(), 2);
}

#[tokio::test]
async fn a_wrong_token_is_rejected_and_nothing_is_scanned() {
    let s = serve(false, Duration::from_secs(5)).await;
    let c = client(&s.address, "not-the-token", |_| {});
    let err = tokio::time::timeout(Duration::from_secs(10), c.scan(&request(16, Directions::Trace))).await.unwrap().unwrap_err();
    assert!(
        err.to_string().contains("unauthorized") || matches!(err, InstrumentError::Instrument { ref code, .. } if code == "unauthorized"),
        "{err}"
    );
    assert!(s.mock.scan_calls().is_empty());
    assert_eq!(s.fake.stats().refused_hellos.load(Ordering::SeqCst), 1);
    assert_eq!(s.fake.stats().frames_started.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_oversize_request_is_refused_before_sending_and_the_fake_drops_a_peer_that_sends_one() {
    let s = serve(false, Duration::from_secs(5)).await;
    let c = client(&s.address, TOKEN, |_| {});
    // Client side: refused, nothing sent.
    let huge = "x".repeat(1100);
    let err = c.call_raw("Spark_Hello", &[Param::Str(huge)], Duration::from_secs(2)).await.unwrap_err();
    assert!(matches!(err, LinkError::Xop(XopError::RequestTooLarge { max: 1024, .. })), "{err}");
    assert_eq!(s.fake.stats().calls.load(Ordering::SeqCst), 0);

    // Server side: a raw DEALER that sends 1500 bytes is disconnected, unanswered.
    let mut raw = zeromq::DealerSocket::new();
    let mut events = raw.monitor();
    raw.connect(&s.address).await.unwrap();
    let mut m = ZmqMessage::from(Bytes::new());
    m.push_back(Bytes::from(vec![b'{'; 1500]));
    raw.send(m).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut disconnected = false;
    while Instant::now() < deadline && !disconnected {
        if let Ok(Ok(SocketEvent::Disconnected(_))) = tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
            disconnected = true;
        }
        disconnected |= s.fake.stats().oversize_disconnects.load(Ordering::SeqCst) == 1;
    }
    assert!(disconnected, "the fake did not drop the peer");
    assert_eq!(s.fake.stats().oversize_disconnects.load(Ordering::SeqCst), 1);
    assert_eq!(s.fake.stats().calls.load(Ordering::SeqCst), 0, "an oversize message must never be executed");
    // The server lives on for everyone else.
    assert!(c.limits().await.is_ok());
}

#[tokio::test]
async fn xop_error_codes_for_unknown_functions_and_bad_parameters() {
    let s = serve(false, Duration::from_secs(5)).await;
    let c = client(&s.address, TOKEN, |_| {});
    let code = |r: Result<_, LinkError>| match r {
        Err(LinkError::Xop(XopError::Call { code, .. })) => code,
        other => panic!("expected an XOP error, got {other:?}"),
    };
    let t = Duration::from_secs(2);
    assert_eq!(code(c.call_raw("Spark_NoSuchThing", &[], t).await), 101);
    assert_eq!(code(c.call_raw("Spark_Status", &["s".into()], t).await), 102);
    assert_eq!(code(c.call_raw("Spark_Abort", &["s".into(), "t".into()], t).await), 103);
    assert_eq!(code(c.call_raw("Spark_Ping", &["s".into(), "not a number".into()], t).await), 106);

    // Unreadable requests are answered at once, without a messageID.
    let mut raw = zeromq::DealerSocket::new();
    raw.connect(&s.address).await.unwrap();
    for (payload, want) in [(&b"not json"[..], 3), (br#"{"version":2,"CallFunction":{"name":"F"}}"#, 4), (br#"{"version":1}"#, 5)] {
        let mut m = ZmqMessage::from(Bytes::new());
        m.push_back(Bytes::from(payload.to_vec()));
        raw.send(m).await.unwrap();
        let reply = tokio::time::timeout(Duration::from_secs(5), raw.recv()).await.unwrap().unwrap().into_vec();
        let reply = Reply::parse(reply.last().unwrap()).unwrap();
        assert_eq!(reply.error_code.value, want);
        assert!(reply.message_id.is_none());
    }
}

#[tokio::test]
async fn slow_or_lost_replies_time_out_the_socket_is_rebuilt_and_the_next_call_succeeds() {
    let s = serve(false, Duration::from_secs(5)).await;
    let c = client(&s.address, TOKEN, |c| {
        c.call_timeout = Duration::from_millis(400);
        c.rebuild_after_timeouts = 2;
    });
    let session = c.session_key().await.unwrap();
    let params = [Param::Str(session), Param::Str(String::new())];
    let status = || c.call_raw("Spark_Status", &params, Duration::from_millis(400));
    // Two lost replies: two timeouts, then the socket is rebuilt and the next call succeeds.
    s.fake.faults().lose_next_replies(2);
    assert!(matches!(status().await, Err(LinkError::Timeout { .. })));
    assert!(matches!(status().await, Err(LinkError::Timeout { .. })));
    assert_eq!(c.link_stats().rebuilds, 1);
    assert!(status().await.is_ok(), "the call after the rebuild must succeed");

    // A slow reply: timeout; its late reply is later dropped by messageID; the next call succeeds.
    s.fake.faults().slow_next_replies(1, Duration::from_millis(900));
    assert!(matches!(status().await, Err(LinkError::Timeout { .. })));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(status().await.is_ok());
    assert_eq!(c.link_stats().late_replies, 1);
    assert_eq!(c.link_stats().rebuilds, 1, "one timeout is not enough to rebuild");
}

#[tokio::test]
async fn layers_come_over_pub_and_a_pub_gap_falls_back_to_get_channel() {
    let s = serve(true, Duration::from_secs(5)).await;
    let c = client(&s.address, TOKEN, |_| {});
    c.limits().await.unwrap(); // hello + PUB subscription
    tokio::time::sleep(Duration::from_millis(300)).await; // let the subscription reach the publisher
    let req = request(32, Directions::Trace);
    let frame = tokio::time::timeout(Duration::from_secs(20), c.scan(&req)).await.unwrap().unwrap();
    assert_eq!(bits(&frame), bits(&s.mock.synthesize(&req)));
    assert_eq!((c.overhead().pub_layers, c.overhead().fetched_layers), (1, 0));

    s.fake.faults().skip_next_pub_layers(1);
    let frame = tokio::time::timeout(Duration::from_secs(20), c.scan(&req)).await.unwrap().unwrap();
    assert_eq!(bits(&frame), bits(&s.mock.synthesize(&req)));
    assert_eq!(frame.region, req.region);
    assert_eq!((c.overhead().pub_layers, c.overhead().fetched_layers), (1, 1), "the gap was fetched with Spark_GetChannel");
}

#[tokio::test]
async fn abort_reaches_the_fake_and_the_scan_returns_aborted_at_once() {
    let s = serve(false, Duration::from_secs(5)).await;
    let c = Arc::new(client(&s.address, TOKEN, |_| {}));
    let scanning = held_scan(&s, &c).await;
    c.abort().await.unwrap();
    let err = tokio::time::timeout(Duration::from_secs(3), scanning).await.unwrap().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Aborted, "{err}");
    assert_eq!(s.fake.stats().aborts.load(Ordering::SeqCst), 1);
    assert!(s.mock.calls().contains(&MockCall::Abort));
}

#[tokio::test]
async fn the_watchdog_stops_a_frame_whose_client_stopped_pinging() {
    let s = serve(false, Duration::from_millis(800)).await;
    let c = Arc::new(client(&s.address, TOKEN, |_| {}));
    let scanning = held_scan(&s, &c).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(s.fake.stats().watchdog_stops.load(Ordering::SeqCst), 0, "pings keep the frame alive");
    scanning.abort(); // the client is gone: no more pings
    let lost = Instant::now();
    while s.fake.stats().watchdog_stops.load(Ordering::SeqCst) == 0 && lost.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(s.fake.stats().watchdog_stops.load(Ordering::SeqCst), 1);
    assert!(s.mock.calls().contains(&MockCall::Abort), "the watchdog stopped the instrument");
}

#[tokio::test]
async fn a_shifted_returned_region_is_kept_as_returned() {
    let s = serve(false, Duration::from_secs(5)).await;
    s.fake.faults().set_region_offset_px(0.5);
    let c = client(&s.address, TOKEN, |_| {});
    let req = request(16, Directions::Trace);
    let frame = tokio::time::timeout(Duration::from_secs(20), c.scan(&req)).await.unwrap().unwrap();
    let (px, _) = req.region.pitch_m(&req.raster);
    assert!((frame.region.center_x_m - req.region.center_x_m - 0.5 * px).abs() < 1e-6 * px);
    let d = afm_drivers::microscope::region_difference_px(&req, &frame);
    assert!((d - 0.5).abs() < 1e-6, "{d}");
}

#[tokio::test]
async fn wire_cost_of_one_512_channel() {
    let s = serve(false, Duration::from_secs(30)).await;
    let req = ScanRequest {
        region: ScanRegion::square(0.0, 0.0, 10e-6),
        raster: Raster::square(512),
        line_rate_hz: 1.0,
        channels: vec!["Height".into()],
        directions: Directions::Trace,
    };
    let want = s.mock.synthesize(&req);
    // Wave JSON through Spark_GetChannel: bytes of the reply, time from the call to the decoded channel.
    let c = client(&s.address, TOKEN, |c| c.fetch_timeout = Duration::from_secs(60));
    let frame = tokio::time::timeout(Duration::from_secs(120), c.scan(&req)).await.unwrap().unwrap();
    assert_eq!(bits(&frame), bits(&want));
    let o = c.overhead();
    assert_eq!(o.fetched_layers, 1);
    println!(
        "WIRE wave-json: {} bytes, {:.3} s call -> decoded (one 512x512 float32 channel); link overhead per frame {:.3} s (start {:.3} s, save wait {:.3} s, transfer {:.3} s)",
        o.transfer_bytes,
        o.transfer_s,
        o.mean_link_s(),
        o.start_s,
        o.save_wait_s,
        o.transfer_s
    );
    assert!(o.transfer_bytes > 4 * 512 * 512, "JSON is bigger than the raw samples");

    // The same channel as a PUB layer: [topic][metadata JSON with the note][raw float32].
    let mut publisher = zeromq::PubSocket::new();
    let endpoint = publisher.bind("tcp://127.0.0.1:0").await.unwrap().to_string();
    let mut sub = zeromq::SubSocket::new();
    sub.connect(&endpoint).await.unwrap();
    sub.subscribe(afm_drivers::mfp3d::wave::PUB_FRAME_TOPIC).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let note: String = afm_drivers::ibw::asylum_note_entries(&want).unwrap().into_iter().map(|(k, v)| format!("{k}: {v}\r")).collect();
    let meta = serde_json::json!({"job": "j", "channel": "HeightTrace", "seq": 1, "wave": {"type": "NT_FP32",
        "dimension": {"size": [512, 512], "delta": [10e-6 / 511.0, 10e-6 / 511.0], "offset": [-5e-6, -5e-6], "unit": ["m", "m"]},
        "data_unit": "m", "note": note}});
    let meta = serde_json::to_vec(&meta).unwrap();
    let raw: Vec<u8> = want.channels[0].data.iter().flat_map(|v| v.to_le_bytes()).collect();
    let total = afm_drivers::mfp3d::wave::PUB_FRAME_TOPIC.len() + meta.len() + raw.len();
    let t0 = Instant::now();
    let mut m = ZmqMessage::from(Bytes::from_static(afm_drivers::mfp3d::wave::PUB_FRAME_TOPIC.as_bytes()));
    m.push_back(Bytes::from(meta));
    m.push_back(Bytes::from(raw));
    publisher.send(m).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), sub.recv()).await.unwrap().unwrap().into_vec();
    let meta: afm_drivers::mfp3d::wave::PubMeta = serde_json::from_slice(&got[1]).unwrap();
    let wave = afm_drivers::mfp3d::wave::XopWave::from_pub(&meta, &got[2]).unwrap();
    let elapsed = t0.elapsed().as_secs_f64();
    assert_eq!(wave.image().unwrap(), want.channels[0].data);
    assert_eq!(wave.header.geometry().unwrap().region, req.region);
    println!("WIRE pub: {total} bytes, {elapsed:.3} s publish -> decoded (one 512x512 float32 channel with its note)");
}
