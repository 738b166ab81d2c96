//! `SerialLink` (serialport on threads, bridged to async) over a real socat pty pair: bytes flow both
//! ways, a closed link can be reopened at once, and losing the line ends the stream instead of hanging.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "serial_support.rs"]
mod serial_support;

use afm_drivers::peripherals::serial::SerialLink;
use serial_support::PtyPair;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn read_exact_within(link: &mut SerialLink, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(Duration::from_secs(5), link.read_exact(&mut buf)).await.expect("read within 5 s").expect("read");
    buf
}

#[tokio::test]
async fn bytes_cross_a_pty_pair_both_ways_and_the_port_can_be_reopened() {
    let Some(pty) = PtyPair::start().await else { return };
    let mut a = SerialLink::open(&pty.a, 115_200).expect("open end a");
    let mut b = SerialLink::open(&pty.b, 115_200).expect("open end b");
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    a.write_all(&big).await.unwrap();
    assert_eq!(read_exact_within(&mut b, big.len()).await, big);
    b.write_all(b"pong\n").await.unwrap();
    assert_eq!(read_exact_within(&mut a, 5).await, b"pong\n");

    drop(a);
    let mut again = None;
    for _ in 0..20 {
        match SerialLink::open(&pty.a, 115_200) {
            Ok(l) => {
                again = Some(l);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let mut a = again.expect("end a reopens within 1 s of being closed");
    b.write_all(b"hi").await.unwrap();
    assert_eq!(read_exact_within(&mut a, 2).await, b"hi");
    pty.kill().await;
}

#[tokio::test]
async fn losing_the_line_ends_the_stream() {
    let Some(pty) = PtyPair::start().await else { return };
    let mut a = SerialLink::open(&pty.a, 115_200).expect("open end a");
    pty.kill().await;
    let mut buf = [0u8; 16];
    let r = tokio::time::timeout(Duration::from_secs(5), a.read(&mut buf)).await.expect("no hang after socat died");
    assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
}
