//! The client against a scripted fake bridge on loopback TCP: garbled and oversize replies give
//! `Protocol` and the next request works on a fresh connection; a bridge that goes silent during a
//! scan gives `Timeout` after the missed heartbeats, and the client sends `abort` first.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "bridge_support.rs"]
mod support;

use afm_drivers::mfp3d::codec::BridgeCodec;
use afm_drivers::mfp3d::Mfp3dClient;
use afm_drivers::{ErrorKind, Instrument, MockInstrument};
use futures_util::{SinkExt, StreamExt};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;
use tokio::net::TcpListener;
use tokio_util::codec::Framed;

/// What the fake bridge answers to a request (`op`, `id`) on connection number `conn`.
type Script = dyn Fn(usize, &str, u64) -> Option<String> + Send + Sync;

/// A fake bridge: authenticates any hello, answers other ops with `script`, records every request.
async fn fake_bridge(heartbeat_s: f64, script: Arc<Script>) -> (std::net::SocketAddr, Arc<Mutex<Vec<(usize, String)>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for conn in 0..8usize {
            let Ok((stream, _)) = listener.accept().await else { return };
            let (script, log) = (script.clone(), log.clone());
            tokio::spawn(async move {
                let mut framed = Framed::new(stream, BridgeCodec::new(1 << 20));
                while let Some(Ok(Ok(line))) = framed.next().await {
                    if line.is_empty() {
                        continue;
                    }
                    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                    let (op, id) = (v["op"].as_str().unwrap().to_string(), v["id"].as_u64().unwrap());
                    log.lock().unwrap().push((conn, op.clone()));
                    let reply = if op == "hello" {
                        let result = serde_json::json!({
                            "bridge": "fake", "backend": "fake", "limits": MockInstrument::default_limits(),
                            "heartbeat_interval_s": heartbeat_s, "max_request_line_bytes": 65536, "payload_format": "json-test"
                        });
                        Some(serde_json::json!({"v":1,"id":id,"op":"ok","result":result}).to_string())
                    } else {
                        script(conn, &op, id)
                    };
                    if let Some(r) = reply {
                        if framed.send(r).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, seen)
}

fn status_ok(id: u64) -> String {
    serde_json::json!({"v":1,"id":id,"op":"ok","result":{"backend":"fake","state":{"state":"idle"}}}).to_string()
}

#[tokio::test]
async fn garbled_reply_is_a_protocol_error_and_the_next_request_reconnects() {
    let script: Arc<Script> = Arc::new(|conn, op, id| match (conn, op) {
        (0, "status") => Some("}{ definitely not json".to_string()),
        (_, "status") => Some(status_ok(id)),
        _ => None,
    });
    let (addr, seen) = fake_bridge(1.0, script).await;
    let client = client(addr);
    let err = within(5.0, "status with a garbled reply", client.status()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    let status = within(5.0, "status after recovery", client.status()).await.unwrap();
    assert_eq!(status.backend, "fake");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.iter().filter(|(_, op)| op == "hello").count(), 2, "reconnected with a new hello: {seen:?}");
}

#[tokio::test]
async fn oversize_reply_is_a_protocol_error_and_the_next_request_works() {
    let script: Arc<Script> = Arc::new(|conn, op, id| match (conn, op) {
        (0, "status") => Some(format!(r#"{{"v":1,"id":{id},"op":"ok","result":"{}"}}"#, "A".repeat(20_000))),
        (_, "status") => Some(status_ok(id)),
        _ => None,
    });
    let (addr, _) = fake_bridge(1.0, script).await;
    let mut config = client_config(addr);
    config.max_reply_line_bytes = 4096;
    let client = Mfp3dClient::new(config, token(), Arc::new(JsonPayload));
    let err = within(5.0, "status with an oversize reply", client.status()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("4096"), "{err}");
    assert!(within(5.0, "status after recovery", client.status()).await.is_ok());
}

#[tokio::test]
async fn silent_bridge_during_a_scan_times_out_after_missed_heartbeats_and_is_sent_abort() {
    let script: Arc<Script> = Arc::new(|_, op, id| match op {
        "abort" => Some(serde_json::json!({"v":1,"id":id,"op":"ok","result":{"was_scanning":true}}).to_string()),
        _ => None, // scan: never a heartbeat, never a reply
    });
    let (addr, seen) = fake_bridge(0.1, script).await;
    let client = client(addr); // 3 missed heartbeats of 0.1 s
    let t0 = Instant::now();
    let err = within(5.0, "scan on a silent bridge", client.scan(&request(8))).await.unwrap_err();
    let took = t0.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(took >= Duration::from_millis(280) && took < Duration::from_secs(2), "{took:?}");
    wait_until("the abort to reach the fake bridge", || seen.lock().unwrap().iter().any(|(_, op)| op == "abort")).await;
}

#[tokio::test]
async fn unreachable_bridge_is_disconnected_not_a_hang() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = client(addr);
    let err = within(5.0, "connect to nothing", client.limits()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Disconnected, "{err}");
    let err = within(5.0, "abort on nothing", client.abort()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Disconnected, "{err}");
}
