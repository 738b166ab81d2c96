//! The bridge over a real serial line (a socat pty pair) with `MockInstrument` behind the server:
//! the same round trip, authentication and abort as over TCP.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "serial_support.rs"]
mod serial_support;
#[path = "bridge_support.rs"]
mod support;

use afm_drivers::mfp3d::{BridgeServer, BridgeToken, ClientConfig, Endpoint, Mfp3dClient};
use afm_drivers::mock::MockResponse;
use afm_drivers::{ErrorKind, Instrument, InstrumentError, MockInstrument};
use serial_support::PtyPair;
use std::sync::Arc;
use std::time::Duration;
use support::*;

fn serial_client(path: &str, token: BridgeToken) -> Mfp3dClient {
    let mut config = ClientConfig::new(Endpoint::Serial { path: path.to_string(), baud_rate: 115_200 });
    config.request_timeout = Duration::from_secs(3);
    Mfp3dClient::new(config, token, Arc::new(JsonPayload))
}

#[tokio::test]
async fn scan_round_trips_over_a_serial_line() {
    let Some(pty) = PtyPair::start().await else { return };
    let mock = Arc::new(MockInstrument::new(MockInstrument::default_limits()));
    mock.push(MockResponse::Synthesize);
    mock.push(MockResponse::Hold);
    let server = BridgeServer::new(mock.clone(), Arc::new(JsonPayload), server_config(200));
    let path_a = pty.a.clone();
    let serving = tokio::spawn(async move { server.serve_serial(&path_a, 115_200).await });

    // Wrong token first: refused, nothing scanned.
    let wrong = serial_client(&pty.b, BridgeToken::new("nope").unwrap());
    let err = within(10.0, "scan with a wrong token", wrong.scan(&request(8))).await.unwrap_err();
    assert!(matches!(err, InstrumentError::Instrument { ref code, .. } if code == "unauthorized"), "{err}");
    wrong.disconnect().await;
    drop(wrong);
    assert!(mock.scan_calls().is_empty());

    let client = Arc::new(serial_client(&pty.b, token()));
    let req = request(32);
    let frame = within(10.0, "serial scan", client.scan(&req)).await.unwrap();
    assert_eq!(frame.channels, mock.synthesize(&req).channels);
    assert!(client.name().starts_with("mfp3d@serial://"));

    // Abort a held frame over the same line.
    let scan = tokio::spawn({
        let c = client.clone();
        async move { c.scan(&request(8)).await }
    });
    wait_until("the mock to be scanning", || mock.is_scanning()).await;
    within(5.0, "abort over serial", client.abort()).await.unwrap();
    let err = within(5.0, "aborted serial scan", scan).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Aborted);
    assert_eq!(mock.scan_calls().len(), 2);

    serving.abort();
    pty.kill().await;
}

#[tokio::test]
async fn serial_bridge_is_reachable_over_tcp_through_the_relay() {
    use afm_drivers::mfp3d::relay::relay_tcp_to_serial;
    use afm_drivers::mfp3d::BoundBridge;
    let Some(pty) = PtyPair::start().await else { return };
    // The serial-only bridge (standing in for the Igor bridge) on one end of the line ...
    let mock = Arc::new(MockInstrument::new(MockInstrument::default_limits()));
    let server = BridgeServer::new(mock.clone(), Arc::new(JsonPayload), server_config(200));
    let path_a = pty.a.clone();
    let serving = tokio::spawn(async move { server.serve_serial(&path_a, 115_200).await });
    // ... and the relay on the other end, listening on loopback.
    let bound = BoundBridge::bind("127.0.0.1:0".parse().unwrap(), false, "relay").await.unwrap();
    assert!(bound.is_loopback());
    let addr = bound.local_addr();
    let path_b = pty.b.clone();
    let relaying = tokio::spawn(async move { relay_tcp_to_serial(bound, &path_b, 115_200).await });

    let first = client(addr);
    let req = request(16);
    let frame = within(10.0, "scan through the relay", first.scan(&req)).await.unwrap();
    assert_eq!(frame.channels, mock.synthesize(&req).channels);

    // A second client while the first is connected is told busy.
    let second = client(addr);
    let err = within(10.0, "second relay client", second.status()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
    assert!(err.to_string().contains("in use"), "{err}");

    // When the first leaves, the next client gets the line.
    first.disconnect().await;
    drop(first);
    let status = within(10.0, "status after the first client left", async {
        loop {
            match second.status().await {
                Ok(s) => break s,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await;
    assert_eq!(status.backend, "mock");
    relaying.abort();
    serving.abort();
    pty.kill().await;
}
